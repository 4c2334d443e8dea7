import { attrInt, attrInts, attrString, encodeModel, floatInitializer, floatValueInfo, int64Initializer, type Onnx } from './builder.js';

/**
 * ONNX graphs that train a small sequential image classifier in ONNX Runtime: the forward pass,
 * the binary cross-entropy loss as Keras computes it, and the backward pass written out op by op
 * (ONNX Runtime's node package has no autodiff). The optimizer's update is left to the caller.
 *
 * The network is NCHW inside; it takes NHWC pixels as tfjs does and transposes them once.
 */

/** One layer of the network; convolutions are 3x3, stride 1, 'same', with ReLU (the custom CNN's). */
export type TrainLayer =
  | { kind: 'scale'; factor: number }
  | { kind: 'conv3x3-relu'; name: string; inChannels: number; outChannels: number }
  | { kind: 'maxpool2' }
  | { kind: 'global-average-pool' }
  | { kind: 'dense'; name: string; inUnits: number; outUnits: number; activation: 'relu' | 'sigmoid' }
  /** Multiplies by the `dropout_mask` input, which holds 0 or 1/(1-rate) (all 1 for inference). */
  | { kind: 'dropout' };

/**
 * How a convolution's weight gradient is computed; all are exact, their speed differs by shape.
 * `im2col-gemm`: the nine shifted views stacked, one matrix product over batch and space (suits
 * small maps with many channels). `shifted`: one batched product per shift, per image, summed
 * over the batch (suits large maps with few channels: no 9x stacked copy). `auto`: `shifted`
 * where the map has at least as many cells as the layer has filters, else `im2col-gemm`.
 */
export type WeightGradMethod = 'auto' | 'im2col-gemm' | 'shifted';

export interface TrainGraphOptions {
  height: number;
  width: number;
  /** `train`: loss and gradients too (needs labels and the dropout mask); `infer`: probabilities only. */
  mode: 'train' | 'infer';
  weightGrad?: WeightGradMethod;
  inputGrad?: InputGradMethod;
  poolGrad?: PoolGradMethod;
}

/**
 * How a 2x2 max pool passes its gradient back to the first (row-major) maximum of each window, as
 * tfjs does. `indices` (the default) and `mask` keep ONNX Runtime's fast MaxPool in the forward
 * pass and find that position by comparing the four strided quarter-maps with the pooled map;
 * `indices` then scatters with MaxUnpool, `mask` interleaves the quarter-maps back with
 * DepthToSpace (slow on large maps). `unpool` takes MaxPool's own indices output, which runs a
 * slow generic kernel.
 */
export type PoolGradMethod = 'indices' | 'mask' | 'unpool';

/**
 * How a convolution's input gradient is computed: a Conv of dz with the kernel flipped 180° and
 * in/out swapped (the default, ~5% faster in a whole step), or ConvTranspose of dz.
 */
export type InputGradMethod = 'conv-transpose' | 'conv-flipped';

export const PIXELS = 'pixels';
export const LABELS = 'labels';
export const DROPOUT_MASK = 'dropout_mask';
export const PROBS = 'probs';
export const LOSS = 'loss';
/** Keras' clip of probabilities in the loss (tfjs-layers' epsilon()). */
export const LOSS_EPSILON = 1e-7;

export interface ParamInfo {
  name: string;
  /** ONNX layout: a conv kernel [out, in, 3, 3], a dense kernel [in, out], a bias [out]. */
  dims: number[];
}

/** Parameters in graph order, each a graph input; its gradient is the output `grad:<name>`. */
export function trainParams(layers: readonly TrainLayer[]): ParamInfo[] {
  const out: ParamInfo[] = [];
  for (const l of layers) {
    if (l.kind === 'conv3x3-relu') out.push({ name: `${l.name}/kernel`, dims: [l.outChannels, l.inChannels, 3, 3] }, { name: `${l.name}/bias`, dims: [l.outChannels] });
    if (l.kind === 'dense') out.push({ name: `${l.name}/kernel`, dims: [l.inUnits, l.outUnits] }, { name: `${l.name}/bias`, dims: [l.outUnits] });
  }
  return out;
}

export const gradName = (param: string): string => `grad:${param}`;

class Graph {
  readonly nodes: Onnx.INodeProto[] = [];
  readonly initializers: Onnx.ITensorProto[] = [];
  private count = 0;
  private readonly constants = new Map<string, string>();

  op(opType: string, input: string[], attribute: Onnx.IAttributeProto[] = [], outputs = 1): string[] {
    const name = `${opType.toLowerCase()}_${this.count++}`;
    const output = Array.from({ length: outputs }, (_, i) => (outputs === 1 ? name : `${name}:${i}`));
    this.nodes.push({ opType, name, input, output, attribute });
    return output;
  }

  one(opType: string, input: string[], attribute: Onnx.IAttributeProto[] = []): string {
    return this.op(opType, input, attribute)[0] as string;
  }

  /** Renames a value by an Identity node, for graph outputs. */
  as(name: string, value: string): void {
    this.nodes.push({ opType: 'Identity', name: `identity_${name}`, input: [value], output: [name] });
  }

  float(value: number): string {
    const key = `f${value}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `const_${this.constants.size}`;
      this.initializers.push(floatInitializer(name, [], Float32Array.of(value)));
      this.constants.set(key, name);
    }
    return name;
  }

  /** A 0-d int64 constant (Range takes scalars). */
  scalarInt(value: number): string {
    const key = `s${value}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `const_${this.constants.size}`;
      this.initializers.push({ ...int64Initializer(name, [value]), dims: [] });
      this.constants.set(key, name);
    }
    return name;
  }

  /** An int64 constant of the given shape. */
  intTensor(dims: number[], values: number[]): string {
    const name = `const_${this.constants.size}`;
    this.initializers.push({ ...int64Initializer(name, values), dims });
    this.constants.set(name, name);
    return name;
  }

  ints(values: number[]): string {
    const key = `i${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `const_${this.constants.size}`;
      this.initializers.push(int64Initializer(name, values));
      this.constants.set(key, name);
    }
    return name;
  }
}

interface Saved {
  layer: TrainLayer;
  input: string;
  output: string;
  /** MaxPool's own argmax indices (pool gradient `unpool`). */
  indices?: string;
  /** The map a conv, pool or global average works on. */
  size?: { height: number; width: number; channels: number };
}

/**
 * The weight gradient of a 3x3 'same' convolution: dW[o, c, i, j] = sum over n, y, x of
 * dz[n, o, y, x] * xpad[n, c, y + i, x + j], from the nine shifted views of the padded input
 * (see WeightGradMethod for the two ways).
 */
function convWeightGrad(g: Graph, input: string, dz: string, l: Extract<TrainLayer, { kind: 'conv3x3-relu' }>, size: { height: number; width: number }, chosen: WeightGradMethod): string {
  const { height: h, width: w } = size;
  const c = l.inChannels;
  const o = l.outChannels;
  const method = chosen === 'auto' ? (h * w >= o ? 'shifted' : 'im2col-gemm') : chosen;
  const padded = g.one('Pad', [input, g.ints([0, 0, 1, 1, 0, 0, 1, 1])]);
  if (method === 'im2col-gemm') {
    // [C, N, H+2, W+2] → nine [C, 1, N, H, W] views → [C*9, N*H*W], against dz as [O, N*H*W].
    const cFirst = g.one('Transpose', [padded], [attrInts('perm', [1, 0, 2, 3])]);
    const views: string[] = [];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const view = g.one('Slice', [cFirst, g.ints([i, j]), g.ints([i + h, j + w]), g.ints([2, 3])]);
        views.push(g.one('Unsqueeze', [view, g.ints([1])]));
      }
    }
    const cols = g.one('Reshape', [g.one('Concat', views, [attrInt('axis', 1)]), g.ints([c * 9, -1])]);
    const dzT = g.one('Reshape', [g.one('Transpose', [dz], [attrInts('perm', [1, 0, 2, 3])]), g.ints([o, -1])]);
    const grad = g.one('Gemm', [dzT, cols], [attrInt('transB', 1)]);
    return g.one('Reshape', [grad, g.ints([o, c, 3, 3])]);
  }
  // Per shift and image: dz [N, O, H*W] times the shifted input [N, C, H*W] transposed, summed over the batch.
  const dzFlat = g.one('Reshape', [dz, g.ints([0, o, -1])]);
  const perShift: string[] = [];
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      const view = g.one('Reshape', [g.one('Slice', [padded, g.ints([i, j]), g.ints([i + h, j + w]), g.ints([2, 3])]), g.ints([0, c, -1])]);
      const product = g.one('MatMul', [dzFlat, g.one('Transpose', [view], [attrInts('perm', [0, 2, 1])])]);
      perShift.push(g.one('ReduceSum', [product, g.ints([0])], [attrInt('keepdims', 0)]));
    }
  }
  // [9, O, C] → [O, C, 9] = [O, C, 3, 3].
  const stacked = g.one('Concat', perShift.map((t) => g.one('Unsqueeze', [t, g.ints([0])])), [attrInt('axis', 0)]);
  return g.one('Reshape', [g.one('Transpose', [stacked], [attrInts('perm', [1, 2, 0])]), g.ints([o, c, 3, 3])]);
}

/**
 * The input gradient of a 2x2, stride-2 max pool without indices: each window's gradient goes to
 * its first position (row-major) equal to the pooled value, the rule of tfjs' (and ONNX Runtime's)
 * argmax. Rows and columns past the last whole window get zero.
 */
function maxPoolGradByMask(g: Graph, input: string, pooled: string, grad: string, size: { height: number; width: number }): string {
  const ho = Math.floor(size.height / 2);
  const wo = Math.floor(size.width / 2);
  const quarter = (a: number, b: number) => g.one('Slice', [input, g.ints([a, b]), g.ints([a + 2 * ho, b + 2 * wo]), g.ints([2, 3]), g.ints([2, 2])]);
  const e00 = g.one('Equal', [quarter(0, 0), pooled]);
  const e01 = g.one('Equal', [quarter(0, 1), pooled]);
  const e10 = g.one('Equal', [quarter(1, 0), pooled]);
  const first01 = g.one('And', [e01, g.one('Not', [e00])]);
  const upTo01 = g.one('Or', [e00, e01]);
  const first10 = g.one('And', [e10, g.one('Not', [upTo01])]);
  // The maximum is one of the four: when the first three miss, it is the last.
  const last11 = g.one('Not', [g.one('Or', [upTo01, e10])]);
  const zero = g.float(0);
  const parts = [e00, first01, first10, last11].map((m) => g.one('Where', [m, grad, zero]));
  // DepthToSpace (DCR) puts channel block a*2+b at row offset a, column offset b.
  const full = g.one('DepthToSpace', [g.one('Concat', parts, [attrInt('axis', 1)])], [attrInt('blocksize', 2), attrString('mode', 'DCR')]);
  const padH = size.height - 2 * ho;
  const padW = size.width - 2 * wo;
  return padH || padW ? g.one('Pad', [full, g.ints([0, 0, 0, 0, 0, 0, padH, padW])]) : full;
}

/**
 * The same gradient as maxPoolGradByMask, scattered by MaxUnpool: the first maximum's offset in
 * its window (0, 1, W or W + 1, by nested Where in row-major priority) plus the window's flat
 * index in the whole [N, C, H, W] tensor, as MaxPool's own indices are counted.
 */
function maxPoolGradByIndices(g: Graph, input: string, pooled: string, grad: string, size: { height: number; width: number; channels: number }): string {
  const { height: h, width: w, channels: c } = size;
  const ho = Math.floor(h / 2);
  const wo = Math.floor(w / 2);
  const quarter = (a: number, b: number) => g.one('Slice', [input, g.ints([a, b]), g.ints([a + 2 * ho, b + 2 * wo]), g.ints([2, 3]), g.ints([2, 2])]);
  const offset = g.one('Where', [
    g.one('Equal', [quarter(0, 0), pooled]),
    g.ints([0]),
    g.one('Where', [g.one('Equal', [quarter(0, 1), pooled]), g.ints([1]), g.one('Where', [g.one('Equal', [quarter(1, 0), pooled]), g.ints([w]), g.ints([w + 1])])]),
  ]);
  const corners: number[] = [];
  for (let y = 0; y < ho; y++) for (let x = 0; x < wo; x++) corners.push(2 * y * w + 2 * x);
  const windowStart = g.intTensor([1, 1, ho, wo], corners);
  const n = g.one('Gather', [g.one('Shape', [pooled]), g.scalarInt(0)]);
  const planes = g.one('Range', [g.scalarInt(0), g.one('Mul', [n, g.scalarInt(c)]), g.scalarInt(1)]);
  const planeStart = g.one('Reshape', [g.one('Mul', [planes, g.scalarInt(h * w)]), g.ints([-1, c, 1, 1])]);
  const indices = g.one('Add', [g.one('Add', [planeStart, windowStart]), offset]);
  return g.one('MaxUnpool', [grad, indices, g.one('Shape', [input])], [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2])]);
}

/** Builds the training (or inference) graph of a sequential network; see TrainLayer for what it may hold. */
export function buildTrainingGraph(layers: readonly TrainLayer[], options: TrainGraphOptions): Uint8Array {
  const g = new Graph();
  const params = trainParams(layers);
  const method = options.weightGrad ?? 'auto';
  let size = { height: options.height, width: options.width, channels: 3 };
  let current = g.one('Transpose', [PIXELS], [attrInts('perm', [0, 3, 1, 2])]);
  let units = 0;
  let maskUnits = 0;
  const saved: Saved[] = [];

  for (const l of layers) {
    const input = current;
    switch (l.kind) {
      case 'scale':
        current = g.one('Mul', [current, g.float(l.factor)]);
        break;
      case 'conv3x3-relu': {
        if (l.inChannels !== size.channels) throw new Error(`${l.name}: expects ${l.inChannels} channels, gets ${size.channels}`);
        const z = g.one('Conv', [current, `${l.name}/kernel`, `${l.name}/bias`], [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1]), attrInts('strides', [1, 1])]);
        current = g.one('Relu', [z]);
        size = { ...size, channels: l.outChannels };
        saved.push({ layer: l, input, output: current, size });
        continue;
      }
      case 'maxpool2': {
        const withIndices = options.mode === 'train' && options.poolGrad === 'unpool';
        const [pooled, indices] = g.op('MaxPool', [current], [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2])], withIndices ? 2 : 1);
        current = pooled as string;
        saved.push({ layer: l, input, output: current, ...(indices ? { indices } : {}), size });
        size = { ...size, height: Math.floor(size.height / 2), width: Math.floor(size.width / 2) };
        continue;
      }
      case 'global-average-pool':
        current = g.one('Flatten', [g.one('GlobalAveragePool', [current])], [attrInt('axis', 1)]);
        saved.push({ layer: l, input, output: current, size });
        units = size.channels;
        continue;
      case 'dense': {
        if (l.inUnits !== units) throw new Error(`${l.name}: expects ${l.inUnits} inputs, gets ${units}`);
        const z = g.one('Gemm', [current, `${l.name}/kernel`, `${l.name}/bias`]);
        current = g.one(l.activation === 'relu' ? 'Relu' : 'Sigmoid', [z]);
        units = l.outUnits;
        break;
      }
      case 'dropout':
        if (options.mode === 'train') {
          current = g.one('Mul', [current, DROPOUT_MASK]);
          maskUnits = units;
        }
        break;
    }
    saved.push({ layer: l, input, output: current });
  }
  const last = layers[layers.length - 1];
  if (!last || last.kind !== 'dense' || last.activation !== 'sigmoid' || last.outUnits !== 1) throw new Error('the network must end in a Dense(1, sigmoid)');
  g.as(PROBS, current);

  const inputs = [floatValueInfo(PIXELS, ['N', options.height, options.width, 3]), ...params.map((p) => floatValueInfo(p.name, p.dims))];
  if (maskUnits > 0) inputs.push(floatValueInfo(DROPOUT_MASK, ['N', maskUnits]));
  const outputs = [floatValueInfo(PROBS, ['N', 1])];

  if (options.mode === 'train') {
    inputs.push(floatValueInfo(LABELS, ['N', 1]));
    outputs.push(floatValueInfo(LOSS, []), ...params.map((p) => floatValueInfo(gradName(p.name), p.dims)));
    // tfjs-layers' binaryCrossentropy: y = clip(p, eps, 1 - eps), x = log(y / (1 - y)), then
    // sigmoid cross-entropy with logits x: max(x, 0) - x * t + log(1 + exp(-|x|)), batch mean.
    const p = current;
    const one = g.float(1);
    const y = g.one('Clip', [p, g.float(LOSS_EPSILON), g.float(1 - LOSS_EPSILON)]);
    const oneMinusY = g.one('Sub', [one, y]);
    const x = g.one('Log', [g.one('Div', [y, oneMinusY])]);
    const perImage = g.one('Add', [g.one('Sub', [g.one('Relu', [x]), g.one('Mul', [x, LABELS])]), g.one('Log', [g.one('Add', [one, g.one('Exp', [g.one('Neg', [g.one('Abs', [x])])])])])]);
    g.as(LOSS, g.one('ReduceMean', [perImage], [attrInt('keepdims', 0)]));
    // d loss / d logit of the output layer: (sigmoid(x) - t) / N, through the log-odds
    // (1 / (y (1 - y))), the clip (zero outside its range) and the sigmoid (p (1 - p)).
    const n = g.one('Cast', [g.one('Gather', [g.one('Shape', [p]), g.ints([0])])], [attrInt('to', 1)]);
    const dx = g.one('Div', [g.one('Sub', [g.one('Sigmoid', [x]), LABELS]), n]);
    const inRange = g.one('Cast', [g.one('And', [g.one('GreaterOrEqual', [p, g.float(LOSS_EPSILON)]), g.one('LessOrEqual', [p, g.float(1 - LOSS_EPSILON)])])], [attrInt('to', 1)]);
    const dp = g.one('Mul', [g.one('Div', [dx, g.one('Mul', [y, oneMinusY])]), inRange]);
    let grad = g.one('Mul', [dp, g.one('Mul', [p, g.one('Sub', [one, p])])]);
    let preActivation = true;
    /** Whether `grad` already went through the ReLU of the conv layer below (see maxpool2). */
    let reluDone = false;

    for (let k = saved.length - 1; k >= 0; k--) {
      const s = saved[k] as Saved;
      const l = s.layer;
      const needInputGrad = k > 0 && saved.slice(0, k).some((e) => e.layer.kind === 'conv3x3-relu' || e.layer.kind === 'dense');
      switch (l.kind) {
        case 'dense': {
          const dz = preActivation ? grad : g.one('Where', [g.one('Greater', [s.output, g.float(0)]), grad, g.float(0)]);
          g.as(gradName(`${l.name}/kernel`), g.one('Gemm', [s.input, dz], [attrInt('transA', 1)]));
          g.as(gradName(`${l.name}/bias`), g.one('ReduceSum', [dz, g.ints([0])], [attrInt('keepdims', 0)]));
          if (needInputGrad) grad = g.one('Gemm', [dz, `${l.name}/kernel`], [attrInt('transB', 1)]);
          preActivation = false;
          break;
        }
        case 'dropout':
          grad = g.one('Mul', [grad, DROPOUT_MASK]);
          break;
        case 'global-average-pool': {
          const { height, width, channels } = s.size as { height: number; width: number; channels: number };
          const scaled = g.one('Mul', [grad, g.float(1 / (height * width))]);
          grad = g.one('Expand', [g.one('Reshape', [scaled, g.ints([0, channels, 1, 1])]), g.one('Shape', [s.input])]);
          break;
        }
        case 'maxpool2': {
          // After a ReLU the gradient reaches only each window's maximum, whose ReLU slope is 1
          // exactly when the pooled value is > 0: masking here is the ReLU's backward on a
          // quarter of the values.
          const afterRelu = saved[k - 1]?.layer.kind === 'conv3x3-relu';
          if (afterRelu) grad = g.one('Where', [g.one('Greater', [s.output, g.float(0)]), grad, g.float(0)]);
          const poolSize = s.size as { height: number; width: number; channels: number };
          if (s.indices) grad = g.one('MaxUnpool', [grad, s.indices, g.one('Shape', [s.input])], [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2])]);
          else if (options.poolGrad === 'mask') grad = maxPoolGradByMask(g, s.input, s.output, grad, poolSize);
          else grad = maxPoolGradByIndices(g, s.input, s.output, grad, poolSize);
          reluDone = afterRelu;
          break;
        }
        case 'conv3x3-relu': {
          const dz = reluDone ? grad : g.one('Where', [g.one('Greater', [s.output, g.float(0)]), grad, g.float(0)]);
          reluDone = false;
          g.as(gradName(`${l.name}/kernel`), convWeightGrad(g, s.input, dz, l, s.size as { height: number; width: number }, method));
          g.as(gradName(`${l.name}/bias`), g.one('ReduceSum', [dz, g.ints([0, 2, 3])], [attrInt('keepdims', 0)]));
          // A stride-1 'same' convolution's input gradient is the transposed convolution of dz.
          if (needInputGrad) {
            const geometry = [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1]), attrInts('strides', [1, 1])];
            if (options.inputGrad === 'conv-transpose') grad = g.one('ConvTranspose', [dz, `${l.name}/kernel`], geometry);
            else {
              const swapped = g.one('Transpose', [`${l.name}/kernel`], [attrInts('perm', [1, 0, 2, 3])]);
              const flipped = g.one('Slice', [swapped, g.ints([2, 2]), g.ints([-4, -4]), g.ints([2, 3]), g.ints([-1, -1])]);
              grad = g.one('Conv', [dz, flipped], geometry);
            }
          }
          break;
        }
        case 'scale':
          break;
      }
    }
  }
  return encodeModel('facegender', { name: options.mode === 'train' ? 'sequential_training_step' : 'sequential_inference', node: g.nodes, initializer: g.initializers, input: inputs, output: outputs });
}
