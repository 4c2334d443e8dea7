import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBase } from '../../src/zoo/index.js';
import { scanDataset } from '../../src/data/dataset.js';
import { makeSplit, type Split } from '../../src/data/split.js';
import { writeSplit } from '../../src/data/split-file.js';
import { loadClassifier } from '../../src/predict/classifier.js';
import { runExperiment, type ExperimentResult } from '../../src/experiments/experiment.js';
import { extractFeatures } from '../../src/features/extract-features.js';
import { trainHead } from '../../src/train/fit-head.js';
import { partFiles } from '../../src/train/train-model.js';
import { BundleError } from '../../src/errors.js';
import { facegender } from '../helpers/cli.js';
import { CELEBA, CELEBA_ATTRIBUTES, CELEBA_IDENTITIES } from '../helpers/shared.js';

let dir: string;
let cacheDir: string;
let split: Split;
let splitFile: string;
let run: ExperimentResult;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-train-'));
  cacheDir = path.join(dir, 'cache');
  const dataset = await scanDataset(CELEBA, { attributes: CELEBA_ATTRIBUTES, identities: CELEBA_IDENTITIES });
  split = makeSplit(dataset, { train: 160, val: 80, test: 80, balanced: true, seed: 4 });
  splitFile = path.join(dir, 'split.json');
  await writeSplit(split, splitFile);
  run = await runExperiment(split, 'face', path.join(dir, 'run'), { augmentViews: 1, cacheDir, splitFile, resamples: 200 });
}, 300_000);

describe('training the head on real cached features (face base, 160 train images)', () => {
  it('reaches accuracy far above chance and writes the run folder', async () => {
    expect(run.evaluation.test.accuracy).toBeGreaterThan(0.85);
    expect(run.evaluation.val.accuracy).toBeGreaterThan(0.85);
    expect(run.trained.history.length).toBeGreaterThanOrEqual(3);
    const history = JSON.parse(await readFile(path.join(dir, 'run', 'history.json'), 'utf8'));
    expect(Object.keys(history[0]).sort()).toEqual(['accuracy', 'epoch', 'loss', 'phase', 'seconds', 'val_accuracy', 'val_loss']);
    // Early stopping restores the best epoch: the model's validation loss is the history's minimum.
    const best = Math.min(...history.map((h: { val_loss: number }) => h.val_loss));
    expect(history[run.trained.bestEpoch - 1].val_loss).toBe(best);
    const manifest = JSON.parse(await readFile(path.join(dir, 'run', 'facegender.json'), 'utf8'));
    expect(manifest.base.id).toBe('faceres-deep');
    expect(manifest.threshold).toBe(run.evaluation.threshold);
    expect(manifest.classNames).toEqual(['female', 'male']);
    expect(manifest.training).toMatchObject({ epochs: 10, batchSize: 64, lr: 0.001, patience: 2, seed: 1, augmentViews: 1, standardize: true, drawPlain: true });
    const md = await readFile(path.join(dir, 'run', 'evaluation.md'), 'utf8');
    expect(md).toContain('| accuracy |');
    expect(md).toContain('Largest gap');
  });

  it('gives the same history for the same seed, and another for another seed', async () => {
    const base = await loadBase('face');
    const parts = { train: partFiles(split, 'train'), val: partFiles(split, 'val') };
    const tr = await extractFeatures(base, parts.train.files, { cacheDir, views: 1 });
    const va = await extractFeatures(base, parts.val.files, { cacheDir });
    expect(tr.computed + va.computed).toBe(0);
    const go = (seed: number) => trainHead({ dim: base.dim, views: tr.views, labels: parts.train.labels }, { dim: base.dim, views: va.views, labels: parts.val.labels }, { seed, epochs: 3, patience: 0 });
    const [a, b, c] = [await go(7), await go(7), await go(8)];
    const strip = (h: typeof a.history) => h.map(({ seconds: _s, ...rest }) => rest);
    expect(strip(b.history)).toEqual(strip(a.history));
    expect(strip(c.history)).not.toEqual(strip(a.history));
    await base.dispose();
  });

  it('saves a bundle that loads again and gives identical probabilities', async () => {
    const clf = await loadClassifier(path.join(dir, 'run'));
    const test = partFiles(split, 'test');
    const probs = await clf.probabilities(test.files);
    const saved = run.evaluation.predictions.map((p) => p.prob);
    expect(Array.from(probs)).toEqual(saved);
    const [c] = await clf.classifyFiles([test.files[0] as string]);
    expect(c?.probability).toBe(saved[0]);
    expect(c?.label).toBe((saved[0] as number) > clf.threshold ? 'male' : 'female');
    await clf.dispose();
  });

  it('refuses a bundle whose base weights changed, naming the folder', async () => {
    const copy = path.join(dir, 'run-copy');
    await cp(path.join(dir, 'run'), copy, { recursive: true });
    const manifestFile = path.join(copy, 'facegender.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
    manifest.base.weightsHash = '0'.repeat(64);
    await writeFile(manifestFile, JSON.stringify(manifest));
    await expect(loadClassifier(copy)).rejects.toThrow(BundleError);
    await expect(loadClassifier(copy)).rejects.toThrow(/run-copy: was trained on faceres-deep weights with sha256 000000000000…/);
  });

  it('evaluate --model reproduces the run\'s numbers and applies another threshold rule', async () => {
    const r = await facegender(['evaluate', '--model', path.join(dir, 'run'), '--cache-dir', cacheDir, '--resamples', '200', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e.test.accuracy).toBe(run.evaluation.test.accuracy);
    expect(e.threshold).toBe(run.evaluation.threshold);
    const fixed = await facegender(['evaluate', '--model', path.join(dir, 'run'), '--cache-dir', cacheDir, '--resamples', '200', '--threshold-rule', 'fixed:0.5', '--json']);
    expect(JSON.parse(fixed.stdout).threshold).toBe(0.5);
    // Re-evaluating keeps the training run's stage times (the report shows them).
    const saved = JSON.parse(await readFile(path.join(dir, 'run', 'evaluation.json'), 'utf8'));
    expect(saved.threshold).toBe(0.5);
    expect(saved.times.map((t: { stage: string }) => t.stage)).toContain('train head');
  });

  it('refuses to fine-tune a frozen base with a clear message', async () => {
    const r = await facegender(['train', '--split', splitFile, '--base', 'mobileface', '--fine-tune-epochs', '1', '--out', path.join(dir, 'ft'), '--cache-dir', cacheDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('base mobileface cannot be fine-tuned');
  });

  it('trains on the plain view alone by default, and refuses robust views without augmented ones', async () => {
    const r = await facegender(['train', '--split', splitFile, '--base', 'face', '--epochs', '1', '--resamples', '20', '--out', path.join(dir, 'plain'), '--cache-dir', cacheDir]);
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(await readFile(path.join(dir, 'plain', 'facegender.json'), 'utf8')) as { training: { augmentViews: number } };
    expect(manifest.training.augmentViews).toBe(0);
    const robust = await facegender(['train', '--split', splitFile, '--base', 'face', '--robust-views', '--out', path.join(dir, 'robust'), '--cache-dir', cacheDir]);
    expect(robust.code).toBe(1);
    expect(robust.stderr).toContain('robust views are degraded augmented views: give augmentViews (--augment-views) of at least 1 with them');
  });
});

describe('the custom CNN end to end', () => {
  it('trains on augmented images, saves an end-to-end bundle, and reloads to the same probabilities', async () => {
    const dataset = await scanDataset(CELEBA, { identities: CELEBA_IDENTITIES });
    const small = makeSplit(dataset, { train: 64, val: 32, test: 32, balanced: true, seed: 9 });
    const out = path.join(dir, 'custom');
    const r = await runExperiment(small, 'custom', out, { epochs: 2, batchSize: 16, patience: 0, fineTuneEpochs: 1, resamples: 100, baseOptions: { inputSize: 32 } });
    expect(r.trained.kind).toBe('end-to-end');
    expect(r.trained.history.map((h) => [h.epoch, h.phase])).toEqual([[1, 'head'], [2, 'head'], [3, 'fine-tune']]);
    expect(r.manifest.base.options).toMatchObject({ inputSize: 32 });
    const clf = await loadClassifier(out);
    const probs = await clf.probabilities(partFiles(small, 'test').files);
    expect(Array.from(probs)).toEqual(r.evaluation.predictions.map((p) => p.prob));
    await clf.dispose();
  });
});
