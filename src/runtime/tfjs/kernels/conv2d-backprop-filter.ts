import * as tf from '@tensorflow/tfjs-core';
import type { Conv2DBackpropFilterAttrs, KernelBackend, KernelConfig, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { FacegenderError } from '../../../errors.js';
import { kernelInputAsTensor, pair } from './kernel-tensors.js';

/**
 * The wasm backend of tfjs 4.22 has no `Conv2DBackpropFilter`, so training any conv layer on it
 * throws. This kernel computes the filter gradient with im2col and one matrix product:
 *
 *   dW[(kh, kw, ci), co] = sum over (n, y, x) of xPadded[n, y*sh + kh, x*sw + kw, ci] * dy[n, y, x, co]
 *
 * The patch matrix is built already transposed, [kh*kw*ci, n*y*x], so the product is a plain
 * (untransposed) BatchMatMul: the wasm backend runs that on XNNPACK at about 40 GFLOP/s, while its
 * transposed variants are a scalar loop ten times slower. Measured alternatives that lost: a
 * forward conv of x against dy as the filter (slower and less accurate), one product per filter
 * tap (repacks dy nine times), and the 5-D Conv3DBackpropFilterV2 route (wrong at stride 2).
 */

/**
 * Above this many patch-matrix elements the batch is processed in slices and the partial
 * products summed, which caps the extra memory at 128 MiB (a 224x224 first block at batch 16
 * would otherwise need 230 MiB for one matrix).
 */
const MAX_PATCH_ELEMENTS = 32 * 1024 * 1024;

export interface Conv2dFilterGradientShape {
  filterShape: [number, number, number, number];
  strides: [number, number] | number;
  pad: Conv2DBackpropFilterAttrs['pad'];
  dimRoundingMode?: Conv2DBackpropFilterAttrs['dimRoundingMode'];
  /** Cap on the patch matrix's size before the batch is split; default 32 Mi elements. */
  maxPatchElements?: number;
}

/**
 * The filter gradient of an NHWC conv2d (dilation 1) from tfjs ops only, so it runs on any
 * backend. `x` is the conv input [N, H, W, Cin], `dy` the gradient of its output [N, Ho, Wo, Cout].
 */
export function conv2dFilterGradient(x: tf.Tensor4D, dy: tf.Tensor4D, shape: Conv2dFilterGradientShape): tf.Tensor4D {
  const info = tf.backend_util.computeConv2DInfo(
    x.shape,
    shape.filterShape,
    shape.strides,
    1,
    shape.pad,
    shape.dimRoundingMode,
  );
  const [fh, fw, cin, cout] = shape.filterShape;
  const [n, ho, wo] = [x.shape[0], info.outHeight, info.outWidth];
  if (dy.shape[0] !== n || dy.shape[1] !== ho || dy.shape[2] !== wo || dy.shape[3] !== cout) {
    throw new FacegenderError(
      `Conv2DBackpropFilter: dy has shape [${dy.shape.join(', ')}] but the conv output is [${n}, ${ho}, ${wo}, ${cout}]`,
    );
  }
  const { top, bottom, left, right } = info.padInfo;
  const sh = info.strideHeight;
  const sw = info.strideWidth;

  return tf.tidy(() => {
    const padded = top || bottom || left || right ? tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]) : x;
    // Channels first, so each tap's slice is already a [cin, n*ho*wo] row block of the patch matrix.
    const channelsFirst = tf.transpose(padded, [3, 0, 1, 2]);
    const perImage = fh * fw * cin * ho * wo;
    const chunk = Math.max(1, Math.min(n, Math.floor((shape.maxPatchElements ?? MAX_PATCH_ELEMENTS) / perImage)));
    let sum: tf.Tensor | undefined;
    for (let start = 0; start < n; start += chunk) {
      const size = Math.min(chunk, n - start);
      const rows: tf.Tensor2D[] = [];
      for (let kh = 0; kh < fh; kh++) {
        for (let kw = 0; kw < fw; kw++) {
          // wasm's StridedSlice copies these runs about a third faster than its Slice.
          const tap = tf.stridedSlice(
            channelsFirst,
            [0, start, kh, kw],
            [cin, start + size, kh + (ho - 1) * sh + 1, kw + (wo - 1) * sw + 1],
            [1, 1, sh, sw],
          );
          rows.push(tf.reshape(tap, [cin, size * ho * wo]));
        }
      }
      const patches = rows.length === 1 ? (rows[0] as tf.Tensor2D) : tf.concat(rows, 0);
      const dySlice = size === n ? dy : tf.slice(dy, [start, 0, 0, 0], [size, ho, wo, cout]);
      const part = tf.matMul(patches, tf.reshape(dySlice, [size * ho * wo, cout]));
      sum = sum === undefined ? part : tf.add(sum, part);
    }
    return tf.reshape(sum as tf.Tensor, [fh, fw, cin, cout]);
  });
}

function conv2dBackpropFilterKernel(args: {
  inputs: NamedTensorInfoMap;
  backend: object;
  attrs?: tf.NamedAttrMap;
}): TensorInfo {
  const backend = args.backend as KernelBackend;
  const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  const { x, dy } = args.inputs;
  if (x === undefined || dy === undefined) {
    throw new FacegenderError('Conv2DBackpropFilter: the kernel needs inputs x and dy');
  }
  if (attrs.dataFormat === 'NCHW') {
    throw new FacegenderError('Conv2DBackpropFilter on wasm supports NHWC only, got NCHW');
  }
  return tf.tidy(() =>
    conv2dFilterGradient(
      kernelInputAsTensor(x, backend) as tf.Tensor4D,
      kernelInputAsTensor(dy, backend) as tf.Tensor4D,
      {
        filterShape: attrs.filterShape,
        strides: pair(attrs.strides),
        pad: attrs.pad,
        dimRoundingMode: attrs.dimRoundingMode,
      },
    ),
  );
}

/** Registration for the wasm backend; `initTfjs` registers it before the backend starts. */
export const wasmConv2DBackpropFilterConfig: KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2dBackpropFilterKernel,
};
