import { beforeAll, describe, expect, it } from 'vitest';
import type { Scalar, Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initTfjs, tfjsRuntimeInfo } from '../../src/runtime/tfjs/backend.js';
import { conv2dFilterGradient } from '../../src/runtime/tfjs/kernels/conv2d-backprop-filter.js';
import { relativeError } from '../helpers/relative-error.js';

type Tf = Awaited<ReturnType<typeof initTfjs>>;
let tf: Tf;

/** Runs `fn` on a backend and returns its arrays; the reference is the pure-JS cpu backend. */
async function on<T>(backend: 'wasm' | 'cpu', fn: () => T): Promise<T> {
  await initTfjs({ backend });
  expect(tf.getBackend()).toBe(backend);
  return fn();
}

/** A fixed pseudo-random array (tfjs's seeded generator runs in JavaScript, so both backends agree). */
function values(shape: number[], seed: number): Float32Array {
  const t = tf.randomNormal(shape, 0, 1, 'float32', seed);
  const data = t.dataSync() as Float32Array;
  t.dispose();
  return data;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
  return diff;
}

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: [number, number];
  pad: Pad;
}

const convCases: ConvCase[] = [
  { name: '3x3 stride 1 same', x: [2, 9, 9, 3], filter: [3, 3, 3, 4], strides: [1, 1], pad: 'same' },
  { name: '3x3 stride 1 valid', x: [3, 10, 8, 5], filter: [3, 3, 5, 6], strides: [1, 1], pad: 'valid' },
  { name: '3x3 stride 2 same', x: [3, 10, 8, 5], filter: [3, 3, 5, 6], strides: [2, 2], pad: 'same' },
  { name: '3x3 stride 2 valid, odd size', x: [2, 11, 11, 4], filter: [3, 3, 4, 8], strides: [2, 2], pad: 'valid' },
  { name: '5x5 stride 1 valid', x: [2, 12, 12, 3], filter: [5, 5, 3, 4], strides: [1, 1], pad: 'valid' },
  { name: '2x3 strides 1,2 same (uneven pads)', x: [2, 9, 7, 2], filter: [2, 3, 2, 3], strides: [1, 2], pad: 'same' },
  { name: '1x1 stride 1', x: [2, 6, 6, 6], filter: [1, 1, 6, 3], strides: [1, 1], pad: 'valid' },
  {
    name: '3x3 stride 1 explicit pads',
    x: [2, 8, 9, 3],
    filter: [3, 3, 3, 5],
    strides: [1, 1],
    pad: [[0, 0], [1, 2], [0, 1], [0, 0]],
  },
  { name: 'CNN-like block, 24x24x16 -> 32', x: [2, 24, 24, 16], filter: [3, 3, 16, 32], strides: [1, 1], pad: 'same' },
];

/** dx and dW of sum(conv2d(x, w) * r): r makes dy non-uniform. */
function convGradients(c: ConvCase): { dx: Float32Array; dw: Float32Array } {
  const x = tf.tensor4d(values(c.x, 1), c.x);
  const w = tf.tensor4d(values(c.filter, 2), c.filter);
  const yShape = tf.tidy(() => tf.conv2d(x, w, c.strides, c.pad).shape);
  const r = tf.tensor(values(yShape, 3), yShape);
  const grads = tf.grads((a: Tensor, b: Tensor) => tf.sum(tf.mul(tf.conv2d(a as Tensor4D, b as Tensor4D, c.strides, c.pad), r)));
  const [dx, dw] = grads([x, w]) as [Tensor, Tensor];
  const out = { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  tf.dispose([x, w, r, dx, dw]);
  return out;
}

beforeAll(async () => {
  tf = await initTfjs();
});

describe('initTfjs', () => {
  it('starts wasm with SIMD from the package folder, idempotently, and switches backends', async () => {
    const again = await initTfjs();
    expect(again).toBe(tf);
    const info = await tfjsRuntimeInfo();
    expect(info.backend).toBe('wasm');
    expect(info.simd).toBe(true);
    expect(info.threads).toBe(1);
    expect(info.wasmDir).toMatch(/tfjs-backend-wasm[\\/]dist$/);
    await Promise.all([initTfjs({ backend: 'cpu' }), initTfjs({ backend: 'cpu' })]);
    expect(tf.getBackend()).toBe('cpu');
    await initTfjs({ backend: 'wasm' });
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    await expect(initTfjs({ backend: 'webgl' as never })).rejects.toThrow(/unknown tfjs backend 'webgl'/);
  });

  it('a second copy of the module keeps the original kernels as fallbacks', async () => {
    const url = new URL('../../src/runtime/tfjs/backend.ts', import.meta.url).href + '?second-copy';
    const second = (await import(/* @vite-ignore */ url)) as { initTfjs: typeof initTfjs };
    expect(second.initTfjs).not.toBe(initTfjs);
    await second.initTfjs();
    // Stride 2 and an inner-axes sum take the original wasm kernels: with our own kernel taken for
    // the original these would recurse without end.
    const c = convCases[2] as ConvCase;
    const wasm = convGradients(c);
    const reference = await on('cpu', () => convGradients(c));
    await initTfjs();
    expect(relativeError(wasm.dx, reference.dx)).toBeLessThan(1e-5);
    const x = tf.ones([4, 32, 32]);
    expect(Array.from(tf.sum(x, [1, 2]).dataSync())).toEqual([1024, 1024, 1024, 1024]);
  });
});

describe('Conv2DBackpropFilter and Conv2DBackpropInput on wasm match the cpu backend', () => {
  for (const c of convCases) {
    it(c.name, async () => {
      const reference = await on('cpu', () => convGradients(c));
      const wasm = await on('wasm', () => convGradients(c));
      expect(relativeError(wasm.dw, reference.dw)).toBeLessThan(1e-5);
      expect(relativeError(wasm.dx, reference.dx)).toBeLessThan(1e-5);
    });
  }

  it('the chunked filter gradient (batch split to cap memory) equals the unchunked one', async () => {
    await initTfjs({ backend: 'wasm' });
    const xShape: [number, number, number, number] = [5, 12, 12, 4];
    const dyShape: [number, number, number, number] = [5, 12, 12, 6];
    const x = tf.tensor4d(values(xShape, 4), xShape);
    const dy = tf.tensor4d(values(dyShape, 5), dyShape);
    const shape = { filterShape: [3, 3, 4, 6] as [number, number, number, number], strides: 1, pad: 'same' as const };
    const whole = conv2dFilterGradient(x, dy, shape);
    // 9 * 4 * 144 = 5184 elements per image: a 6000 cap takes one image per product.
    const chunked = conv2dFilterGradient(x, dy, { ...shape, maxPatchElements: 6000 });
    const reference = await on('cpu', () => {
      const w = tf.zeros(shape.filterShape);
      const t = tf.grad((f: Tensor) => tf.sum(tf.mul(tf.conv2d(x, f as Tensor4D, 1, 'same'), dy)))(w);
      const out = t.dataSync().slice();
      tf.dispose([w, t]);
      return out;
    });
    expect(relativeError(chunked.dataSync(), reference)).toBeLessThan(1e-5);
    expect(relativeError(whole.dataSync(), reference)).toBeLessThan(1e-5);
    tf.dispose([x, dy, whole, chunked]);
    await initTfjs({ backend: 'wasm' });
  });

  it('leaves no tensors behind after a gradient', async () => {
    await initTfjs({ backend: 'wasm' });
    const c = convCases[2] as ConvCase;
    convGradients(c);
    const before = tf.memory().numTensors;
    convGradients(c);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('MaxPoolGrad on wasm matches the cpu backend exactly', () => {
  // Non-overlapping windows move each dy value unchanged, so they must match bit for bit;
  // overlapping ones add several dy values per input and may differ by rounding order.
  const poolCases: Array<{
    name: string;
    x: [number, number, number, number];
    size: number;
    stride: number;
    pad: 'same' | 'valid';
    relu?: boolean;
  }> = [
    { name: '2x2/2 valid, negative maxima', x: [2, 8, 8, 3], size: 2, stride: 2, pad: 'valid' },
    { name: '2x2/2 valid, odd size', x: [2, 7, 9, 4], size: 2, stride: 2, pad: 'valid' },
    { name: '2x2/2 after ReLU (ties at zero go to the first position)', x: [3, 8, 8, 5], size: 2, stride: 2, pad: 'valid', relu: true },
    { name: '3x3/3 valid', x: [2, 9, 9, 2], size: 3, stride: 3, pad: 'valid' },
    { name: '2x2/2 same, odd size (padded)', x: [2, 7, 7, 3], size: 2, stride: 2, pad: 'same' },
    { name: '3x3/2 same (overlapping)', x: [2, 9, 8, 3], size: 3, stride: 2, pad: 'same' },
  ];
  for (const c of poolCases) {
    it(c.name, async () => {
      const run = (): Float32Array => {
        const raw = tf.tensor4d(values(c.x, 6), c.x);
        const x = c.relu ? tf.relu(raw) : raw;
        const yShape = tf.tidy(() => tf.maxPool(x, c.size, c.stride, c.pad).shape);
        const r = tf.tensor(values(yShape, 7), yShape);
        const dx = tf.grad((a: Tensor) => tf.sum(tf.mul(tf.maxPool(a as Tensor4D, c.size, c.stride, c.pad), r)))(x);
        const out = dx.dataSync() as Float32Array;
        tf.dispose([raw, x, r, dx]);
        return out;
      };
      const reference = await on('cpu', run);
      const wasm = await on('wasm', run);
      expect(maxAbsDiff(wasm, reference)).toBeLessThanOrEqual(c.size > c.stride ? 1e-6 : 0);
      // Every pooled value's gradient lands somewhere: the sum over dx equals the sum over dy.
      const sum = (a: Float32Array): number => a.reduce((s, v) => s + v, 0);
      expect(Math.abs(sum(wasm) - sum(reference))).toBeLessThan(1e-3);
    });
  }
});

describe('Sum on wasm (bias gradients take the matrix-product path) matches the cpu backend', () => {
  const sumCases: Array<{ name: string; shape: number[]; axis: number[]; keepDims: boolean }> = [
    { name: 'all but channels of a 4-D activation', shape: [4, 16, 16, 8], axis: [0, 1, 2], keepDims: false },
    { name: 'the same, keepDims', shape: [4, 16, 16, 8], axis: [2, 0, 1], keepDims: true },
    { name: 'rows of a matrix', shape: [5000, 3], axis: [0], keepDims: false },
    { name: 'inner axes (original kernel)', shape: [4, 16, 16, 8], axis: [1, 2], keepDims: false },
    { name: 'small input (original kernel)', shape: [3, 4, 5], axis: [0, 1], keepDims: false },
  ];
  for (const c of sumCases) {
    it(c.name, async () => {
      const run = (): { values: Float32Array; shape: number[] } => {
        const x = tf.tensor(values(c.shape, 13), c.shape);
        const sum = tf.sum(x, c.axis, c.keepDims);
        const out = { values: sum.dataSync() as Float32Array, shape: sum.shape };
        tf.dispose([x, sum]);
        return out;
      };
      const reference = await on('cpu', run);
      const wasm = await on('wasm', run);
      expect(wasm.shape).toEqual(reference.shape);
      expect(relativeError(wasm.values, reference.values)).toBeLessThan(1e-5);
    });
  }
});

describe('BatchMatMul with transposed operands on wasm (transposed first, then XNNPACK) matches the cpu backend', () => {
  const cases: Array<{ name: string; a: number[]; b: number[]; transposeA: boolean; transposeB: boolean }> = [
    { name: "a dense layer's weight gradient xᵀ·dy", a: [64, 1024], b: [64, 256], transposeA: true, transposeB: false },
    { name: "a dense layer's input gradient dy·Wᵀ", a: [64, 256], b: [1024, 256], transposeA: false, transposeB: true },
    { name: 'both transposed', a: [7, 5], b: [3, 7], transposeA: true, transposeB: true },
    { name: 'batched 3-D, transposeA', a: [3, 9, 4], b: [3, 9, 6], transposeA: true, transposeB: false },
    { name: 'no transpose (original kernel)', a: [8, 16], b: [16, 4], transposeA: false, transposeB: false },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const run = (): { values: Float32Array; shape: number[]; tensors: number } => {
        const before = tf.memory().numTensors;
        const a = tf.tensor(values(c.a, 3), c.a);
        const b = tf.tensor(values(c.b, 4), c.b);
        const product = tf.matMul(a, b, c.transposeA, c.transposeB);
        const out = { values: product.dataSync() as Float32Array, shape: product.shape };
        tf.dispose([a, b, product]);
        return { ...out, tensors: tf.memory().numTensors - before };
      };
      const reference = await on('cpu', run);
      const wasm = await on('wasm', run);
      expect(wasm.shape).toEqual(reference.shape);
      expect(relativeError(wasm.values, reference.values)).toBeLessThan(1e-5);
      expect(wasm.tensors).toBe(0);
    });
  }

  it('runs as an explicit Transpose, then the untransposed product inside the BatchMatMul it replaces', async () => {
    await on('wasm', async () => {
      const x = tf.tensor(values([64, 32], 5), [64, 32]);
      const dy = tf.tensor(values([64, 16], 6), [64, 16]);
      const profile = await tf.profile(() => tf.matMul(x, dy, true, false));
      expect(profile.kernels.map((k) => k.name)).toEqual(['Transpose', 'BatchMatMul', 'BatchMatMul']);
      tf.dispose([x, dy, profile.result as Tensor]);
    });
  });
});

describe('other gradients the CNN and its head need exist on wasm and match cpu', () => {
  it('ReLU, GlobalAveragePooling (Mean), Dense layers (ReLU, and linear with its fused bias) and log loss', async () => {
    const xShape = [4, 6, 6, 8];
    const run = (): Float32Array[] => {
      const input = tf.tensor4d(values(xShape, 8), xShape as [number, number, number, number]);
      const dense1 = tfl.layers.dense({ units: 5, activation: 'relu' });
      const dense2 = tfl.layers.dense({ units: 1, activation: 'linear' });
      dense1.build([null, 8]);
      dense2.build([null, 5]);
      dense1.setWeights([tf.tensor2d(values([8, 5], 9), [8, 5]), tf.tensor1d(values([5], 10))]);
      dense2.setWeights([tf.tensor2d(values([5, 1], 11), [5, 1]), tf.tensor1d(values([1], 12))]);
      const labels = tf.tensor2d([1, 0, 1, 0], [4, 1]);
      const weights = [...dense1.trainableWeights, ...dense2.trainableWeights].map((w) => w.read());
      const loss = (x: Tensor): Scalar => {
        const pooled = tf.mean(tf.relu(x), [1, 2]);
        const p = tf.sigmoid(dense2.apply(dense1.apply(pooled)) as Tensor);
        return tf.losses.logLoss(labels, p) as Scalar;
      };
      const { grads } = tf.variableGrads(() => loss(input), weights as never);
      const dx = tf.grad(loss)(input);
      const out = [dx.dataSync() as Float32Array, ...Object.values(grads).map((g) => g.dataSync() as Float32Array)];
      tf.dispose([input, labels, dx, ...Object.values(grads)]);
      return out;
    };
    const reference = await on('cpu', run);
    const wasm = await on('wasm', run);
    expect(wasm).toHaveLength(5);
    wasm.forEach((g, i) => {
      expect(relativeError(g, reference[i] as Float32Array)).toBeLessThan(1e-5);
    });
  });
});
