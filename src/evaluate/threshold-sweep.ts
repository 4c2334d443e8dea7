import { UsageError } from '../errors.js';
import { prepareScores, rocFromPrepared, type RocPoint } from './metrics.js';
import { checkScores, checkThreshold, type Labels, type Probs } from './scores.js';

/** One row of the study's validation sweep: metrics when predicting Male for prob > threshold. */
export interface SweepRow {
  threshold: number;
  accuracy: number;
  /** Null only when there is no Male image and none is predicted Male. */
  f1: number | null;
}

export interface SweepOptions {
  from?: number;
  to?: number;
  step?: number;
}

/** Grid values are rounded to this many decimals, far below any meaningful step. */
const GRID_DECIMALS = 1e9;
const MAX_GRID = 100_000;

/**
 * The thresholds from, from+step, … up to `to` inclusive. Each value is rounded to 9 decimals so
 * that 0.58 is the double 0.58 (np.arange(0.3, 0.71, 0.01) accumulates drift instead); the
 * defaults give the study's 41 values 0.30 … 0.70.
 */
export function thresholdGrid({ from = 0.3, to = 0.7, step = 0.01 }: SweepOptions = {}): number[] {
  for (const [name, v] of [['from', from], ['to', to], ['step', step]] as const) checkThreshold(v, `sweep ${name}`);
  if (!(step > 0)) throw new UsageError(`sweep step is ${step}, expected a positive number`);
  if (to < from) throw new UsageError(`sweep runs from ${from} to ${to}: "to" must not be below "from"`);
  // The small slack keeps `to` itself when (to − from) / step lands a hair under an integer.
  const count = Math.floor((to - from) / step + 1e-9) + 1;
  if (count > MAX_GRID) throw new UsageError(`sweep from ${from} to ${to} by ${step} has ${count} thresholds, more than ${MAX_GRID}`);
  return Array.from({ length: count }, (_, k) => Math.round((from + k * step) * GRID_DECIMALS) / GRID_DECIMALS);
}

export function sweepThresholds(labels: Labels, probs: Probs, options: SweepOptions = {}): SweepRow[] {
  const n = checkScores(labels, probs);
  return thresholdGrid(options).map((threshold) => {
    let tp = 0, fp = 0, fn = 0;
    for (let i = 0; i < n; i++) {
      const predicted = (probs[i] as number) > threshold;
      if (labels[i] === 1) {
        if (predicted) tp++; else fn++;
      } else if (predicted) fp++;
    }
    const f1Den = 2 * tp + fp + fn;
    // Counts are integers, so equal ratios are the same double and `===` finds all maxima.
    return { threshold, accuracy: (n - fp - fn) / n, f1: f1Den === 0 ? null : (2 * tp) / f1Den };
  });
}

export type ThresholdRule =
  | { kind: 'study' }
  | { kind: 'balanced' }
  | { kind: 'max-f1' }
  | { kind: 'youden' }
  | { kind: 'fixed'; value: number };

export const THRESHOLD_RULES = ['study', 'balanced', 'max-f1', 'youden', 'fixed:<number>'] as const;

export function parseThresholdRule(text: string): ThresholdRule {
  const rule = text.trim();
  if (rule === 'study' || rule === 'balanced' || rule === 'max-f1' || rule === 'youden') return { kind: rule };
  const fixed = /^fixed:(.+)$/.exec(rule);
  if (fixed) {
    const value = Number(fixed[1]);
    if (fixed[1]?.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) {
      throw new UsageError(`threshold rule "${text}": "${fixed[1]}" is not a number in [0, 1]`);
    }
    return { kind: 'fixed', value };
  }
  throw new UsageError(`unknown threshold rule "${text}": expected one of ${THRESHOLD_RULES.join(', ')}`);
}

export function formatThresholdRule(rule: ThresholdRule): string {
  return rule.kind === 'fixed' ? `fixed:${rule.value}` : rule.kind;
}

export interface ThresholdChoice {
  threshold: number;
  /** The rule in its canonical text form, e.g. 'study' or 'fixed:0.5'. */
  rule: string;
  /** For 'study' and 'max-f1': the run of consecutive sweep thresholds whose middle was taken. */
  run: [number, number] | null;
  /** For 'study' and 'max-f1': every sweep threshold that reaches the maximum. */
  atMaximum: number[];
  /** Highest validation accuracy over the sweep (whatever the rule). */
  maxAccuracy: number;
  /** Highest validation F1 over the sweep; null when F1 is undefined everywhere. */
  maxF1: number | null;
  /** Validation accuracy at the chosen threshold. */
  accuracy: number;
  /** For 'youden': TPR − FPR at the chosen threshold. */
  youdenJ: number | null;
  /** One sentence saying why this threshold, for logs and reports. */
  reason: string;
}

/**
 * Picks the classification threshold from validation scores.
 *
 * - 'study' (default): the middle of the longest run of consecutive sweep thresholds that reach
 *   the maximal validation accuracy — the study's reasoning ("a longer run of the maximum accuracy
 *   … from 0.53 to 0.63 … 0.58, in the middle of this range"). A single best threshold is mostly
 *   chance with 750 images; the middle of a plateau is robust to it.
 * - 'balanced': the same rule applied to the mean of the validation accuracies of each cell of
 *   `cells` (e.g. source × class), so a small source counts as much as a large one; without cells,
 *   each class is a cell.
 * - 'max-f1': the same rule applied to F1.
 * - 'youden': the cut maximising TPR − FPR over all distinct probabilities (not only the sweep
 *   range); the threshold is the midpoint between the two neighbouring distinct probabilities,
 *   which classifies identically to any value between them but survives rounding when printed.
 * - 'fixed:X': X.
 *
 * Ties: between equally long runs, the one whose middle is nearest 0.5 (the neutral cut for a
 * balanced problem), then the lower. An even-length run has two central thresholds; the one
 * nearer 0.5 is taken (then the lower), so the choice is always a threshold that was evaluated,
 * unlike the exact midpoint which may fall on a worse cut between grid points. Youden ties are
 * broken the same way.
 */
export function chooseThreshold(
  sweep: readonly SweepRow[],
  labels: Labels,
  probs: Probs,
  rule: string | ThresholdRule = 'study',
  cells?: readonly string[],
): ThresholdChoice {
  const parsed = typeof rule === 'string' ? parseThresholdRule(rule) : rule;
  if (sweep.length === 0) throw new UsageError('threshold sweep is empty: nothing to choose from');
  const n = checkScores(labels, probs);
  const maxAccuracy = Math.max(...sweep.map((r) => r.accuracy));
  const f1s = sweep.map((r) => r.f1).filter((v): v is number => v !== null);
  const maxF1 = f1s.length ? Math.max(...f1s) : null;
  const accuracyAt = (t: number) => {
    let correct = 0;
    for (let i = 0; i < n; i++) if (((probs[i] as number) > t ? 1 : 0) === labels[i]) correct++;
    return correct / n;
  };
  const base = { rule: formatThresholdRule(parsed), maxAccuracy, maxF1 };

  if (parsed.kind === 'fixed') {
    return { ...base, threshold: parsed.value, run: null, atMaximum: [], accuracy: accuracyAt(parsed.value), youdenJ: null, reason: `fixed threshold ${parsed.value}` };
  }
  if (parsed.kind === 'youden') {
    const { threshold, j } = youdenThreshold(labels, probs);
    return { ...base, threshold, run: null, atMaximum: [], accuracy: accuracyAt(threshold), youdenJ: j, reason: `maximises TPR − FPR (${j.toFixed(4)}) over all distinct validation probabilities` };
  }
  let values: Array<number | null>;
  let best: number | null;
  let what: string;
  if (parsed.kind === 'balanced') {
    const keys = cells ?? Array.from({ length: n }, (_, i) => String(labels[i]));
    if (keys.length !== n) throw new UsageError(`balanced threshold: ${keys.length} cells for ${n} validation scores`);
    const groups = [...new Set(keys)].map((k) => keys.flatMap((key, i) => (key === k ? [i] : [])));
    // Means of per-cell fractions, compared on a grid so that equal means tie exactly.
    const balancedAt = (t: number) => Math.round((1e9 * groups.reduce((sum, idx) => sum + idx.filter((i) => ((probs[i] as number) > t ? 1 : 0) === labels[i]).length / idx.length, 0)) / groups.length) / 1e9;
    values = sweep.map((r) => balancedAt(r.threshold));
    best = Math.max(...(values as number[]));
    what = `mean validation accuracy over ${groups.length} cells`;
  } else {
    const metric = parsed.kind === 'study' ? 'accuracy' : 'f1';
    values = sweep.map((r) => r[metric]);
    best = metric === 'accuracy' ? maxAccuracy : maxF1;
    what = metric === 'accuracy' ? 'validation accuracy' : 'validation F1';
  }
  if (best === null) throw new UsageError('F1 is undefined at every threshold (no Male image in the validation scores): use another threshold rule');
  const { threshold, run, atMaximum } = plateauMiddle(sweep.map((r) => r.threshold), values.map((v) => v === best));
  const runText = run[0] === run[1] ? `${run[0]}` : `${run[0]}–${run[1]}`;
  return {
    ...base,
    threshold,
    run,
    atMaximum,
    accuracy: accuracyAt(threshold),
    youdenJ: null,
    reason: `middle of the longest run (${runText}) of thresholds reaching the maximal ${what} ${best.toFixed(4)}`,
  };
}

/** Distances are compared on the 1e-9 grid, so that 0.41 and 0.59 count as equally near 0.5. */
function closerToHalf(a: number, b: number): boolean {
  const da = Math.round(Math.abs(a - 0.5) * GRID_DECIMALS), db = Math.round(Math.abs(b - 0.5) * GRID_DECIMALS);
  return da < db || (da === db && a < b);
}

/** Middle of the longest run of `true`, per chooseThreshold's tie rules. */
function plateauMiddle(thresholds: number[], atMax: boolean[]): { threshold: number; run: [number, number]; atMaximum: number[] } {
  let bestStart = -1, bestLen = 0, bestMiddle = NaN;
  for (let i = 0; i < atMax.length; ) {
    if (!atMax[i]) { i++; continue; }
    let j = i;
    while (j + 1 < atMax.length && atMax[j + 1]) j++;
    const len = j - i + 1;
    const lower = thresholds[i + Math.floor((len - 1) / 2)] as number;
    const upper = thresholds[i + Math.floor(len / 2)] as number;
    const middle = closerToHalf(lower, upper) ? lower : upper;
    if (len > bestLen || (len === bestLen && closerToHalf(middle, bestMiddle))) {
      bestStart = i;
      bestLen = len;
      bestMiddle = middle;
    }
    i = j + 1;
  }
  return {
    threshold: bestMiddle,
    run: [thresholds[bestStart] as number, thresholds[bestStart + bestLen - 1] as number],
    atMaximum: thresholds.filter((_, k) => atMax[k]),
  };
}

/**
 * Youden's J over every ROC point. J is compared as the integer TP·N − FP·P so that equal rates
 * are equal exactly. The all-Male point (J = 0, like the all-Female one) is left out because no
 * threshold in [0, 1] need lie below the lowest probability.
 */
export function youdenThreshold(labels: Labels, probs: Probs): { threshold: number; j: number } {
  const s = prepareScores(labels, probs);
  const roc = rocFromPrepared(s);
  if (!roc) throw new UsageError("Youden's threshold needs both Female and Male images in the validation scores");
  let positives = 0;
  for (let i = 0; i < s.n; i++) positives += s.labels[i] as number;
  const negatives = s.n - positives;
  let bestScore = -Infinity, bestThreshold = NaN, bestJ = 0;
  for (let k = 0; k + 1 < roc.length; k++) {
    const point = roc[k] as RocPoint;
    const score = Math.round(point.tpr * positives) * negatives - Math.round(point.fpr * negatives) * positives;
    const threshold = k === 0 ? point.threshold : ((roc[k - 1] as RocPoint).threshold + point.threshold) / 2;
    if (score > bestScore || (score === bestScore && closerToHalf(threshold, bestThreshold))) {
      bestScore = score;
      bestThreshold = threshold;
      bestJ = point.tpr - point.fpr;
    }
  }
  return { threshold: bestThreshold, j: bestJ };
}
