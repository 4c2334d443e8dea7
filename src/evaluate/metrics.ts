import { UsageError } from '../errors.js';
import { checkScores, checkThreshold, type Labels, type Probs } from './scores.js';

/**
 * Binary classification metrics for the Female (0) / Male (1) problem. An image is predicted
 * Male when `prob > threshold` (strictly greater, as the study's `(val_predictions > i)`).
 *
 * Undefined ratios are `null`, never NaN or a silent 0, so that a report can say "undefined":
 * - precision is null when nothing is predicted Male;
 * - recall (= Male accuracy) is null when there is no Male image, specificity (= Female
 *   accuracy) when there is no Female image;
 * - F1 = 2·TP / (2·TP + FP + FN) is null only when that denominator is 0 (no Male image and none
 *   predicted Male); with Male images but none predicted it is 0, like scikit-learn's;
 * - ROC AUC is null unless both classes are present.
 */
export interface BinaryMetrics {
  n: number;
  threshold: number;
  accuracy: number;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  specificity: number | null;
  /** Probability that a random Male image scores above a random Female one, ties counting half. */
  rocAuc: number | null;
  /** Mean binary cross-entropy (natural log), probabilities clipped to [1e-7, 1 − 1e-7]. */
  logLoss: number;
  /** Expected calibration error over ECE_BINS equal-width bins of P(Male); see reliabilityBins. */
  ece: number;
  /** [[TN, FP], [FN, TP]]: rows are the true class (Female, Male), columns the predicted one. */
  confusion: [[number, number], [number, number]];
  /** [Female accuracy, Male accuracy] = [specificity, recall]. */
  perClassAccuracy: [number | null, number | null];
}

export const LOG_LOSS_EPSILON = 1e-7;
export const ECE_BINS = 10;

/**
 * Scores sorted and binned once, so that many weighted evaluations (bootstrap resamples) cost one
 * linear pass each and no sort.
 */
export interface PreparedScores {
  n: number;
  labels: Uint8Array;
  probs: Float64Array;
  /** Image indices by ascending probability. */
  order: Uint32Array;
  /** Positions in `order` where a run of equal probabilities starts, followed by n. */
  groupStarts: Uint32Array;
  /** ECE bin (0..ECE_BINS−1) of each image. */
  bin: Uint8Array;
  /** Each image's clipped cross-entropy term. */
  logLossTerm: Float64Array;
}

export function prepareScores(labels: Labels, probs: Probs): PreparedScores {
  const n = checkScores(labels, probs);
  const y = Uint8Array.from(labels as ArrayLike<number>);
  const p = Float64Array.from(probs as ArrayLike<number>);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => (p[a] as number) - (p[b] as number) || a - b);
  const starts: number[] = [];
  for (let k = 0; k < n; k++) {
    if (k === 0 || p[order[k] as number] !== p[order[k - 1] as number]) starts.push(k);
  }
  starts.push(n);
  const bin = new Uint8Array(n);
  const logLossTerm = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const pi = p[i] as number;
    bin[i] = binOf(pi, ECE_BINS);
    const clipped = Math.min(Math.max(pi, LOG_LOSS_EPSILON), 1 - LOG_LOSS_EPSILON);
    logLossTerm[i] = y[i] === 1 ? -Math.log(clipped) : -Math.log(1 - clipped);
  }
  return { n, labels: y, probs: p, order, groupStarts: Uint32Array.from(starts), bin, logLossTerm };
}

/** Equal-width bins [k/bins, (k+1)/bins), the last one closed so that prob 1 has a bin. */
function binOf(prob: number, bins: number): number {
  return Math.min(Math.floor(prob * bins), bins - 1);
}

function ratio(num: number, den: number): number | null {
  return den === 0 ? null : num / den;
}

/**
 * All metrics with each image counted `weights[i]` times (a bootstrap resample is a multiset of
 * the images); without weights every image counts once.
 */
export function weightedMetrics(s: PreparedScores, threshold: number, weights?: Uint32Array): BinaryMetrics {
  checkThreshold(threshold);
  if (weights && weights.length !== s.n) throw new UsageError(`${weights.length} weights for ${s.n} images`);
  let tn = 0, fp = 0, fn = 0, tp = 0, total = 0, logLoss = 0;
  const binCount = new Float64Array(ECE_BINS), binProb = new Float64Array(ECE_BINS), binPos = new Float64Array(ECE_BINS);
  for (let i = 0; i < s.n; i++) {
    const w = weights ? (weights[i] as number) : 1;
    if (w === 0) continue;
    const y = s.labels[i] as number, p = s.probs[i] as number;
    if (p > threshold) {
      if (y === 1) tp += w; else fp += w;
    } else if (y === 1) fn += w; else tn += w;
    total += w;
    logLoss += w * (s.logLossTerm[i] as number);
    const b = s.bin[i] as number;
    binCount[b] = (binCount[b] as number) + w;
    binProb[b] = (binProb[b] as number) + w * p;
    binPos[b] = (binPos[b] as number) + w * y;
  }
  if (total === 0) throw new UsageError('all weights are zero: nothing to evaluate');
  let ece = 0;
  for (let b = 0; b < ECE_BINS; b++) {
    const c = binCount[b] as number;
    if (c > 0) ece += Math.abs((binProb[b] as number) - (binPos[b] as number)) / total;
  }
  const positives = tp + fn, negatives = tn + fp;
  const recall = ratio(tp, positives), specificity = ratio(tn, negatives);
  return {
    n: total,
    threshold,
    accuracy: (tp + tn) / total,
    precision: ratio(tp, tp + fp),
    recall,
    f1: ratio(2 * tp, 2 * tp + fp + fn),
    specificity,
    rocAuc: positives > 0 && negatives > 0 ? aucNumerator(s, weights) / (positives * negatives) : null,
    logLoss: logLoss / total,
    ece,
    confusion: [[tn, fp], [fn, tp]],
    perClassAccuracy: [specificity, recall],
  };
}

/**
 * Mann–Whitney count: for each Male image, the (weighted) number of Female images scoring lower,
 * plus half of those scoring the same. Equals the rank-sum statistic with average ranks for ties.
 */
function aucNumerator(s: PreparedScores, weights?: Uint32Array): number {
  let negativesBelow = 0, num = 0;
  for (let g = 0; g + 1 < s.groupStarts.length; g++) {
    let pos = 0, neg = 0;
    for (let k = s.groupStarts[g] as number; k < (s.groupStarts[g + 1] as number); k++) {
      const i = s.order[k] as number;
      const w = weights ? (weights[i] as number) : 1;
      if (s.labels[i] === 1) pos += w; else neg += w;
    }
    num += pos * (negativesBelow + neg / 2);
    negativesBelow += neg;
  }
  return num;
}

export function binaryMetrics(labels: Labels, probs: Probs, threshold: number): BinaryMetrics {
  checkThreshold(threshold);
  return weightedMetrics(prepareScores(labels, probs), threshold);
}

/**
 * One ROC point per distinct threshold. A point's `threshold` t means "predict Male when
 * prob > t" gives exactly that (fpr, tpr): the first point (0, 0) has t = the highest probability,
 * each later point has t = the next lower distinct probability, and the last point (1, 1) has
 * t = -Infinity (no probability lies below the lowest one). Null when a class is missing, since
 * one of the rates is then undefined.
 */
export interface RocPoint {
  fpr: number;
  tpr: number;
  threshold: number;
}

export function rocCurve(labels: Labels, probs: Probs): RocPoint[] | null {
  return rocFromPrepared(prepareScores(labels, probs));
}

export function rocFromPrepared(s: PreparedScores): RocPoint[] | null {
  let positives = 0;
  for (let i = 0; i < s.n; i++) positives += s.labels[i] as number;
  const negatives = s.n - positives;
  if (positives === 0 || negatives === 0) return null;
  const groups = s.groupStarts.length - 1;
  const valueOf = (g: number) => s.probs[s.order[s.groupStarts[g] as number] as number] as number;
  const points: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: valueOf(groups - 1) }];
  let tp = 0, fp = 0;
  for (let g = groups - 1; g >= 0; g--) {
    for (let k = s.groupStarts[g] as number; k < (s.groupStarts[g + 1] as number); k++) {
      if (s.labels[s.order[k] as number] === 1) tp++; else fp++;
    }
    points.push({ fpr: fp / negatives, tpr: tp / positives, threshold: g > 0 ? valueOf(g - 1) : -Infinity });
  }
  return points;
}

/**
 * Calibration of P(Male) in equal-width bins [k/bins, (k+1)/bins) (the last bin includes 1):
 * the mean predicted probability against the fraction of Male images. Empty bins have count 0
 * and null means. `ece` in BinaryMetrics is Σ_bins (count/n) · |meanProb − fractionPositive| over
 * these bins with bins = 10 — the class-1 (not the top-label "confidence") definition, which
 * suits a single sigmoid output.
 */
export interface ReliabilityBin {
  lo: number;
  hi: number;
  count: number;
  meanProb: number | null;
  fractionPositive: number | null;
}

export function reliabilityBins(labels: Labels, probs: Probs, bins = ECE_BINS): ReliabilityBin[] {
  const n = checkScores(labels, probs);
  if (!Number.isInteger(bins) || bins < 1) throw new UsageError(`bins is ${bins}, expected a positive integer`);
  const count = new Float64Array(bins), sumProb = new Float64Array(bins), sumPos = new Float64Array(bins);
  for (let i = 0; i < n; i++) {
    const p = probs[i] as number;
    const b = binOf(p, bins);
    count[b] = (count[b] as number) + 1;
    sumProb[b] = (sumProb[b] as number) + p;
    sumPos[b] = (sumPos[b] as number) + (labels[i] as number);
  }
  return Array.from({ length: bins }, (_, b) => {
    const c = count[b] as number;
    return {
      lo: b / bins,
      hi: (b + 1) / bins,
      count: c,
      meanProb: c > 0 ? (sumProb[b] as number) / c : null,
      fractionPositive: c > 0 ? (sumPos[b] as number) / c : null,
    };
  });
}
