import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { GenderModel } from '../competitors/gender-model.js';
import { csvLine } from '../data/csv.js';
import { REFRAMINGS, reframeFace, Scenery, type FaceRect, type Reframing } from '../data/reframe.js';
import { splitImageFile, splitPart, type Split, type SplitImage } from '../data/split.js';
import { sameFace } from '../detect/nms.js';
import { UsageError } from '../errors.js';
import { bootstrapStatistic, type Interval } from '../evaluate/bootstrap.js';
import type { PhotoClassifier } from '../predict/classify-photo.js';
import { writeFileAtomically, writeJsonAtomically } from '../util/atomic-write.js';
import { mapLimited } from '../util/map-limited.js';
import type { ProgressFn } from '../util/progress.js';

/**
 * The robustness suite: the split's test faces re-framed (data/reframe.ts) and written as image
 * folders, then scored through the photo path, detection included, and for each packaged
 * competitor. A face crop in which no face is found counts as an error: that is what a user gets.
 */

export interface RobustnessSample {
  /** Relative to the set's folder: `<class>/<name>.<png|jpg>`. */
  file: string;
  label: number;
  face: FaceRect;
}

export interface RobustnessSet {
  name: Reframing;
  dir: string;
  samples: RobustnessSample[];
}

export interface BuildSetsOptions {
  sets?: readonly Reframing[];
  /** Test images per class (default all of the test part). */
  perClass?: number;
  /** The split source whose images are CelebA-aligned; default the first (or only) one. */
  source?: string;
  onProgress?: ProgressFn;
}

/** Files the sets' scenes are made from: images the split does not use for testing. */
function sceneryFiles(split: Split, source: string | undefined, count: number): string[] {
  const pool = split.images.filter((im) => im.part !== 'test' && (source === undefined || im.source === source));
  const step = Math.max(1, Math.floor(pool.length / count));
  return pool.filter((_, i) => i % step === 0).slice(0, count).map((im) => splitImageFile(split, im));
}

/** The test images a suite is built from: CelebA-aligned faces of one source, balanced by class, in split order. */
export function robustnessImages(split: Split, options: Pick<BuildSetsOptions, 'perClass' | 'source'> = {}): SplitImage[] {
  const source = options.source ?? split.sources?.[0]?.name;
  if (source !== undefined && split.sources && !split.sources.some((s) => s.name === source)) {
    throw new UsageError(`the split has no source '${source}'; its sources: ${split.sources.map((s) => s.name).join(', ')}`);
  }
  const test = splitPart(split, 'test').filter((im) => source === undefined || im.source === source);
  const perClass = options.perClass ?? Infinity;
  const taken = [0, 0];
  return test.filter((im) => (taken[im.label] as number) < perClass && ((taken[im.label] = (taken[im.label] as number) + 1), true));
}

/**
 * Writes each re-framed set under `outDir/<set>/<class>/`, with `truth.json` (label and true face
 * box per file) and `labels.csv` (for `facegender evaluate --data`). Files already there from an
 * earlier run with the same inputs are kept, so a second run costs nothing.
 */
export async function buildRobustnessSets(split: Split, outDir: string, options: BuildSetsOptions = {}): Promise<RobustnessSet[]> {
  const sets = options.sets ?? REFRAMINGS;
  for (const s of sets) if (!REFRAMINGS.includes(s)) throw new UsageError(`unknown framing '${s}'; known: ${REFRAMINGS.join(', ')}`);
  const source = options.source ?? split.sources?.[0]?.name;
  const images = robustnessImages(split, options);
  if (images.length === 0) throw new UsageError('the split has no test images to re-frame');
  const classNames = split.dataset.classNames;
  const scenery = sets.some((s) => s === 'wide' || s === 'small') ? await Scenery.load(sceneryFiles(split, source, 60)) : undefined;
  const total = sets.length * images.length;
  let done = 0;
  options.onProgress?.({ stage: 'build robustness sets', done, total });
  const out: RobustnessSet[] = [];
  for (const name of sets) {
    const dir = path.join(outDir, name);
    await mkdir(dir, { recursive: true });
    const samples = await mapLimited(images, 4, async (im): Promise<RobustnessSample> => {
      const src = splitImageFile(split, im);
      const key = im.path;
      const bytes = await readFile(src);
      const r = await reframeFace(bytes, name, key, scenery);
      const base = path.basename(im.path).replace(/\.[^.]+$/, '');
      const file = `${classNames[im.label] ?? String(im.label)}/${base}.${r.format === 'jpeg' ? 'jpg' : 'png'}`;
      const target = path.join(dir, file);
      const existing = await stat(target).catch(() => undefined);
      if (!existing || existing.size !== r.bytes.byteLength) await writeFileAtomically(target, r.bytes);
      done++;
      options.onProgress?.({ stage: 'build robustness sets', done, total });
      return { file, label: im.label, face: r.face };
    });
    await writeJsonAtomically(path.join(dir, 'truth.json'), { set: name, classNames, samples });
    const csv = ['file,label', ...samples.map((s) => csvLine([s.file, classNames[s.label] ?? String(s.label)]))].join('\n') + '\n';
    await writeFileAtomically(path.join(dir, 'labels.csv'), csv);
    out.push({ name, dir, samples });
  }
  return out;
}

export interface ClassAccuracy {
  className: string;
  n: number;
  accuracy: number;
}

export interface RobustnessRow {
  set: Reframing;
  model: string;
  n: number;
  /** Faces found on the true face, over all images; null for a model that does not detect. */
  recall: number | null;
  /** Correct over all images: an image where the true face was not found is an error. */
  accuracy: Interval;
  perClass: ClassAccuracy[];
  seconds: number;
}

function row(set: RobustnessSet, model: string, classNames: readonly string[], correct: Uint8Array, found: Uint8Array | null, seconds: number, resamples: number): RobustnessRow {
  const n = correct.length;
  const accuracy = bootstrapStatistic(n, (idx) => idx.reduce((s, i) => s + (correct[i] as number), 0) / idx.length, { resamples, seed: 1 });
  const perClass = classNames.map((className, c) => {
    const idx = set.samples.map((s, i) => (s.label === c ? i : -1)).filter((i) => i >= 0);
    return { className, n: idx.length, accuracy: idx.length ? idx.reduce((s, i) => s + (correct[i] as number), 0) / idx.length : NaN };
  });
  return { set: set.name, model, n, recall: found ? found.reduce((s, v) => s + v, 0) / n : null, accuracy, perClass, seconds };
}

/**
 * Our model on each set, through `photo`'s full path: detection, alignment, classification. The
 * prediction for an image is the face found on its true face box.
 */
export async function scoreModelOnSets(photo: PhotoClassifier, model: string, sets: readonly RobustnessSet[], classNames: readonly string[], options: { resamples?: number; onProgress?: ProgressFn } = {}): Promise<RobustnessRow[]> {
  const rows: RobustnessRow[] = [];
  for (const set of sets) {
    const t0 = performance.now();
    const correct = new Uint8Array(set.samples.length);
    const found = new Uint8Array(set.samples.length);
    let done = 0;
    await mapLimited(set.samples, 4, async (s, i) => {
      const result = await photo.classifyFile(path.join(set.dir, s.file));
      const face = result.faces.find((f) => sameFace(f.box, s.face, 0.3));
      if (face) {
        found[i] = 1;
        correct[i] = face.label.toLowerCase() === (classNames[s.label] ?? '').toLowerCase() ? 1 : 0;
      }
      options.onProgress?.({ stage: `${model} on ${set.name}`, done: ++done, total: set.samples.length });
    });
    rows.push(row(set, model, classNames, correct, found, (performance.now() - t0) / 1000, options.resamples ?? 1000));
  }
  return rows;
}

/** A packaged competitor on each set, fed the files as its own pipeline takes them. */
export async function scoreCompetitorOnSets(model: GenderModel, sets: readonly RobustnessSet[], classNames: readonly string[], options: { resamples?: number } = {}): Promise<RobustnessRow[]> {
  const rows: RobustnessRow[] = [];
  for (const set of sets) {
    const t0 = performance.now();
    const { probs, threshold } = await model.score(set.samples.map((s) => path.join(set.dir, s.file)));
    const correct = Uint8Array.from(set.samples, (s, i) => Number(((probs[i] as number) > threshold ? 1 : 0) === s.label));
    rows.push(row(set, model.id, classNames, correct, null, (performance.now() - t0) / 1000, options.resamples ?? 1000));
  }
  return rows;
}

/** A share as a percentage with one decimal; '–' where there is none. */
export function pct(v: number | null): string {
  return v === null || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(1)}%`;
}

/** The suite's rows as a markdown table: one line per set and model. */
export function robustnessMarkdown(rows: readonly RobustnessRow[]): string {
  const classes = rows[0]?.perClass.map((c) => c.className) ?? [];
  const lines = [
    `| set | model | n | detection recall | accuracy [95% CI] | ${classes.join(' | ')} |`,
    `|---|---|---|---|---|${classes.map(() => '---|').join('')}`,
  ];
  for (const r of rows) {
    const ci = r.accuracy.lo === null || r.accuracy.hi === null ? '' : ` [${pct(r.accuracy.lo)}, ${pct(r.accuracy.hi)}]`;
    lines.push(`| ${r.set} | ${r.model} | ${r.n} | ${pct(r.recall)} | ${pct(r.accuracy.value)}${ci} | ${r.perClass.map((c) => pct(c.accuracy)).join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}
