import type * as tfl from '@tensorflow/tfjs-layers';
import type { Base } from '../bases/base.js';
import type { TrainableBase } from '../bases/base.js';
import { isFineTunable, type FineTunedBase } from '../bases/fine-tunable.js';
import { fineTunableBasesText } from '../zoo/index.js';
import type { AugmentParams } from '../data/augment.js';
import type { DegradeParams } from '../data/degrade.js';
import { splitImageFile, splitPart, type Part, type Split, type SplitImage } from '../data/split.js';
import { extractFeatures } from '../features/extract-features.js';
import { filesToAlign, splitAligner } from '../features/split-aligner.js';
import { UsageError } from '../errors.js';
import type { ProgressFn } from '../util/progress.js';
import type { EpochRecord } from './fit.js';
import { HEAD_INPUT_DEFAULTS, headProbs, STUDY_TRAINING, trainHead } from './fit-head.js';
import { imageProbs, trainEndToEnd, type TrainEngine } from './fit-end-to-end.js';
import { checkFineTuneBlocks, fineTuneBase, type FineTuneBaseRun } from './fine-tune-base.js';

export interface TrainModelOptions {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  patience?: number;
  seed?: number;
  /** Augmented views per training image cached for a frozen base (0 = plain images only). */
  augmentViews?: number;
  /** Standardise cached features for the head (folded into it afterwards). Default on. */
  standardize?: boolean;
  /** Each epoch may draw a training image's plain view as well as its augmented ones. Default on. */
  drawPlain?: boolean;
  augment?: AugmentParams;
  /** Degradations the cached augmented views may also go through (tight framing, JPEG, exposure, grey); false for none. */
  degrade?: DegradeParams | false;
  /** Epochs of training base and head together after the head, at `fineTuneLr`. */
  fineTuneEpochs?: number;
  fineTuneLr?: number;
  /** How many of the base's last blocks fine-tuning trains (VGG16: of 5 conv blocks; face/faceres: of 14; generic: of 17); default all. */
  fineTuneBlocks?: number;
  cacheDir?: string | false;
  skipBad?: boolean;
  onProgress?: ProgressFn;
  onEpoch?: (record: EpochRecord) => void;
  /** Called with a one-line notice, e.g. the expected time of a long phase. */
  onNotice?: (message: string) => void;
  /** Engine that trains the custom CNN end to end: `onnxruntime` (default, both cores) or `tfjs` (one thread). */
  trainEngine?: TrainEngine;
  /** ONNX Runtime intra-op threads of the `onnxruntime` training engine (default 2). */
  threads?: number;
}

/** The custom CNN trains on ONNX Runtime unless told otherwise: 5-7x tfjs' speed, the same training to float tolerance. */
export const DEFAULT_TRAIN_ENGINE: TrainEngine = 'onnxruntime';

/**
 * The degradations training views go through unless told otherwise: none. On the robustness suite
 * they lifted tight crops but not the plain, JPEG or MEBeauty test sets (the README's table).
 */
export const DEFAULT_DEGRADATION: DegradeParams | false = false;

/**
 * Default number of cached augmented views per training image for a frozen base: none. Measured
 * on the README's split, views of the study's augmentation add nothing over the plain view on the
 * generic or the face base (bench:head-input, five seeds), while two of them triple the first
 * run's embedding time; `--augment-views K` brings them back.
 */
export const DEFAULT_AUGMENT_VIEWS = 0;

export interface StageTime {
  stage: string;
  seconds: number;
}

export interface TrainedModel {
  /** `head`: the model maps base features to the probability; `end-to-end`: it maps images. */
  kind: 'head' | 'end-to-end';
  model: tfl.LayersModel;
  history: EpochRecord[];
  bestEpoch: number;
  stoppedEarly: boolean;
  /** Probabilities of class 1 for the validation and test images, in split order. */
  probs: Record<'val' | 'test', Float32Array>;
  images: Record<Part, SplitImage[]>;
  times: StageTime[];
  config: Record<string, unknown>;
  /** Image views the base embedded, and those the cache supplied. */
  features?: { computed: number; cached: number };
  /**
   * When fine-tuning changed a frozen base's weights (VGG16, a graph base): that base, on which `model` (the
   * head) now runs. A bundle must store its weights. The caller disposes it.
   */
  fineTunedBase?: FineTunedBase;
}

export function partFiles(split: Split, part: Part): { images: SplitImage[]; files: string[]; labels: Uint8Array } {
  const images = splitPart(split, part);
  return { images, files: images.map((im) => splitImageFile(split, im)), labels: Uint8Array.from(images, (im) => im.label) };
}

function isTrainable(base: Base): base is TrainableBase {
  return base.trainable && 'model' in base;
}

/**
 * Trains a classifier on a split: the study's head on cached features of a frozen base, or, for
 * a trainable base such as the custom CNN, base and head end to end on augmented images. With
 * fine-tune epochs, a trainable base is then unfrozen and trained with the head at a lower rate.
 */
export async function trainModel(split: Split, base: Base, options: TrainModelOptions = {}): Promise<TrainedModel> {
  if ((options.fineTuneEpochs ?? 0) > 0 && !isTrainable(base) && !isFineTunable(base)) {
    throw new UsageError(
      `base ${base.id} cannot be fine-tuned: its weights are frozen in ${base.engine === 'onnxruntime' ? 'an ONNX Runtime graph' : 'a tfjs graph model'}; ` +
        `fine-tuning works for ${fineTunableBasesText()} (graph bases on their default engine, ONNX Runtime)`,
    );
  }
  const fineTuneBlocks = isFineTunable(base) ? checkFineTuneBlocks(options.fineTuneBlocks ?? base.blockCount, base) : undefined;
  const o = { ...STUDY_TRAINING, augmentViews: DEFAULT_AUGMENT_VIEWS, fineTuneEpochs: 0, fineTuneLr: 1e-4, ...options };
  if (filesToAlign(split).size > 0 && (o.fineTuneEpochs > 0 || (isTrainable(base) && base.id === 'custom'))) {
    throw new UsageError(`a split with a source to align (align=true) trains a head on a frozen base; training ${base.id} ${o.fineTuneEpochs > 0 ? 'with fine-tuning ' : ''}reads the images as they are`);
  }
  if (o.degrade && o.augmentViews === 0) {
    throw new UsageError('robust views are degraded augmented views: give augmentViews (--augment-views) of at least 1 with them');
  }
  const parts = { train: partFiles(split, 'train'), val: partFiles(split, 'val'), test: partFiles(split, 'test') };
  const times: StageTime[] = [];
  const timed = async <T>(stage: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      times.push({ stage, seconds: (performance.now() - t0) / 1000 });
    }
  };
  const fitOptions = { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, patience: o.patience, seed: o.seed, onProgress: o.onProgress, onEpoch: o.onEpoch };
  const config: Record<string, unknown> = { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, patience: o.patience, seed: o.seed, fineTuneEpochs: o.fineTuneEpochs, fineTuneLr: o.fineTuneLr };
  const images = { train: parts.train.images, val: parts.val.images, test: parts.test.images };

  if (isTrainable(base) && base.id === 'custom') {
    config.mode = 'end-to-end';
    config.inputSize = base.inputSize;
    const engine = { engine: o.trainEngine ?? DEFAULT_TRAIN_ENGINE, ...(o.threads !== undefined ? { threads: o.threads } : {}) };
    config.engine = engine.engine;
    const run = await timed('train end to end', () => trainEndToEnd(base, parts.train, parts.val, { ...fitOptions, ...engine, ...(o.augment ? { augment: o.augment } : {}) }));
    const history = [...run.history];
    let { bestEpoch, stoppedEarly } = run;
    if (o.fineTuneEpochs > 0) {
      const more = await timed('fine-tune', () =>
        trainEndToEnd(base, parts.train, parts.val, { ...fitOptions, ...engine, epochs: o.fineTuneEpochs, lr: o.fineTuneLr, model: run.model, phase: 'fine-tune', firstEpoch: history.length + 1, baselineLoss: Math.min(...history.map((h) => h.val_loss)) }),
      );
      history.push(...more.history);
      // The baseline "epoch" of the fine-tune phase stands for the head phase's best weights.
      if (more.bestEpoch > run.history.length) bestEpoch = more.bestEpoch;
      stoppedEarly = more.stoppedEarly;
    }
    const [val, test] = await timed('predict', async () => [await imageProbs(run.model, base, parts.val.files), await imageProbs(run.model, base, parts.test.files)]);
    return { kind: 'end-to-end', model: run.model, history, bestEpoch, stoppedEarly, probs: { val, test }, images, times, config };
  }

  config.mode = 'frozen base, cached features';
  config.augmentViews = o.augmentViews;
  const aligner = await splitAligner(split);
  try {
    const headInput = { standardize: o.standardize ?? HEAD_INPUT_DEFAULTS.standardize, drawPlain: o.drawPlain ?? HEAD_INPUT_DEFAULTS.drawPlain };
    Object.assign(config, headInput);
    const degrade = o.degrade === undefined ? DEFAULT_DEGRADATION : o.degrade;
    if (degrade) config.degrade = degrade;
    const extract = { cacheDir: o.cacheDir, seed: o.seed, skipBad: false, onProgress: o.onProgress, ...(o.augment ? { augment: o.augment } : {}), ...(aligner ? { aligned: aligner } : {}) };
    const trainFeats = await timed(`embed train (${o.augmentViews + 1} views)`, () => extractFeatures(base, parts.train.files, { ...extract, views: o.augmentViews, ...(degrade ? { degrade } : {}) }));
    const valFeats = await timed('embed val', () => extractFeatures(base, parts.val.files, extract));
    const testFeats = await timed('embed test', () => extractFeatures(base, parts.test.files, extract));
    const run = await timed('train head', () =>
      trainHead({ dim: base.dim, views: trainFeats.views, labels: parts.train.labels }, { dim: base.dim, views: valFeats.views, labels: parts.val.labels }, { ...fitOptions, ...headInput }),
    );
    let fine: FineTuneBaseRun | undefined;
    if (o.fineTuneEpochs > 0 && isFineTunable(base) && fineTuneBlocks !== undefined) {
      fine = await timed('fine-tune', () =>
        fineTuneBase(base, run.model, parts.train, parts.val, {
          ...fitOptions,
          epochs: o.fineTuneEpochs,
          lr: o.fineTuneLr,
          trainableBlocks: fineTuneBlocks,
          head: run.head,
          baselineLoss: Math.min(...run.history.map((h) => h.val_loss)),
          firstEpoch: run.history.length + 1,
          ...(o.augment ? { augment: o.augment } : {}),
          onNotice: o.onNotice,
        }),
      );
      const { message: _message, ...estimate } = fine.estimate;
      config.fineTuneBlocks = fineTuneBlocks;
      config.fineTune = { kept: fine.kept, estimate, ...(fine.base ? { originalWeightsHash: base.weightsHash, weightsHash: fine.base.weightsHash } : {}) };
    }
    const tuned = fine?.base;
    const [val, test] = await timed('predict', async () => {
      let [v, t] = [valFeats, testFeats];
      try {
        // The cached features are those of the weights before fine-tuning: embed again with the new ones.
        if (tuned) [v, t] = [await extractFeatures(tuned, parts.val.files, extract), await extractFeatures(tuned, parts.test.files, extract)];
      } catch (e) {
        await tuned?.dispose();
        throw e;
      }
      return [await headProbs(run.model, v.views[0] as Float32Array, base.dim), await headProbs(run.model, t.views[0] as Float32Array, base.dim)];
    });
    const features = [trainFeats, valFeats, testFeats].reduce((s, f) => ({ computed: s.computed + f.computed, cached: s.cached + f.cached }), { computed: 0, cached: 0 });
    return {
      kind: 'head',
      model: run.model,
      history: [...run.history, ...(fine?.history ?? [])],
      bestEpoch: fine?.kept ? fine.bestEpoch : run.bestEpoch,
      stoppedEarly: fine ? fine.stoppedEarly : run.stoppedEarly,
      probs: { val, test },
      images,
      times,
      config,
      features,
      ...(tuned ? { fineTunedBase: tuned } : {}),
    };
  } finally {
    if (aligner) config.alignment = { images: aligner.files.size, noFace: aligner.noFace.length, detector: aligner.key };
    await aligner?.dispose();
  }
}
