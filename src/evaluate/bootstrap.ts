import { UsageError } from '../errors.js';
import { SeededRandom } from '../util/random.js';
import { prepareScores, weightedMetrics, type BinaryMetrics } from './metrics.js';
import { checkThreshold, type Labels, type Probs } from './scores.js';

export interface BootstrapOptions {
  /** Number of resamples (default 1000). */
  resamples?: number;
  /** Seed of the resampling stream (default 1); ignored when `random` is given. */
  seed?: number;
  /** Central coverage of the interval (default 0.95). */
  level?: number;
  /** A stream to draw from instead of `new SeededRandom(seed)`, e.g. a keyed one per subgroup. */
  random?: SeededRandom;
}

/**
 * A percentile bootstrap interval. `lo`/`hi` are the (1 − level)/2 and (1 + level)/2 quantiles
 * (linear interpolation between order statistics, numpy's default) of the statistic over the
 * resamples where it is defined; `valid` counts those. All null when the statistic is undefined on
 * the full sample; lo/hi null when it is undefined on every resample.
 */
export interface Interval {
  value: number | null;
  lo: number | null;
  hi: number | null;
  valid: number;
}

function resolveOptions(n: number, options: BootstrapOptions) {
  const { resamples = 1000, seed = 1, level = 0.95 } = options;
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`bootstrap needs at least one item, got ${n}`);
  if (!Number.isInteger(resamples) || resamples < 1) throw new UsageError(`bootstrap resamples is ${resamples}, expected a positive integer`);
  if (!(level > 0 && level < 1)) throw new UsageError(`bootstrap level is ${level}, expected a number between 0 and 1`);
  if (!Number.isInteger(seed)) throw new UsageError(`bootstrap seed is ${seed}, expected an integer`);
  return { resamples, level, seed: options.random ? null : seed, random: options.random ?? new SeededRandom(seed) };
}

function defined(v: number | null): v is number {
  return v !== null && Number.isFinite(v);
}

function percentileInterval(value: number | null, values: Float64Array, count: number, level: number): Interval {
  if (!defined(value)) return { value: null, lo: null, hi: null, valid: count };
  if (count === 0) return { value, lo: null, hi: null, valid: 0 };
  const sorted = values.subarray(0, count).sort();
  const quantile = (q: number) => {
    const h = (count - 1) * q;
    const below = Math.floor(h);
    const a = sorted[below] as number;
    const b = sorted[Math.min(below + 1, count - 1)] as number;
    return a + (h - below) * (b - a);
  };
  return { value, lo: quantile((1 - level) / 2), hi: quantile((1 + level) / 2), valid: count };
}

/**
 * Percentile bootstrap of any statistic of n items. Each resample passes the statistic n indices
 * drawn uniformly with replacement (`random.int(n)`, n draws per resample, in order — the same
 * draws bootstrapCI uses for the same seed). Return null (or NaN) where the statistic is undefined
 * on a resample; it is then left out. The index buffer is reused between calls: copy it to keep it.
 */
export function bootstrapStatistic(
  n: number,
  statistic: (indices: Uint32Array) => number | null,
  options: BootstrapOptions = {},
): Interval {
  const { resamples, level, random } = resolveOptions(n, options);
  const indices = new Uint32Array(n);
  for (let i = 0; i < n; i++) indices[i] = i;
  const value = statistic(indices);
  const values = new Float64Array(resamples);
  let count = 0;
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) indices[i] = random.int(n);
    const v = statistic(indices);
    if (defined(v)) values[count++] = v;
  }
  return percentileInterval(value, values, count, level);
}

export const BOOTSTRAP_METRICS = ['accuracy', 'precision', 'recall', 'specificity', 'f1', 'rocAuc', 'logLoss', 'ece'] as const;
export type BootstrapMetric = (typeof BOOTSTRAP_METRICS)[number];

export interface BootstrapCI {
  n: number;
  threshold: number;
  resamples: number;
  level: number;
  /** Null when a caller-supplied `random` stream was used. */
  seed: number | null;
  metrics: Record<BootstrapMetric, Interval>;
}

/**
 * Confidence intervals for binaryMetrics at a fixed threshold. The images are sorted once; each
 * resample is turned into per-image multiplicities and every metric (AUC included) is then one
 * linear pass, so 1000 resamples of 750 images take a few tens of milliseconds. The threshold is
 * held fixed: the interval does not include the uncertainty of choosing it.
 */
export function bootstrapCI(labels: Labels, probs: Probs, threshold: number, options: BootstrapOptions = {}): BootstrapCI {
  checkThreshold(threshold);
  const scores = prepareScores(labels, probs);
  const n = scores.n;
  const { resamples, level, seed, random } = resolveOptions(n, options);
  const point = weightedMetrics(scores, threshold);
  const values = Object.fromEntries(BOOTSTRAP_METRICS.map((m) => [m, new Float64Array(resamples)])) as Record<BootstrapMetric, Float64Array>;
  const counts = Object.fromEntries(BOOTSTRAP_METRICS.map((m) => [m, 0])) as Record<BootstrapMetric, number>;
  const weights = new Uint32Array(n);
  for (let r = 0; r < resamples; r++) {
    weights.fill(0);
    for (let i = 0; i < n; i++) {
      const k = random.int(n);
      weights[k] = (weights[k] as number) + 1;
    }
    const m: BinaryMetrics = weightedMetrics(scores, threshold, weights);
    for (const name of BOOTSTRAP_METRICS) {
      const v = m[name];
      if (defined(v)) values[name][counts[name]++] = v;
    }
  }
  const metrics = Object.fromEntries(
    BOOTSTRAP_METRICS.map((name) => [name, percentileInterval(point[name], values[name], counts[name], level)]),
  ) as Record<BootstrapMetric, Interval>;
  return { n, threshold, resamples, level, seed, metrics };
}
