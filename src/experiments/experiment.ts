import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Base } from '../bases/base.js';
import { loadBase, type LoadBaseOptions } from '../zoo/index.js';
import { splitDatasetName, type Split } from '../data/split.js';
import { BASE_WEIGHTS_BIN, saveBundle, type BundleManifest } from '../train/bundle.js';
import { trainModel, type TrainModelOptions, type TrainedModel } from '../train/train-model.js';
import { writeFileAtomically, writeJsonAtomically } from '../util/atomic-write.js';
import { writeModelCard } from './model-card.js';
import { evaluatePredictions, type EvaluateOptions, type Evaluation } from '../evaluate/evaluate-predictions.js';
import { evaluationMarkdown } from '../evaluate/evaluation-markdown.js';

export const PACKAGE_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export interface ExperimentOptions extends TrainModelOptions, EvaluateOptions {
  baseOptions?: LoadBaseOptions;
  /** Path of the split file, recorded in the bundle so `evaluate` can find the images again. */
  splitFile?: string;
}

export interface ExperimentResult {
  base: Pick<Base, 'id' | 'architecture' | 'trainedOn' | 'weightsHash' | 'preprocess' | 'inputSize' | 'dim'>;
  trained: Omit<TrainedModel, 'model' | 'fineTunedBase'>;
  evaluation: Evaluation;
  manifest: BundleManifest;
  outDir: string;
  seconds: number;
}

/** Base options worth recording so that the bundle loads the same base again. */
function reloadOptions(base: Base, given: LoadBaseOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if ('options' in base) Object.assign(out, (base as { options: Record<string, unknown> }).options);
  if (given.preprocess) out.preprocess = given.preprocess;
  if (base.id.startsWith('onnx:')) Object.assign(out, { inputSize: base.inputSize.height, layout: given.layout ?? 'nchw', ...(given.output ? { output: given.output } : {}), preprocess: base.preprocess });
  if ('weightsPath' in base) out.weightsHint = (base as { weightsPath: string }).weightsPath;
  return out;
}

/** The images a list left out of a training folder (split --exclude), for the bundle and its model card. */
function leftOut(record: { excludeFile?: string; excluded?: number }): { excluded?: number; excludedBy?: string } {
  return record.excludeFile ? { excluded: record.excluded ?? 0, excludedBy: path.basename(record.excludeFile) } : {};
}

/**
 * Trains one base on a split, evaluates it and writes the run folder: the model bundle
 * (model.json, weights.bin, facegender.json), history.json, evaluation.json and evaluation.md.
 */
export async function runExperiment(split: Split, baseName: string, outDir: string, options: ExperimentOptions = {}): Promise<ExperimentResult> {
  const started = performance.now();
  const base = await loadBase(baseName, options.baseOptions ?? {});
  let trained: TrainedModel | undefined;
  try {
    await mkdir(outDir, { recursive: true });
    trained = await trainModel(split, base, options);
    // After fine-tuning the head runs on the fine-tuned base, whose weights the bundle carries.
    const tuned = trained.fineTunedBase;
    const bundleBase = tuned ?? base;
    const baseWeights = tuned?.weightsBytes();
    const t0 = performance.now();
    const evaluation = evaluatePredictions(
      { ...split.dataset, images: split.images },
      { images: trained.images.val, probs: trained.probs.val },
      { images: trained.images.test, probs: trained.probs.test },
      options,
    );
    trained.times.push({ stage: 'evaluate', seconds: (performance.now() - t0) / 1000 });
    const m = evaluation.ci.metrics;
    const manifest: BundleManifest = {
      format: 'facegender-bundle',
      version: 1,
      packageVersion: PACKAGE_VERSION,
      createdAt: new Date().toISOString(),
      base: {
        id: base.id,
        weightsHash: bundleBase.weightsHash,
        preprocess: base.preprocess,
        inputSize: base.inputSize,
        crop: base.crop ?? null,
        interpolation: 'bilinear',
        dim: base.dim,
        architecture: base.architecture,
        trainedOn: bundleBase.trainedOn,
        options: reloadOptions(base, options.baseOptions ?? {}),
        ...(tuned && baseWeights
          ? { fineTuned: { ...tuned.fineTuned, weightsFile: BASE_WEIGHTS_BIN, bytes: baseWeights.byteLength } }
          : {}),
      },
      classNames: split.dataset.classNames,
      threshold: evaluation.threshold,
      thresholdRule: evaluation.choice.rule,
      modelKind: trained.kind,
      training: {
        ...trained.config,
        bestEpoch: trained.bestEpoch,
        stoppedEarly: trained.stoppedEarly,
        splitFile: options.splitFile ? path.resolve(options.splitFile) : null,
        split: split.params,
        datasetRoot: split.dataset.root,
        ...(split.sources ? { sources: split.sources.map((s) => ({ name: s.name, root: s.root, ...leftOut(s) })) } : leftOut(split.dataset)),
        cores: os.cpus().length,
      },
      metrics: {
        accuracy: m.accuracy,
        f1: m.f1,
        rocAuc: m.rocAuc,
        logLoss: m.logLoss,
        ece: m.ece,
        confusion: evaluation.test.confusion,
        n: evaluation.test.n,
      },
    };
    const { model, fineTunedBase: _tuned, ...rest } = trained;
    await saveBundle(outDir, model, manifest, baseWeights ? { baseWeights } : {});
    await writeJsonAtomically(path.join(outDir, 'history.json'), rest.history);
    await writeJsonAtomically(path.join(outDir, 'evaluation.json'), { ...evaluation, times: rest.times, features: rest.features ?? null });
    await writeFileAtomically(path.join(outDir, 'evaluation.md'), evaluationMarkdown(evaluation, `${base.id} on ${splitDatasetName(split)}`));
    await writeModelCard(outDir);
    return {
      base: { id: base.id, architecture: base.architecture, trainedOn: bundleBase.trainedOn, weightsHash: bundleBase.weightsHash, preprocess: base.preprocess, inputSize: base.inputSize, dim: base.dim },
      trained: rest,
      evaluation,
      manifest,
      outDir,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await trained?.fineTunedBase?.dispose();
    await base.dispose();
  }
}
