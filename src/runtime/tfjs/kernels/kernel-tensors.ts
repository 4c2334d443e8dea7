import * as tf from '@tensorflow/tfjs-core';
import type { KernelBackend, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';

/**
 * Lets a kernel built from tfjs ops use its inputs as tensors. The engine usually hands kernels
 * the op's own Tensor objects; a bare TensorInfo (a kernel called by another kernel) gets a
 * wrapper whose backend reference count is raised first, because disposing the wrapper lowers
 * it again and would otherwise free the caller's data.
 */
export function kernelInputAsTensor(info: TensorInfo, backend: KernelBackend): tf.Tensor {
  if (info instanceof tf.Tensor) return info;
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info, backend);
}

/** Normalises a `[h, w] | n` attribute. */
export function pair(value: [number, number] | number): [number, number] {
  return typeof value === 'number' ? [value, value] : value;
}

/** What tfjs passes a kernel function. */
export interface KernelArgs {
  inputs: NamedTensorInfoMap;
  backend: object;
  attrs?: tf.NamedAttrMap;
}

/**
 * A faster form of one of wasm's own kernels for the cases it covers: `fast` returns undefined
 * for the others, which runtime/tfjs/backend.ts then sends to the kernel it replaced.
 */
export interface KernelFastPath {
  kernelName: string;
  fast(args: KernelArgs): TensorInfo | undefined;
}
