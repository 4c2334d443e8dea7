import { Command, Option } from 'commander';
import { ROBUST_DEGRADATION } from '../data/degrade.js';
import { readSplit } from '../data/split-file.js';
import { DEFAULT_BASE, fineTunableBasesText, fineTuneBlocksText } from '../zoo/index.js';
import { runExperiment } from '../experiments/experiment.js';
import { evaluationMarkdown } from '../evaluate/evaluation-markdown.js';
import { DEFAULT_CACHE_DIR } from '../features/extract-features.js';
import { STUDY_TRAINING } from '../train/fit-head.js';
import { DEFAULT_AUGMENT_VIEWS, DEFAULT_TRAIN_ENGINE } from '../train/train-model.js';
import { TRAIN_ENGINES, type TrainEngine } from '../train/fit-end-to-end.js';
import { addBaseOptions, baseOptionsFrom } from './base-options.js';
import { parseInteger, parseNumber } from './options.js';
import { terminalProgress } from './progress-bar.js';

/** Training options shared by `train` and `compare`. */
export function addTrainingOptions(cmd: Command): Command {
  return cmd
    .option('--epochs <n>', 'epochs', parseInteger(1), STUDY_TRAINING.epochs)
    .option('--batch-size <n>', 'batch size', parseInteger(1), STUDY_TRAINING.batchSize)
    .option('--lr <rate>', 'Adam learning rate', parseNumber, STUDY_TRAINING.lr)
    .option('--patience <n>', 'early stopping patience on val_loss (0 = off); the best epoch\'s weights are restored', parseInteger(0), STUDY_TRAINING.patience)
    .option('--augment-views <k>', 'augmented views per training image, cached, for a frozen base', parseInteger(0), DEFAULT_AUGMENT_VIEWS)
    .option('--no-standardize', 'frozen base: feed the head raw features (default: standardised on the training set, folded into the saved head)')
    .option('--robust-views', 'frozen base: augmented views may also be cut tight, JPEG-compressed, darkened or brightened, or greyed (see the README\'s robustness suite)')
    .option('--no-robust-views', 'frozen base: augmented views as the study makes them only')
    .option('--no-draw-plain', 'frozen base: draw only augmented views each epoch, as Keras\' generator does (default: the plain view too)')
    .option('--seed <n>', 'seed of initial weights, shuffling, dropout and augmentation', parseInteger(0), STUDY_TRAINING.seed)
    .option('--fine-tune-epochs <n>', `after the head, train base and head together for N epochs (${fineTunableBasesText()}); for all but custom the measured expected time is printed before it starts`, parseInteger(0), 0)
    .option('--fine-tune-lr <rate>', 'learning rate of the fine-tune phase', parseNumber, 1e-4)
    .option(
      '--fine-tune-blocks <n>',
      `fine-tune only the last N blocks of the base (default all). A block is, ${fineTuneBlocksText()}`,
      parseInteger(1),
    )
    .addOption(new Option('--train-engine <engine>', 'what trains the custom CNN end to end: onnxruntime (both cores, see --threads) or tfjs (one thread, 5-7x slower; the same training to float tolerance)').choices([...TRAIN_ENGINES]).default(DEFAULT_TRAIN_ENGINE))
    .option('--threshold-rule <rule>', 'study (middle of the longest run of best validation accuracy; the default on one folder), balanced (the same on the mean accuracy of each source and class; the default on several), max-f1, youden, fixed:X')
    .option('--resamples <n>', 'bootstrap resamples for confidence intervals', parseInteger(1), 1000)
    .option('--cache-dir <dir>', 'feature cache folder', DEFAULT_CACHE_DIR)
    .option('--no-cache', 'do not read or write the feature cache')
    .option('--data <dir>', 'where the split\'s dataset lives now, if it moved');
}

export function trainOptionsFrom(o: Record<string, unknown>, progress: ReturnType<typeof terminalProgress>) {
  return {
    epochs: o.epochs as number,
    batchSize: o.batchSize as number,
    lr: o.lr as number,
    patience: o.patience as number,
    augmentViews: o.augmentViews as number,
    standardize: o.standardize !== false,
    drawPlain: o.drawPlain !== false,
    ...(o.robustViews !== undefined ? { degrade: o.robustViews ? ROBUST_DEGRADATION : (false as const) } : {}),
    seed: o.seed as number,
    trainEngine: o.trainEngine as TrainEngine,
    ...(o.threads !== undefined ? { threads: o.threads as number } : {}),
    fineTuneEpochs: o.fineTuneEpochs as number,
    fineTuneLr: o.fineTuneLr as number,
    ...(o.fineTuneBlocks !== undefined ? { fineTuneBlocks: o.fineTuneBlocks as number } : {}),
    ...(o.thresholdRule !== undefined ? { thresholdRule: o.thresholdRule as string } : {}),
    resamples: o.resamples as number,
    cacheDir: o.cache === false ? (false as const) : (o.cacheDir as string),
    onProgress: progress,
    onNotice: (message: string) => console.log(message),
  };
}

export function trainCommand(): Command {
  return addTrainingOptions(
    addBaseOptions(
      new Command('train')
        .description('Train a classifier on a split (the study\'s head on a frozen base, or the custom CNN end to end), evaluate it, and save the model folder')
        .requiredOption('--split <file>', 'split file from `facegender split`')
        .option('--base <id>', 'base (see `facegender bases`)', DEFAULT_BASE)
        .requiredOption('--out <dir>', 'run folder to write: model bundle, history.json, evaluation.json, evaluation.md'),
    ),
  ).action(async (o) => {
    const split = await readSplit(o.split, o.data ? { dataRoot: o.data } : {});
    const progress = terminalProgress();
    try {
      const result = await runExperiment(split, o.base, o.out, {
        ...trainOptionsFrom(o, progress),
        baseOptions: baseOptionsFrom(o),
        splitFile: o.split,
        onEpoch: (r) =>
          console.log(`epoch ${r.epoch} (${r.phase}): loss ${r.loss.toFixed(4)} accuracy ${r.accuracy.toFixed(4)} val_loss ${r.val_loss.toFixed(4)} val_accuracy ${r.val_accuracy.toFixed(4)} (${r.seconds.toFixed(1)} s)`),
      });
      progress.stop();
      console.log(`best epoch ${result.trained.bestEpoch}${result.trained.stoppedEarly ? ', stopped early' : ''}`);
      console.log(evaluationMarkdown(result.evaluation, `${result.base.id}`));
      console.log(`time: ${result.trained.times.map((t) => `${t.stage} ${t.seconds.toFixed(1)} s`).join(', ')}`);
      console.log(`wrote ${o.out}`);
    } finally {
      progress.stop();
    }
  });
}
