import path from 'node:path';
import { scanDataset, type Dataset } from '../data/dataset.js';
import type { FaceDetectorOptions } from '../detect/face-detector.js';
import { DatasetError, UsageError } from '../errors.js';
import { evaluateLabelled, type LabelledEvaluation, type LabelledOutcome } from '../evaluate/evaluate-labelled.js';
import { labelledEvaluationMarkdown } from '../evaluate/evaluation-markdown.js';
import { loadClassifier } from '../predict/classifier.js';
import { classifyPhotoFiles, createPhotoClassifier, type PhotoFace } from '../predict/classify-photo.js';
import { readBundleManifest } from '../train/bundle.js';
import { writeFileAtomically, writeJsonAtomically } from '../util/atomic-write.js';
import type { ProgressFn } from '../util/progress.js';

export interface EvaluateFolderOptions {
  /** A CSV `file,label[,column…]` (file relative to the folder); default: the folder's class sub-folders. */
  labels?: string;
  /** Find, align and classify the face (default), or classify each photo whole. */
  detect?: boolean;
  /** Group columns (from the labels CSV or the folder's groups.csv) to report accuracy for. */
  groupBy?: string[];
  resamples?: number;
  seed?: number;
  /** Photos read and classified together. Default 16. */
  batchSize?: number;
  /** Leave out unreadable photos (listed in `skipped`) instead of stopping. */
  skipBad?: boolean;
  /** The base's weights file, for vgg16-imagenet / vggface models. */
  weights?: string;
  onProgress?: ProgressFn;
  /** Folder to write evaluation.json and evaluation.md into (created). */
  out?: string;
  /** Which face detector and landmarks the photo path uses. */
  detector?: FaceDetectorOptions;
}

export interface FolderEvaluation extends LabelledEvaluation {
  kind: 'labelled-photos';
  model: { dir: string; base: string; threshold: number; thresholdRule: string };
  data: { root: string; labelSource: string; labelsFile: string | null; groupColumns: string[] };
  detect: boolean;
  /** The face detector, when detection ran. */
  detector: string | null;
  /** Photos left out as unreadable (`skipBad`). */
  skipped: Array<{ path: string; reason: string }>;
  seconds: number;
}

/** The face a labelled photo is scored by: the one the detector was surest of. */
function surestFace(faces: readonly PhotoFace[]): PhotoFace | undefined {
  return faces.reduce<PhotoFace | undefined>((best, f) => (!best || (f.detectionScore ?? 0) > (best.detectionScore ?? 0) ? f : best), undefined);
}

/** The folder's labels, checked against the model's classes and the group columns asked for, before any model is loaded. */
async function labelledPhotos(modelClasses: readonly string[], dataDir: string, options: EvaluateFolderOptions): Promise<Dataset> {
  const dataset = await scanDataset(dataDir, {
    skipBad: options.skipBad ?? false,
    ...(options.labels ? { labels: options.labels, classNames: [...modelClasses] } : {}),
  });
  if (dataset.classNames.join('\u0000') !== modelClasses.join('\u0000')) {
    throw new DatasetError(`its classes (${dataset.labelSource}) are not the model's (${modelClasses.map((c, i) => `${c}=${i}`).join(', ')})`, dataset.root);
  }
  for (const column of options.groupBy ?? []) {
    if (!dataset.groupColumns.includes(column)) {
      const where = options.labels ? path.resolve(options.labels) : (dataset.groupsFile ?? dataset.root);
      throw new UsageError(
        `--group-by ${column}: no such column (${dataset.groupColumns.length ? `columns: ${dataset.groupColumns.join(', ')}` : options.labels ? 'the CSV has no group columns' : 'no groups.csv in the folder; give --labels FILE.csv with the column'})`,
        where,
      );
    }
  }
  return dataset;
}

/**
 * Evaluates a trained model on any folder of labelled photos, no split needed: each photo goes
 * through the photo path (detection, alignment, classification) or is classified whole, and the
 * labels come from class folders or a CSV. A photo that gives no face counts as an error.
 * Everything is checked before the model runs, and the results are written atomically.
 */
export async function evaluateFolder(modelDir: string, dataDir: string, options: EvaluateFolderOptions = {}): Promise<FolderEvaluation> {
  const started = performance.now();
  const manifest = await readBundleManifest(modelDir);
  const dataset = await labelledPhotos(manifest.classNames, dataDir, options);
  const detect = options.detect ?? true;
  const files = dataset.images.map((im) => path.join(dataset.root, im.path));
  const classifier = await loadClassifier(modelDir, options.weights ? { weights: options.weights } : {});
  const { outcomes, detector } = await (async () => {
    try {
      const pc = await createPhotoClassifier(classifier, { maxBatch: Math.max(options.batchSize ?? 16, 1), ...(options.detector ? { detector: options.detector } : {}) });
      try {
        const results = await classifyPhotoFiles(pc, files, { detect, batchSize: options.batchSize ?? 16, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
        return { outcomes: results, detector: detect ? pc.detectorDescription : null };
      } finally {
        await pc.dispose();
      }
    } finally {
      await classifier.dispose();
    }
  })();
  const skipped: FolderEvaluation['skipped'] = [...dataset.badImages];
  const scored: LabelledOutcome[] = [];
  outcomes.forEach((o, i) => {
    const im = dataset.images[i] as Dataset['images'][number];
    if (o.error !== undefined) {
      if (!options.skipBad) throw new DatasetError(`${o.error} (--skip-bad leaves such photos out)`, o.file);
      skipped.push({ path: im.path, reason: o.error });
      return;
    }
    const faces = o.result?.faces ?? [];
    const face = detect ? surestFace(faces) : faces[0];
    scored.push({ path: im.path, label: im.label, prob: face ? face.probability : null, faces: faces.length, ...(im.groups ? { groups: im.groups } : {}) });
  });
  const evaluation: FolderEvaluation = {
    kind: 'labelled-photos',
    model: { dir: path.resolve(modelDir), base: manifest.base.id, threshold: manifest.threshold, thresholdRule: manifest.thresholdRule },
    data: { root: dataset.root, labelSource: dataset.labelSource, labelsFile: options.labels ? path.resolve(options.labels) : null, groupColumns: dataset.groupColumns },
    detect,
    detector,
    skipped,
    ...evaluateLabelled(manifest.classNames, manifest.threshold, scored, {
      ...(options.groupBy ? { groupBy: options.groupBy } : {}),
      ...(options.resamples !== undefined ? { resamples: options.resamples } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
    }),
    seconds: 0,
  };
  evaluation.seconds = (performance.now() - started) / 1000;
  if (options.out) await writeFolderEvaluation(evaluation, options.out);
  return evaluation;
}

/** The facts above a folder evaluation's Markdown. */
export function folderEvaluationFacts(e: FolderEvaluation): string[] {
  return [
    `model: ${e.model.dir} (${e.model.base}, threshold ${e.model.threshold} by the ${e.model.thresholdRule} rule)`,
    `photos: ${e.data.root}, labels from ${e.data.labelSource}`,
    e.detect ? `each photo: face found by ${e.detector}, aligned to CelebA's framing, then classified` : 'each photo classified whole (--no-detect)',
    ...(e.skipped.length ? [`left out as unreadable: ${e.skipped.length} (${e.skipped.slice(0, 3).map((s) => s.path).join(', ')}${e.skipped.length > 3 ? ', …' : ''})`] : []),
  ];
}

export const FOLDER_EVALUATION_JSON = 'evaluation.json';
export const FOLDER_EVALUATION_MD = 'evaluation.md';

/** Writes evaluation.json and evaluation.md into `out` (created), each through a temp file. */
export async function writeFolderEvaluation(e: FolderEvaluation, out: string): Promise<void> {
  await writeJsonAtomically(path.join(out, FOLDER_EVALUATION_JSON), e);
  await writeFileAtomically(path.join(out, FOLDER_EVALUATION_MD), folderEvaluationMarkdown(e));
}

export function folderEvaluationMarkdown(e: FolderEvaluation): string {
  return labelledEvaluationMarkdown(e, `${e.model.base} on ${path.basename(e.data.root)}`, folderEvaluationFacts(e));
}
