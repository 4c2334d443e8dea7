import type * as tfl from '@tensorflow/tfjs-layers';
import * as tfc from '@tensorflow/tfjs-core';
import { initTfjs } from '../bases/tfjs-backend.js';
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
  onProgress?: ProgressFn;
  onEpoch?: (record: EpochRecord) => void;
}

/** The study's training defaults. */
export const STUDY_TRAINING = Object.freeze({ epochs: 10, batchSize: 64, lr: 1e-3, patience: 2, seed: 1 });

export interface HeadRun extends FitResult {
  model: tfl.Sequential;
  head: HeadConfig;
}

/**
 * Trains the study's dense head on cached features of a frozen base. Each epoch every training
 * image is seen once, as one of its augmented views drawn at random (the plain image when there
 * are no augmented views), so cached views stand in for Keras' on-the-fly augmentation.
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
  const xVal = tfc.tensor2d(val.views[0] as Float32Array, [val.labels.length, dim]);
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
              const view = augmented > 0 ? 1 + rng.int(augmented) : 0;
              x.set((train.views[view] as Float32Array).subarray(i * dim, (i + 1) * dim), j * dim);
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
