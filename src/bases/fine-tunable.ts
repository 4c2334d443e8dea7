import type * as tfl from '@tensorflow/tfjs-layers';
import type { Base } from './base.js';

/**
 * A frozen base whose weights can still be trained: it runs on a fast inference engine (ONNX
 * Runtime) for features, and can rebuild itself as a trainable tfjs-layers model for the
 * fine-tune phase, then become a frozen base again with the trained weights.
 */
export interface FineTunableBase extends Base {
  /** Blocks that can be unfrozen, counted from the input (VGG16: 5, faceres' MobileNet: 14). */
  readonly blockCount: number;
  /**
   * Wasm heap one image's activations take while every block trains, per input pixel; sizes the
   * micro-batches. Absent: VGG16's measured 12,500.
   */
  readonly trainBytesPerPixel?: number;
  /**
   * The base as a tfjs-layers model taking pixels after this base's preprocessing (the model
   * does not preprocess), output [N, dim], with its last `trainableBlocks` blocks trainable.
   * Needs a running tfjs backend (initTfjs).
   */
  trainableModel(trainableBlocks: number): Promise<tfl.LayersModel>;
  /** A frozen base like this one with the weights of `model`, a model from trainableModel. */
  withTrainedWeights(model: tfl.LayersModel, trainableBlocks: number): Promise<FineTunedBase>;
}

/** What a bundle records about fine-tuned base weights. */
export interface FineTunedInfo {
  /** sha256 of the weights the fine-tuning started from (e.g. the Keras .h5, or a graph model's files). */
  originalWeightsHash: string;
  /** How the stored weights are laid out, e.g. `vgg16-conv-oihw-f32le` or `tfjs-graph-weights-f32le`. */
  format: string;
  /** Blocks that were trained. */
  trainableBlocks: number;
}

/** A base whose weights came out of fine-tuning: it carries them, since no file holds them. */
export interface FineTunedBase extends FineTunableBase {
  readonly fineTuned: FineTunedInfo;
  /** The weights as a bundle stores them; their sha256 is `weightsHash`. */
  weightsBytes(): Uint8Array;
}

export function isFineTunable(base: Base): base is FineTunableBase {
  return typeof (base as Partial<FineTunableBase>).trainableModel === 'function' && typeof (base as Partial<FineTunableBase>).withTrainedWeights === 'function';
}
