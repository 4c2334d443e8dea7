import * as tf from '@tensorflow/tfjs-core';
import type { KernelBackend, SumAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import { kernelInputAsTensor, type KernelArgs, type KernelFastPath } from './kernel-tensors.js';

/**
 * A bias gradient sums dy over every axis but the channels, and wasm's Sum first transposes the
 * channels to the front: about 100 ms per step for a 224 px first block. A row of ones times the
 * [rows, channels] matrix gives the same sums through XNNPACK in about a tenth of that. Other
 * reductions go to the original kernel.
 */

/** Smaller inputs are not worth the matrix product's set-up. */
const MIN_ELEMENTS = 4096;

function reducesLeadingAxes(shape: number[], axis: number | number[]): boolean {
  const rank = shape.length;
  if (rank < 2) return false;
  const axes = tf.util.parseAxisParam(axis, shape);
  const sorted = [...new Set(axes)].sort((a, b) => a - b);
  return sorted.length === rank - 1 && sorted.every((a, i) => a === i);
}

function sumFast(args: KernelArgs): TensorInfo | undefined {
  const backend = args.backend as KernelBackend;
  const attrs = args.attrs as unknown as SumAttrs;
  const { x } = args.inputs;
  if (
    x !== undefined &&
    x.dtype === 'float32' &&
    tf.util.sizeFromShape(x.shape) >= MIN_ELEMENTS &&
    reducesLeadingAxes(x.shape, attrs.axis)
  ) {
    return tf.tidy(() => {
      const input = kernelInputAsTensor(x, backend);
      const channels = input.shape[input.shape.length - 1] as number;
      const rows = input.size / channels;
      const sums = tf.matMul(tf.ones([1, rows]), tf.reshape(input, [rows, channels]));
      const shape = attrs.keepDims ? input.shape.map((d, i) => (i === input.shape.length - 1 ? d : 1)) : [channels];
      return tf.reshape(sums, shape);
    });
  }
  return undefined;
}

/** Replaces wasm's Sum for bias-gradient reductions; runtime/tfjs/backend.ts keeps the original for the rest. */
export const wasmSumFastPath: KernelFastPath = { kernelName: tf.Sum, fast: sumFast };
