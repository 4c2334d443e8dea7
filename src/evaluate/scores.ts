import { UsageError } from '../errors.js';

/** True labels, one per image: 0 = Female, 1 = Male. */
export type Labels = Uint8Array | ArrayLike<number>;
/** Sigmoid outputs, one per image: the model's probability of class 1 (Male). */
export type Probs = Float32Array | Float64Array | ArrayLike<number>;

/**
 * Checks labels and probabilities once at the library's edge, so that every metric below can
 * assume n > 0, labels in {0, 1} and probabilities in [0, 1], and a bad input fails with the
 * position of the offending value instead of a silent NaN in a report.
 */
export function checkScores(labels: Labels, probs: Probs, what = 'scores'): number {
  const n = labels.length;
  if (probs.length !== n) {
    throw new UsageError(`${what}: ${n} labels but ${probs.length} probabilities`);
  }
  if (n === 0) throw new UsageError(`${what}: no images to evaluate`);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (y !== 0 && y !== 1) throw new UsageError(`${what}: label ${i} is ${String(y)}, expected 0 (Female) or 1 (Male)`);
    const p = probs[i] as number;
    if (!(p >= 0 && p <= 1)) throw new UsageError(`${what}: probability ${i} is ${String(p)}, expected a number in [0, 1]`);
  }
  return n;
}

/** A threshold must be a plain number; the rule `prob > threshold` makes any finite value meaningful. */
export function checkThreshold(threshold: number, what = 'threshold'): void {
  if (typeof threshold !== 'number' || !Number.isFinite(threshold)) {
    throw new UsageError(`${what} is ${String(threshold)}, expected a finite number`);
  }
}
