import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBase } from '../../src/zoo/index.js';
import * as tfc from '@tensorflow/tfjs-core';
import { initTfjs } from '../../src/runtime/tfjs/backend.js';
import { scanDataset } from '../../src/data/dataset.js';
import { makeSplit, type Split } from '../../src/data/split.js';
import { writeSplit } from '../../src/data/split-file.js';
import { extractFeatures, type FeatureSet } from '../../src/features/extract-features.js';
import { applyScaling, drawView, featureScaling, foldScaling, headProbs, trainHead } from '../../src/train/fit-head.js';
import { createHead } from '../../src/train/head.js';
import { partFiles } from '../../src/train/train-model.js';
import { SeededRandom } from '../../src/util/random.js';
import { facegender } from '../helpers/cli.js';
import { CELEBA, CELEBA_IDENTITIES } from '../helpers/shared.js';

let dir: string;
let split: Split;
let splitFile: string;
let dim: number;
let train: FeatureSet;
let val: FeatureSet;
let trainLabels: Uint8Array;
let valLabels: Uint8Array;

beforeAll(async () => {
  await initTfjs();
  dir = await mkdtemp(path.join(tmpdir(), 'fg-head-input-'));
  const dataset = await scanDataset(CELEBA, { identities: CELEBA_IDENTITIES });
  split = makeSplit(dataset, { train: 96, val: 48, test: 16, balanced: true, seed: 12 });
  splitFile = path.join(dir, 'split.json');
  await writeSplit(split, splitFile);
  const base = await loadBase('face');
  dim = base.dim;
  const cacheDir = path.join(dir, 'cache');
  const t = partFiles(split, 'train');
  const v = partFiles(split, 'val');
  train = await extractFeatures(base, t.files, { cacheDir, views: 1 });
  val = await extractFeatures(base, v.files, { cacheDir });
  trainLabels = t.labels;
  valLabels = v.labels;
  await base.dispose();
}, 120_000);

describe('standardised head input', () => {
  it('computes per-feature mean and spread, flooring a spread that hardly moves', () => {
    // Rows (1, 10), (3, 10), (5, 10): mean (3, 10), spread (sqrt(8/3), 0); RMS spread sqrt(4/3).
    const s = featureScaling(Float32Array.from([1, 10, 3, 10, 5, 10]), 2);
    expect(Array.from(s.mean)).toEqual([3, 10]);
    expect(s.scale[0]).toBeCloseTo(Math.sqrt(8 / 3), 6);
    expect(s.scale[1]).toBeCloseTo(0.01 * Math.sqrt(4 / 3), 8);
    expect(Array.from(applyScaling(Float32Array.from([5, 10]), 2, s))).toEqual([Math.fround(2 / Math.fround(Math.sqrt(8 / 3))), 0]);
  });

  it('folds into the first Dense layer: the folded head on raw features equals the head on scaled ones', async () => {
    const raw = train.views[0] as Float32Array;
    const scaling = featureScaling(raw, dim);
    const head = createHead(dim);
    const onScaled = await headProbs(head, applyScaling(raw, dim, scaling), dim);
    foldScaling(head, scaling);
    const onRaw = await headProbs(head, raw, dim);
    let worst = 0;
    onRaw.forEach((p, i) => (worst = Math.max(worst, Math.abs(p - (onScaled[i] as number)))));
    expect(worst).toBeLessThan(1e-5);
    // The probabilities are not all alike, so the comparison means something.
    expect(Math.max(...onRaw) - Math.min(...onRaw)).toBeGreaterThan(0.01);
  });

  it('makes training blind to a shift of every feature, and the saved head takes raw features', async () => {
    const shift = (f: FeatureSet['views']) => f.map((v) => v.map((x) => x + 50));
    const opts = { seed: 3, epochs: 3, patience: 0 };
    const a = await trainHead({ dim, views: train.views, labels: trainLabels }, { dim, views: val.views, labels: valLabels }, opts);
    const b = await trainHead({ dim, views: shift(train.views), labels: trainLabels }, { dim, views: shift(val.views), labels: valLabels }, opts);
    const pa = await headProbs(a.model, val.views[0] as Float32Array, dim);
    const pb = await headProbs(b.model, shift(val.views)[0] as Float32Array, dim);
    pa.forEach((p, i) => expect(Math.abs(p - (pb[i] as number))).toBeLessThan(2e-3));
    expect(a.history.map((h) => h.val_accuracy)).toEqual(b.history.map((h) => h.val_accuracy));
    // Without standardising, the same shift changes what the head learns.
    const c = await trainHead({ dim, views: shift(train.views), labels: trainLabels }, { dim, views: shift(val.views), labels: valLabels }, { ...opts, standardize: false });
    const pc = await headProbs(c.model, shift(val.views)[0] as Float32Array, dim);
    expect(Math.max(...Array.from(pc, (p, i) => Math.abs(p - (pa[i] as number))))).toBeGreaterThan(0.02);
    expect(a.history.at(-1)?.val_accuracy).toBeGreaterThan(0.8);
  });
});

describe('memory', () => {
  it('leaves no tensors behind once the trained head is disposed (the optimizer included)', async () => {
    const before = tfc.memory().numTensors;
    const run = await trainHead({ dim, views: train.views, labels: trainLabels }, { dim, views: val.views, labels: valLabels }, { seed: 2, epochs: 2, patience: 0 });
    run.model.dispose();
    expect(tfc.memory().numTensors).toBe(before);
  });
});

describe('which view an epoch draws', () => {
  const counts = (k: number, drawPlain: boolean) => {
    const rng = new SeededRandom(5);
    const c = new Array<number>(k + 1).fill(0);
    for (let i = 0; i < 30_000; i++) c[drawView(rng, k, drawPlain)]! += 1;
    return c;
  };
  it('draws the plain view and each augmented view equally often by default', () => {
    for (const n of counts(2, true)) expect(Math.abs(n / 30_000 - 1 / 3)).toBeLessThan(0.015);
  });
  it('never draws the plain view when asked not to, and only it when there are no augmented views', () => {
    const c = counts(2, false);
    expect(c[0]).toBe(0);
    expect(Math.abs((c[1] as number) / 30_000 - 0.5)).toBeLessThan(0.015);
    expect(counts(0, true)).toEqual([30_000]);
  });
});

describe('the train command', () => {
  it('records the head input in the bundle, and --no-standardize --no-draw-plain turn both off', async () => {
    const cacheDir = path.join(dir, 'cache');
    const on = await facegender(['train', '--split', splitFile, '--base', 'face', '--augment-views', '1', '--epochs', '2', '--resamples', '50', '--cache-dir', cacheDir, '--out', path.join(dir, 'on')]);
    expect(on.code, on.stderr).toBe(0);
    const off = await facegender(['train', '--split', splitFile, '--base', 'face', '--augment-views', '1', '--epochs', '2', '--resamples', '50', '--cache-dir', cacheDir, '--no-standardize', '--no-draw-plain', '--out', path.join(dir, 'off')]);
    expect(off.code, off.stderr).toBe(0);
    const training = async (run: string) => JSON.parse(await readFile(path.join(dir, run, 'facegender.json'), 'utf8')).training;
    expect(await training('on')).toMatchObject({ standardize: true, drawPlain: true, augmentViews: 1 });
    expect(await training('off')).toMatchObject({ standardize: false, drawPlain: false, augmentViews: 1 });
  });
});
