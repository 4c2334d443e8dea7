import { Command } from 'commander';
import { evaluateBundle } from '../experiments/evaluate-bundle.js';
import { evaluationMarkdown } from '../evaluate/evaluation-markdown.js';
import { DEFAULT_CACHE_DIR } from '../features/extract-features.js';
import { parseInteger } from './options.js';
import { terminalProgress } from './progress-bar.js';

export function evaluateCommand(): Command {
  return new Command('evaluate')
    .description('Evaluate a trained model folder again: threshold sweep on validation, test metrics with 95% CIs, subgroups, likely label errors')
    .requiredOption('--model <dir>', 'model folder written by `facegender train`')
    .option('--split <file>', 'split to evaluate on (default: the one it was trained on)')
    .option('--data <dir>', 'where the split\'s dataset lives now, if it moved')
    .option('--threshold-rule <rule>', 'study (middle of the longest run of best validation accuracy), max-f1, youden, fixed:X', 'study')
    .option('--save-threshold', 'store the chosen threshold in the model folder, for predict and serve', false)
    .option('--resamples <n>', 'bootstrap resamples', parseInteger(1), 1000)
    .option('--weights <file>', 'the base\'s weights file, for vgg16-imagenet / vggface models')
    .option('--cache-dir <dir>', 'feature cache folder', DEFAULT_CACHE_DIR)
    .option('--json', 'print the evaluation as JSON instead of Markdown', false)
    .action(async (o) => {
      const progress = terminalProgress();
      try {
        const { evaluation } = await evaluateBundle(o.model, {
          thresholdRule: o.thresholdRule,
          resamples: o.resamples,
          saveThreshold: o.saveThreshold,
          cacheDir: o.cacheDir,
          onProgress: progress,
          ...(o.split ? { splitFile: o.split } : {}),
          ...(o.data ? { dataRoot: o.data } : {}),
          ...(o.weights ? { weights: o.weights } : {}),
        });
        progress.stop();
        console.log(o.json ? JSON.stringify(evaluation, null, 2) : evaluationMarkdown(evaluation, o.model));
      } finally {
        progress.stop();
      }
    });
}
