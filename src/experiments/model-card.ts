import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BundleError } from '../errors.js';
import type { Evaluation } from '../evaluate/evaluate-predictions.js';
import { readBundleManifest, type BundleManifest } from '../train/bundle.js';
import { writeJsonAtomically } from '../util/atomic-write.js';
import type { RobustnessRow } from './robustness.js';

export const MODEL_CARD_FILE = 'model-card.json';
/** Our model's rows of the robustness suite, written beside the bundle by `bench:robustness`. */
export const ROBUSTNESS_FILE = 'robustness.json';

export interface CardMetric {
  name: string;
  value: number;
  lo: number | null;
  hi: number | null;
}

export interface CardGroup {
  name: string;
  n: number;
  accuracy: number | null;
  lo: number | null;
  hi: number | null;
}

export interface CardSubgroupColumn {
  /** `class`, a group column such as `source` or `ethnicity`, or a CelebA attribute. */
  column: string;
  groups: CardGroup[];
  /** Best minus worst accuracy over the column's groups; null with fewer than two. */
  gap: number | null;
}

export interface CardRobustnessRow {
  set: string;
  n: number;
  recall: number | null;
  accuracy: number | null;
  lo: number | null;
  hi: number | null;
}

/**
 * What a user of a trained model should know before trusting it, in one JSON file that every
 * bundle and every web export carries, and that pages render.
 */
export interface ModelCard {
  format: 'facegender-model-card';
  version: 1;
  model: { createdAt: string; packageVersion: string; kind: BundleManifest['modelKind']; classNames: string[] };
  base: { id: string; architecture: string; trainedOn: string; fineTuned: boolean };
  training: {
    /** `excluded`: images a list (`excludedBy`, split --exclude) left out of the folder before the split was drawn. */
    data: Array<{ name: string; train: number | null; val: number | null; test: number | null; identityDisjoint: boolean | null; excluded: number; excludedBy: string | null }>;
    splitFile: string | null;
    seed: number | null;
    mode: string | null;
    epochs: number | null;
    bestEpoch: number | null;
  };
  /** Test-part metrics with their 95% bootstrap intervals; empty when the bundle was never evaluated. */
  test: { n: number | null; metrics: CardMetric[] };
  subgroups: CardSubgroupColumn[];
  robustness: CardRobustnessRow[] | null;
  threshold: { value: number; rule: string; reason: string | null };
  intendedUse: string;
  limits: string[];
}

export const INTENDED_USE =
  'Guessing the gender a face is likely to be read as, Female or Male, in photos of adults, for research, demonstrations and ' +
  'aggregate statistics, with a person checking the output. Not for decisions about an individual, not to infer anyone\'s ' +
  'gender identity, and not for surveillance.';

export const KNOWN_LIMITS: readonly string[] = [
  'It tells appearance, not identity: it cannot know how a person identifies, and has no answer for non-binary people; it always picks one of two labels.',
  'Children: the training faces are adults; children\'s faces are often misjudged.',
  'Profile views: faces are found and aligned on both eyes; a face turned much past 45° may be missed or misjudged.',
  'Training data: celebrity photos (CelebA), which carry about 0.5% wrong labels and over-represent made-up, young, light-skinned faces; see the subgroup accuracies for where it is weaker.',
  'Very small, blurred, dark or heavily compressed faces lose accuracy (see the robustness rows where measured).',
];

/** A JSON file's content, or null where there is none yet; a file that cannot be read or parsed fails, naming it. */
export async function readOptionalJson<T>(file: string): Promise<T | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new BundleError(`${file}: cannot read: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new BundleError(`${file}: not valid JSON: ${(error as Error).message}`);
  }
}

function numberOrNull(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function trainingData(manifest: BundleManifest): ModelCard['training']['data'] {
  const split = manifest.training.split as { train?: number; val?: number; test?: number; identityDisjoint?: boolean; sources?: Record<string, { train?: number; val?: number; test?: number; identityDisjoint?: boolean }> } | undefined;
  type LeftOut = { excluded?: unknown; excludedBy?: unknown };
  const entry = (name: string, s: { train?: number; val?: number; test?: number; identityDisjoint?: boolean } | undefined, left: LeftOut | undefined) => ({
    name,
    train: numberOrNull(s?.train),
    val: numberOrNull(s?.val),
    test: numberOrNull(s?.test),
    identityDisjoint: typeof s?.identityDisjoint === 'boolean' ? s.identityDisjoint : null,
    excluded: typeof left?.excluded === 'number' ? left.excluded : 0,
    excludedBy: typeof left?.excludedBy === 'string' ? left.excludedBy : null,
  });
  const sources = Array.isArray(manifest.training.sources) ? (manifest.training.sources as Array<LeftOut & { name?: unknown }>) : [];
  if (split?.sources) return Object.entries(split.sources).map(([name, s]) => entry(name, s, sources.find((x) => x.name === name)));
  const root = manifest.training.datasetRoot;
  return [entry(typeof root === 'string' ? path.basename(root) : 'training data', split, manifest.training as LeftOut)];
}

const CARD_METRICS = ['accuracy', 'f1', 'rocAuc', 'precision', 'recall', 'specificity'] as const;

function testMetrics(manifest: BundleManifest, evaluation: Evaluation | null): ModelCard['test'] {
  if (evaluation) {
    const m = evaluation.ci.metrics as Partial<Record<string, { value: number; lo: number; hi: number }>>;
    const metrics = CARD_METRICS.flatMap((name) => {
      const interval = m[name];
      return interval ? [{ name, value: interval.value, lo: numberOrNull(interval.lo), hi: numberOrNull(interval.hi) }] : [];
    });
    return { n: evaluation.test.n, metrics };
  }
  const stored = (manifest.metrics ?? {}) as Record<string, { value?: number; lo?: number; hi?: number } | number | undefined>;
  const metrics = CARD_METRICS.flatMap((name) => {
    const v = stored[name];
    return typeof v === 'object' && typeof v.value === 'number' ? [{ name, value: v.value, lo: numberOrNull(v.lo), hi: numberOrNull(v.hi) }] : [];
  });
  return { n: numberOrNull(stored.n), metrics };
}

function gapOf(groups: readonly CardGroup[]): number | null {
  const accuracies = groups.map((g) => g.accuracy).filter((a): a is number => a !== null);
  return accuracies.length >= 2 ? Math.max(...accuracies) - Math.min(...accuracies) : null;
}

function subgroups(evaluation: Evaluation | null): CardSubgroupColumn[] {
  if (!evaluation) return [];
  const columns: CardSubgroupColumn[] = [];
  const perClass = evaluation.classNames.map((name, c): CardGroup => ({
    name,
    n: (evaluation.test.confusion[c] ?? []).reduce((s, v) => s + v, 0),
    accuracy: numberOrNull(evaluation.test.perClassAccuracy[c]),
    lo: null,
    hi: null,
  }));
  columns.push({ column: 'class', groups: perClass, gap: gapOf(perClass) });
  for (const column of evaluation.groups?.columns ?? []) {
    const groups = column.groups.map((g) => ({ name: g.value, n: g.n, accuracy: g.accuracy, lo: g.lo, hi: g.hi }));
    columns.push({ column: column.column, groups, gap: gapOf(groups) });
  }
  for (const row of evaluation.subgroups?.rows ?? []) {
    const groups = [
      { name: row.attribute, n: row.group.n, accuracy: row.group.accuracy, lo: row.group.lo, hi: row.group.hi },
      { name: `not ${row.attribute}`, n: row.complement.n, accuracy: row.complement.accuracy, lo: row.complement.lo, hi: row.complement.hi },
    ];
    columns.push({ column: row.attribute, groups, gap: row.gap });
  }
  return columns;
}

function robustnessRows(rows: RobustnessRow[] | null): CardRobustnessRow[] | null {
  if (!rows?.length) return null;
  return rows.map((r) => ({ set: r.set, n: r.n, recall: r.recall, accuracy: r.accuracy.value, lo: r.accuracy.lo, hi: r.accuracy.hi }));
}

/** The model card of a bundle, from its manifest, its evaluation.json and its robustness.json where present. */
export function buildModelCard(manifest: BundleManifest, evaluation: Evaluation | null, robustness: RobustnessRow[] | null): ModelCard {
  const t = manifest.training;
  return {
    format: 'facegender-model-card',
    version: 1,
    model: { createdAt: manifest.createdAt, packageVersion: manifest.packageVersion, kind: manifest.modelKind, classNames: manifest.classNames },
    base: { id: manifest.base.id, architecture: manifest.base.architecture, trainedOn: manifest.base.trainedOn, fineTuned: manifest.base.fineTuned !== undefined },
    training: {
      data: trainingData(manifest),
      // The file name only: a card is published with web exports, and a full path would expose the trainer's folders.
      splitFile: typeof t.splitFile === 'string' ? path.basename(t.splitFile) : null,
      seed: numberOrNull(t.seed),
      mode: typeof t.mode === 'string' ? t.mode : null,
      epochs: numberOrNull(t.epochs),
      bestEpoch: numberOrNull(t.bestEpoch),
    },
    test: testMetrics(manifest, evaluation),
    subgroups: subgroups(evaluation),
    robustness: robustnessRows(robustness),
    threshold: { value: manifest.threshold, rule: manifest.thresholdRule, reason: evaluation?.choice.reason ?? null },
    intendedUse: INTENDED_USE,
    limits: [...KNOWN_LIMITS],
  };
}

/** Builds a bundle folder's model card from the files in it. */
export async function readModelCard(bundleDir: string): Promise<ModelCard> {
  const manifest = await readBundleManifest(bundleDir);
  const evaluation = await readOptionalJson<Evaluation>(path.join(bundleDir, 'evaluation.json'));
  const robustness = await readOptionalJson<{ rows: RobustnessRow[] }>(path.join(bundleDir, ROBUSTNESS_FILE));
  return buildModelCard(manifest, evaluation, robustness?.rows ?? null);
}

/** (Re)writes `model-card.json` in a bundle folder; called whenever the files it is built from change. */
export async function writeModelCard(bundleDir: string): Promise<ModelCard> {
  const card = await readModelCard(bundleDir);
  await writeJsonAtomically(path.join(bundleDir, MODEL_CARD_FILE), card);
  return card;
}
