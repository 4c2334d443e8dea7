import { Command } from 'commander';
import { readSplit } from '../data/split-file.js';
import { COMPETITOR_IDS, loadCompetitors } from '../competitors/index.js';
import { compareBases, comparisonMarkdown } from '../experiments/compare.js';
import { addBaseOptions, baseOptionsFrom } from './base-options.js';
import { terminalProgress } from './progress-bar.js';
import { addTrainingOptions, trainOptionsFrom } from './train-command.js';

export function compareCommand(): Command {
  return addTrainingOptions(
    addBaseOptions(
      new Command('compare')
        .description('Train and evaluate several bases on one split and print the study\'s comparison table (accuracy and F1 with 95% CIs)')
        .requiredOption('--split <file>', 'split file from `facegender split`')
        .option('--bases <list>', 'comma-separated bases (see `facegender bases`); one whose weights are missing is skipped with the reason', 'custom,generic,face')
        .requiredOption('--out <dir>', 'folder for compare.json, compare.md and one run folder per base')
        .option('--competitors [ids]', `also score the gender models that ship in npm packages on the same test images (${COMPETITOR_IDS.join(', ')})`),
    ),
  ).action(async (o) => {
    const split = await readSplit(o.split, o.data ? { dataRoot: o.data } : {});
    const bases = String(o.bases).split(',').map((b) => b.trim()).filter(Boolean);
    const progress = terminalProgress();
    const competitors = o.competitors ? await loadCompetitors(o.competitors === true ? COMPETITOR_IDS : String(o.competitors).split(',').map((c) => c.trim())) : [];
    try {
      const comparison = await compareBases(split, bases, o.out, {
        competitors,
        ...trainOptionsFrom(o, progress),
        baseOptions: baseOptionsFrom(o),
        splitFile: o.split,
        onBaseStart: (base, i, n) => console.log(`[${i + 1}/${n}] ${base}`),
        onEpoch: (r) => console.log(`  epoch ${r.epoch} (${r.phase}): loss ${r.loss.toFixed(4)} val_loss ${r.val_loss.toFixed(4)} val_accuracy ${r.val_accuracy.toFixed(4)} (${r.seconds.toFixed(1)} s)`),
        onRow: (row) => console.log(row.status === 'ok' ? `  ${row.base}: test accuracy ${((row.accuracy?.value ?? 0) * 100).toFixed(2)}% in ${row.seconds?.toFixed(0)} s` : `  ${row.base}: skipped (${row.reason})`),
      });
      progress.stop();
      console.log(comparisonMarkdown(comparison));
      console.log(`wrote ${o.out}`);
    } finally {
      progress.stop();
      for (const c of competitors) await c.dispose();
    }
  });
}
