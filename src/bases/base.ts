import type * as tfl from '@tensorflow/tfjs-layers';
import type { CropBox, ImageBatch, ImageSize } from '../data/image.js';

export type { CropBox };

/**
 * A base turns face images into feature vectors. It alone knows its input size, its
 * preprocessing and its engine; everything downstream sees vectors (or, for trainable bases,
 * a model to train end to end).
 */
export interface Base {
  /** Stable id used on the command line and in cache keys, e.g. `vggface`, `face`, `onnx:/path/model.onnx`. */
  readonly id: string;
  /** Architecture in words, for the comparison table. */
  readonly architecture: string;
  /** What the weights were trained on, for the README and the comparison table. */
  readonly trainedOn: string;
  readonly engine: 'onnxruntime' | 'tfjs';
  readonly inputSize: ImageSize;
  /**
   * The part of the source image the base looks at, as fractions of its height and width, cut
   * before resizing to `inputSize` (e.g. a face model trained on tight crops sees the centre of a
   * CelebA aligned image). Absent: the whole image.
   */
  readonly crop?: CropBox;
  /** Name of the preprocessing applied inside `embed` to 0..255 RGB input. */
  readonly preprocess: string;
  readonly dim: number;
  readonly trainable: boolean;
  /** sha256 of the weights' content, so caches and bundles notice changed weights. */
  readonly weightsHash: string;
  /** Takes [N, H, W, 3] RGB 0..255 at `inputSize`; returns N * dim floats. */
  embed(batch: ImageBatch): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** A trainable base: its tfjs model is exposed for end-to-end training and fine-tuning. */
export interface TrainableBase extends Base {
  readonly trainable: true;
  readonly model: tfl.LayersModel;
  /** Options that rebuild the same architecture (saved in bundles). */
  readonly options: Record<string, unknown>;
}
