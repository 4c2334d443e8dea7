import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanDataset } from '../../src/data/dataset.js';
import { REFRAMINGS } from '../../src/data/reframe.js';
import { makeSplit, type Split } from '../../src/data/split.js';
import { buildRobustnessSets, robustnessMarkdown, scoreModelOnSets, type RobustnessRow, type RobustnessSet } from '../../src/experiments/robustness.js';
import { runExperiment } from '../../src/experiments/experiment.js';
import { loadClassifier, type Classifier } from '../../src/predict/classifier.js';
import { createPhotoClassifier, type PhotoClassifier } from '../../src/predict/classify-photo.js';
import { CELEBA, CELEBA_IDENTITIES } from '../helpers/shared.js';

/**
 * A small version of the robustness suite: a `face` model trained on 300 CelebA images, scored
 * through the photo path on 6 test faces per class in every framing.
 */
let dir: string;
let split: Split;
let sets: RobustnessSet[];
let classifier: Classifier;
let photo: PhotoClassifier;
let rows: RobustnessRow[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-robust-'));
  const dataset = await scanDataset(CELEBA, { identities: CELEBA_IDENTITIES });
  split = makeSplit(dataset, { train: 300, val: 60, test: 60, balanced: true, seed: 5 });
  await runExperiment(split, 'face', path.join(dir, 'model'), { augmentViews: 0, cacheDir: path.join(dir, 'cache'), resamples: 50 });
  sets = await buildRobustnessSets(split, path.join(dir, 'sets'), { perClass: 6 });
  classifier = await loadClassifier(path.join(dir, 'model'));
  photo = await createPhotoClassifier(classifier);
  rows = await scoreModelOnSets(photo, 'ours', sets, split.dataset.classNames, { resamples: 50 });
}, 600_000);

afterAll(async () => {
  await photo?.dispose();
  await classifier?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('the robustness suite', () => {
  it('writes every framing as an image folder with its truth and a labels CSV', async () => {
    expect(sets.map((s) => s.name)).toEqual([...REFRAMINGS]);
    for (const set of sets) {
      expect(set.samples).toHaveLength(12);
      expect(set.samples.filter((s) => s.label === 0)).toHaveLength(6);
      const truth = JSON.parse(await readFile(path.join(set.dir, 'truth.json'), 'utf8')) as { samples: unknown[] };
      expect(truth.samples).toEqual(set.samples);
      const csv = (await readFile(path.join(set.dir, 'labels.csv'), 'utf8')).trim().split('\n');
      expect(csv[0]).toBe('file,label');
      expect(csv).toHaveLength(13);
      for (const s of set.samples) expect((await stat(path.join(set.dir, s.file))).size).toBeGreaterThan(100);
    }
    expect(sets.find((s) => s.name === 'jpeg')?.samples.every((s) => s.file.endsWith('.jpg'))).toBe(true);
    expect(sets.find((s) => s.name === 'wide')?.samples.every((s) => s.file.endsWith('.png'))).toBe(true);
  });

  it('builds the same sets again without rewriting a file', async () => {
    const file = path.join(sets[1]?.dir as string, sets[1]?.samples[0]?.file as string);
    const before = (await stat(file)).mtimeMs;
    const again = await buildRobustnessSets(split, path.join(dir, 'sets'), { perClass: 6, sets: ['tight'] });
    expect(again[0]?.samples).toEqual(sets.find((s) => s.name === 'tight')?.samples);
    expect((await stat(file)).mtimeMs).toBe(before);
  });

  it('finds the face in every framing and keeps the model accurate: recall and accuracy floors per set', () => {
    expect(rows.map((r) => r.set)).toEqual([...REFRAMINGS]);
    for (const r of rows) {
      expect(r.n, r.set).toBe(12);
      expect(r.recall, r.set).toBeGreaterThanOrEqual(r.set === 'small' ? 10 / 12 : 11 / 12);
      expect(r.accuracy.value, r.set).toBeGreaterThanOrEqual(9 / 12);
      expect(r.perClass.map((c) => c.n)).toEqual([6, 6]);
      // Accuracy counts a missed face as an error, so it never exceeds the recall.
      expect(r.accuracy.value as number, r.set).toBeLessThanOrEqual(r.recall as number);
    }
  });

  it('reports per-class accuracy that adds up to the whole', () => {
    for (const r of rows) {
      const [f, m] = r.perClass;
      expect(((f?.accuracy as number) * 6 + (m?.accuracy as number) * 6) / 12).toBeCloseTo(r.accuracy.value as number, 10);
    }
    const md = robustnessMarkdown(rows);
    expect(md.split('\n').filter((l) => l.startsWith('| ')).length).toBe(rows.length + 1);
    expect(md).toContain('| tight | ours | 12 |');
  });
});
