import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { splitDatasetName, type Split } from '../data/split.js';
import { FacegenderError, WeightsError } from '../errors.js';
import { writeFileAtomically, writeJsonAtomically } from '../util/atomic-write.js';
import type { CompareRow, Competitor } from './compare-row.js';
import { scoreCompetitors } from './competitor-rows.js';
import { formatInterval } from '../evaluate/evaluation-markdown.js';
import { runExperiment, type ExperimentOptions } from './experiment.js';


export interface Comparison {
  /** `dataset` is the folder (for several sources, the one that holds them); `name` its short name (the sources' names joined). */
  split: { train: number; val: number; test: number; identityDisjoint: boolean; seed: number; dataset: string; name?: string };
  rows: CompareRow[];
  /** The study's own numbers, for reference (VGG16 bases on 750 CelebA test images, not our split). */
  study: Array<{ base: string; architecture: string; weights: string; accuracy: number; f1: number }>;
  seconds: number;
}

export const STUDY_RESULTS: Comparison['study'] = [
  { base: 'Custom', architecture: 'Custom CNN', weights: 'untrained', accuracy: 0.724, f1: 0.734 },
  { base: 'VGG16', architecture: 'VGG16', weights: 'ImageNet', accuracy: 0.8733, f1: 0.876 },
  { base: 'VGGFace', architecture: 'VGG16', weights: 'VGGFace', accuracy: 0.9707, f1: 0.971 },
];

/** A scorer of the test images that was not trained by us (a gender model shipped in a package). */

export interface CompareOptions extends ExperimentOptions {
  competitors?: Competitor[];
  onBaseStart?: (base: string, index: number, total: number) => void;
  onRow?: (row: CompareRow) => void;
}

/**
 * The study's sections 5 and 6: trains and evaluates each base on the same split and tabulates
 * test accuracy and F1 with their 95% intervals. A base that cannot load (missing weights) is
 * skipped with the reason rather than stopping the comparison.
 */
export async function compareBases(split: Split, bases: string[], outDir: string, options: CompareOptions = {}): Promise<Comparison> {
  const started = performance.now();
  await mkdir(outDir, { recursive: true });
  const rows: CompareRow[] = [];
  for (const [i, name] of bases.entries()) {
    options.onBaseStart?.(name, i, bases.length);
    let row: CompareRow;
    try {
      const r = await runExperiment(split, name, path.join(outDir, name.replace(/[^A-Za-z0-9_.-]+/g, '_')), options);
      const epochs = r.trained.history.length;
      row = {
        base: name,
        ...(r.base.id !== name ? { baseId: r.base.id } : {}),
        kind: 'base',
        architecture: r.base.architecture,
        weights: r.base.trainedOn,
        status: 'ok',
        accuracy: r.evaluation.ci.metrics.accuracy,
        f1: r.evaluation.ci.metrics.f1,
        threshold: r.evaluation.threshold,
        seconds: r.seconds,
        setup: `${r.trained.images.train.length} train / ${r.trained.images.val.length} val / ${r.trained.images.test.length} test, ${epochs} epochs run (best ${r.trained.bestEpoch}), ${r.base.inputSize.width}x${r.base.inputSize.height} input, ${r.trained.kind === 'head' ? headSetup(r.trained.config) : 'end to end, augmented each epoch'}${fineTuneSetup(r.trained.config)}`,
        times: r.trained.times,
        runDir: r.outDir,
      };
    } catch (e) {
      if (!(e instanceof WeightsError)) throw e;
      row = { base: name, kind: 'base', architecture: '', weights: '', status: 'skipped', reason: (e as FacegenderError).message };
    }
    rows.push(row);
    options.onRow?.(row);
  }
  const comparison: Comparison = {
    split: {
      train: split.summary.train.images,
      val: split.summary.val.images,
      test: split.summary.test.images,
      identityDisjoint: split.params.identityDisjoint,
      seed: split.params.seed,
      dataset: split.dataset.root,
      name: splitDatasetName(split),
    },
    rows,
    study: STUDY_RESULTS,
    seconds: 0,
  };
  if (options.competitors?.length) {
    for (const row of await scoreCompetitors(split, options.competitors, options)) {
      rows.push(row);
      options.onRow?.(row);
    }
  }
  comparison.seconds = (performance.now() - started) / 1000;
  await writeJsonAtomically(path.join(outDir, 'compare.json'), comparison);
  await writeFileAtomically(path.join(outDir, 'compare.md'), comparisonMarkdown(comparison));
  return comparison;
}

/** The study's section 6 table, with intervals, thresholds, time and what was run. */
export function comparisonMarkdown(c: Comparison): string {
  const lines = [
    `# Comparison on ${c.split.name ?? path.basename(c.split.dataset)}: ${c.split.train}/${c.split.val}/${c.split.test}, ${c.split.identityDisjoint ? 'identity-disjoint' : 'identities may repeat'}, split seed ${c.split.seed}`,
    '',
    '| base | architecture | weights trained on | test accuracy [95% CI] | F1 [95% CI] | threshold | seconds | setup |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of c.rows) {
    const name = `${r.base}${r.baseId ? ` (${r.baseId})` : ''}${r.kind === 'competitor' ? ' (competitor)' : ''}`;
    if (r.status === 'skipped') {
      lines.push(`| ${name} | | | skipped: ${r.reason?.replace(/\|/g, '\\|')} | | | | |`);
      continue;
    }
    lines.push(
      `| ${name} | ${r.architecture} | ${r.weights} | ${r.accuracy ? formatInterval(r.accuracy, true) : '—'} | ${r.f1 ? formatInterval(r.f1, false) : '—'} | ${r.threshold ?? '—'} | ${r.seconds?.toFixed(0) ?? '—'} | ${r.setup ?? ''} |`,
    );
  }
  lines.push('', 'The study (Keras, VGG16 at 224 px, 750 CelebA test images, not identity-disjoint), for reference:', '', '| base | architecture | weights | accuracy | F1 |', '|---|---|---|---|---|');
  for (const s of c.study) lines.push(`| ${s.base} | ${s.architecture} | ${s.weights} | ${(s.accuracy * 100).toFixed(2)}% | ${s.f1.toFixed(3)} |`);
  const timed = c.rows.filter((r) => r.times);
  if (timed.length) {
    lines.push('', '## Where the time went (seconds)', '');
    for (const r of timed) lines.push(`- ${r.base}: ${r.times?.map((t) => `${t.stage} ${t.seconds.toFixed(1)}`).join(', ')}`);
  }
  lines.push('', `Total: ${(c.seconds / 60).toFixed(1)} minutes.`, '');
  return lines.join('\n');
}

/** How the head saw the cached features, in the table's words. */
function headSetup(config: Record<string, unknown>): string {
  const views = Number(config.augmentViews ?? 0);
  const draw = views === 0 ? 'plain view only' : `${views} augmented views${config.drawPlain === false ? ' (plain view not drawn)' : ' + plain view drawn'}`;
  return `head on cached features, ${draw}, ${config.standardize === false ? 'raw' : 'standardised'} features`;
}

/** Whether a fine-tune phase ran and whether it was kept, in the table's words. */
function fineTuneSetup(config: Record<string, unknown>): string {
  const epochs = Number(config.fineTuneEpochs ?? 0);
  if (!(epochs > 0)) return '';
  const blocks = typeof config.fineTuneBlocks === 'number' ? `, last ${config.fineTuneBlocks} block${config.fineTuneBlocks === 1 ? '' : 's'}` : '';
  const fine = config.fineTune as { kept?: boolean } | undefined;
  const kept = fine?.kept === false ? ', not kept (no epoch beat the head phase)' : '';
  return `; then fine-tuned up to ${epochs} epochs at lr ${String(config.fineTuneLr)}${blocks}${kept}`;
}
