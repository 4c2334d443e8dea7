import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ImageSize } from '../../data/image.js';
import { UsageError, WeightsError } from '../../errors.js';
import { KERNEL_SIZE, kerasKernelToOnnx, type ConvWeights, type Vgg16ConvLayer } from './keras-weights.js';

/**
 * VGG16's conv base as a tfjs-layers model, the form fine-tuning needs: ONNX Runtime, which runs
 * the frozen base, cannot train. Same graph as the ONNX one (13 conv3x3 + ReLU, 5 max pools,
 * global average pooling to 512), taking pixels already preprocessed for the weights.
 */

export const VGG16_BLOCKS = 5;

/** Five 2x2 poolings need at least 32 px to leave one cell. */
export const MIN_VGG16_INPUT_SIZE = 32;

export interface Vgg16LayersOptions {
  inputSize: ImageSize;
  /**
   * How many of the last conv blocks train (1 = block 5 only, 5 = all, 0 = none). Frozen early
   * blocks cost no backward pass: tfjs only walks the graph between the loss and trainable weights.
   */
  trainableBlocks?: number;
}

/** Block number (1..5) of each conv layer, from the pools that close the blocks. */
export function vgg16BlockOf(layers: readonly Vgg16ConvLayer[]): number[] {
  let block = 1;
  return layers.map((l) => {
    const b = block;
    if (l.poolAfter) block++;
    return b;
  });
}

/** The inverse of kerasKernelToOnnx: ONNX [out, in, kh, kw] to tfjs/Keras [kh, kw, in, out]. */
export function onnxKernelToHwio(src: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const dst = new Float32Array(src.length);
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < cin; i++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) dst[((y * kw + x) * cin + i) * cout + o] = src[((o * cin + i) * kh + y) * kw + x] as number;
      }
    }
  }
  return dst;
}

export function checkTrainableBlocks(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > VGG16_BLOCKS) {
    throw new UsageError(`trainable VGG16 blocks must be a whole number from 0 to ${VGG16_BLOCKS} (the last N conv blocks), got ${n}`);
  }
  return n;
}

/**
 * Builds the conv base from weights in ONNX layout. Needs a running tfjs backend (initTfjs).
 * Input [N, H, W, 3] preprocessed pixels; output [N, 512].
 */
export function buildVgg16LayersModel(layers: readonly Vgg16ConvLayer[], weights: readonly ConvWeights[], options: Vgg16LayersOptions): tfl.Sequential {
  const { height, width } = options.inputSize;
  if (height < MIN_VGG16_INPUT_SIZE || width < MIN_VGG16_INPUT_SIZE) {
    throw new UsageError(`VGG16 needs an input of at least ${MIN_VGG16_INPUT_SIZE}x${MIN_VGG16_INPUT_SIZE} px, got ${width}x${height}`);
  }
  const trainableBlocks = checkTrainableBlocks(options.trainableBlocks ?? VGG16_BLOCKS);
  if (weights.length !== layers.length) throw new WeightsError(`VGG16 needs ${layers.length} conv layers, got ${weights.length}`);
  const blocks = vgg16BlockOf(layers);
  const firstTrainable = VGG16_BLOCKS - trainableBlocks + 1;
  const model = tfl.sequential({ name: 'vgg16_conv_base' });
  layers.forEach((spec, i) => {
    const w = weights[i] as ConvWeights;
    if (w.layer !== spec.name || w.inChannels !== spec.inChannels || w.outChannels !== spec.outChannels) {
      throw new WeightsError(`VGG16 layers: weights for ${w.layer} do not fit layer ${spec.name}`);
    }
    const conv = tfl.layers.conv2d({
      filters: spec.outChannels,
      kernelSize: KERNEL_SIZE,
      padding: 'same',
      activation: 'relu',
      // Overwritten right away; zeros skip drawing 15M random numbers.
      kernelInitializer: 'zeros',
      biasInitializer: 'zeros',
      name: spec.name,
      trainable: (blocks[i] as number) >= firstTrainable,
      ...(i === 0 ? { inputShape: [height, width, 3] } : {}),
    });
    model.add(conv);
    const kernel = tf.tensor4d(onnxKernelToHwio(w.kernel, KERNEL_SIZE, KERNEL_SIZE, spec.inChannels, spec.outChannels), [KERNEL_SIZE, KERNEL_SIZE, spec.inChannels, spec.outChannels]);
    const bias = tf.tensor1d(w.bias);
    conv.setWeights([kernel, bias]);
    tf.dispose([kernel, bias]);
    if (spec.poolAfter) model.add(tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'valid', name: `${spec.name}_pool` }));
  });
  model.add(tfl.layers.globalAveragePooling2d({ name: 'global_average_pool' }));
  return model;
}

/** Reads the conv weights back out of a model from buildVgg16LayersModel, in ONNX layout. */
export function readVgg16LayersWeights(model: tfl.LayersModel, layers: readonly Vgg16ConvLayer[]): ConvWeights[] {
  return layers.map((spec) => {
    let layer: tfl.layers.Layer;
    try {
      layer = model.getLayer(spec.name);
    } catch {
      throw new WeightsError(`VGG16 layers model has no layer ${spec.name}`);
    }
    const [kernel, bias] = layer.getWeights();
    if (!kernel || !bias) throw new WeightsError(`VGG16 layers model: layer ${spec.name} has no kernel and bias`);
    return {
      layer: spec.name,
      inChannels: spec.inChannels,
      outChannels: spec.outChannels,
      kernel: kerasKernelToOnnx(kernel.dataSync() as Float32Array, KERNEL_SIZE, KERNEL_SIZE, spec.inChannels, spec.outChannels),
      bias: Float32Array.from(bias.dataSync() as Float32Array),
    };
  });
}
