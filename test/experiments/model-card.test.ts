import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSplit } from '../../src/data/split-file.js';
import type { Evaluation } from '../../src/evaluate/evaluate-predictions.js';
import { MODEL_CARD_FILE, readModelCard, ROBUSTNESS_FILE, writeModelCard, type ModelCard } from '../../src/experiments/model-card.js';
import { buildRobustnessSets, scoreModelOnSets } from '../../src/experiments/robustness.js';
import { loadClassifier } from '../../src/predict/classifier.js';
import { createPhotoClassifier } from '../../src/predict/classify-photo.js';
import { readBundleManifest } from '../../src/train/bundle.js';
import { writeJsonAtomically } from '../../src/util/atomic-write.js';
import { trainSmallBundle } from '../helpers/small-bundle.js';

let dir: string;
let bundle: string;
let card: ModelCard;
let evaluation: Evaluation;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-card-'));
  // Two images left out by a list, as `split --exclude` does: the card says so.
  await writeFile(path.join(dir, 'left-out.csv'), 'file,reason\nfemale/000001.jpg,test\nmale/000003.jpg,test\n');
  ({ bundle } = await trainSmallBundle(dir, 3, { exclude: path.join(dir, 'left-out.csv') }));
  card = JSON.parse(await readFile(path.join(bundle, MODEL_CARD_FILE), 'utf8')) as ModelCard;
  evaluation = JSON.parse(await readFile(path.join(bundle, 'evaluation.json'), 'utf8')) as Evaluation;
}, 300_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the model card a training run writes', () => {
  it('names the base, what its weights were trained on, and the training data', async () => {
    const manifest = await readBundleManifest(bundle);
    expect(card.format).toBe('facegender-model-card');
    expect(card.base).toEqual({ id: 'mobileface', architecture: manifest.base.architecture, trainedOn: manifest.base.trainedOn, fineTuned: false });
    expect(card.base.trainedOn.length).toBeGreaterThan(20);
    expect(card.training.data).toEqual([{ name: 'celeba-10k', train: 120, val: 60, test: 60, identityDisjoint: true, excluded: 2, excludedBy: 'left-out.csv' }]);
    expect(card.training.splitFile).toBe('split.json');
    expect(JSON.stringify(card)).not.toContain(dir);
  });

  it('carries the test metrics with their intervals, and the threshold with its rule', () => {
    const accuracy = card.test.metrics.find((m) => m.name === 'accuracy');
    expect(accuracy).toEqual({ name: 'accuracy', value: evaluation.ci.metrics.accuracy.value, lo: evaluation.ci.metrics.accuracy.lo, hi: evaluation.ci.metrics.accuracy.hi });
    expect(accuracy?.value).toBeGreaterThan(0.6);
    expect(card.test.n).toBe(60);
    expect(card.threshold.value).toBe(evaluation.threshold);
    expect(card.threshold.rule).toBe(evaluation.choice.rule);
    expect(card.threshold.reason).toBe(evaluation.choice.reason);
  });

  it('gives per-class and attribute subgroup accuracy with gaps', () => {
    const byClass = card.subgroups.find((s) => s.column === 'class');
    expect(byClass?.groups.map((g) => [g.name, g.n, g.accuracy])).toEqual([
      ['female', 30, evaluation.test.perClassAccuracy[0]],
      ['male', 30, evaluation.test.perClassAccuracy[1]],
    ]);
    expect(byClass?.gap).toBeCloseTo(Math.abs((evaluation.test.perClassAccuracy[0] as number) - (evaluation.test.perClassAccuracy[1] as number)), 12);
    const row = evaluation.subgroups?.rows[0];
    const attribute = card.subgroups.find((s) => s.column === row?.attribute);
    expect(attribute?.groups[0]).toEqual({ name: row?.attribute, n: row?.group.n, accuracy: row?.group.accuracy, lo: row?.group.lo, hi: row?.group.hi });
    expect(attribute?.gap).toBe(row?.gap);
  });

  it('states the intended use and the known limits', () => {
    expect(card.intendedUse).toMatch(/adults/);
    const limits = card.limits.join(' ');
    for (const word of ['non-binary', 'Children', 'Profile']) expect(limits).toContain(word);
    expect(card.robustness).toBeNull();
  });

  it('adds the robustness rows once the suite has scored the model', async () => {
    const s = await readSplit(path.join(dir, 'split.json'));
    const sets = await buildRobustnessSets(s, path.join(dir, 'sets'), { perClass: 2, sets: ['plain', 'grey'] });
    const classifier = await loadClassifier(bundle);
    const photo = await createPhotoClassifier(classifier);
    try {
      const rows = await scoreModelOnSets(photo, 'ours', sets, s.dataset.classNames, { resamples: 20 });
      await writeJsonAtomically(path.join(bundle, ROBUSTNESS_FILE), { rows });
      const updated = await writeModelCard(bundle);
      expect(updated.robustness?.map((r) => [r.set, r.n, r.recall, r.accuracy])).toEqual(rows.map((r) => [r.set, 4, r.recall, r.accuracy.value]));
      expect(JSON.parse(await readFile(path.join(bundle, MODEL_CARD_FILE), 'utf8'))).toEqual(updated);
      expect(await readModelCard(bundle)).toEqual(updated);
    } finally {
      await photo.dispose();
      await classifier.dispose();
    }
  }, 300_000);
});
