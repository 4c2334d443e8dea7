import * as tf from '@tensorflow/tfjs-core';
import type { DepthwiseConv2dNativeBackpropFilterAttrs, KernelBackend, KernelConfig, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { FacegenderError } from '../../../errors.js';
import { kernelInputAsTensor, pair } from './kernel-tensors.js';

/** What both depthwise gradient kernels read from their attributes. */
export interface DepthwiseGradientAttrs {
  strides: [number, number];
  pad: DepthwiseConv2dNativeBackpropFilterAttrs['pad'];
  dimRoundingMode?: DepthwiseConv2dNativeBackpropFilterAttrs['dimRoundingMode'];
}

/**
 * A wasm registration for a depthwise gradient computed from tfjs ops: takes the two named
 * inputs as tensors and refuses dilations, which tfjs' own depthwise gradient refuses too.
 */
export function depthwiseGradientKernel(
  kernelName: string,
  inputNames: [string, string],
  compute: (a: tf.Tensor4D, b: tf.Tensor4D, attrs: DepthwiseGradientAttrs & Record<string, unknown>) => tf.Tensor4D,
): KernelConfig {
  const kernelFunc = (args: { inputs: NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap }): TensorInfo => {
    const backend = args.backend as KernelBackend;
    const attrs = (args.attrs ?? {}) as unknown as DepthwiseGradientAttrs & { dilations?: [number, number] | number } & Record<string, unknown>;
    const [a, b] = inputNames.map((n) => args.inputs[n]);
    if (a === undefined || b === undefined) throw new FacegenderError(`${kernelName}: the kernel needs inputs ${inputNames.join(' and ')}`);
    const dilations = pair(attrs.dilations ?? 1);
    if (dilations[0] !== 1 || dilations[1] !== 1) throw new FacegenderError(`${kernelName} on wasm supports dilation 1 only, got [${dilations.join(', ')}]`);
    return tf.tidy(() =>
      compute(kernelInputAsTensor(a, backend) as tf.Tensor4D, kernelInputAsTensor(b, backend) as tf.Tensor4D, { ...attrs, strides: pair(attrs.strides) }),
    );
  };
  return { kernelName, backendName: 'wasm', kernelFunc };
}
