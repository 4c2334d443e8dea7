/** Cosine similarity and largest absolute error of one output row against its reference row. */
export function vectorAgreement(out: ArrayLike<number>, ref: ArrayLike<number>): { cosine: number; maxErr: number; maxRef: number } {
  let dot = 0;
  let no = 0;
  let nr = 0;
  let maxErr = 0;
  let maxRef = 0;
  for (let j = 0; j < ref.length; j++) {
    const o = out[j] as number;
    const r = ref[j] as number;
    dot += o * r;
    no += o * o;
    nr += r * r;
    maxErr = Math.max(maxErr, Math.abs(o - r));
    maxRef = Math.max(maxRef, Math.abs(r));
  }
  return { cosine: dot / Math.sqrt(no * nr), maxErr, maxRef };
}
