import { mkdir, readFile, rename, rm, writeFile, mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import * as tfc from '@tensorflow/tfjs-core';
import * as layers from '@tensorflow/tfjs-layers';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { FineTunedInfo } from '../bases/fine-tunable.js';
import { initTfjs } from '../runtime/tfjs/backend.js';
import type { CropBox, ImageSize } from '../data/image.js';
import { BundleError } from '../errors.js';
import { sha256Bytes } from '../util/file-hash.js';

export const BUNDLE_MANIFEST = 'facegender.json';
const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';
/** Fine-tuned base weights, for a bundle whose base was fine-tuned (its original weights no longer apply). */
export const BASE_WEIGHTS_BIN = 'base-weights.bin';

/** The manifest's record of fine-tuned base weights stored in the bundle: what the base says of them, and where they are. */
export interface BundleFineTunedBase extends FineTunedInfo {
  /** File in the bundle folder holding the weights; its sha256 is `base.weightsHash`. */
  weightsFile: string;
  bytes: number;
}

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
    /** Present when the base's weights were fine-tuned: they are stored in the bundle, and `weightsHash` is theirs. */
    fineTuned?: BundleFineTunedBase;
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

export interface SaveBundleOptions {
  /** Fine-tuned base weights, written to the file `manifest.base.fineTuned` names. */
  baseWeights?: Uint8Array;
}

/**
 * Writes model.json + weights.bin (the layout tfjs' `loadLayersModel` reads in a browser) and
 * facegender.json, and the fine-tuned base's weights when there are some. Everything goes to a
 * temp folder first and is renamed into place, so a crash never leaves a half-written bundle.
 */
export async function saveBundle(dir: string, model: tfl.LayersModel, manifest: BundleManifest, options: SaveBundleOptions = {}): Promise<void> {
  const fineTuned = manifest.base.fineTuned;
  if ((fineTuned === undefined) !== (options.baseWeights === undefined)) {
    throw new BundleError(fineTuned ? 'the manifest records fine-tuned base weights but none were given to save' : 'base weights given, but the manifest does not record them (base.fineTuned)', dir);
  }
  if (fineTuned && options.baseWeights) {
    if (fineTuned.weightsFile !== path.basename(fineTuned.weightsFile) || [WEIGHTS_BIN, MODEL_JSON, BUNDLE_MANIFEST].includes(fineTuned.weightsFile)) {
      throw new BundleError(`base weights file name '${fineTuned.weightsFile}' must be a plain name other than the bundle's own files`, dir);
    }
    if (fineTuned.bytes !== options.baseWeights.byteLength || sha256Bytes(options.baseWeights) !== manifest.base.weightsHash) {
      throw new BundleError('the base weights to save do not match the size and sha256 the manifest records', dir);
    }
  }
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
    if (fineTuned && options.baseWeights) await writeFile(path.join(tmp, fineTuned.weightsFile), options.baseWeights);
    await writeFile(path.join(tmp, BUNDLE_MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
    // Keep other files a run wrote beside the bundle (history, evaluation) by replacing only ours.
    // The manifest goes last, so it never names base weights that are not in place yet.
    await mkdir(dir, { recursive: true });
    const names = [...(fineTuned ? [fineTuned.weightsFile] : []), WEIGHTS_BIN, MODEL_JSON, BUNDLE_MANIFEST];
    for (const name of names) await rename(path.join(tmp, name), path.join(dir, name));
    // Fine-tuned weights of an earlier run in this folder no longer belong to any model.
    if (!fineTuned) await rm(path.join(dir, BASE_WEIGHTS_BIN), { force: true });
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

/**
 * Reads a bundle's fine-tuned base weights and checks them against the manifest (size, then
 * sha256), so a damaged or swapped file is named rather than giving other predictions.
 */
export async function readBundleBaseWeights(dir: string, manifest: BundleManifest): Promise<Uint8Array> {
  const fineTuned = manifest.base.fineTuned;
  if (!fineTuned) throw new BundleError('the bundle records no fine-tuned base weights', path.join(dir, BUNDLE_MANIFEST));
  if (typeof fineTuned.weightsFile !== 'string' || fineTuned.weightsFile !== path.basename(fineTuned.weightsFile)) {
    throw new BundleError(`base.fineTuned.weightsFile must be a file name in the bundle folder, got ${JSON.stringify(fineTuned.weightsFile)}`, path.join(dir, BUNDLE_MANIFEST));
  }
  const file = path.join(dir, fineTuned.weightsFile);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BundleError(code === 'ENOENT' ? `missing: the bundle's base (${manifest.base.id}) was fine-tuned and its weights belong in this file` : `cannot read the fine-tuned base weights (${code ?? (e as Error).message})`, file);
  }
  if (bytes.byteLength !== fineTuned.bytes) {
    throw new BundleError(`fine-tuned base weights have ${bytes.byteLength} bytes, facegender.json records ${fineTuned.bytes}`, file);
  }
  const hash = sha256Bytes(bytes);
  if (hash !== manifest.base.weightsHash) {
    throw new BundleError(`fine-tuned base weights hash to sha256 ${hash.slice(0, 12)}…, facegender.json records ${manifest.base.weightsHash.slice(0, 12)}… (damaged or replaced)`, file);
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
