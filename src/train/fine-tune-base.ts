import * as tfc from '@tensorflow/tfjs-core';
import * as layers from '@tensorflow/tfjs-layers';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { FineTunableBase, FineTunedBase } from '../bases/fine-tunable.js';
import { getPreprocessing } from '../bases/preprocess.js';
import { initTfjs } from '../runtime/tfjs/backend.js';
import type { AugmentParams } from '../data/augment.js';
import { imageBatches } from '../data/batches.js';
import type { ImageSize } from '../data/image.js';
import { UsageError } from '../errors.js';
import type { ProgressFn } from '../util/progress.js';
import type { EpochRecord, FitResult } from './fit.js';
import { predictProbs } from './fit.js';
import { trainEndToEnd, type ImageSet } from './fit-end-to-end.js';
import { createHead, STUDY_HEAD, type HeadConfig } from './head.js';
import { withSeededMathRandom } from './seeded-math-random.js';

/**
 * Wasm heap one image's activations take while VGG16 trains, per input pixel: measured 611 MB
 * an image at 224x224 (tfjs-wasm 4.22, all blocks trainable, batches of 2 and 6). Bases with
 * lighter activations say so through `trainBytesPerPixel`.
 */
const TRAIN_BYTES_PER_PIXEL = 12_500;

/**
 * Share of the wasm backend's 4 GB heap given to one micro-batch's activations. The rest holds
 * the weights, Adam's two moments, the best weights early stopping keeps, the summed gradients
 * and a batch of pixels: about 0.5 GB for VGG16.
 */
const MICRO_BATCH_HEAP_BYTES = 2.8e9;

/** Images the speed probe trains on at most: enough to time, few enough to start soon at 224 px. */
const MAX_PROBE_IMAGES = 64;

/**
 * Images run through the model at once while fine-tuning at this input size: as many as fit the
 * heap, split evenly (64 as 2 x 32 rather than 54 + 10); gradients of a batch's parts are summed.
 */
export function fineTuneMicroBatch(inputSize: ImageSize, batchSize: number, bytesPerPixel = TRAIN_BYTES_PER_PIXEL): number {
  const fits = Math.max(1, Math.floor(MICRO_BATCH_HEAP_BYTES / (bytesPerPixel * inputSize.height * inputSize.width)));
  return Math.ceil(batchSize / Math.ceil(batchSize / fits));
}

export function checkFineTuneBlocks(blocks: number, base: FineTunableBase): number {
  if (!Number.isInteger(blocks) || blocks < 1 || blocks > base.blockCount) {
    throw new UsageError(`fine-tune blocks must be a whole number from 1 to ${base.blockCount} (the last N blocks of ${base.id}), got ${blocks}`);
  }
  return blocks;
}

/** "blocks 1-5", "block 5": which blocks train, in words. */
export function blocksText(blocks: number, blockCount: number): string {
  const first = blockCount - blocks + 1;
  return blocks === 1 ? `block ${blockCount}` : `blocks ${first}-${blockCount}`;
}

/** "41 h 10 min", "12 min", "40 s". */
export function durationText(seconds: number): string {
  if (seconds >= 3600) {
    const minutes = Math.round(seconds / 60);
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }
  if (seconds >= 60) return `${Math.round(seconds / 60)} min`;
  return `${Math.max(1, Math.round(seconds))} s`;
}

function secondsText(seconds: number): string {
  return seconds >= 10 ? seconds.toFixed(0) : seconds.toPrecision(2);
}

export interface FineTuneEstimate {
  base: string;
  trainableBlocks: number;
  epochs: number;
  trainImages: number;
  valImages: number;
  inputSize: ImageSize;
  /** tfjs backend the phase runs on, e.g. `wasm`. */
  backend: string;
  batchSize: number;
  microBatch: number;
  /** Images the timed steps trained on. */
  probeImages: number;
  /** One training step (forward, backward, Adam), per image. */
  trainSecondsPerImage: number;
  /** One inference pass, per image. */
  valSecondsPerImage: number;
  /** All epochs, if early stopping does not end the phase sooner. */
  expectedSeconds: number;
  message: string;
}

export interface EstimateFineTuneOptions {
  epochs: number;
  lr: number;
  batchSize: number;
  trainableBlocks: number;
  /** Validation images per epoch. */
  valImages: number;
  /** Training images per epoch; default all of `train` (a benchmark may time a few and extrapolate). */
  trainImages?: number;
  microBatch?: number;
  /** Timed training steps after one warm-up step; default 2. */
  steps?: number;
}

/**
 * Times fine-tuning on real training images before it starts: one warm-up step, then `steps`
 * timed training steps and one inference pass on up to one micro-batch of them. The model's
 * weights are put back afterwards, so the probe leaves no trace in the training.
 */
export async function estimateFineTune(base: FineTunableBase, model: tfl.LayersModel, train: ImageSet, options: EstimateFineTuneOptions): Promise<FineTuneEstimate> {
  const tf = await initTfjs();
  const microBatch = options.microBatch ?? fineTuneMicroBatch(base.inputSize, options.batchSize, base.trainBytesPerPixel);
  const steps = options.steps ?? 2;
  const k = Math.min(train.files.length, microBatch, options.batchSize, MAX_PROBE_IMAGES);
  if (k < 1) throw new UsageError('fine-tuning needs at least one training image');
  const { height, width } = base.inputSize;
  let pixels: Float32Array | undefined;
  for await (const { batch } of imageBatches(train.files.slice(0, k), { batchSize: k, size: base.inputSize, ...(base.crop ? { crop: base.crop } : {}) })) pixels = batch.data;
  const x = tfc.tensor4d(getPreprocessing(base.preprocess).apply(pixels as Float32Array), [k, height, width, 3]);
  const y = tfc.tensor2d(Float32Array.from(train.labels.subarray(0, k)), [k, 1]);
  const saved = model.getWeights().map((w) => w.clone());
  const optimizer = tfc.train.adam(options.lr);
  let trainSeconds: number;
  let valSeconds: number;
  try {
    model.compile({ optimizer, loss: 'binaryCrossentropy', metrics: ['accuracy'] });
    await model.trainOnBatch(x, y);
    let t0 = performance.now();
    for (let i = 0; i < steps; i++) await model.trainOnBatch(x, y);
    trainSeconds = (performance.now() - t0) / 1000 / (steps * k);
    t0 = performance.now();
    await predictProbs(model, x, k);
    valSeconds = (performance.now() - t0) / 1000 / k;
  } finally {
    model.setWeights(saved);
    tfc.dispose([x, y, ...saved]);
    optimizer.dispose();
  }
  const trainImages = options.trainImages ?? train.files.length;
  const expectedSeconds = options.epochs * (trainImages * trainSeconds + options.valImages * valSeconds);
  const backend = tf.getBackend();
  const batches = microBatch < options.batchSize ? ` (batches of ${options.batchSize} in micro-batches of ${microBatch})` : '';
  const message =
    `fine-tuning ${base.id} (${blocksText(options.trainableBlocks, base.blockCount)}) for ${options.epochs} epoch${options.epochs === 1 ? '' : 's'} ` +
    `on ${trainImages.toLocaleString('en-US')} images at ${width}x${height} on tfjs-${backend}${batches}: ` +
    `measured ${secondsText(trainSeconds)} s/image training, ${secondsText(valSeconds)} s/image validation → expected about ${durationText(expectedSeconds)}`;
  return {
    base: base.id,
    trainableBlocks: options.trainableBlocks,
    epochs: options.epochs,
    trainImages,
    valImages: options.valImages,
    inputSize: base.inputSize,
    backend,
    batchSize: options.batchSize,
    microBatch,
    probeImages: k,
    trainSecondsPerImage: trainSeconds,
    valSecondsPerImage: valSeconds,
    expectedSeconds,
    message,
  };
}

export interface FineTuneBaseOptions {
  epochs: number;
  lr: number;
  batchSize: number;
  patience: number;
  seed: number;
  /** How many of the base's last blocks train. */
  trainableBlocks: number;
  /** Validation loss of the head phase's best weights: fine-tuning must beat it to be kept. */
  baselineLoss: number;
  /** Number of the first fine-tune epoch in the history. */
  firstEpoch: number;
  head?: HeadConfig;
  augment?: AugmentParams;
  onProgress?: ProgressFn;
  onEpoch?: (record: EpochRecord) => void;
  /** Receives the expected time before the first epoch starts. */
  onNotice?: (message: string) => void;
}

export interface FineTuneBaseRun extends FitResult {
  /** Whether an epoch beat the head phase; if not, base and head are as the head phase left them. */
  kept: boolean;
  /** The base with the fine-tuned weights, frozen again for fast inference (when kept). The caller disposes it. */
  base?: FineTunedBase;
  estimate: FineTuneEstimate;
}

/** A model built from a fine-tunable base: its conv part, the head on top, and both together. */
export interface FineTuneModel {
  conv: tfl.LayersModel;
  head: tfl.Sequential;
  /** Preprocessed pixels → probability of class 1. Disposing it and then `head` frees everything. */
  model: tfl.Sequential;
}

/**
 * The base as a trainable tfjs model with the study's head on top, the head starting from
 * `trainedHead`'s weights when given (seeded initial weights otherwise).
 */
export async function assembleFineTuneModel(base: FineTunableBase, options: { trainableBlocks: number; seed: number; head?: HeadConfig; trainedHead?: tfl.LayersModel }): Promise<FineTuneModel> {
  const conv = await base.trainableModel(options.trainableBlocks);
  return withSeededMathRandom(options.seed, async () => {
    const head = createHead(base.dim, options.head ?? STUDY_HEAD);
    if (options.trainedHead) head.setWeights(options.trainedHead.getWeights());
    const model = layers.sequential({ name: `${base.id}_fine_tune` });
    model.add(conv);
    for (const layer of head.layers) model.add(layer);
    return { conv, head, model };
  });
}

/**
 * The fine-tune phase for a base that runs frozen on ONNX Runtime: rebuilds it as a tfjs model
 * with the trained head on top, states the measured expected time through `onNotice`, then trains
 * both on augmented images at a low rate with early stopping that keeps the head phase's weights
 * unless an epoch beats them. When kept, `trainedHead` receives the fine-tuned head's weights and
 * the result carries the fine-tuned base; otherwise `trainedHead` is left as it was.
 */
export async function fineTuneBase(base: FineTunableBase, trainedHead: tfl.LayersModel, train: ImageSet, val: ImageSet, o: FineTuneBaseOptions): Promise<FineTuneBaseRun> {
  await initTfjs();
  checkFineTuneBlocks(o.trainableBlocks, base);
  const { conv, head, model } = await assembleFineTuneModel(base, { trainableBlocks: o.trainableBlocks, seed: o.seed, trainedHead, ...(o.head ? { head: o.head } : {}) });
  try {
    const microBatch = fineTuneMicroBatch(base.inputSize, o.batchSize, base.trainBytesPerPixel);
    const estimate = await estimateFineTune(base, model, train, { epochs: o.epochs, lr: o.lr, batchSize: o.batchSize, trainableBlocks: o.trainableBlocks, valImages: val.files.length, microBatch });
    o.onNotice?.(estimate.message);
    const preprocessing = getPreprocessing(base.preprocess);
    const run = await trainEndToEnd({ id: base.id, inputSize: base.inputSize, crop: base.crop, dim: base.dim, model: conv }, train, val, {
      epochs: o.epochs,
      lr: o.lr,
      batchSize: o.batchSize,
      patience: o.patience,
      seed: o.seed,
      head: o.head ?? STUDY_HEAD,
      ...(o.augment ? { augment: o.augment } : {}),
      model,
      phase: 'fine-tune',
      firstEpoch: o.firstEpoch,
      baselineLoss: o.baselineLoss,
      preprocess: (pixels) => preprocessing.apply(pixels),
      microBatch,
      onProgress: o.onProgress,
      onEpoch: o.onEpoch,
    });
    const kept = run.bestEpoch >= o.firstEpoch;
    const result = { history: run.history, bestEpoch: run.bestEpoch, stoppedEarly: run.stoppedEarly, seconds: run.seconds, kept, estimate };
    if (!kept) return result;
    const tuned = await base.withTrainedWeights(conv, o.trainableBlocks);
    trainedHead.setWeights(head.getWeights());
    return { ...result, base: tuned };
  } finally {
    // fit() has freed its optimizer. Disposing the whole model frees the conv part it holds; the
    // head's layers also belong to the head model, which must let go of them too.
    model.dispose();
    head.dispose();
  }
}
