import * as tf from '@tensorflow/tfjs-core';
import type { DepthwiseConv2dNativeBackpropFilterAttrs, KernelConfig } from '@tensorflow/tfjs-core';
import { FacegenderError } from '../../../errors.js';
import { depthwiseGradientKernel } from './depthwise-kernel.js';

/**
 * The wasm backend of tfjs 4.22 has no `DepthwiseConv2dNativeBackpropFilter`, so fine-tuning a
 * MobileNet on it throws. A depthwise filter tap only ever meets its own channel, so its gradient
 * is, per tap, the product of the input window shifted by that tap and dy, summed over batch and
 * space:
 *
 *   dW[kh, kw, c, j] = sum over (n, y, x) of xPadded[n, y*sh + kh, x*sw + kw, c] * dy[n, y, x, c*m + j]
 *
 * One strided slice, one product and one sum over the leading axes (a matrix product on wasm, see
 * sum-leading-axes.ts) per tap; each tap's temporaries are freed before the next, so the
 * extra memory stays at two activations whatever the filter size.
 */

export interface DepthwiseFilterGradientShape {
  filterShape: [number, number, number, number];
  strides: [number, number] | number;
  pad: DepthwiseConv2dNativeBackpropFilterAttrs['pad'];
  dimRoundingMode?: DepthwiseConv2dNativeBackpropFilterAttrs['dimRoundingMode'];
}

/**
 * The filter gradient of an NHWC depthwise conv2d (dilation 1) from tfjs ops only, so it runs on
 * any backend. `x` is the conv input [N, H, W, C], `dy` the gradient of its output [N, Ho, Wo, C*m].
 */
export function depthwiseConv2dFilterGradient(x: tf.Tensor4D, dy: tf.Tensor4D, shape: DepthwiseFilterGradientShape): tf.Tensor4D {
  const info = tf.backend_util.computeConv2DInfo(x.shape, shape.filterShape, shape.strides, 1, shape.pad, shape.dimRoundingMode, true);
  const [fh, fw, channels, multiplier] = shape.filterShape;
  const [n, ho, wo] = [x.shape[0], info.outHeight, info.outWidth];
  if (dy.shape[0] !== n || dy.shape[1] !== ho || dy.shape[2] !== wo || dy.shape[3] !== channels * multiplier) {
    throw new FacegenderError(
      `DepthwiseConv2dNativeBackpropFilter: dy has shape [${dy.shape.join(', ')}] but the conv output is [${n}, ${ho}, ${wo}, ${channels * multiplier}]`,
    );
  }
  const { top, bottom, left, right } = info.padInfo;
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  const padded = top || bottom || left || right ? tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]) : x;
  const grouped = multiplier === 1 ? dy : tf.reshape(dy, [n, ho, wo, channels, multiplier]);
  try {
    const taps: tf.Tensor[] = [];
    for (let kh = 0; kh < fh; kh++) {
      for (let kw = 0; kw < fw; kw++) {
        taps.push(
          tf.tidy(() => {
            const window = tf.stridedSlice(padded, [0, kh, kw, 0], [n, kh + (ho - 1) * sh + 1, kw + (wo - 1) * sw + 1, channels], [1, sh, sw, 1]);
            const product = multiplier === 1 ? tf.mul(window, grouped) : tf.mul(tf.reshape(window, [n, ho, wo, channels, 1]), grouped);
            return tf.sum(product, [0, 1, 2]);
          }),
        );
      }
    }
    const stacked = tf.stack(taps);
    tf.dispose(taps);
    const out = tf.reshape(stacked, [fh, fw, channels, multiplier]) as tf.Tensor4D;
    stacked.dispose();
    return out;
  } finally {
    if (padded !== x) padded.dispose();
    if (grouped !== dy) grouped.dispose();
  }
}

/** Registration for the wasm backend; `initTfjs` registers it before the backend starts. */
export const wasmDepthwiseConv2dBackpropFilterConfig: KernelConfig = depthwiseGradientKernel(tf.DepthwiseConv2dNativeBackpropFilter, ['x', 'dy'], (x, dy, attrs) =>
  depthwiseConv2dFilterGradient(x, dy, { filterShape: attrs.filterShape as DepthwiseFilterGradientShape['filterShape'], strides: attrs.strides, pad: attrs.pad, dimRoundingMode: attrs.dimRoundingMode }),
);
