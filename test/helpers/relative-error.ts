/**
 * Largest absolute difference over the largest reference magnitude: a scale-free check of two
 * arrays. Throws when the lengths differ or the reference is all zeros, where no ratio means much.
 */
export function relativeError(actual: ArrayLike<number>, reference: ArrayLike<number>): number {
  if (actual.length !== reference.length) throw new Error(`relativeError: ${actual.length} values against ${reference.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < reference.length; i++) {
    diff = Math.max(diff, Math.abs((actual[i] as number) - (reference[i] as number)));
    scale = Math.max(scale, Math.abs(reference[i] as number));
  }
  if (scale === 0) throw new Error('relativeError: the reference is all zeros');
  return diff / scale;
}
