/**
 * How the head should see cached features: raw or standardised, and whether each epoch may draw
 * the plain view besides the augmented ones. Trains the study's head several times (one per
 * seed) on each combination and prints mean validation and test accuracy at threshold 0.5, with
 * the range over seeds; head-seed noise alone moves a 750-image test set by a point or more.
 *
 *   npm run bench:head-input -- --split runs/split.json [--bases generic,face] [--seeds 1,2,3,4,5] [--views 2] [--cache-dir .facegender-cache]
 */
import { parseArgs } from 'node:util';
import { loadBase } from '../src/zoo/index.js';
import { readSplit } from '../src/data/split-file.js';
import { binaryMetrics } from '../src/evaluate/metrics.js';
import { DEFAULT_CACHE_DIR, extractFeatures } from '../src/features/extract-features.js';
import { headProbs, trainHead } from '../src/train/fit-head.js';
import { partFiles } from '../src/train/train-model.js';

const { values } = parseArgs({
  options: {
    split: { type: 'string' },
    bases: { type: 'string', default: 'generic,face' },
    seeds: { type: 'string', default: '1,2,3,4,5' },
    views: { type: 'string', default: '2' },
    'cache-dir': { type: 'string', default: DEFAULT_CACHE_DIR },
  },
});
if (!values.split) throw new Error('--split <file> is required (e.g. from `facegender split`)');
const split = await readSplit(values.split);
const seeds = (values.seeds as string).split(',').map(Number);
const views = Number(values.views);
const parts = { train: partFiles(split, 'train'), val: partFiles(split, 'val'), test: partFiles(split, 'test') };

const variants = [
  { name: "study's (raw, augmented views only)", views, standardize: false, drawPlain: false },
  { name: 'raw, plain view drawn too', views, standardize: false, drawPlain: true },
  { name: 'standardised, augmented views only', views, standardize: true, drawPlain: false },
  { name: 'standardised, plain view drawn too (default)', views, standardize: true, drawPlain: true },
  { name: 'standardised, plain view only', views: 0, standardize: true, drawPlain: true },
];

const pct = (x: number) => (100 * x).toFixed(2);
for (const id of (values.bases as string).split(',')) {
  const base = await loadBase(id);
  const ex = { cacheDir: values['cache-dir'] as string, seed: 1 };
  const train = await extractFeatures(base, parts.train.files, { ...ex, views });
  const val = await extractFeatures(base, parts.val.files, ex);
  const test = await extractFeatures(base, parts.test.files, ex);
  console.log(`\n${id}: ${parts.train.files.length}/${parts.val.files.length}/${parts.test.files.length} images, seeds ${seeds.join(',')}, views embedded now ${train.computed + val.computed + test.computed}`);
  console.log('| head input | val accuracy (mean) | test accuracy (mean) | test min–max | s per run |');
  console.log('|---|---|---|---|---|');
  for (const v of variants) {
    const vals: number[] = [];
    const tests: number[] = [];
    const t0 = performance.now();
    for (const seed of seeds) {
      const run = await trainHead(
        { dim: base.dim, views: train.views.slice(0, v.views + 1), labels: parts.train.labels },
        { dim: base.dim, views: val.views, labels: parts.val.labels },
        { seed, standardize: v.standardize, drawPlain: v.drawPlain },
      );
      vals.push(binaryMetrics(parts.val.labels, await headProbs(run.model, val.views[0] as Float32Array, base.dim), 0.5).accuracy);
      tests.push(binaryMetrics(parts.test.labels, await headProbs(run.model, test.views[0] as Float32Array, base.dim), 0.5).accuracy);
      run.model.dispose();
    }
    const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
    const seconds = (performance.now() - t0) / 1000 / seeds.length;
    console.log(`| ${v.name} | ${pct(mean(vals))}% | ${pct(mean(tests))}% | ${pct(Math.min(...tests))}–${pct(Math.max(...tests))}% | ${seconds.toFixed(1)} |`);
  }
  await base.dispose();
}
