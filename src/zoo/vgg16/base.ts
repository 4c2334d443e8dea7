import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ImageBatch, ImageSize } from '../../data/image.js';
import { UsageError, WeightsError } from '../../errors.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import { sha256Bytes, sha256File } from '../../util/file-hash.js';
import type { FineTunableBase, FineTunedBase, FineTunedInfo } from '../../bases/fine-tunable.js';
import { KERNEL_SIZE, readVgg16ConvWeights, VGG16_CONV_LAYERS, type ConvWeights, type Vgg16Variant } from './keras-weights.js';
import { ONNX_OUTPUT_NAME } from '../../runtime/onnx/builder.js';
import { buildVgg16OnnxModel } from './onnx-model.js';
import { openOnnxSession, type OnnxThread } from '../../runtime/onnx/open-session.js';
import type { OnnxRunner } from '../../runtime/onnx/session.js';
import { embedInSlices } from '../../bases/embed-loop.js';
import { getPreprocessing } from '../../bases/preprocess.js';
import { initTfjs } from '../../runtime/tfjs/backend.js';
import { buildVgg16LayersModel, checkTrainableBlocks, MIN_VGG16_INPUT_SIZE, readVgg16LayersWeights, VGG16_BLOCKS } from './layers-model.js';

export type { Vgg16Variant } from './keras-weights.js';

export interface Vgg16VariantInfo {
  /** The file Keras downloads into ~/.keras/models for this variant. */
  kerasFile: string;
  /** Environment variable that may hold the weights path. */
  envVar: string;
  /** Preprocessing the weights were trained with. */
  preprocess: string;
  trainedOn: string;
}

export const VGG16_VARIANTS: Readonly<Record<Vgg16Variant, Vgg16VariantInfo>> = {
  'vgg16-imagenet': {
    kerasFile: 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5',
    envVar: 'FACEGENDER_VGG16_WEIGHTS',
    preprocess: 'caffe-imagenet',
    trainedOn: 'ImageNet (ILSVRC-2012, 1.28M images, 1000 object classes), Keras applications weights',
  },
  vggface: {
    kerasFile: 'rcmalli_vggface_tf_notop_vgg16.h5',
    envVar: 'FACEGENDER_VGGFACE_WEIGHTS',
    preprocess: 'vggface-v1',
    trainedOn: 'VGGFace (2.6M images of 2,622 identities), keras-vggface weights',
  },
};

/** What one block of `--fine-tune-blocks` is for VGG16. */
export const VGG16_BLOCK_UNIT = 'one of the 5 conv blocks (1 = block 5, about 3x faster than all)';

export const VGG16_INPUT_SIZE: ImageSize = { height: 224, width: 224 };
export const VGG16_DIM = 512;

/**
 * Largest batch handed to ONNX Runtime at once. Block 1's activations take about 13 MB per
 * image, so bigger runs cost memory without gaining speed (16 is already at the CPU's peak).
 */
const MAX_RUN_BATCH = 16;

export interface Vgg16BaseOptions {
  variant: Vgg16Variant;
  /** Path to the Keras .h5; otherwise the variant's env var, then ~/.keras/models/<kerasFile>. */
  weights?: string;
  /** A name from PREPROCESSING; defaults to the one the weights were trained with. */
  preprocess?: string;
  /** ONNX Runtime intra-op threads, default 2. */
  threads?: number;
  /** Where ONNX Runtime runs the base; default the main thread. */
  onnxThread?: OnnxThread;
  /**
   * Square input side in pixels, default 224 (the weights' training size). The conv base ends in
   * global average pooling, so it runs at any size of at least 32 px; smaller is faster.
   */
  inputSize?: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds the weights file: the explicit path, then the env var, then where Keras caches its
 * downloads. A named path that is missing is an error rather than a reason to look elsewhere,
 * so a typo never silently loads other weights.
 */
export async function resolveVgg16Weights(variant: Vgg16Variant, weights?: string): Promise<string> {
  const info = VGG16_VARIANTS[variant];
  if (!info) throw new UsageError(`unknown VGG16 variant '${String(variant)}'; known: ${Object.keys(VGG16_VARIANTS).join(', ')}`);
  const fromEnv = process.env[info.envVar];
  const named = weights ?? (fromEnv ? fromEnv : undefined);
  if (named !== undefined) {
    const path = resolve(named);
    if (!(await exists(path))) {
      const origin = weights !== undefined ? 'weights file' : `weights file named by ${info.envVar}`;
      throw new WeightsError(`${origin} does not exist (the ${variant} base wants Keras' ${info.kerasFile})`, path);
    }
    return path;
  }
  const kerasCache = join(homedir(), '.keras', 'models', info.kerasFile);
  if (await exists(kerasCache)) return kerasCache;
  throw new WeightsError(
    `no weights for the ${variant} base: get ${info.kerasFile} (Keras keeps it in ~/.keras/models) and put it at this path, ` +
      `or pass its path with the weights option or ${info.envVar}`,
    kerasCache,
  );
}

/** How fine-tuned VGG16 weights are stored: per conv layer, kernel [out, in, 3, 3] then bias, float32 little-endian. */
export const VGG16_WEIGHTS_FORMAT = 'vgg16-conv-oihw-f32le';

/** Bytes of VGG16's conv weights in {@link VGG16_WEIGHTS_FORMAT}. */
export function vgg16WeightsBytes(variant: Vgg16Variant): number {
  return VGG16_CONV_LAYERS[variant].reduce((s, l) => s + 4 * (l.outChannels * l.inChannels * KERNEL_SIZE * KERNEL_SIZE + l.outChannels), 0);
}

/** Conv weights as one byte block in {@link VGG16_WEIGHTS_FORMAT}; Float32Array is little-endian on every platform Node runs on. */
export function encodeVgg16Weights(weights: readonly ConvWeights[]): Uint8Array {
  const total = weights.reduce((s, w) => s + w.kernel.length + w.bias.length, 0);
  const floats = new Float32Array(total);
  let at = 0;
  for (const w of weights) {
    floats.set(w.kernel, at);
    at += w.kernel.length;
    floats.set(w.bias, at);
    at += w.bias.length;
  }
  return new Uint8Array(floats.buffer);
}

/** The inverse of encodeVgg16Weights; `file` names the source in errors. */
export function decodeVgg16Weights(bytes: Uint8Array, variant: Vgg16Variant, file?: string): ConvWeights[] {
  const expected = vgg16WeightsBytes(variant);
  if (bytes.byteLength !== expected) {
    throw new WeightsError(`${variant} weights in ${VGG16_WEIGHTS_FORMAT} take ${expected} bytes, found ${bytes.byteLength}`, file);
  }
  // A copy, so the floats are aligned whatever the offset of `bytes` in its buffer (not
  // `bytes.slice()`, which on a Node Buffer is a view of a possibly larger buffer).
  const floats = new Float32Array(new Uint8Array(bytes).buffer);
  let at = 0;
  return VGG16_CONV_LAYERS[variant].map((l) => {
    const kernelLength = l.outChannels * l.inChannels * KERNEL_SIZE * KERNEL_SIZE;
    const kernel = floats.slice(at, at + kernelLength);
    at += kernelLength;
    const bias = floats.slice(at, at + l.outChannels);
    at += l.outChannels;
    return { layer: l.name, inChannels: l.inChannels, outChannels: l.outChannels, kernel, bias };
  });
}

/** Where a base's conv weights come from: the Keras file (read again when needed), or memory after fine-tuning. */
type WeightsSource = { kind: 'h5'; path: string } | { kind: 'memory'; weights: readonly ConvWeights[]; bytes: Uint8Array; fineTuned: FineTunedInfo };

/** A VGG16 base built from fine-tuned weights (its `fineTuned` is set). */
export type FineTunedVgg16Base = Vgg16Base & FineTunedBase;

interface Vgg16BaseSetup {
  variant: Vgg16Variant;
  preprocess: string;
  inputSize: number;
  threads: number | undefined;
  onnxThread: OnnxThread | undefined;
  weightsHash: string;
  source: WeightsSource;
  session: OnnxRunner;
}

/**
 * VGG16's conv base on ONNX Runtime. It can also be fine-tuned: it rebuilds itself as a
 * tfjs-layers model, and a trained one becomes a new frozen base carrying its weights.
 */
export class Vgg16Base implements FineTunableBase {
  readonly engine = 'onnxruntime' as const;
  readonly architecture = 'VGG16 conv base (13 conv3x3 + 5 max pool), global average pooling';
  readonly dim = VGG16_DIM;
  readonly trainable = false;
  readonly blockCount = VGG16_BLOCKS;
  readonly id: Vgg16Variant;
  readonly trainedOn: string;
  readonly preprocess: string;
  readonly inputSize: ImageSize;
  readonly weightsHash: string;
  /** Resolved path of the .h5 the weights came from; undefined for fine-tuned weights. */
  readonly weightsPath: string | undefined;
  /** Options that load the same base again (recorded in bundles). */
  readonly options: Record<string, unknown>;
  /** Set when the weights came out of fine-tuning. */
  readonly fineTuned: FineTunedInfo | undefined;
  private readonly setup: Vgg16BaseSetup;

  constructor(setup: Vgg16BaseSetup) {
    this.setup = setup;
    this.id = setup.variant;
    const info = VGG16_VARIANTS[setup.variant];
    this.trainedOn = setup.source.kind === 'h5' ? info.trainedOn : `${info.trainedOn}, then fine-tuned (${setup.source.fineTuned.trainableBlocks} of ${VGG16_BLOCKS} conv blocks)`;
    this.preprocess = setup.preprocess;
    this.inputSize = { height: setup.inputSize, width: setup.inputSize };
    this.weightsHash = setup.weightsHash;
    this.weightsPath = setup.source.kind === 'h5' ? setup.source.path : undefined;
    this.options = { inputSize: setup.inputSize };
    this.fineTuned = setup.source.kind === 'memory' ? setup.source.fineTuned : undefined;
  }

  embed(batch: ImageBatch): Promise<Float32Array> {
    const { session } = this.setup;
    return embedInSlices(
      {
        id: this.id,
        inputSize: this.inputSize,
        dim: this.dim,
        maxBatch: MAX_RUN_BATCH,
        preprocess: (p) => getPreprocessing(this.preprocess).apply(p),
        source: session.source,
        // Preprocessing returns a new array, so the pixels are ours to move to a worker.
        run: async (pixels, n) => (await session.runImages(pixels, n, this.inputSize, 'nhwc', { outputName: ONNX_OUTPUT_NAME, handOver: true })).data,
      },
      batch,
    );
  }

  /** The conv weights in ONNX layout; a Keras file is read again and must still be the one loaded. */
  async convWeights(): Promise<readonly ConvWeights[]> {
    const { source, variant } = this.setup;
    if (source.kind === 'memory') return source.weights;
    const [weights, hash] = await Promise.all([readVgg16ConvWeights(source.path, variant), sha256File(source.path)]);
    if (hash !== this.weightsHash) throw new WeightsError(`weights file changed since the ${variant} base was loaded`, source.path);
    return weights;
  }

  async trainableModel(trainableBlocks: number): Promise<tfl.LayersModel> {
    await initTfjs();
    return buildVgg16LayersModel(VGG16_CONV_LAYERS[this.id], await this.convWeights(), { inputSize: this.inputSize, trainableBlocks: checkTrainableBlocks(trainableBlocks) });
  }

  async withTrainedWeights(model: tfl.LayersModel, trainableBlocks: number): Promise<FineTunedVgg16Base> {
    const weights = readVgg16LayersWeights(model, VGG16_CONV_LAYERS[this.id]);
    const originalWeightsHash = this.fineTuned?.originalWeightsHash ?? this.weightsHash;
    return createVgg16Base(this.id, weights, {
      preprocess: this.preprocess,
      inputSize: this.inputSize.height,
      threads: this.setup.threads,
      onnxThread: this.setup.onnxThread,
      fineTuned: { originalWeightsHash, format: VGG16_WEIGHTS_FORMAT, trainableBlocks },
      label: `${this.id} (fine-tuned)`,
    });
  }

  weightsBytes(): Uint8Array {
    const { source } = this.setup;
    if (source.kind !== 'memory') throw new UsageError(`${this.id}'s weights are in ${source.path}; only fine-tuned weights are carried`);
    return source.bytes;
  }

  async dispose(): Promise<void> {
    await this.setup.session.dispose();
  }
}

function checkInputSize(inputSize: number): number {
  if (!Number.isInteger(inputSize) || inputSize < MIN_VGG16_INPUT_SIZE) {
    throw new UsageError(`VGG16 input size must be a whole number of at least ${MIN_VGG16_INPUT_SIZE} px (five 2x2 poolings), got ${inputSize}`);
  }
  return inputSize;
}

async function startSession(variant: Vgg16Variant, weights: readonly ConvWeights[], inputSize: number, run: { threads?: number; onnxThread?: OnnxThread }, label: string): Promise<OnnxRunner> {
  const model = buildVgg16OnnxModel(VGG16_CONV_LAYERS[variant], weights, { inputSize: { height: inputSize, width: inputSize }, layout: 'nhwc' });
  return openOnnxSession(model, { threads: run.threads, label, ...(run.onnxThread ? { thread: run.onnxThread } : {}) });
}

export interface Vgg16FromWeightsOptions {
  preprocess?: string;
  inputSize?: number;
  threads?: number;
  onnxThread?: OnnxThread;
  fineTuned: FineTunedInfo;
  /** Names the weights in error messages (e.g. the bundle file they were read from). */
  label?: string;
}

/** A frozen VGG16 base from conv weights held in memory (fine-tuned); its weightsHash is the sha256 of their stored form. */
export async function createVgg16Base(variant: Vgg16Variant, weights: readonly ConvWeights[], options: Vgg16FromWeightsOptions): Promise<FineTunedVgg16Base> {
  return vgg16BaseInMemory(variant, weights, encodeVgg16Weights(weights), options);
}

/** `bytes` is `weights` in their stored form: encoded once, hashed, and kept for the bundle. */
async function vgg16BaseInMemory(variant: Vgg16Variant, weights: readonly ConvWeights[], bytes: Uint8Array, options: Vgg16FromWeightsOptions): Promise<FineTunedVgg16Base> {
  const info = VGG16_VARIANTS[variant];
  if (!info) throw new UsageError(`unknown VGG16 variant '${String(variant)}'; known: ${Object.keys(VGG16_VARIANTS).join(', ')}`);
  const preprocess = options.preprocess ?? info.preprocess;
  getPreprocessing(preprocess);
  const inputSize = checkInputSize(options.inputSize ?? VGG16_INPUT_SIZE.height);
  if (bytes.byteLength !== vgg16WeightsBytes(variant)) throw new WeightsError(`${variant} weights take ${vgg16WeightsBytes(variant)} bytes, these take ${bytes.byteLength}`, options.label);
  const session = await startSession(variant, weights, inputSize, options, options.label ?? `${variant} (fine-tuned)`);
  return new Vgg16Base({
    variant,
    preprocess,
    inputSize,
    threads: options.threads,
    onnxThread: options.onnxThread,
    weightsHash: sha256Bytes(bytes),
    source: { kind: 'memory', weights, bytes, fineTuned: options.fineTuned },
    session,
  }) as FineTunedVgg16Base;
}

/** A frozen VGG16 base from weights stored by encodeVgg16Weights (as a bundle keeps fine-tuned ones). */
export async function loadVgg16BaseFromBytes(variant: Vgg16Variant, bytes: Uint8Array, options: Vgg16FromWeightsOptions): Promise<FineTunedVgg16Base> {
  return vgg16BaseInMemory(variant, decodeVgg16Weights(bytes, variant, options.label), bytes, options);
}

/** Loads VGG16's conv base from Keras .h5 weights and runs it on ONNX Runtime. */
export async function loadVgg16Base(options: Vgg16BaseOptions): Promise<Vgg16Base> {
  const { variant } = options;
  const weightsPath = await resolveVgg16Weights(variant, options.weights);
  const info = VGG16_VARIANTS[variant];
  const preprocess = options.preprocess ?? info.preprocess;
  getPreprocessing(preprocess);
  const inputSize = checkInputSize(options.inputSize ?? VGG16_INPUT_SIZE.height);
  const [weights, weightsHash] = await Promise.all([readVgg16ConvWeights(weightsPath, variant), sha256File(weightsPath)]);
  const session = await startSession(variant, weights, inputSize, options, weightsPath);
  return new Vgg16Base({ variant, preprocess, inputSize, threads: options.threads, onnxThread: options.onnxThread, weightsHash, source: { kind: 'h5', path: weightsPath }, session });
}
