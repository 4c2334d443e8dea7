import path from 'node:path';
import * as tfc from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Base } from '../bases/base.js';
import { loadBase, loadFineTunedBase, type LoadBaseOptions } from '../zoo/index.js';
import { imageBatches } from '../data/batches.js';
import type { ImageBatch } from '../data/image.js';
import { BundleError } from '../errors.js';
import { loadBundleModel, readBundleBaseWeights, readBundleManifest, type BundleManifest } from '../train/bundle.js';
import { headProbs } from '../train/fit-head.js';
import { predictProbs } from '../train/fit.js';
import { certainty, predictedLabel } from '../evaluate/certainty.js';

export interface Classification {
  /** P(class 1), e.g. P(Male). */
  probability: number;
  label: string;
  /** 0 or 1. */
  classIndex: 0 | 1;
  /** The probability of the predicted class, as the study shows it. */
  certainty: number;
}

export interface Classifier {
  manifest: BundleManifest;
  base: Base;
  /** The bundle's tfjs model: the head (on features) or the whole end-to-end model (on images). */
  model: tfl.LayersModel;
  threshold: number;
  /** Classifies images already cut and sized for the base ([N, H, W, 3] RGB 0..255 at `base.inputSize`). */
  classifyBatch(batch: ImageBatch): Promise<Classification[]>;
  /** Decodes (with the base's crop and size), then classifies image files. */
  classifyFiles(files: string[], options?: { batchSize?: number }): Promise<Classification[]>;
  /** Probabilities of class 1 for image files. */
  probabilities(files: string[], options?: { batchSize?: number }): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** The bundle's fine-tuned base, from the weights stored beside the model (the original weights are not needed). */
async function loadStoredBase(dir: string, manifest: BundleManifest, options: LoadBaseOptions): Promise<Base> {
  const fineTuned = manifest.base.fineTuned as NonNullable<BundleManifest['base']['fineTuned']>;
  const bytes = await readBundleBaseWeights(dir, manifest);
  return loadFineTunedBase(
    manifest.base.id,
    bytes,
    fineTuned,
    {
      inputSize: manifest.base.inputSize.height,
      preprocess: manifest.base.preprocess,
      ...(options.threads ? { threads: options.threads } : {}),
      ...(options.onnxThread ? { onnxThread: options.onnxThread } : {}),
      file: path.join(dir, fineTuned.weightsFile),
    },
  );
}

/**
 * Loads a model folder written by `train`: its base (checked against the recorded weights hash;
 * a fine-tuned base from the weights the folder stores) and its tfjs model.
 */
export async function loadClassifier(dir: string, options: LoadBaseOptions = {}): Promise<Classifier> {
  const manifest = await readBundleManifest(dir);
  const saved = manifest.base.options ?? {};
  const baseOptions: LoadBaseOptions = {
    ...(typeof saved.inputSize === 'number' ? { inputSize: saved.inputSize } : {}),
    ...(typeof saved.seed === 'number' ? { seed: saved.seed } : {}),
    ...(typeof saved.preprocess === 'string' ? { preprocess: saved.preprocess } : {}),
    ...(typeof saved.layout === 'string' ? { layout: saved.layout as LoadBaseOptions['layout'] } : {}),
    ...(typeof saved.output === 'string' ? { output: saved.output } : {}),
    ...(typeof saved.weightsHint === 'string' ? { weights: saved.weightsHint } : {}),
    ...options,
  };
  const base = manifest.base.fineTuned ? await loadStoredBase(dir, manifest, options) : await loadBase(manifest.base.id, baseOptions);
  // An end-to-end model carries its own trained base; only a head depends on the base's weights.
  if (manifest.modelKind === 'head' && base.weightsHash !== manifest.base.weightsHash) {
    await base.dispose();
    throw new BundleError(
      `was trained on ${manifest.base.id} weights with sha256 ${manifest.base.weightsHash.slice(0, 12)}…, but the weights found now hash to ${base.weightsHash.slice(0, 12)}…; give the original weights (--weights)`,
      dir,
    );
  }
  if (base.dim !== manifest.base.dim || base.preprocess !== manifest.base.preprocess) {
    await base.dispose();
    throw new BundleError(`base ${base.id} now gives ${base.dim} features with ${base.preprocess} preprocessing; the model expects ${manifest.base.dim} with ${manifest.base.preprocess}`, dir);
  }
  const model: tfl.LayersModel = await loadBundleModel(dir);
  const threshold = manifest.threshold;
  const [name0 = '0', name1 = '1'] = manifest.classNames;

  const probsOfBatch = async (batch: ImageBatch): Promise<Float32Array> => {
    if (manifest.modelKind === 'head') return headProbs(model, await base.embed(batch), base.dim);
    const x = tfc.tensor4d(batch.data, [batch.n, batch.height, batch.width, 3]);
    try {
      return await predictProbs(model, x, 64);
    } finally {
      x.dispose();
    }
  };
  const toClassification = (p: number): Classification => {
    const classIndex = predictedLabel(p, threshold);
    return { probability: p, classIndex, label: classIndex === 1 ? name1 : name0, certainty: certainty(p, threshold) };
  };
  const probabilities = async (files: string[], opts: { batchSize?: number } = {}) => {
    const out = new Float32Array(files.length);
    const stream = imageBatches(files, { batchSize: opts.batchSize ?? 16, size: base.inputSize, ...(base.crop ? { crop: base.crop } : {}) });
    for await (const { batch, indices } of stream) {
      const p = await probsOfBatch(batch);
      indices.forEach((i, j) => (out[i] = p[j] as number));
    }
    return out;
  };
  return {
    manifest,
    base,
    model,
    threshold,
    async classifyBatch(batch) {
      return Array.from(await probsOfBatch(batch), toClassification);
    },
    async classifyFiles(files, opts) {
      return Array.from(await probabilities(files, opts), toClassification);
    },
    probabilities,
    async dispose() {
      model.dispose();
      await base.dispose();
    },
  };
}
