import { access, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { readSplit } from '../data/split-file.js';
import { splitImageFile, type Split } from '../data/split.js';
import { BundleError, FacegenderError, UsageError } from '../errors.js';
import type { Comparison } from '../experiments/compare.js';
import { readBundleManifest } from '../train/bundle.js';
import type { EpochRecord } from '../train/fit.js';
import { writeFileAtomically } from '../util/atomic-write.js';
import {
  accuracyBars,
  accuracyBarsSpec,
  confusionMatrixSpec,
  reliabilitySpec,
  rocSpec,
  subgroupSpec,
  thresholdSweepSpec,
  trainingCurvesSpec,
} from './plot-specs.js';
import { renderSvg } from './render-svg.js';
import { compareReportHtml, misclassified, modelReportHtml, slug, type CompareRun, type LoadedRun, type RunEvaluation, type RunPlots, type ThumbnailLookup } from './report-html.js';
import { identityIndex, labelSuspectGroups, suspectCount, type SuspectGroup } from './suspect-groups.js';
import { makeThumbnails, type ThumbnailOptions } from './thumbnails.js';

export const REPORT_FILE = 'report.html';

export interface ReportOptions {
  /** Where to write the page (default: report.html in the run or comparison folder). */
  out?: string;
  /** Where the dataset's images are now, if they moved since the run. */
  dataRoot?: string;
  thumbnails?: ThumbnailOptions;
  /** Other images of a doubted identity shown beside it (default 3). */
  references?: number;
}

export interface ReportResult {
  file: string;
  bytes: number;
  /** Distinct images inlined. */
  thumbnails: number;
  missingImages: Array<{ file: string; reason: string }>;
  plots: number;
  /** Cards per gallery, by the gallery's name in the page (data-gallery). */
  galleries: Record<string, number>;
}

async function readJson<T>(file: string, what: string, ErrorType: new (message: string, file?: string) => FacegenderError): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ErrorType(code === 'ENOENT' ? `missing: ${what}` : `cannot read ${what} (${code ?? (e as Error).message})`, file);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new ErrorType(`${what} is not valid JSON (${(e as Error).message})`, file);
  }
}

/** A run folder as runExperiment writes it: facegender.json, evaluation.json and history.json. */
export async function loadRun(dir: string): Promise<LoadedRun> {
  const manifest = await readBundleManifest(dir);
  const evalFile = path.join(dir, 'evaluation.json');
  const evaluation = await readJson<RunEvaluation>(evalFile, 'the evaluation of this run (run `facegender evaluate` on the folder first)', BundleError);
  if (!Array.isArray(evaluation?.predictions) || !Array.isArray(evaluation.sweep) || !evaluation.ci?.metrics) {
    throw new BundleError('not an evaluation written by facegender (no predictions, sweep or intervals)', evalFile);
  }
  let history: EpochRecord[] | null = null;
  const historyFile = path.join(dir, 'history.json');
  try {
    await access(historyFile);
    history = await readJson<EpochRecord[]>(historyFile, 'the training history', BundleError);
    if (!Array.isArray(history)) throw new BundleError('training history is not a list of epochs', historyFile);
  } catch (e) {
    if (e instanceof FacegenderError) throw e;
  }
  return { dir: path.resolve(dir), manifest, history, evaluation };
}

/** Renders one run's plots; `prefix` keeps SVG ids unique when several runs share a page. */
export async function renderRunPlots(run: LoadedRun, prefix = 'p-'): Promise<RunPlots> {
  const ev = run.evaluation;
  const t = run.manifest.training;
  const render = (spec: Parameters<typeof renderSvg>[0], name: string) => renderSvg(spec, { idPrefix: `${prefix}${name}-` });
  return {
    training: run.history?.length ? await render(trainingCurvesSpec(run.history, { bestEpoch: Number(t.bestEpoch ?? 0), stoppedEarly: Boolean(t.stoppedEarly) }), 'training') : null,
    threshold: await render(thresholdSweepSpec(ev.sweep, ev.choice), 'threshold'),
    confusion: await render(confusionMatrixSpec(ev.test.confusion, ev.classNames), 'confusion'),
    roc: ev.roc ? await render(rocSpec(ev.roc, ev.test.rocAuc), 'roc') : null,
    reliability: await render(reliabilitySpec(ev.reliability, ev.test.ece), 'reliability'),
    subgroups: ev.subgroups ? await render(subgroupSpec(ev.subgroups), 'subgroups') : null,
  };
}

function plotCount(p: RunPlots): number {
  return Object.values(p).filter((v) => v !== null).length;
}

/** The run's split, for other images of a doubted identity; null when it cannot be read. */
async function splitOf(run: LoadedRun, dataRoot: string | undefined): Promise<Split | null> {
  const file = run.manifest.training.splitFile;
  if (typeof file !== 'string') return null;
  try {
    return await readSplit(file, { verify: false, ...(dataRoot ? { dataRoot } : {}) });
  } catch (e) {
    if (e instanceof FacegenderError) return null;
    throw e;
  }
}

function imageRootOf(run: LoadedRun, split: Split | null, dataRoot: string | undefined): string {
  const root = dataRoot ?? split?.dataset.root ?? run.manifest.training.datasetRoot;
  if (typeof root !== 'string') throw new BundleError('the run does not record where its dataset is (training.datasetRoot); pass --data', path.join(run.dir, 'facegender.json'));
  return path.resolve(root);
}

/** An image's file from its path in the split: under the root, or, for a split of several sources, in its source's folder. */
function imageFiles(root: string, split: Split | null): (rel: string) => string {
  if (!split?.sources) return (rel) => path.join(root, rel);
  const sources = new Set(split.sources.map((s) => s.name));
  return (rel) => {
    const source = rel.split('/')[0] as string;
    return sources.has(source) ? splitImageFile(split, { path: rel, source }) : path.join(root, rel);
  };
}

async function thumbnailsFor(root: string, relPaths: Iterable<string>, options: ThumbnailOptions | undefined, split: Split | null = null) {
  const fileOf = imageFiles(root, split);
  const set = await makeThumbnails([...relPaths].map(fileOf), options);
  const lookup: ThumbnailLookup = (rel) => set.thumbnails.get(fileOf(rel));
  return { lookup, count: set.thumbnails.size, failed: set.failed };
}

function suspectPaths(groups: readonly SuspectGroup[]): string[] {
  return groups.flatMap((g) => [...g.suspects.map((s) => s.path), ...g.references.map((r) => r.path)]);
}

export interface BuiltReport {
  html: string;
  thumbnails: number;
  missingImages: Array<{ file: string; reason: string }>;
  plots: number;
  galleries: Record<string, number>;
}

/** The model report's page for a loaded run; `split` adds other images of doubted identities. */
export async function buildModelReport(run: LoadedRun, options: { split?: Split | null; imageRoot?: string; thumbnails?: ThumbnailOptions; references?: number } = {}): Promise<BuiltReport> {
  const split = options.split ?? null;
  const imageRoot = options.imageRoot ?? imageRootOf(run, split, undefined);
  const ev = run.evaluation;
  const suspects = labelSuspectGroups([{ name: null, evaluation: ev }], split ? identityIndex(split.images) : null, options.references ?? 3);
  const plots = await renderRunPlots(run, 'm-');
  const thumbs = await thumbnailsFor(imageRoot, [...ev.predictions.map((p) => p.path), ...suspectPaths(suspects)], options.thumbnails, split);
  const html = modelReportHtml({ run, plots, thumbnail: thumbs.lookup, suspects, imageRoot, missingImages: thumbs.failed, generatedAt: new Date().toISOString() });
  return {
    html,
    thumbnails: thumbs.count,
    missingImages: thumbs.failed,
    plots: plotCount(plots),
    galleries: { test: ev.predictions.length, misclassified: misclassified(ev.predictions).length, suspects: suspectCount(suspects) },
  };
}

async function writePage(out: string, html: string): Promise<number> {
  await mkdir(path.dirname(path.resolve(out)), { recursive: true });
  await writeFileAtomically(out, html);
  return Buffer.byteLength(html);
}

/** `facegender report --model DIR`: one self-contained report.html for a run folder. */
export async function writeModelReport(runDir: string, options: ReportOptions = {}): Promise<ReportResult> {
  const run = await loadRun(runDir);
  const split = await splitOf(run, options.dataRoot);
  const imageRoot = imageRootOf(run, split, options.dataRoot);
  const built = await buildModelReport(run, {
    split,
    imageRoot,
    ...(options.thumbnails ? { thumbnails: options.thumbnails } : {}),
    ...(options.references !== undefined ? { references: options.references } : {}),
  });
  const file = path.resolve(options.out ?? path.join(runDir, REPORT_FILE));
  const bytes = await writePage(file, built.html);
  return { file, bytes, thumbnails: built.thumbnails, missingImages: built.missingImages, plots: built.plots, galleries: built.galleries };
}

/** A base's run folder: where compare.json says, or beside compare.json if the folder moved. */
async function findRunDir(compareDir: string, runDir: string | undefined, base: string): Promise<string> {
  const candidates = [...(runDir ? [runDir, path.join(compareDir, path.basename(runDir))] : []), path.join(compareDir, base.replace(/[^A-Za-z0-9_.-]+/g, '_'))];
  for (const dir of candidates) {
    try {
      await access(path.join(dir, 'facegender.json'));
      return dir;
    } catch {
      // try the next place
    }
  }
  throw new BundleError(`the run folder of base ${base} is missing (looked in ${candidates.join(', ')})`, path.join(compareDir, 'compare.json'));
}

/** `facegender report --compare DIR`: the comparison, every base's sections and shared galleries. */
export async function writeCompareReport(compareDir: string, options: ReportOptions = {}): Promise<ReportResult> {
  const file = path.join(compareDir, 'compare.json');
  const comparison = await readJson<Comparison>(file, 'compare.json (not a folder written by `facegender compare`)', UsageError);
  if (!Array.isArray(comparison?.rows) || !comparison.split) throw new UsageError('not a comparison written by facegender (no rows or split)', file);
  const runs: CompareRun[] = [];
  for (const [i, row] of comparison.rows.entries()) {
    if (row.status !== 'ok' || row.kind !== 'base') continue;
    const run = await loadRun(await findRunDir(compareDir, row.runDir, row.base));
    runs.push({ row, run, plots: await renderRunPlots(run, `b${i}-`) });
  }
  const split = runs.length ? await splitOf((runs[0] as CompareRun).run, options.dataRoot) : null;
  const imageRoot = path.resolve(options.dataRoot ?? split?.dataset.root ?? comparison.split.dataset);
  const suspects = labelSuspectGroups(
    runs.map((r) => ({ name: r.row.base, evaluation: r.run.evaluation })),
    split ? identityIndex(split.images) : null,
    options.references ?? 3,
  );
  const paths = [...runs.flatMap((r) => r.run.evaluation.predictions.map((p) => p.path)), ...suspectPaths(suspects)];
  const thumbs = await thumbnailsFor(imageRoot, paths, options.thumbnails, split);
  const bars = accuracyBars(comparison.rows, comparison.study);
  const barsSvg = await renderSvg(accuracyBarsSpec(bars), { idPrefix: 'cmp-bars-' });
  const html = compareReportHtml({
    comparison,
    dir: path.resolve(compareDir),
    runs,
    barsSvg,
    bars,
    thumbnail: thumbs.lookup,
    suspects,
    imageRoot,
    missingImages: thumbs.failed,
    generatedAt: new Date().toISOString(),
  });
  const out = path.resolve(options.out ?? path.join(compareDir, REPORT_FILE));
  const bytes = await writePage(out, html);
  const galleries: Record<string, number> = { test: new Set(runs.flatMap((r) => r.run.evaluation.predictions.map((p) => p.path))).size, suspects: suspectCount(suspects) };
  for (const r of runs) galleries[`${slug(r.row.base)}-misclassified`] = misclassified(r.run.evaluation.predictions).length;
  return { file: out, bytes, thumbnails: thumbs.count, missingImages: thumbs.failed, plots: 1 + runs.reduce((s, r) => s + plotCount(r.plots), 0), galleries };
}

