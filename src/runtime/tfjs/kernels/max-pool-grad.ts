import * as tf from '@tensorflow/tfjs-core';
import type { KernelBackend, KernelConfig, MaxPoolGradAttrs, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { FacegenderError } from '../../../errors.js';
import { kernelInputAsTensor, pair } from './kernel-tensors.js';

/**
 * Replaces the wasm backend's `MaxPoolGrad`, which in tfjs 4.22 is both slow (a scalar loop,
 * about a second per step for the first block of a 224x224 CNN) and wrong: a window whose maximum
 * is negative gets no gradient at all. (After a ReLU every window is >= 0, which is why training
 * still ran, but the kernel disagrees with the cpu backend on general input.)
 *
 * Non-overlapping windows without padding, the CNN's 2x2/2 pooling, are done with tfjs ops: the
 * gradient goes to the first position (row-major in the window) that equals the pooled value,
 * which is the cpu backend's rule. Anything else takes an exact JavaScript loop.
 */

interface PoolGeometry {
  info: tf.backend_util.Conv2DInfo;
  windowIsStride: boolean;
  unpadded: boolean;
}

function geometry(inputShape: number[], attrs: MaxPoolGradAttrs): PoolGeometry {
  const info = tf.backend_util.computePool2DInfo(
    inputShape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { top, bottom, left, right } = info.padInfo;
  return {
    info,
    windowIsStride: info.filterHeight === info.strideHeight && info.filterWidth === info.strideWidth,
    unpadded: top === 0 && left === 0 && bottom === 0 && right === 0,
  };
}

/**
 * Max-pool input gradient for non-overlapping k x k windows at stride k, no leading padding, from
 * tfjs ops. Rows and columns past the last whole window get zero, as in 'valid' pooling.
 */
export function maxPoolGradientNonOverlapping(
  dy: tf.Tensor4D,
  x: tf.Tensor4D,
  y: tf.Tensor4D,
  window: [number, number],
): tf.Tensor4D {
  const [kh, kw] = window;
  const [n, h, w, c] = x.shape;
  const [, ho, wo] = y.shape;
  if (dy.shape[1] !== ho || dy.shape[2] !== wo || ho * kh > h || wo * kw > w) {
    throw new FacegenderError(
      `MaxPoolGrad: output [${y.shape.join(', ')}] does not fit input [${x.shape.join(', ')}] with a ${kh}x${kw} window`,
    );
  }
  return tf.tidy(() => {
    const covered = ho * kh === h && wo * kw === w ? x : tf.slice(x, [0, 0, 0, 0], [n, ho * kh, wo * kw, c]);
    // Window row a and column b of every window become one slice the shape of the output.
    const grouped = tf.reshape(covered, [n * ho, kh, wo, kw * c]);
    const pooled = tf.reshape(y, [n * ho, 1, wo, c]);
    const grad = tf.reshape(dy, [n * ho, 1, wo, c]);
    // `remaining` is dy until a window position equal to the maximum takes it, then 0; the
    // arithmetic is exact because every factor is dy or 0 or 1. (Multiplying by the cast mask is
    // a quarter of the cost of wasm's Select.)
    // Temporaries are freed as soon as they are used: at 224 px the first block's are 100 MB each,
    // and wasm memory stops at 4 GB.
    let remaining: tf.Tensor = grad;
    const rows: tf.Tensor[] = [];
    for (let a = 0; a < kh; a++) {
      const cols: tf.Tensor[] = [];
      for (let b = 0; b < kw; b++) {
        const current = remaining;
        const taken = tf.tidy(() => {
          const hit = tf.equal(tf.slice(grouped, [0, a, 0, b * c], [n * ho, 1, wo, c]), pooled);
          return tf.mul(current, tf.cast(hit, 'float32'));
        });
        cols.push(taken);
        if (a < kh - 1 || b < kw - 1) {
          remaining = tf.sub(current, taken);
          if (current !== grad) current.dispose();
        }
      }
      rows.push(cols.length === 1 ? (cols[0] as tf.Tensor) : tf.concat(cols, 3));
      if (cols.length > 1) tf.dispose(cols);
    }
    const windows = rows.length === 1 ? (rows[0] as tf.Tensor) : tf.concat(rows, 1);
    if (rows.length > 1) tf.dispose(rows);
    const dx = tf.reshape(windows, [n, ho * kh, wo * kw, c]) as tf.Tensor4D;
    return covered === x ? dx : tf.pad(dx, [[0, 0], [0, h - ho * kh], [0, w - wo * kw], [0, 0]]);
  });
}

/** Exact first-maximum gradient for any window, stride and padding (dilation 1). */
function maxPoolGradientLoop(
  dyValues: Float32Array,
  xValues: Float32Array,
  inputShape: [number, number, number, number],
  info: tf.backend_util.Conv2DInfo,
): Float32Array {
  const [n, h, w, c] = inputShape;
  const { outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;
  const dx = new Float32Array(n * h * w * c);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++) {
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity;
          let at = -1;
          for (let fy = 0; fy < filterHeight; fy++) {
            const iy = oy * strideHeight - top + fy;
            if (iy < 0 || iy >= h) continue;
            for (let fx = 0; fx < filterWidth; fx++) {
              const ix = ox * strideWidth - left + fx;
              if (ix < 0 || ix >= w) continue;
              const index = ((b * h + iy) * w + ix) * c + ch;
              const value = xValues[index] as number;
              if (value > best) {
                best = value;
                at = index;
              }
            }
          }
          if (at >= 0) {
            dx[at] = (dx[at] as number) + (dyValues[((b * outHeight + oy) * outWidth + ox) * c + ch] as number);
          }
        }
      }
    }
  }
  return dx;
}

function maxPoolGradKernel(args: { inputs: NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as KernelBackend;
  const attrs = args.attrs as unknown as MaxPoolGradAttrs;
  const { dy, input, output } = args.inputs;
  if (dy === undefined || input === undefined || output === undefined) {
    throw new FacegenderError('MaxPoolGrad: the kernel needs inputs dy, input and output');
  }
  const shape = input.shape as [number, number, number, number];
  const { info, windowIsStride, unpadded } = geometry(shape, attrs);
  if (windowIsStride && unpadded) {
    return tf.tidy(() =>
      maxPoolGradientNonOverlapping(
        kernelInputAsTensor(dy, backend) as tf.Tensor4D,
        kernelInputAsTensor(input, backend) as tf.Tensor4D,
        kernelInputAsTensor(output, backend) as tf.Tensor4D,
        pair([info.filterHeight, info.filterWidth]),
      ),
    );
  }
  const dx = maxPoolGradientLoop(
    backend.readSync(dy.dataId) as Float32Array,
    backend.readSync(input.dataId) as Float32Array,
    shape,
    info,
  );
  return tf.tensor4d(dx, shape, 'float32');
}

/** Registration for the wasm backend; `initTfjs` registers it in place of the original. */
export const wasmMaxPoolGradConfig: KernelConfig = {
  kernelName: tf.MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGradKernel,
};
