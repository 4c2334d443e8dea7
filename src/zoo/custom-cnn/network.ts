import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ImageSize } from '../../data/image.js';
import { UsageError } from '../../errors.js';

/**
 * The study's "Custom" base: five blocks of Conv2D (3x3, 'same', ReLU) and MaxPool 2x2 with
 * 32, 64, 128, 256 and 512 filters, then GlobalAveragePooling2D, untrained. Kernels start
 * Glorot-uniform and biases zero, as Keras does. The study rescaled pixels by 1/255 in its data
 * generator; here a Rescaling layer does it inside the model, so the model takes raw 0..255 RGB.
 */

export const CUSTOM_CNN_FILTERS = [32, 64, 128, 256, 512] as const;

/** The study's input size: reproduces it exactly, but trains at ~4 images/s on wasm. */
export const STUDY_INPUT_SIZE = 224;

/**
 * Default input size, chosen by measured training speed on wasm (the README's Bases section
 * has the figures): at 224 px the study's 10 epochs take hours on 2 cores, at 64 px minutes.
 * At 64 px a face still shows the cues gender depends on (hair, jaw, brows), and the five
 * poolings leave a 2x2 map for the global average.
 */
export const DEFAULT_CUSTOM_CNN_INPUT_SIZE = 64;

/** Five 2x2 poolings need at least 32 px to leave one cell. */
export const MIN_CUSTOM_CNN_INPUT_SIZE = 32;

export interface CustomCnnOptions {
  /** Square input side in pixels; default {@link DEFAULT_CUSTOM_CNN_INPUT_SIZE}. */
  inputSize?: number;
  /** Seeds the Glorot initialisers (layer i uses seed + i); omit for a random start. */
  seed?: number;
}

export interface CustomCnn {
  /** Input [null, H, W, 3], RGB 0..255; output [null, 512]. Trainable end to end. */
  model: tfl.LayersModel;
  id: 'custom';
  architecture: string;
  trainedOn: string;
  engine: 'tfjs';
  inputSize: ImageSize;
  preprocess: string;
  dim: 512;
  trainable: true;
  paramCount: number;
  seed: number | undefined;
}

/**
 * Builds the untrained custom base as a tfjs-layers model. Needs a running tfjs backend:
 * call `initTfjs()` first.
 */
export function createCustomCnn(options: CustomCnnOptions = {}): CustomCnn {
  const inputSize = options.inputSize ?? DEFAULT_CUSTOM_CNN_INPUT_SIZE;
  if (!Number.isInteger(inputSize) || inputSize < MIN_CUSTOM_CNN_INPUT_SIZE) {
    throw new UsageError(
      `custom CNN input size must be an integer of at least ${MIN_CUSTOM_CNN_INPUT_SIZE} px, got ${inputSize}`,
    );
  }
  const seed = options.seed;
  if (seed !== undefined && !Number.isInteger(seed)) {
    throw new UsageError(`custom CNN seed must be an integer, got ${seed}`);
  }
  if (!tf.getBackend()) {
    throw new UsageError('custom CNN: no tfjs backend is running; call initTfjs() before createCustomCnn()');
  }

  const model = tfl.sequential({ name: 'custom_cnn' });
  model.add(tfl.layers.rescaling({ scale: 1 / 255, offset: 0, inputShape: [inputSize, inputSize, 3], name: 'rescale' }));
  CUSTOM_CNN_FILTERS.forEach((filters, i) => {
    const block = i + 1;
    model.add(
      tfl.layers.conv2d({
        filters,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: tfl.initializers.glorotUniform(seed === undefined ? {} : { seed: seed + i }),
        biasInitializer: 'zeros',
        name: `block${block}_conv`,
      }),
    );
    model.add(tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'valid', name: `block${block}_pool` }));
  });
  model.add(tfl.layers.globalAveragePooling2d({ name: 'global_average_pool' }));

  return {
    model,
    id: 'custom',
    architecture: 'Custom CNN: 5 x (Conv2D 3x3 same ReLU + MaxPool 2x2), filters 32-64-128-256-512, GlobalAveragePooling2D',
    trainedOn: 'untrained (Glorot-uniform initialisation)',
    engine: 'tfjs',
    inputSize: { height: inputSize, width: inputSize },
    preprocess: 'rescale 1/255 (inside the model)',
    dim: 512,
    trainable: true,
    paramCount: model.countParams(),
    seed,
  };
}
