import path from 'node:path';
import { Command } from 'commander';
import { UsageError } from '../errors.js';
import { evaluateBundle } from '../experiments/evaluate-bundle.js';
import { evaluateFolder, folderEvaluationMarkdown } from '../experiments/evaluate-folder.js';
import { evaluationMarkdown } from '../evaluate/evaluation-markdown.js';
import { DEFAULT_CACHE_DIR } from '../features/extract-features.js';
import { LABELLED_REPORT_FILE, writeLabelledReport } from '../report/labelled-report.js';
import { addDetectorOptions, detectorOptionsFrom, parseInteger } from './options.js';
import { terminalProgress } from './progress-bar.js';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((v) => v.trim()).filter(Boolean)];
}

/** Options that belong to one mode only, by the name commander gives them. */
const SPLIT_ONLY = { split: '--split', splitData: '--split-data', saveThreshold: '--save-threshold' } as const;
const FOLDER_ONLY = { labels: '--labels', groupBy: '--group-by', out: '--out', html: '--html', skipBad: '--skip-bad', detector: '--detector', landmarks: '--landmarks' } as const;

export function evaluateCommand(): Command {
  const cmd = new Command('evaluate')
    .description(
      'Evaluate a trained model folder. Without --data: again on its split (threshold sweep on validation, test metrics with 95% CIs, subgroups, likely label errors). ' +
        'With --data: on any folder of labelled photos, through face detection and alignment (accuracy, F1 and the confusion matrix with 95% CIs, photos without a face, accuracy per group)',
    )
    .requiredOption('--model <dir>', 'model folder written by `facegender train`')
    .option('--data <dir>', 'evaluate on this folder of labelled photos: class sub-folders (as the model\'s classes), or any layout with --labels')
    .option('--labels <file>', 'with --data: CSV file,label[,column…]; file relative to --data, label a class name (female/male) or index (0/1)')
    .option('--no-detect', 'with --data: classify each photo whole instead of finding and aligning its face (for already aligned crops)')
    .option('--group-by <column>', 'with --data: report accuracy per value of this column of the labels CSV or the folder\'s groups.csv (repeatable, or comma-separated)', collect)
    .option('--out <dir>', 'with --data: write evaluation.json and evaluation.md into this folder')
    .option('--html', 'with --data and --out: also write report.html', false)
    .option('--skip-bad', 'with --data: leave unreadable photos out (listed) instead of stopping', false)
    .option('--batch-size <n>', 'with --data: photos read and classified together', parseInteger(1), 16)
    .option('--seed <n>', 'bootstrap seed', parseInteger(0), 1)
    .option('--split <file>', 'split to evaluate on (default: the one it was trained on)')
    .option('--split-data <dir>', 'where the split\'s dataset lives now, if it moved')
    .option('--threshold-rule <rule>', 'study (middle of the longest run of best validation accuracy; the default on one folder), balanced (the same on the mean accuracy of each source and class; the default on several), max-f1, youden, fixed:X')
    .option('--save-threshold', 'store the chosen threshold in the model folder, for predict and serve', false)
    .option('--resamples <n>', 'bootstrap resamples', parseInteger(1), 1000)
    .option('--weights <file>', 'the base\'s weights file, for vgg16-imagenet / vggface models')
    .option('--cache-dir <dir>', 'feature cache folder', DEFAULT_CACHE_DIR)
    .option('--json', 'print the evaluation as JSON instead of Markdown', false);
  return addDetectorOptions(cmd).action(async (o) => {
    const given = (name: string) => cmd.getOptionValueSource(name) === 'cli';
    const wrong: string[] = Object.entries(o.data ? SPLIT_ONLY : FOLDER_ONLY).filter(([name]) => given(name)).map(([, flag]) => flag);
    if (o.data && given('thresholdRule')) wrong.push('--threshold-rule');
    if (!o.data && o.detect === false) wrong.push('--no-detect');
    if (wrong.length > 0) {
      throw new UsageError(o.data ? `${wrong.join(', ')} evaluate a model on its split and cannot go with --data (the model's own threshold is used)` : `${wrong.join(', ')} need --data DIR (a folder of labelled photos)`);
    }
    if (o.html && !o.out) throw new UsageError('--html writes report.html into the --out folder; give --out DIR');
    const progress = terminalProgress();
    try {
      if (o.data) {
        const evaluation = await evaluateFolder(o.model, o.data, {
          detect: o.detect !== false,
          resamples: o.resamples,
          seed: o.seed,
          batchSize: o.batchSize,
          skipBad: o.skipBad,
          detector: detectorOptionsFrom(o),
          onProgress: progress,
          ...(o.labels ? { labels: o.labels } : {}),
          ...(o.groupBy ? { groupBy: o.groupBy } : {}),
          ...(o.weights ? { weights: o.weights } : {}),
          ...(o.out ? { out: o.out } : {}),
        });
        progress.stop();
        console.log(o.json ? JSON.stringify(evaluation, null, 2) : folderEvaluationMarkdown(evaluation));
        if (o.html) {
          const report = await writeLabelledReport(evaluation, path.join(o.out, LABELLED_REPORT_FILE));
          if (!o.json) console.log(`wrote ${report.file}`);
        }
        if (o.out && !o.json) console.log(`wrote ${path.join(o.out, 'evaluation.json')} and evaluation.md`);
        return;
      }
      const { evaluation } = await evaluateBundle(o.model, {
        ...(o.thresholdRule !== undefined ? { thresholdRule: o.thresholdRule as string } : {}),
        resamples: o.resamples,
        seed: o.seed,
        saveThreshold: o.saveThreshold,
        cacheDir: o.cacheDir,
        onProgress: progress,
        ...(o.split ? { splitFile: o.split } : {}),
        ...(o.splitData ? { dataRoot: o.splitData } : {}),
        ...(o.weights ? { weights: o.weights } : {}),
      });
      progress.stop();
      console.log(o.json ? JSON.stringify(evaluation, null, 2) : evaluationMarkdown(evaluation, o.model));
    } finally {
      progress.stop();
    }
  });
}
