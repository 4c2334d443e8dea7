import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ImageBatch, ImageSize } from '../data/image.js';
import { UsageError, WeightsError } from '../errors.js';
import type { Base } from './base.js';
import { sha256File } from '../util/file-hash.js';
import { readVgg16ConvWeights, VGG16_CONV_LAYERS, type Vgg16Variant } from './keras-h5-weights.js';
import { buildVgg16OnnxModel, VGG16_OUTPUT_NAME } from './onnx-graph-vgg16.js';
import { OnnxSession } from './onnx-session.js';
import { getPreprocessing } from './preprocess.js';

export type { Vgg16Variant } from './keras-h5-weights.js';

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

class Vgg16Base implements Base {
  readonly engine = 'onnxruntime' as const;
  readonly architecture = 'VGG16 conv base (13 conv3x3 + 5 max pool), global average pooling';
  readonly inputSize = VGG16_INPUT_SIZE;
  readonly dim = VGG16_DIM;
  readonly trainable = false;

  constructor(
    readonly id: string,
    readonly trainedOn: string,
    readonly preprocess: string,
    readonly weightsHash: string,
    /** Resolved path of the .h5 the weights came from. */
    readonly weightsPath: string,
    private readonly session: OnnxSession,
  ) {}

  async embed(batch: ImageBatch): Promise<Float32Array> {
    if (batch.height !== this.inputSize.height || batch.width !== this.inputSize.width) {
      throw new UsageError(
        `${this.id} takes ${this.inputSize.width}x${this.inputSize.height} images, got ${batch.width}x${batch.height}`,
      );
    }
    const pixels = getPreprocessing(this.preprocess).apply(batch.data);
    const imageLen = this.inputSize.height * this.inputSize.width * 3;
    const out = new Float32Array(batch.n * this.dim);
    for (let start = 0; start < batch.n; start += MAX_RUN_BATCH) {
      const n = Math.min(MAX_RUN_BATCH, batch.n - start);
      const chunk = pixels.subarray(start * imageLen, (start + n) * imageLen);
      const result = await this.session.runImages(chunk, n, this.inputSize, 'nhwc', { outputName: VGG16_OUTPUT_NAME });
      out.set(result.data, start * this.dim);
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}

/** Loads VGG16's conv base from Keras .h5 weights and runs it on ONNX Runtime. */
export async function loadVgg16Base(options: Vgg16BaseOptions): Promise<Base & { readonly weightsPath: string }> {
  const { variant } = options;
  const weightsPath = await resolveVgg16Weights(variant, options.weights);
  const info = VGG16_VARIANTS[variant];
  const preprocess = options.preprocess ?? info.preprocess;
  getPreprocessing(preprocess);
  const [weights, weightsHash] = await Promise.all([readVgg16ConvWeights(weightsPath, variant), sha256File(weightsPath)]);
  const model = buildVgg16OnnxModel(VGG16_CONV_LAYERS[variant], weights, { inputSize: VGG16_INPUT_SIZE, layout: 'nhwc' });
  const session = await OnnxSession.create(model, { threads: options.threads, label: weightsPath });
  return new Vgg16Base(variant, info.trainedOn, preprocess, weightsHash, weightsPath, session);
}
