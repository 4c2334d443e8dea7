import * as tf from '@tensorflow/tfjs-core';
import type { Conv2DBackpropInputAttrs, KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';
import { FacegenderError } from '../../../errors.js';
import { kernelInputAsTensor, pair, type KernelArgs, type KernelFastPath } from './kernel-tensors.js';

/**
 * The wasm backend's own `Conv2DBackpropInput` is a scalar loop (1 to 2 GFLOP/s). At stride 1 the
 * input gradient equals a forward conv of dy with the filter rotated 180° and its in/out channels
 * swapped, padded by (k - 1 - pad), and the forward conv runs on XNNPACK at about 45 GFLOP/s.
 * Other strides, and padding wider than the filter, go to the original kernel.
 */

export interface Conv2dInputGradientShape {
  inputShape: [number, number, number, number];
  strides: [number, number] | number;
  pad: Conv2DBackpropInputAttrs['pad'];
  dimRoundingMode?: Conv2DBackpropInputAttrs['dimRoundingMode'];
}

/** Pads of the equivalent forward conv, or null when the fast form does not apply. */
function forwardConvPads(
  filterShape: [number, number, number, number],
  shape: Conv2dInputGradientShape,
): [[number, number], [number, number]] | null {
  const info = tf.backend_util.computeConv2DInfo(
    shape.inputShape,
    filterShape,
    shape.strides,
    1,
    shape.pad,
    shape.dimRoundingMode,
  );
  if (info.strideHeight !== 1 || info.strideWidth !== 1) return null;
  const [fh, fw] = filterShape;
  const { top, bottom, left, right } = info.padInfo;
  const pads: [[number, number], [number, number]] = [
    [fh - 1 - top, fh - 1 - bottom],
    [fw - 1 - left, fw - 1 - right],
  ];
  return pads.flat().every((p) => p >= 0) ? pads : null;
}

/** True when {@link conv2dInputGradient} handles this case. */
export function hasFastInputGradient(
  filterShape: [number, number, number, number],
  shape: Conv2dInputGradientShape,
): boolean {
  return forwardConvPads(filterShape, shape) !== null;
}

/**
 * The input gradient of an NHWC conv2d at stride 1 (dilation 1) as a forward conv, from tfjs
 * ops only. `dy` is the gradient of the conv output, `filter` the conv's [kh, kw, Cin, Cout] filter.
 */
export function conv2dInputGradient(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  shape: Conv2dInputGradientShape,
): tf.Tensor4D {
  const pads = forwardConvPads(filter.shape, shape);
  if (pads === null) {
    throw new FacegenderError(
      'Conv2DBackpropInput: the forward-conv form needs stride 1 and padding no wider than filter - 1',
    );
  }
  const [fh, fw, cin, cout] = filter.shape;
  return tf.tidy(() => {
    // Reversing the flattened tap index flips both spatial axes at once. Each tap is a contiguous
    // block, so slices + concat are memory copies (3 ms for the 512-filter block), where wasm's
    // Reverse and GatherV2 go element by element (about 30 ms) and SplitV sits in between.
    const taps = fh * fw;
    const swapped = tf.transpose(tf.reshape(filter, [taps, cin, cout]), [0, 2, 1]);
    const rotated =
      taps === 1
        ? swapped
        : tf.concat(
            Array.from({ length: taps }, (_, i) => tf.slice(swapped, [taps - 1 - i, 0, 0], [1, cout, cin])),
            0,
          );
    const flipped = tf.reshape(rotated, [fh, fw, cout, cin]) as tf.Tensor4D;
    const dx = tf.conv2d(dy, flipped, 1, [[0, 0], pads[0], pads[1], [0, 0]]);
    const [n, h, w, c] = shape.inputShape;
    if (dx.shape[0] !== n || dx.shape[1] !== h || dx.shape[2] !== w || dx.shape[3] !== c) {
      throw new FacegenderError(
        `Conv2DBackpropInput: got [${dx.shape.join(', ')}] for input shape [${shape.inputShape.join(', ')}]`,
      );
    }
    return dx;
  });
}

/** The fast form where it applies (stride 1, padding within the filter); undefined sends the call to wasm's own kernel. */
function conv2dBackpropInputFast(args: KernelArgs): TensorInfo | undefined {
  const backend = args.backend as KernelBackend;
  const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
  const { dy, filter } = args.inputs;
  if (dy === undefined || filter === undefined) {
    throw new FacegenderError('Conv2DBackpropInput: the kernel needs inputs dy and filter');
  }
  const shape: Conv2dInputGradientShape = {
    inputShape: attrs.inputShape,
    strides: pair(attrs.strides),
    pad: attrs.pad,
    dimRoundingMode: attrs.dimRoundingMode,
  };
  const filterShape = filter.shape as [number, number, number, number];
  if (attrs.dataFormat !== 'NCHW' && hasFastInputGradient(filterShape, shape)) {
    return tf.tidy(() =>
      conv2dInputGradient(
        kernelInputAsTensor(dy, backend) as tf.Tensor4D,
        kernelInputAsTensor(filter, backend) as tf.Tensor4D,
        shape,
      ),
    );
  }
  return undefined;
}

/** Replaces wasm's Conv2DBackpropInput where the fast form applies; runtime/tfjs/backend.ts keeps the original for the rest. */
export const wasmConv2DBackpropInputFastPath: KernelFastPath = { kernelName: tf.Conv2DBackpropInput, fast: conv2dBackpropInputFast };
