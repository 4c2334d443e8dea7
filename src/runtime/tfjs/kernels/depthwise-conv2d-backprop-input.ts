import * as tf from '@tensorflow/tfjs-core';
import type { DepthwiseConv2dNativeBackpropInputAttrs, KernelConfig } from '@tensorflow/tfjs-core';
import { FacegenderError } from '../../../errors.js';
import { depthwiseGradientKernel } from './depthwise-kernel.js';

/**
 * The wasm backend of tfjs 4.22 has no `DepthwiseConv2dNativeBackpropInput`. The input gradient
 * of a depthwise conv is itself a depthwise conv: of dy with zeros put between its pixels (stride
 * s spreads them s apart), padded by (k - 1 - pad) in front, against the filter rotated 180°.
 * Channel multipliers m > 1 run the conv on all C*m channels and add each input channel's m.
 * The forward depthwise conv runs on XNNPACK.
 */

export interface DepthwiseInputGradientShape {
  inputShape: [number, number, number, number];
  strides: [number, number] | number;
  pad: DepthwiseConv2dNativeBackpropInputAttrs['pad'];
  dimRoundingMode?: DepthwiseConv2dNativeBackpropInputAttrs['dimRoundingMode'];
}

/** dy with (stride - 1) zeros after every pixel along height and width, trailing zeros cut. */
function spreadOut(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return dy;
  const [n, ho, wo, c] = dy.shape;
  const spaced = tf.pad(tf.reshape(dy, [n, ho, 1, wo, 1, c]), [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  return tf.slice(tf.reshape(spaced, [n, ho * sh, wo * sw, c]) as tf.Tensor4D, [0, 0, 0, 0], [n, (ho - 1) * sh + 1, (wo - 1) * sw + 1, c]);
}

/** Pads (or, where negative, crops) `t` along one spatial axis. */
function padOrCrop(t: tf.Tensor4D, axis: 1 | 2, before: number, after: number): tf.Tensor4D {
  let out = t;
  if (before < 0 || after < 0) {
    const begin = [0, 0, 0, 0];
    const size = [...out.shape] as number[];
    begin[axis] = Math.max(0, -before);
    size[axis] = (size[axis] as number) - Math.max(0, -before) - Math.max(0, -after);
    out = tf.slice(out, begin, size);
  }
  if (before > 0 || after > 0) {
    const pads: Array<[number, number]> = [
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ];
    pads[axis] = [Math.max(0, before), Math.max(0, after)];
    out = tf.pad(out, pads);
  }
  return out;
}

/**
 * The input gradient of an NHWC depthwise conv2d (dilation 1) from tfjs ops only. `dy` is the
 * gradient of the conv output [N, Ho, Wo, C*m], `filter` the conv's [kh, kw, C, m] filter.
 */
export function depthwiseConv2dInputGradient(dy: tf.Tensor4D, filter: tf.Tensor4D, shape: DepthwiseInputGradientShape): tf.Tensor4D {
  const [fh, fw, channels, multiplier] = filter.shape;
  const info = tf.backend_util.computeConv2DInfo(shape.inputShape, filter.shape, shape.strides, 1, shape.pad, shape.dimRoundingMode, true);
  const [n, h, w, c] = shape.inputShape;
  if (c !== channels || dy.shape[0] !== n || dy.shape[1] !== info.outHeight || dy.shape[2] !== info.outWidth || dy.shape[3] !== channels * multiplier) {
    throw new FacegenderError(
      `DepthwiseConv2dNativeBackpropInput: dy [${dy.shape.join(', ')}] and filter [${filter.shape.join(', ')}] do not fit input [${shape.inputShape.join(', ')}]`,
    );
  }
  const { top, left } = info.padInfo;
  return tf.tidy(() => {
    const spread = spreadOut(dy, info.strideHeight, info.strideWidth);
    // Front pads k - 1 - pad; back pads make the valid conv's output exactly h by w.
    const frontH = fh - 1 - top;
    const frontW = fw - 1 - left;
    let z = padOrCrop(spread, 1, frontH, h + fh - 1 - frontH - (spread.shape[1] as number));
    z = padOrCrop(z, 2, frontW, w + fw - 1 - frontW - (spread.shape[2] as number));
    const rotated = tf.reshape(tf.reverse(filter, [0, 1]), [fh, fw, channels * multiplier, 1]) as tf.Tensor4D;
    const dx = tf.depthwiseConv2d(z, rotated, 1, 'valid');
    return multiplier === 1 ? dx : (tf.sum(tf.reshape(dx, [n, h, w, channels, multiplier]), 4) as tf.Tensor4D);
  });
}

/** Registration for the wasm backend; `initTfjs` registers it before the backend starts. */
export const wasmDepthwiseConv2dBackpropInputConfig: KernelConfig = depthwiseGradientKernel(tf.DepthwiseConv2dNativeBackpropInput, ['dy', 'filter'], (dy, filter, attrs) =>
  depthwiseConv2dInputGradient(dy, filter, { inputShape: attrs.inputShape as DepthwiseInputGradientShape['inputShape'], strides: attrs.strides, pad: attrs.pad, dimRoundingMode: attrs.dimRoundingMode }),
);
