import * as tfc from '@tensorflow/tfjs-core';
import * as layers from '@tensorflow/tfjs-layers';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { TrainableBase } from '../bases/base.js';
import { initTfjs } from '../runtime/tfjs/backend.js';
import { augmentImage, STUDY_AUGMENTATION, type AugmentParams } from '../data/augment.js';
import { imageBatches } from '../data/batches.js';
import type { Interpolation } from '../data/decode.js';
import { UsageError } from '../errors.js';
import type { ProgressFn } from '../util/progress.js';
import { SeededRandom } from '../util/random.js';
import { fit, fitSeeded, predictProbs, runEpochs, type EpochRecord, type FitConfig, type FitResult } from './fit.js';
import { OrtTrainer } from './ort-trainer.js';
import { createHead, STUDY_HEAD, type HeadConfig } from './head.js';
import { STUDY_TRAINING, type TrainHeadOptions } from './fit-head.js';
import { withSeededMathRandom } from './seeded-math-random.js';

export interface ImageSet {
  files: string[];
  labels: Uint8Array;
}

export interface EndToEndOptions extends TrainHeadOptions {
  augment?: AugmentParams;
  interpolation?: Interpolation;
  /** Continue training this model (base + head) instead of building a new one: the fine-tune phase. */
  model?: tfl.LayersModel;
  phase?: EpochRecord['phase'];
  /** Number of the first epoch in the history (fine-tuning continues the count). */
  firstEpoch?: number;
  /** Validation loss of `model` before this phase (see FitConfig.baselineLoss). */
  baselineLoss?: number;
  /**
   * Applied to the 0..255 pixels of every batch (after augmentation) before the model sees them,
   * for a model that does not preprocess inside (a VGG16 base); the custom CNN rescales itself.
   */
  preprocess?: (pixels: Float32Array) => Float32Array;
  /**
   * Images run through the model at once: a larger batch is trained in micro-batches with summed
   * gradients (same update, less memory) and validated in chunks of 4 micro-batches. Default: the
   * whole batch, validation in chunks of 64.
   */
  microBatch?: number;
  /**
   * Which engine trains: `tfjs` (the default here: one thread, any model) or `onnxruntime` (the
   * layers ort-trainer.ts builds, which the custom CNN with the study's head is made of: both
   * cores, 5-7x faster; trainModel chooses it for the custom CNN). Both compute the same training
   * to float tolerance (test/train/ort-trainer.test.ts).
   */
  engine?: TrainEngine;
  /** ONNX Runtime intra-op threads for the `onnxruntime` engine (default 2). */
  threads?: number;
}

export type TrainEngine = 'onnxruntime' | 'tfjs';
export const TRAIN_ENGINES: readonly TrainEngine[] = ['onnxruntime', 'tfjs'];

/** What trainEndToEnd needs of a base: its input and, when no model is given, its tfjs model. */
export type EndToEndBase = Pick<TrainableBase, 'id' | 'inputSize' | 'crop' | 'dim' | 'model'>;

export interface EndToEndRun extends FitResult {
  /** Images → probability of class 1. */
  model: tfl.LayersModel;
  head: HeadConfig;
}

/** Decoded images kept as bytes: a quarter of the memory of floats, and exact for 0..255 pixels. */
interface PixelStore {
  n: number;
  height: number;
  width: number;
  data: Uint8Array;
}

async function decodeAll(base: Pick<TrainableBase, 'inputSize' | 'crop'>, files: string[], interpolation: Interpolation | undefined, stage: string, onProgress?: ProgressFn): Promise<PixelStore> {
  const { height, width } = base.inputSize;
  const per = height * width * 3;
  const data = new Uint8Array(files.length * per);
  onProgress?.({ stage, done: 0, total: files.length });
  for await (const { batch, indices } of imageBatches(files, { batchSize: 64, size: base.inputSize, interpolation, ...(base.crop ? { crop: base.crop } : {}) })) {
    indices.forEach((i, j) => data.set(batch.data.subarray(j * per, (j + 1) * per), i * per));
    onProgress?.({ stage, done: (indices[indices.length - 1] ?? 0) + 1, total: files.length });
  }
  return { n: files.length, height, width, data };
}

/**
 * Trains a trainable base and the study's head together on images, with a fresh augmentation of
 * every training image each epoch, as Keras' ImageDataGenerator does. Images are decoded once and
 * kept in memory at the base's input size; the augmentation of (seed, image, epoch) is
 * reproducible.
 */
export async function trainEndToEnd(base: EndToEndBase, train: ImageSet, val: ImageSet, options: EndToEndOptions = {}): Promise<EndToEndRun> {
  await initTfjs();
  const o = { ...STUDY_TRAINING, ...options };
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new UsageError(`batch size must be a whole number ≥ 1, got ${o.batchSize}`);
  const microBatch = options.microBatch ?? o.batchSize;
  if (!Number.isInteger(microBatch) || microBatch < 1) throw new UsageError(`micro-batch must be a whole number ≥ 1, got ${microBatch}`);
  const preprocess = options.preprocess ?? ((pixels: Float32Array) => pixels);
  const valChunk = options.microBatch !== undefined ? Math.min(64, 4 * microBatch) : 64;
  const augment = options.augment ?? STUDY_AUGMENTATION;
  const head = options.head ?? STUDY_HEAD;
  const trainPixels = await decodeAll(base, train.files, options.interpolation, 'decode train', options.onProgress);
  const valPixels = await decodeAll(base, val.files, options.interpolation, 'decode val', options.onProgress);
  const { height, width } = base.inputSize;
  const per = height * width * 3;

  const model =
    options.model ??
    (await withSeededMathRandom(o.seed, async () => {
      const m = layers.sequential({ name: `${base.id}_classifier` });
      m.add(base.model);
      for (const layer of createHead(base.dim, head).layers) m.add(layer);
      return m;
    }));
  /** One epoch's batches: pixels after augmentation and preprocessing, as tfjs and ONNX Runtime both take them. */
  async function* rawBatches(epoch: number): AsyncIterable<RawBatch> {
    const rng = SeededRandom.keyed(o.seed, 'epoch', epoch);
    const order = rng.shuffle(Array.from({ length: trainPixels.n }, (_, i) => i));
    for (let start = 0; start < order.length; start += o.batchSize) {
      const idx = order.slice(start, start + o.batchSize);
      const x = new Float32Array(idx.length * per);
      const y = new Float32Array(idx.length);
      idx.forEach((i, j) => {
        const plain = { height, width, data: Float32Array.from(trainPixels.data.subarray(i * per, (i + 1) * per)) };
        x.set(augmentImage(plain, augment, o.seed, train.files[i] as string, epoch).data, j * per);
        y[j] = train.labels[i] as number;
      });
      yield { x: preprocess(x), y, n: idx.length };
    }
  }
  const batchesPerEpoch = Math.ceil(train.files.length / o.batchSize);
  const fitConfig: FitConfig = { epochs: o.epochs, lr: o.lr, patience: o.patience, seed: o.seed, phase: options.phase ?? 'head', firstEpoch: options.firstEpoch ?? 1, ...(options.baselineLoss !== undefined ? { baselineLoss: options.baselineLoss } : {}), ...(microBatch < o.batchSize ? { microBatch } : {}), onProgress: o.onProgress, onEpoch: o.onEpoch };
  const result =
    (options.engine ?? 'tfjs') === 'onnxruntime'
      ? await fitOnOrt(model, { batchesPerEpoch, trainBatches: rawBatches }, valPixels, val.labels, preprocess, fitConfig, options.threads)
      : await fit(
          model,
          {
            batchesPerEpoch,
            async *trainBatches(epoch) {
              for await (const b of rawBatches(epoch)) yield { x: tfc.tensor4d(b.x, [b.n, height, width, 3]), y: tfc.tensor2d(b.y, [b.n, 1]) };
            },
            async validate(m) {
              return { probs: await pixelProbs(m, valPixels, preprocess, valChunk), labels: val.labels };
            },
          },
          fitConfig,
        );
  return { ...result, model, head };
}

interface RawBatch {
  x: Float32Array;
  y: Float32Array;
  n: number;
}

/**
 * The fit loop on ONNX Runtime: the model's weights are trained there and written back into the
 * model at the end (the best epoch's, as fit restores them).
 */
async function fitOnOrt(model: tfl.LayersModel, data: { batchesPerEpoch: number; trainBatches(epoch: number): AsyncIterable<RawBatch> }, valPixels: PixelStore, valLabels: Uint8Array, preprocess: (pixels: Float32Array) => Float32Array, config: FitConfig, threads: number | undefined): Promise<FitResult> {
  if (config.microBatch !== undefined) throw new UsageError('micro-batches are a tfjs memory saving; the onnxruntime engine trains whole batches');
  const { height, width } = valPixels;
  const per = height * width * 3;
  const trainer = await OrtTrainer.create(model, { height, width, lr: config.lr, ...(threads !== undefined ? { threads } : {}) });
  try {
    let best: Float32Array[] | undefined;
    const result = await fitSeeded(config, () =>
      runEpochs(
        {
          step: async (b) => ({ ...(await trainer.trainOnBatch(b.x, b.y, b.n)), n: b.n }),
          async validate() {
            const probs = new Float32Array(valPixels.n);
            // Chunks of 64 bound the floats held at once (gigabytes for a validation set at 224 px).
            for (let start = 0; start < valPixels.n; start += 64) {
              const size = Math.min(64, valPixels.n - start);
              const x = preprocess(Float32Array.from(valPixels.data.subarray(start * per, (start + size) * per)));
              probs.set(await trainer.predict(x, size), start);
            }
            return { probs, labels: valLabels };
          },
          keepBest: () => (best = trainer.snapshot()),
          restoreBest() {
            if (best) trainer.restore(best);
            best = undefined;
          },
        },
        data,
        config,
      ),
    );
    trainer.writeTo();
    return result;
  } finally {
    await trainer.dispose();
  }
}

/**
 * Probabilities of class 1 for stored pixels, a chunk at a time: only one chunk of floats is in
 * the tfjs heap at once, which matters at 224 px where a validation set takes gigabytes.
 */
async function pixelProbs(model: tfl.LayersModel, pixels: PixelStore, preprocess: (pixels: Float32Array) => Float32Array, chunk: number): Promise<Float32Array> {
  const { height, width } = pixels;
  const per = height * width * 3;
  const out = new Float32Array(pixels.n);
  for (let start = 0; start < pixels.n; start += chunk) {
    const size = Math.min(chunk, pixels.n - start);
    const x = tfc.tensor4d(preprocess(Float32Array.from(pixels.data.subarray(start * per, (start + size) * per))), [size, height, width, 3]);
    try {
      out.set(await predictProbs(model, x, chunk), start);
    } finally {
      x.dispose();
    }
  }
  return out;
}

/** Probabilities of class 1 for image files, through an end-to-end model. */
export async function imageProbs(model: tfl.LayersModel, base: Pick<TrainableBase, 'inputSize' | 'crop'>, files: string[], interpolation?: Interpolation): Promise<Float32Array> {
  await initTfjs();
  const pixels = await decodeAll(base, files, interpolation, 'decode');
  const { height, width } = base.inputSize;
  const x = tfc.tensor4d(Float32Array.from(pixels.data), [pixels.n, height, width, 3]);
  try {
    return await predictProbs(model, x, 64);
  } finally {
    x.dispose();
  }
}
