import { mkdir, readFile, rename, rm, writeFile, mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import * as tfc from '@tensorflow/tfjs-core';
import * as layers from '@tensorflow/tfjs-layers';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initTfjs } from '../bases/tfjs-backend.js';
import type { CropBox, ImageSize } from '../data/image.js';
import { BundleError } from '../errors.js';

export const BUNDLE_MANIFEST = 'facegender.json';
const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

/** What a bundle records besides the head's weights: enough to rebuild the exact pipeline. */
export interface BundleManifest {
  format: 'facegender-bundle';
  version: 1;
  packageVersion: string;
  createdAt: string;
  base: {
    id: string;
    weightsHash: string;
    preprocess: string;
    inputSize: ImageSize;
    crop: CropBox | null;
    interpolation: string;
    dim: number;
    architecture: string;
    trainedOn: string;
    /** Options needed to load the base again (e.g. the custom CNN's input size). */
    options?: Record<string, unknown>;
  };
  classNames: string[];
  threshold: number;
  thresholdRule: string;
  /**
   * `head`: model.json is the head alone, applied to the base's features. `end-to-end`: model.json
   * maps images (after the base's preprocessing) to the probability, e.g. the custom CNN.
   */
  modelKind: 'head' | 'end-to-end';
  training: Record<string, unknown>;
  metrics?: Record<string, unknown>;
}

/**
 * Writes model.json + weights.bin (the layout tfjs' `loadLayersModel` reads in a browser) and
 * facegender.json. Everything goes to a temp folder first and is renamed into place, so a
 * crash never leaves a half-written bundle.
 */
export async function saveBundle(dir: string, model: tfl.LayersModel, manifest: BundleManifest): Promise<void> {
  const parent = path.dirname(path.resolve(dir));
  await mkdir(parent, { recursive: true });
  const tmp = await mkdtemp(path.join(parent, `.${path.basename(dir)}.tmp-`));
  try {
    await model.save(
      tfc.io.withSaveHandler(async (artifacts) => {
        const weightData = artifacts.weightData;
        const bytes = weightData === undefined ? new Uint8Array() : new Uint8Array(tfc.io.concatenateArrayBuffers(Array.isArray(weightData) ? weightData : [weightData]));
        await writeFile(path.join(tmp, WEIGHTS_BIN), bytes);
        const modelJson = {
          format: artifacts.format ?? 'layers-model',
          generatedBy: artifacts.generatedBy,
          convertedBy: artifacts.convertedBy ?? null,
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
        };
        await writeFile(path.join(tmp, MODEL_JSON), JSON.stringify(modelJson));
        return { modelArtifactsInfo: tfc.io.getModelArtifactsInfoForJSON(artifacts) };
      }),
    );
    await writeFile(path.join(tmp, BUNDLE_MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
    // Keep other files a run wrote beside the bundle (history, evaluation) by replacing only ours.
    await mkdir(dir, { recursive: true });
    for (const name of [WEIGHTS_BIN, MODEL_JSON, BUNDLE_MANIFEST]) await rename(path.join(tmp, name), path.join(dir, name));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

export async function readBundleManifest(dir: string): Promise<BundleManifest> {
  const file = path.join(dir, BUNDLE_MANIFEST);
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(await readFile(file, 'utf8')) as BundleManifest;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BundleError(code === 'ENOENT' ? 'not a facegender model folder (no facegender.json)' : `unreadable (${code ?? (e as Error).message})`, file);
  }
  if (manifest?.format !== 'facegender-bundle' || manifest.version !== 1) {
    throw new BundleError('not a facegender bundle manifest (format "facegender-bundle", version 1)', file);
  }
  return manifest;
}

/** Loads a bundle's tfjs model in Node (where tfjs has no file:// loader) from its files. */
export async function loadBundleModel(dir: string): Promise<tfl.LayersModel> {
  await initTfjs();
  const file = path.join(dir, MODEL_JSON);
  let modelJson: { modelTopology: object; weightsManifest: Array<{ paths: string[]; weights: tfc.io.WeightsManifestEntry[] }> };
  let weights: Buffer;
  try {
    modelJson = JSON.parse(await readFile(file, 'utf8'));
    weights = await readFile(path.join(dir, WEIGHTS_BIN));
  } catch (e) {
    throw new BundleError(`cannot read the model (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
  const weightSpecs = modelJson.weightsManifest.flatMap((g) => g.weights);
  const expected = weightSpecs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (weights.length !== expected) {
    throw new BundleError(`weights.bin has ${weights.length} bytes, model.json describes ${expected}`, path.join(dir, WEIGHTS_BIN));
  }
  const weightData = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength);
  return layers.loadLayersModel(tfc.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs, weightData }));
}
