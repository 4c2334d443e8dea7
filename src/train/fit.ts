import type * as tfl from '@tensorflow/tfjs-layers';
import * as tfc from '@tensorflow/tfjs-core';
import { UsageError } from '../errors.js';
import type { ProgressFn } from '../util/progress.js';
import { withSeededMathRandom } from './seeded-math-random.js';
import { trainOnBatchInMicroBatches } from './micro-batch-step.js';

/** One row of the training history, as Keras' History reports it. */
export interface EpochRecord {
  epoch: number;
  loss: number;
  accuracy: number;
  val_loss: number;
  val_accuracy: number;
  seconds: number;
  /** Which phase produced it: the head on a frozen base, or fine-tuning the whole model. */
  phase: 'head' | 'fine-tune';
}

export interface FitConfig {
  epochs: number;
  /** Learning rate of Adam. */
  lr: number;
  /** Epochs without a lower val_loss before stopping; 0 turns early stopping off. */
  patience: number;
  seed: number;
  phase: EpochRecord['phase'];
  /** Number given to the first epoch in the history; a fine-tune phase continues the count. */
  firstEpoch?: number;
  /**
   * The validation loss the model already has (after an earlier phase). Its current weights then
   * count as the best so far, so a later phase can only keep or improve on them.
   */
  baselineLoss?: number;
  /**
   * Images run through the model at once: a larger batch is trained in micro-batches with summed
   * gradients (see micro-batch-step.ts). Default: the whole batch in one trainOnBatch.
   */
  microBatch?: number;
  onProgress?: ProgressFn;
  onEpoch?: (record: EpochRecord) => void;
}

export interface FitResult {
  history: EpochRecord[];
  /** Epoch whose weights the model holds at the end (0: none improved on the start, which is kept). */
  bestEpoch: number;
  stoppedEarly: boolean;
  seconds: number;
}

export interface TrainBatch {
  x: tfc.Tensor;
  y: tfc.Tensor;
}

/** Where a fit gets its data: the batches of one epoch, and validation probabilities. */
export interface FitData {
  batchesPerEpoch: number;
  trainBatches(epoch: number): AsyncIterable<TrainBatch>;
  /** Probabilities of class 1 for the validation set, in inference mode, and its labels. */
  validate(model: tfl.LayersModel): Promise<{ probs: Float32Array; labels: Uint8Array }>;
}

/** Keras' binary cross-entropy: probabilities clipped to [1e-7, 1 - 1e-7]. */
export function binaryCrossEntropy(probs: ArrayLike<number>, labels: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = Math.min(1 - 1e-7, Math.max(1e-7, probs[i] as number));
    sum += labels[i] === 1 ? -Math.log(p) : -Math.log(1 - p);
  }
  return sum / probs.length;
}

export function accuracyAt(probs: ArrayLike<number>, labels: ArrayLike<number>, threshold = 0.5): number {
  let right = 0;
  for (let i = 0; i < probs.length; i++) if (((probs[i] as number) > threshold ? 1 : 0) === labels[i]) right++;
  return right / probs.length;
}

/**
 * Trains with Adam and binary cross-entropy, with Keras' EarlyStopping(monitor='val_loss',
 * patience, restore_best_weights=True). Unlike Keras 2.12, which restores only when it stops
 * early, the best epoch's weights are restored also when the last epoch is not the best, so the
 * saved model is always the one with the lowest validation loss.
 */
export async function fit(model: tfl.LayersModel, data: FitData, config: FitConfig): Promise<FitResult> {
  return fitSeeded(config, async () => {
    // A model does not own an optimizer it is given: Adam's moments (as large as the trainable
    // weights) are freed here when the phase ends, and a later phase compiles a fresh one.
    const optimizer = tfc.train.adam(config.lr);
    model.compile({ optimizer, loss: 'binaryCrossentropy', metrics: ['accuracy'] });
    try {
      return await runEpochs(tfjsLearner(model, data, config), data, config);
    } finally {
      optimizer.dispose();
    }
  });
}

/** Checks a fit's settings and runs `fn` with Math.random seeded (see withSeededMathRandom). */
export async function fitSeeded<T>(config: FitConfig, fn: () => Promise<T>): Promise<T> {
  if (!Number.isInteger(config.epochs) || config.epochs < 1) throw new UsageError(`epochs must be a whole number ≥ 1, got ${config.epochs}`);
  if (!(config.lr > 0)) throw new UsageError(`learning rate must be > 0, got ${config.lr}`);
  if (!Number.isInteger(config.patience) || config.patience < 0) throw new UsageError(`patience must be a whole number ≥ 0, got ${config.patience}`);
  return withSeededMathRandom(config.seed, fn);
}

/**
 * What the epoch loop needs of a model in training, whichever engine runs it: a step on one
 * batch, validation, and keeping the best weights so far to put back at the end.
 */
export interface Learner<B> {
  step(batch: B): Promise<{ loss: number; accuracy: number; n: number }>;
  validate(): Promise<{ probs: Float32Array; labels: Uint8Array }>;
  /** Remembers the current weights as the best, replacing the ones kept before. */
  keepBest(): void;
  /** Puts the kept weights back, if any were kept, and frees them. */
  restoreBest(): void;
}

function tfjsLearner(model: tfl.LayersModel, data: FitData, config: FitConfig): Learner<TrainBatch> {
  let best: tfc.Tensor[] = [];
  return {
    async step(batch) {
      const n = batch.y.shape[0] as number;
      try {
        const [loss, accuracy] =
          config.microBatch !== undefined && n > config.microBatch
            ? await trainOnBatchInMicroBatches(model, batch.x, batch.y, config.microBatch)
            : ((await model.trainOnBatch(batch.x, batch.y)) as number[]);
        return { loss: loss as number, accuracy: accuracy as number, n };
      } finally {
        tfc.dispose([batch.x, batch.y]);
      }
    },
    validate: () => data.validate(model),
    keepBest() {
      tfc.dispose(best);
      best = model.getWeights().map((w) => w.clone());
    },
    restoreBest() {
      if (best.length === 0) return;
      model.setWeights(best);
      tfc.dispose(best);
      best = [];
    },
  };
}

/**
 * Keras' fit loop with EarlyStopping(monitor='val_loss', patience, restore_best_weights=True)
 * (see fit), over any engine's Learner. Call it inside fitSeeded.
 */
export async function runEpochs<B>(learner: Learner<B>, data: { batchesPerEpoch: number; trainBatches(epoch: number): AsyncIterable<B> }, config: FitConfig): Promise<FitResult> {
  const history: EpochRecord[] = [];
  const first = config.firstEpoch ?? 1;
  let best = { loss: config.baselineLoss ?? Infinity, epoch: config.baselineLoss === undefined ? 0 : first - 1 };
  if (config.baselineLoss !== undefined) learner.keepBest();
  let wait = 0;
  let stoppedEarly = false;
  const started = performance.now();
  const stage = config.phase === 'head' ? 'train head' : 'fine-tune';
  const totalSteps = config.epochs * data.batchesPerEpoch;
  let steps = 0;
  config.onProgress?.({ stage, done: 0, total: totalSteps });
  for (let epoch = first; epoch < first + config.epochs; epoch++) {
    const t0 = performance.now();
    let lossSum = 0;
    let accSum = 0;
    let seen = 0;
    for await (const batch of data.trainBatches(epoch)) {
      const { loss, accuracy, n } = await learner.step(batch);
      lossSum += loss * n;
      accSum += accuracy * n;
      seen += n;
      steps++;
      config.onProgress?.({ stage, done: Math.min(steps, totalSteps), total: totalSteps });
    }
    const val = await learner.validate();
    const record: EpochRecord = {
      epoch,
      loss: lossSum / seen,
      accuracy: accSum / seen,
      val_loss: binaryCrossEntropy(val.probs, val.labels),
      val_accuracy: accuracyAt(val.probs, val.labels),
      seconds: (performance.now() - t0) / 1000,
      phase: config.phase,
    };
    history.push(record);
    config.onEpoch?.(record);
    if (record.val_loss < best.loss) {
      learner.keepBest();
      best = { loss: record.val_loss, epoch };
      wait = 0;
    } else if (config.patience > 0 && ++wait >= config.patience) {
      stoppedEarly = true;
      break;
    }
  }
  if (stoppedEarly) config.onProgress?.({ stage, done: totalSteps, total: totalSteps });
  learner.restoreBest();
  return { history, bestEpoch: best.epoch, stoppedEarly, seconds: (performance.now() - started) / 1000 };
}

/** Probabilities of class 1 from a model, in inference mode, in slices to bound memory. */
export async function predictProbs(model: tfl.LayersModel, x: tfc.Tensor, batchSize = 256): Promise<Float32Array> {
  const n = x.shape[0] as number;
  const out = new Float32Array(n);
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const slice = tfc.slice(x, start, size);
    const p = model.predict(slice) as tfc.Tensor;
    out.set(await p.data(), start);
    tfc.dispose([slice, p]);
  }
  return out;
}
