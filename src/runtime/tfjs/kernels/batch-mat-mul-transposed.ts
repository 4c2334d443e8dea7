import * as tf from '@tensorflow/tfjs-core';
import type { BatchMatMulAttrs, KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';
import { kernelInputAsTensor, type KernelArgs, type KernelFastPath } from './kernel-tensors.js';

/**
 * Wasm's BatchMatMul reaches XNNPACK only without transposes; with `transposeA` it runs a loop
 * about 35 times slower (a [64,1024]ᵀ x [64,256] product: 37 ms against 1.9 ms transposed first),
 * and with `transposeB` about 3 times slower. Every dense layer's weight gradient is xᵀ·dy, so the
 * study's head spent 39 of its 52 ms per training step there. Transposing the operand first,
 * then multiplying, takes the fast path. A product without transposes goes to the original kernel.
 */
function batchMatMulFast(args: KernelArgs): TensorInfo | undefined {
  const attrs = args.attrs as unknown as BatchMatMulAttrs;
  if (!attrs.transposeA && !attrs.transposeB) return undefined;
  const backend = args.backend as KernelBackend;
  const { a, b } = args.inputs;
  if (a === undefined || b === undefined || a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
  return tf.tidy(() => {
    const swapLast = (t: tf.Tensor): tf.Tensor => {
      const axes = [...t.shape.keys()];
      const [rows, cols] = axes.splice(-2);
      return tf.transpose(t, [...axes, cols as number, rows as number]);
    };
    const left = attrs.transposeA ? swapLast(kernelInputAsTensor(a, backend)) : kernelInputAsTensor(a, backend);
    const right = attrs.transposeB ? swapLast(kernelInputAsTensor(b, backend)) : kernelInputAsTensor(b, backend);
    return tf.matMul(left, right);
  });
}

/** Replaces wasm's BatchMatMul for transposed operands; runtime/tfjs/backend.ts keeps the original for the rest. */
export const wasmBatchMatMulTransposedFastPath: KernelFastPath = { kernelName: tf.BatchMatMul, fast: batchMatMulFast };
