import type * as tfl from '@tensorflow/tfjs-layers';
import * as tfc from '@tensorflow/tfjs-core';
import { initTfjs } from '../runtime/tfjs/backend.js';
import { UsageError } from '../errors.js';
import { SeededRandom } from '../util/random.js';
import type { ProgressFn } from '../util/progress.js';
import { createHead, STUDY_HEAD, type HeadConfig } from './head.js';
import { fit, predictProbs, type EpochRecord, type FitResult } from './fit.js';
import { withSeededMathRandom } from './seeded-math-random.js';

/** Feature vectors of one part: `views[0]` is the plain image, `views[1..K]` augmented ones. */
export interface FeatureData {
  dim: number;
  views: Float32Array[];
  labels: Uint8Array;
}

export interface TrainHeadOptions {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  patience?: number;
  seed?: number;
  head?: HeadConfig;
  /**
   * Train on features standardised with the training set's per-feature mean and spread, then
   * fold that into the first Dense layer, so the saved head still takes raw features. Default on.
   */
  standardize?: boolean;
  /** Let each epoch draw the plain view as well as the augmented ones (default on). */
  drawPlain?: boolean;
  onProgress?: ProgressFn;
  onEpoch?: (record: EpochRecord) => void;
}

/** The study's training defaults. */
export const STUDY_TRAINING = Object.freeze({ epochs: 10, batchSize: 64, lr: 1e-3, patience: 2, seed: 1 });

/**
 * How the head sees cached features by default. The `generic` base's features have a small
 * spread around large means, which Adam at the study's learning rate handles badly, and the
 * plain view is the one the test images are seen as; both defaults raised `generic` and left
 * `face` unchanged (bench/head-input.ts; the README's Comparison section has the table).
 */
export const HEAD_INPUT_DEFAULTS = Object.freeze({ standardize: true, drawPlain: true });

export interface FeatureScaling {
  mean: Float32Array;
  scale: Float32Array;
}

/**
 * Per-feature mean and spread of the plain training view. A spread far below the others (a
 * feature that hardly moves in training, such as a ReLU that rarely fires) is floored at 1% of
 * their RMS, so that it cannot blow up on a test image where it does move.
 */
export function featureScaling(features: Float32Array, dim: number): FeatureScaling {
  const n = features.length / dim;
  const mean = new Float64Array(dim);
  const sq = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] = (mean[d] as number) + (features[i * dim + d] as number);
  for (let d = 0; d < dim; d++) mean[d] = (mean[d] as number) / n;
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) {
      const x = (features[i * dim + d] as number) - (mean[d] as number);
      sq[d] = (sq[d] as number) + x * x;
    }
  }
  const std = Array.from(sq, (s) => Math.sqrt(s / n));
  const rms = Math.sqrt(std.reduce((s, x) => s + x * x, 0) / dim);
  const floor = rms > 0 ? 0.01 * rms : 1;
  return { mean: Float32Array.from(mean), scale: Float32Array.from(std, (s) => Math.max(s, floor)) };
}

export function applyScaling(features: Float32Array, dim: number, { mean, scale }: FeatureScaling): Float32Array {
  const out = new Float32Array(features.length);
  for (let i = 0; i < features.length; i++) out[i] = ((features[i] as number) - (mean[i % dim] as number)) / (scale[i % dim] as number);
  return out;
}

/**
 * Makes a head trained on scaled features take raw ones: W' = W / scale (per input row) and
 * b' = b - (mean / scale) W. Same function, plain study architecture, nothing extra to save.
 */
export function foldScaling(model: tfl.LayersModel, { mean, scale }: FeatureScaling): void {
  const first = model.layers[0];
  if (!first) throw new UsageError('the head has no layers');
  const [kernel, bias] = first.getWeights() as [tfc.Tensor2D, tfc.Tensor1D];
  const folded = tfc.tidy(() => {
    const s = tfc.tensor2d(scale, [scale.length, 1]);
    const k = tfc.div(kernel, s);
    const b = tfc.sub(bias, tfc.reshape(tfc.matMul(tfc.tensor2d(mean, [1, mean.length]), k), [-1]));
    return [k, b];
  });
  first.setWeights(folded);
  tfc.dispose(folded);
}

/** Which cached view a training image is seen as in one epoch. */
export function drawView(rng: SeededRandom, augmentedViews: number, drawPlain: boolean): number {
  if (augmentedViews === 0) return 0;
  return drawPlain ? rng.int(augmentedViews + 1) : 1 + rng.int(augmentedViews);
}

export interface HeadRun extends FitResult {
  model: tfl.Sequential;
  head: HeadConfig;
}

/**
 * Trains the study's dense head on cached features of a frozen base. Each epoch every training
 * image is seen once, as one of its cached views drawn at random, so cached views stand in for
 * Keras' on-the-fly augmentation (which never shows the plain image; `drawPlain: false` does that).
 */
export async function trainHead(train: FeatureData, val: FeatureData, options: TrainHeadOptions = {}): Promise<HeadRun> {
  await initTfjs();
  const o = { ...STUDY_TRAINING, ...options };
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new UsageError(`batch size must be a whole number ≥ 1, got ${o.batchSize}`);
  const n = train.labels.length;
  const dim = train.dim;
  for (const v of train.views) if (v.length !== n * dim) throw new UsageError(`a training view holds ${v.length / dim} vectors for ${n} labels`);
  if ((val.views[0]?.length ?? 0) !== val.labels.length * dim) throw new UsageError('validation features and labels differ in count');

  const head = options.head ?? STUDY_HEAD;
  const augmented = train.views.length - 1;
  const standardize = options.standardize ?? HEAD_INPUT_DEFAULTS.standardize;
  const drawPlain = options.drawPlain ?? HEAD_INPUT_DEFAULTS.drawPlain;
  const scaling = standardize ? featureScaling(train.views[0] as Float32Array, dim) : null;
  const trainViews = scaling ? train.views.map((v) => applyScaling(v, dim, scaling)) : train.views;
  const valView = scaling ? applyScaling(val.views[0] as Float32Array, dim, scaling) : (val.views[0] as Float32Array);
  const xVal = tfc.tensor2d(valView, [val.labels.length, dim]);
  try {
    const model = await withSeed(o.seed, () => createHead(dim, head));
    const result = await fit(
      model,
      {
        batchesPerEpoch: Math.ceil(n / o.batchSize),
        async *trainBatches(epoch) {
          const rng = SeededRandom.keyed(o.seed, 'epoch', epoch);
          const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
          for (let start = 0; start < n; start += o.batchSize) {
            const idx = order.slice(start, start + o.batchSize);
            const x = new Float32Array(idx.length * dim);
            const y = new Float32Array(idx.length);
            idx.forEach((i, j) => {
              const view = drawView(rng, augmented, drawPlain);
              x.set((trainViews[view] as Float32Array).subarray(i * dim, (i + 1) * dim), j * dim);
              y[j] = train.labels[i] as number;
            });
            yield { x: tfc.tensor2d(x, [idx.length, dim]), y: tfc.tensor2d(y, [idx.length, 1]) };
          }
        },
        async validate(m) {
          return { probs: await predictProbs(m, xVal), labels: val.labels };
        },
      },
      { epochs: o.epochs, lr: o.lr, patience: o.patience, seed: o.seed, phase: 'head', onProgress: o.onProgress, onEpoch: o.onEpoch },
    );
    if (scaling) foldScaling(model, scaling);
    return { ...result, model, head };
  } finally {
    xVal.dispose();
  }
}

/** Weight initialisers draw from Math.random; seeding it makes the initial head reproducible. */
function withSeed<T>(seed: number, fn: () => T): Promise<T> {
  return withSeededMathRandom(seed, async () => fn());
}

/** Probabilities of class 1 for feature vectors. */
export async function headProbs(model: tfl.LayersModel, features: Float32Array, dim: number): Promise<Float32Array> {
  await initTfjs();
  const x = tfc.tensor2d(features, [features.length / dim, dim]);
  try {
    return await predictProbs(model, x);
  } finally {
    x.dispose();
  }
}
