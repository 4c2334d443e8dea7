import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readSplit } from '../data/split-file.js';
import { splitDatasetName, type Split } from '../data/split.js';
import { BundleError } from '../errors.js';
import { extractFeatures, type ExtractOptions } from '../features/extract-features.js';
import { splitAligner } from '../features/split-aligner.js';
import { BUNDLE_MANIFEST } from '../train/bundle.js';
import { headProbs } from '../train/fit-head.js';
import { partFiles } from '../train/train-model.js';
import { writeFileAtomically, writeJsonAtomically } from '../util/atomic-write.js';
import { writeModelCard } from './model-card.js';
import type { ProgressFn } from '../util/progress.js';
import { loadClassifier } from '../predict/classifier.js';
import { evaluatePredictions, type EvaluateOptions, type Evaluation } from '../evaluate/evaluate-predictions.js';
import { evaluationMarkdown } from '../evaluate/evaluation-markdown.js';

export interface EvaluateBundleOptions extends EvaluateOptions {
  /** The split to evaluate on; default the one the model was trained on. */
  splitFile?: string;
  dataRoot?: string;
  cacheDir?: ExtractOptions['cacheDir'];
  weights?: string;
  /** Store the chosen threshold in the bundle, so predict and serve use it. */
  saveThreshold?: boolean;
  onProgress?: ProgressFn;
}

/**
 * Evaluates a saved model folder again on its split (e.g. with another threshold rule), and
 * writes evaluation.json and evaluation.md beside it.
 */
export async function evaluateBundle(dir: string, options: EvaluateBundleOptions = {}): Promise<{ evaluation: Evaluation; split: Split }> {
  const classifier = await loadClassifier(dir, options.weights ? { weights: options.weights } : {});
  try {
    const splitFile = options.splitFile ?? (classifier.manifest.training.splitFile as string | null | undefined);
    if (!splitFile) throw new BundleError('records no split file; give one with --split', path.join(dir, BUNDLE_MANIFEST));
    const split = await readSplit(splitFile, options.dataRoot ? { dataRoot: options.dataRoot } : {});
    const parts = { val: partFiles(split, 'val'), test: partFiles(split, 'test') };
    // The photos training aligned are aligned again, so they give the features the head was trained on.
    const aligner = await splitAligner(split);
    const probsOf = async (files: string[]) => {
      if (classifier.manifest.modelKind !== 'head') return classifier.probabilities(files);
      // A head's inputs are the base's features, which the cache usually already holds.
      const feats = await extractFeatures(classifier.base, files, { cacheDir: options.cacheDir, onProgress: options.onProgress, ...(aligner ? { aligned: aligner } : {}) });
      return headProbs(classifier.model, feats.views[0] as Float32Array, feats.dim);
    };
    let val: Float32Array;
    let test: Float32Array;
    try {
      [val, test] = [await probsOf(parts.val.files), await probsOf(parts.test.files)];
    } finally {
      await aligner?.dispose();
    }
    const evaluation = evaluatePredictions({ ...split.dataset, images: split.images }, { images: parts.val.images, probs: val }, { images: parts.test.images, probs: test }, options);
    await writeJsonAtomically(path.join(dir, 'evaluation.json'), { ...evaluation, ...(await trainingRunFacts(path.join(dir, 'evaluation.json'))) });
    await writeFileAtomically(path.join(dir, 'evaluation.md'), evaluationMarkdown(evaluation, `${classifier.manifest.base.id} on ${splitDatasetName(split)}`));
    if (options.saveThreshold) {
      await writeJsonAtomically(path.join(dir, BUNDLE_MANIFEST), { ...classifier.manifest, threshold: evaluation.threshold, thresholdRule: evaluation.choice.rule });
    }
    await writeModelCard(dir);
    return { evaluation, split };
  } finally {
    await classifier.dispose();
  }
}

/**
 * The stage times and cache counts the training run recorded in evaluation.json describe how the
 * model was made, which re-evaluating does not change: they are carried over, not dropped.
 */
async function trainingRunFacts(file: string): Promise<{ times?: unknown; features?: unknown }> {
  let previous: { times?: unknown; features?: unknown };
  try {
    previous = JSON.parse(await readFile(file, 'utf8')) as typeof previous;
  } catch {
    return {};
  }
  return { ...(previous.times !== undefined ? { times: previous.times } : {}), ...(previous.features !== undefined ? { features: previous.features } : {}) };
}
