import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import { WeightsError } from '../../src/errors.js';

/**
 * Counts the arithmetic of an ONNX model for one fixed input shape, by propagating static
 * shapes through the graph node by node. Multiply-adds (MACs) are counted where the work is:
 * Conv, ConvTranspose, MatMul and Gemm; FLOPs are 2 x MACs, the convention of GFLOP/s figures
 * and of matmul peaks. Everything else (activations, bias adds, pools, reductions, resizes) is
 * cheap next to those and is counted apart, as `elementOps`, one per output element (per window
 * element for pools, per input element for reductions), so it never inflates a GFLOP/s figure.
 *
 * Shape arithmetic that exporters put in graphs (Shape → Gather → Concat → Reshape and the
 * like) is folded on small integer constants, so dynamic-looking reshapes resolve to static
 * shapes. An op the counter does not know, or a shape it cannot resolve, throws a WeightsError
 * naming the node: a count that silently skipped a node would be wrong without showing it.
 */

const { onnx } = onnxProto;

export interface OpCount {
  /** Nodes of this op type. */
  nodes: number;
  macs: number;
  elementOps: number;
}

export interface OnnxFlopCount {
  /** Multiply-adds of Conv, ConvTranspose, MatMul and Gemm. */
  macs: number;
  /** 2 x macs. */
  flops: number;
  /** Work of every other op: one per output element, per window element for pools, per input element for reductions. */
  elementOps: number;
  byOp: Record<string, OpCount>;
  /** Static shape of each graph output. */
  outputShapes: Record<string, number[]>;
}

/** The shape of the model's only input, or shapes by input name. */
export type InputShapes = readonly number[] | Readonly<Record<string, readonly number[]>>;

type IntLike = number | { toNumber(): number };

/** Constants larger than this keep their shape but not their values: only shape arithmetic needs values. */
const MAX_TRACKED_VALUES = 4096;

const DT = onnx.TensorProto.DataType;

function num(v: IntLike | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

interface Tensor {
  shape: number[];
  /** Flattened values, when known and small. */
  values?: number[];
}

/** What one node contributes: its outputs and its work. */
interface NodeResult {
  outputs: Tensor[];
  macs?: number;
  elementOps?: number;
}

class CountError extends Error {}

function fail(reason: string): never {
  throw new CountError(reason);
}

function tensorValues(t: Onnx.ITensorProto): number[] | undefined {
  const dims = (t.dims ?? []).map(num);
  const count = numel(dims);
  if (count > MAX_TRACKED_VALUES) return undefined;
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : undefined;
  const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (t.dataType) {
    case DT.FLOAT:
      if (raw) return Array.from({ length: count }, (_, i) => view(raw).getFloat32(i * 4, true));
      return [...(t.floatData ?? [])];
    case DT.DOUBLE:
      if (raw) return Array.from({ length: count }, (_, i) => view(raw).getFloat64(i * 8, true));
      return [...(t.doubleData ?? [])];
    case DT.INT64:
      if (raw) return Array.from({ length: count }, (_, i) => Number(view(raw).getBigInt64(i * 8, true)));
      return (t.int64Data ?? []).map(num);
    case DT.INT32:
      if (raw) return Array.from({ length: count }, (_, i) => view(raw).getInt32(i * 4, true));
      return [...(t.int32Data ?? [])];
    default:
      return undefined;
  }
}

function tensorOf(t: Onnx.ITensorProto): Tensor {
  const shape = (t.dims ?? []).map(num);
  const values = tensorValues(t);
  return values !== undefined && values.length === numel(shape) ? { shape, values } : { shape };
}

/** Numpy-style broadcasting, as ONNX's multidirectional broadcast. */
function broadcast(shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - rank + i] ?? 1;
      if (v === 1) continue;
      if (d !== 1 && d !== v) fail(`cannot broadcast shapes ${shapes.map((x) => `[${x.join(', ')}]`).join(' and ')}`);
      d = v;
    }
    out.push(d);
  }
  return out;
}

function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

class Attributes {
  private readonly map = new Map<string, Onnx.IAttributeProto>();
  constructor(node: Onnx.INodeProto) {
    for (const a of node.attribute ?? []) if (a.name) this.map.set(a.name, a);
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
  int(name: string, fallback: number): number {
    const a = this.map.get(name);
    return a ? num(a.i) : fallback;
  }
  ints(name: string): number[] | undefined {
    const a = this.map.get(name);
    return a ? (a.ints ?? []).map(num) : undefined;
  }
  floats(name: string): number[] | undefined {
    const a = this.map.get(name);
    return a ? [...(a.floats ?? [])] : undefined;
  }
  string(name: string, fallback: string): string {
    const s = this.map.get(name)?.s;
    return s && s.length > 0 ? new TextDecoder().decode(s) : fallback;
  }
  get(name: string): Onnx.IAttributeProto | undefined {
    return this.map.get(name);
  }
}

/** Output size of one spatial axis of a window op (Conv, pools). */
function windowOut(
  input: number,
  kernel: number,
  stride: number,
  dilation: number,
  padBegin: number,
  padEnd: number,
  autoPad: string,
  ceilMode: boolean,
): number {
  const eff = (kernel - 1) * dilation + 1;
  let out: number;
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') out = Math.ceil(input / stride);
  else if (autoPad === 'VALID') out = Math.floor((input - eff) / stride) + 1;
  else if (autoPad === 'NOTSET') {
    const span = input + padBegin + padEnd - eff;
    out = (ceilMode ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
    // A last window that would start in the end padding is dropped (as ONNX Runtime does).
    if (ceilMode && (out - 1) * stride >= input + padBegin) out--;
  } else fail(`auto_pad ${autoPad} is not known`);
  if (!(out > 0)) fail(`a window of ${kernel} (stride ${stride}, dilation ${dilation}) does not fit an axis of ${input}`);
  return out;
}

interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  autoPad: string;
}

function windowAttrs(attrs: Attributes, spatialRank: number, kernel: number[] | undefined): Window {
  const k = attrs.ints('kernel_shape') ?? kernel;
  if (!k || k.length !== spatialRank) fail(`kernel_shape [${(k ?? []).join(', ')}] does not fit ${spatialRank} spatial axes`);
  const ones = Array<number>(spatialRank).fill(1);
  const pads = attrs.ints('pads') ?? Array<number>(2 * spatialRank).fill(0);
  if (pads.length !== 2 * spatialRank) fail(`pads [${pads.join(', ')}] do not fit ${spatialRank} spatial axes`);
  return { kernel: k, strides: attrs.ints('strides') ?? ones, dilations: attrs.ints('dilations') ?? ones, pads, autoPad: attrs.string('auto_pad', 'NOTSET') };
}

function spatialOut(input: readonly number[], w: Window, ceilMode: boolean): number[] {
  const r = w.kernel.length;
  return input.map((d, i) =>
    windowOut(d, w.kernel[i] as number, w.strides[i] ?? 1, w.dilations[i] ?? 1, w.pads[i] as number, w.pads[i + r] as number, w.autoPad, ceilMode),
  );
}

const UNARY = new Set([
  'Relu', 'Sigmoid', 'Tanh', 'Elu', 'Selu', 'Celu', 'LeakyRelu', 'PRelu', 'ThresholdedRelu', 'HardSigmoid', 'HardSwish',
  'Softplus', 'Softsign', 'Gelu', 'Mish', 'Clip', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Neg', 'Abs', 'Floor', 'Ceil',
  'Round', 'Sign', 'Erf', 'Not', 'Sin', 'Cos', 'IsNaN', 'IsInf', 'Softmax', 'LogSoftmax', 'Hardmax', 'LRN',
  'InstanceNormalization', 'BatchNormalization', 'LayerNormalization', 'MeanVarianceNormalization',
]);
/** Same shape, no arithmetic. */
const PASS_THROUGH = new Set(['Identity', 'Cast', 'Dropout', 'CastLike']);
const BROADCASTING = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Mod', 'Max', 'Min', 'Sum', 'Mean', 'Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Where']);
const REDUCTIONS = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare']);
/** Reductions whose axes moved from an attribute to an input, and from which opset. */
const AXES_INPUT_FROM: Record<string, number> = { ReduceSum: 13 };

class FlopCounter {
  private readonly tensors = new Map<string, Tensor>();
  private readonly byOp: Record<string, OpCount> = {};
  private macs = 0;
  private elementOps = 0;

  constructor(private readonly opset: number) {}

  set(name: string, t: Tensor): void {
    this.tensors.set(name, t);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  get(name: string): Tensor | undefined {
    return this.tensors.get(name);
  }

  /** Runs one node; its inputs are all known. */
  count(node: Onnx.INodeProto): void {
    const op = node.opType ?? '';
    if (node.domain && node.domain !== 'ai.onnx') fail(`ops of domain '${node.domain}' are not supported`);
    const ins = (node.input ?? []).map((n) => (n ? (this.tensors.get(n) as Tensor) : undefined));
    const result = this.apply(op, ins, new Attributes(node), (node.output ?? []).length);
    (node.output ?? []).forEach((name, i) => {
      const t = result.outputs[i] ?? result.outputs[0];
      if (name && t) this.tensors.set(name, t);
    });
    const entry = (this.byOp[op] ??= { nodes: 0, macs: 0, elementOps: 0 });
    entry.nodes++;
    entry.macs += result.macs ?? 0;
    entry.elementOps += result.elementOps ?? 0;
    this.macs += result.macs ?? 0;
    this.elementOps += result.elementOps ?? 0;
  }

  result(outputs: string[]): OnnxFlopCount {
    const outputShapes: Record<string, number[]> = {};
    for (const o of outputs) {
      const t = this.tensors.get(o);
      if (!t) fail(`graph output '${o}' is computed by no node`);
      outputShapes[o] = t.shape;
    }
    return { macs: this.macs, flops: 2 * this.macs, elementOps: this.elementOps, byOp: this.byOp, outputShapes };
  }

  private apply(op: string, ins: Array<Tensor | undefined>, attrs: Attributes, outputCount: number): NodeResult {
    const need = (i: number, what: string): Tensor => ins[i] ?? fail(`it has no input ${i} (${what})`);
    /** Values of an input that must be a known constant (shapes, axes, pads...). */
    const valuesOf = (i: number, what: string): number[] => {
      const t = need(i, what);
      if (t.values === undefined) fail(`its ${what} (input ${i}) is not a constant the counter can read`);
      return t.values;
    };
    const optionalValues = (i: number, what: string): number[] | undefined => (ins[i] ? valuesOf(i, what) : undefined);
    if (UNARY.has(op)) {
      const t = need(0, 'input');
      const outputs: Tensor[] = [{ shape: t.shape }];
      if (op === 'PRelu') outputs[0] = { shape: broadcast([t.shape, need(1, 'slope').shape]) };
      return { outputs, elementOps: numel((outputs[0] as Tensor).shape) };
    }
    if (PASS_THROUGH.has(op)) {
      const t = need(0, 'input');
      return { outputs: [t, { shape: t.shape }] };
    }
    if (BROADCASTING.has(op)) {
      const present = ins.filter((t): t is Tensor => t !== undefined);
      const shape = broadcast(present.map((t) => t.shape));
      const out: Tensor = { shape };
      const fold = arithmetic(op);
      if (fold && present.length === 2 && present.every((t) => t.values !== undefined) && numel(shape) <= MAX_TRACKED_VALUES) {
        const [a, b] = present as [Tensor, Tensor];
        out.values = broadcastValues(a, b, shape, fold);
      }
      return { outputs: [out], elementOps: numel(shape) * Math.max(1, present.length - 1) };
    }
    if (REDUCTIONS.has(op)) return this.reduce(op, need(0, 'input'), attrs, ins[1] ? valuesOf(1, 'axes') : undefined);
    switch (op) {
      case 'Constant':
        return { outputs: [constantAttr(attrs)] };
      case 'Conv':
        return conv(need(0, 'input'), need(1, 'weights'), ins[2] !== undefined, attrs);
      case 'ConvTranspose':
        return convTranspose(need(0, 'input'), need(1, 'weights'), ins[2] !== undefined, attrs);
      case 'MatMul':
        return matmul(need(0, 'A').shape, need(1, 'B').shape);
      case 'Gemm':
        return gemm(need(0, 'A').shape, need(1, 'B').shape, ins[2] !== undefined, attrs);
      case 'MaxPool':
      case 'AveragePool':
      case 'LpPool': {
        const t = need(0, 'input');
        if (t.shape.length < 3) fail(`expects [N, C, spatial...], got [${t.shape.join(', ')}]`);
        const w = windowAttrs(attrs, t.shape.length - 2, undefined);
        const spatial = spatialOut(t.shape.slice(2), w, attrs.int('ceil_mode', 0) === 1);
        const shape = [...t.shape.slice(0, 2), ...spatial];
        return { outputs: [{ shape }, { shape }], elementOps: numel(shape) * numel(w.kernel) };
      }
      case 'GlobalAveragePool':
      case 'GlobalMaxPool':
      case 'GlobalLpPool': {
        const t = need(0, 'input');
        return { outputs: [{ shape: [...t.shape.slice(0, 2), ...t.shape.slice(2).map(() => 1)] }], elementOps: numel(t.shape) };
      }
      case 'Transpose': {
        const t = need(0, 'input');
        const perm = attrs.ints('perm') ?? t.shape.map((_, i) => t.shape.length - 1 - i);
        if (perm.length !== t.shape.length) fail(`perm [${perm.join(', ')}] does not fit rank ${t.shape.length}`);
        return { outputs: [{ shape: perm.map((p) => t.shape[normAxis(p, t.shape.length)] as number) }] };
      }
      case 'Reshape': {
        const t = need(0, 'data');
        const target = valuesOf(1, 'shape');
        const allowZero = attrs.int('allowzero', 0) === 1;
        const shape = target.map((d, i) => (d === 0 && !allowZero ? (t.shape[i] ?? fail(`shape [${target.join(', ')}] copies a missing axis ${i}`)) : d));
        const unknown = shape.indexOf(-1);
        if (unknown >= 0) {
          const known = numel(shape.filter((_, i) => i !== unknown));
          if (known === 0 || numel(t.shape) % known !== 0) fail(`cannot reshape [${t.shape.join(', ')}] to [${target.join(', ')}]`);
          shape[unknown] = numel(t.shape) / known;
        }
        if (numel(shape) !== numel(t.shape)) fail(`cannot reshape [${t.shape.join(', ')}] (${numel(t.shape)} values) to [${shape.join(', ')}]`);
        return { outputs: [{ shape, ...(t.values ? { values: t.values } : {}) }] };
      }
      case 'Flatten': {
        const t = need(0, 'input');
        const axis = attrs.int('axis', 1);
        const a = axis < 0 ? axis + t.shape.length : axis;
        if (a < 0 || a > t.shape.length) fail(`axis ${axis} is out of range for rank ${t.shape.length}`);
        return { outputs: [{ shape: [numel(t.shape.slice(0, a)), numel(t.shape.slice(a))], ...(t.values ? { values: t.values } : {}) }] };
      }
      case 'Squeeze': {
        const t = need(0, 'data');
        const given = this.opset >= 13 ? optionalValues(1, 'axes') : attrs.ints('axes');
        const axes = given?.map((a) => normAxis(a, t.shape.length)) ?? t.shape.flatMap((d, i) => (d === 1 ? [i] : []));
        for (const a of axes) if (t.shape[a] !== 1) fail(`cannot squeeze axis ${a} of size ${t.shape[a]}`);
        return { outputs: [{ shape: t.shape.filter((_, i) => !axes.includes(i)), ...(t.values ? { values: t.values } : {}) }] };
      }
      case 'Unsqueeze': {
        const t = need(0, 'data');
        const given = this.opset >= 13 ? valuesOf(1, 'axes') : attrs.ints('axes');
        if (!given) fail('it has no axes');
        const rank = t.shape.length + given.length;
        const axes = given.map((a) => normAxis(a, rank));
        const shape: number[] = [];
        let j = 0;
        for (let i = 0; i < rank; i++) shape.push(axes.includes(i) ? 1 : (t.shape[j++] as number));
        return { outputs: [{ shape, ...(t.values ? { values: t.values } : {}) }] };
      }
      case 'Concat': {
        const parts = ins.filter((t): t is Tensor => t !== undefined);
        const first = parts[0] ?? fail('it has no inputs');
        const axis = normAxis(attrs.int('axis', 0), first.shape.length);
        const shape = [...first.shape];
        shape[axis] = parts.reduce((s, p) => s + (p.shape[axis] as number), 0);
        for (const p of parts) {
          if (p.shape.length !== shape.length || p.shape.some((d, i) => i !== axis && d !== shape[i])) {
            fail(`cannot concatenate ${parts.map((q) => `[${q.shape.join(', ')}]`).join(', ')} on axis ${axis}`);
          }
        }
        const out: Tensor = { shape };
        if (shape.length === 1 && parts.every((p) => p.values !== undefined)) out.values = parts.flatMap((p) => p.values as number[]);
        return { outputs: [out] };
      }
      case 'Pad': {
        const t = need(0, 'data');
        const rank = t.shape.length;
        const pads = this.opset >= 11 ? valuesOf(1, 'pads') : (attrs.ints('pads') ?? fail('it has no pads'));
        const axes = (this.opset >= 18 ? optionalValues(3, 'axes') : undefined)?.map((a) => normAxis(a, rank)) ?? t.shape.map((_, i) => i);
        if (pads.length !== 2 * axes.length) fail(`pads [${pads.join(', ')}] do not fit ${axes.length} axes`);
        const shape = [...t.shape];
        axes.forEach((a, i) => (shape[a] = (shape[a] as number) + (pads[i] as number) + (pads[i + axes.length] as number)));
        return { outputs: [{ shape }] };
      }
      case 'Shape': {
        const t = need(0, 'data');
        const rank = t.shape.length;
        const clamp = (v: number) => Math.min(rank, Math.max(0, v < 0 ? v + rank : v));
        const values = t.shape.slice(clamp(attrs.int('start', 0)), attrs.has('end') ? clamp(attrs.int('end', rank)) : rank);
        return { outputs: [{ shape: [values.length], values }] };
      }
      case 'Size': {
        const t = need(0, 'data');
        return { outputs: [{ shape: [], values: [numel(t.shape)] }] };
      }
      case 'Gather':
        return gather(need(0, 'data'), need(1, 'indices'), attrs.int('axis', 0));
      case 'Slice': {
        const t = need(0, 'data');
        const starts = this.opset >= 10 ? valuesOf(1, 'starts') : (attrs.ints('starts') ?? fail('it has no starts'));
        const ends = this.opset >= 10 ? valuesOf(2, 'ends') : (attrs.ints('ends') ?? fail('it has no ends'));
        const axes = (this.opset >= 10 ? optionalValues(3, 'axes') : attrs.ints('axes')) ?? starts.map((_, i) => i);
        const steps = (this.opset >= 10 ? optionalValues(4, 'steps') : undefined) ?? starts.map(() => 1);
        return slice(t, starts, ends, axes, steps);
      }
      case 'Split': {
        const t = need(0, 'input');
        const axis = normAxis(attrs.int('axis', 0), t.shape.length);
        const dim = t.shape[axis] as number;
        let sizes = this.opset >= 13 ? optionalValues(1, 'split') : attrs.ints('split');
        if (!sizes) {
          const parts = attrs.int('num_outputs', outputCount);
          const each = Math.ceil(dim / parts);
          sizes = Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(each, dim - i * each)));
        }
        if (sizes.reduce((a, b) => a + b, 0) !== dim) fail(`split [${sizes.join(', ')}] does not sum to axis ${axis}'s ${dim}`);
        return { outputs: sizes.map((s) => ({ shape: t.shape.map((d, i) => (i === axis ? s : d)) })) };
      }
      case 'Resize':
      case 'Upsample': {
        const t = need(0, 'X');
        let shape: number[];
        const sizes = op === 'Resize' && this.opset >= 11 ? optionalValues(3, 'sizes') : undefined;
        if (sizes && sizes.length > 0) shape = sizes;
        else {
          const scales = op === 'Resize' ? valuesOf(this.opset >= 11 ? 2 : 1, 'scales') : this.opset >= 9 ? valuesOf(1, 'scales') : (attrs.floats('scales') ?? fail('it has no scales'));
          if (scales.length !== t.shape.length) fail(`scales [${scales.join(', ')}] do not fit rank ${t.shape.length}`);
          shape = t.shape.map((d, i) => Math.floor(d * (scales[i] as number)));
        }
        if (op === 'Resize' && attrs.has('axes')) fail('Resize with axes is not supported');
        return { outputs: [{ shape }], elementOps: numel(shape) };
      }
      case 'Expand': {
        const t = need(0, 'input');
        return { outputs: [{ shape: broadcast([t.shape, valuesOf(1, 'shape')]) }] };
      }
      case 'Tile': {
        const t = need(0, 'input');
        const repeats = valuesOf(1, 'repeats');
        if (repeats.length !== t.shape.length) fail(`repeats [${repeats.join(', ')}] do not fit rank ${t.shape.length}`);
        return { outputs: [{ shape: t.shape.map((d, i) => d * (repeats[i] as number)) }] };
      }
      case 'ConstantOfShape': {
        const shape = valuesOf(0, 'shape');
        const fill = attrs.get('value')?.t;
        const v = fill ? (tensorValues(fill)?.[0] ?? 0) : 0;
        return { outputs: [numel(shape) <= MAX_TRACKED_VALUES ? { shape, values: Array<number>(numel(shape)).fill(v) } : { shape }] };
      }
      case 'Range': {
        const [start, limit, delta] = [valuesOf(0, 'start')[0], valuesOf(1, 'limit')[0], valuesOf(2, 'delta')[0]] as [number, number, number];
        const n = Math.max(0, Math.ceil((limit - start) / delta));
        return { outputs: [{ shape: [n], ...(n <= MAX_TRACKED_VALUES ? { values: Array.from({ length: n }, (_, i) => start + i * delta) } : {}) }] };
      }
      case 'ArgMax':
      case 'ArgMin': {
        const t = need(0, 'data');
        return this.reduce(op, t, attrs, [attrs.int('axis', 0)]);
      }
      case 'DepthToSpace':
      case 'SpaceToDepth': {
        const t = need(0, 'input');
        const b = attrs.int('blocksize', 0);
        const [n, c, h, w] = t.shape as [number, number, number, number];
        if (t.shape.length !== 4 || b < 1) fail(`expects a 4-D input and a blocksize, got [${t.shape.join(', ')}] and ${b}`);
        const shape = op === 'DepthToSpace' ? [n, c / (b * b), h * b, w * b] : [n, c * b * b, h / b, w / b];
        if (!shape.every(Number.isInteger)) fail(`blocksize ${b} does not divide [${t.shape.join(', ')}]`);
        return { outputs: [{ shape }] };
      }
      default:
        return fail(`op ${op} is not supported by the FLOP counter`);
    }
  }

  private reduce(op: string, t: Tensor, attrs: Attributes, axesInput: number[] | undefined): NodeResult {
    const rank = t.shape.length;
    const fromInput = this.opset >= (AXES_INPUT_FROM[op] ?? 18) || op === 'ArgMax' || op === 'ArgMin';
    const given = fromInput ? axesInput : attrs.ints('axes');
    let axes: number[];
    if (given && given.length > 0) axes = given.map((a) => normAxis(a, rank));
    else if (attrs.int('noop_with_empty_axes', 0) === 1) return { outputs: [{ shape: t.shape }] };
    else axes = t.shape.map((_, i) => i);
    const keep = attrs.int('keepdims', 1) === 1;
    const shape = keep ? t.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : t.shape.filter((_, i) => !axes.includes(i));
    return { outputs: [{ shape }], elementOps: numel(t.shape) };
  }
}

function arithmetic(op: string): ((a: number, b: number) => number) | undefined {
  switch (op) {
    case 'Add':
      return (a, b) => a + b;
    case 'Sub':
      return (a, b) => a - b;
    case 'Mul':
      return (a, b) => a * b;
    case 'Div':
      // Shape arithmetic is integer; a float division of integers that is exact stays exact.
      return (a, b) => (Number.isInteger(a) && Number.isInteger(b) ? Math.trunc(a / b) : a / b);
    default:
      return undefined;
  }
}

function broadcastValues(a: Tensor, b: Tensor, shape: number[], f: (p: number, q: number) => number): number[] {
  const index = (t: Tensor, flat: number): number => {
    let offset = 0;
    let stride = 1;
    let rest = flat;
    const idx: number[] = [];
    for (let i = shape.length - 1; i >= 0; i--) {
      idx[i] = rest % (shape[i] as number);
      rest = Math.floor(rest / (shape[i] as number));
    }
    for (let i = t.shape.length - 1; i >= 0; i--) {
      const d = t.shape[i] as number;
      const j = idx[shape.length - t.shape.length + i] as number;
      offset += (d === 1 ? 0 : j) * stride;
      stride *= d;
    }
    return (t.values as number[])[offset] as number;
  };
  return Array.from({ length: numel(shape) }, (_, i) => f(index(a, i), index(b, i)));
}

function constantAttr(attrs: Attributes): Tensor {
  const t = attrs.get('value')?.t;
  if (t) return tensorOf(t);
  const f = attrs.get('value_float');
  if (f) return { shape: [], values: [f.f ?? 0] };
  const fs = attrs.floats('value_floats');
  if (fs) return { shape: [fs.length], values: fs };
  const i = attrs.get('value_int');
  if (i) return { shape: [], values: [num(i.i)] };
  const is = attrs.ints('value_ints');
  if (is) return { shape: [is.length], values: is };
  return fail('it holds no value this counter can read (value, value_float(s), value_int(s))');
}

function conv(x: Tensor, w: Tensor, bias: boolean, attrs: Attributes): NodeResult {
  const [n, c] = x.shape as [number, number];
  const [m, cPerGroup] = w.shape as [number, number];
  if (x.shape.length < 3 || w.shape.length !== x.shape.length) fail(`input [${x.shape.join(', ')}] and weights [${w.shape.join(', ')}] do not fit`);
  const group = attrs.int('group', 1);
  if (cPerGroup * group !== c) fail(`weights [${w.shape.join(', ')}] with group ${group} do not fit ${c} input channels`);
  const win = windowAttrs(attrs, x.shape.length - 2, w.shape.slice(2));
  const spatial = spatialOut(x.shape.slice(2), win, false);
  const outputs = n * m * numel(spatial);
  return { outputs: [{ shape: [n, m, ...spatial] }], macs: outputs * cPerGroup * numel(win.kernel), elementOps: bias ? outputs : 0 };
}

function convTranspose(x: Tensor, w: Tensor, bias: boolean, attrs: Attributes): NodeResult {
  const [n, c] = x.shape as [number, number];
  const group = attrs.int('group', 1);
  const r = x.shape.length - 2;
  if (r < 1 || w.shape.length !== x.shape.length || w.shape[0] !== c) fail(`input [${x.shape.join(', ')}] and weights [${w.shape.join(', ')}] do not fit`);
  const m = (w.shape[1] as number) * group;
  const win = windowAttrs(attrs, r, w.shape.slice(2));
  const outPad = attrs.ints('output_padding') ?? Array<number>(r).fill(0);
  const given = attrs.ints('output_shape');
  const spatial = x.shape.slice(2).map((d, i) => {
    if (given) return given[given.length - r + i] as number;
    const s = win.strides[i] ?? 1;
    if (win.autoPad === 'SAME_UPPER' || win.autoPad === 'SAME_LOWER') return d * s;
    const eff = ((win.kernel[i] as number) - 1) * (win.dilations[i] ?? 1) + 1;
    const pads = win.autoPad === 'VALID' ? 0 : (win.pads[i] as number) + (win.pads[i + r] as number);
    return s * (d - 1) + (outPad[i] ?? 0) + eff - pads;
  });
  const macs = n * c * numel(x.shape.slice(2)) * (w.shape[1] as number) * numel(win.kernel);
  return { outputs: [{ shape: [n, m, ...spatial] }], macs, elementOps: bias ? n * m * numel(spatial) : 0 };
}

function matmul(a: readonly number[], b: readonly number[]): NodeResult {
  if (a.length === 0 || b.length === 0) fail('MatMul of a scalar');
  const a2 = a.length === 1 ? [1, a[0] as number] : [...a];
  const b2 = b.length === 1 ? [b[0] as number, 1] : [...b];
  const [m, k] = a2.slice(-2) as [number, number];
  const [kb, n] = b2.slice(-2) as [number, number];
  if (k !== kb) fail(`cannot multiply [${a.join(', ')}] by [${b.join(', ')}]`);
  const batch = broadcast([a2.slice(0, -2), b2.slice(0, -2)]);
  const shape = [...batch, ...(a.length === 1 ? [] : [m]), ...(b.length === 1 ? [] : [n])];
  return { outputs: [{ shape }], macs: numel(batch) * m * k * n };
}

function gemm(a: readonly number[], b: readonly number[], bias: boolean, attrs: Attributes): NodeResult {
  if (a.length !== 2 || b.length !== 2) fail(`Gemm takes 2-D inputs, got [${a.join(', ')}] and [${b.join(', ')}]`);
  const [m, k] = (attrs.int('transA', 0) ? [a[1], a[0]] : a) as [number, number];
  const [kb, n] = (attrs.int('transB', 0) ? [b[1], b[0]] : b) as [number, number];
  if (k !== kb) fail(`cannot multiply [${a.join(', ')}] by [${b.join(', ')}] (transA ${attrs.int('transA', 0)}, transB ${attrs.int('transB', 0)})`);
  return { outputs: [{ shape: [m, n] }], macs: m * k * n, elementOps: bias ? m * n : 0 };
}

function gather(data: Tensor, indices: Tensor, axisAttr: number): NodeResult {
  const axis = normAxis(axisAttr, data.shape.length);
  const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
  const out: Tensor = { shape };
  if (data.shape.length === 1 && data.values && indices.values) {
    const dim = data.shape[0] as number;
    out.values = indices.values.map((i) => (data.values as number[])[i < 0 ? i + dim : i] ?? fail(`index ${i} is out of range for ${dim}`));
  }
  return { outputs: [out] };
}

function slice(t: Tensor, starts: number[], ends: number[], axesIn: number[], steps: number[]): NodeResult {
  const rank = t.shape.length;
  const shape = [...t.shape];
  const ranges: Array<[number, number, number]> = t.shape.map((d) => [0, d, 1]);
  axesIn.forEach((axisIn, i) => {
    const axis = normAxis(axisIn, rank);
    const dim = t.shape[axis] as number;
    const step = steps[i] ?? 1;
    if (step === 0) fail('a slice step of 0');
    let start = starts[i] as number;
    let end = ends[i] as number;
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    if (step > 0) {
      start = Math.min(Math.max(start, 0), dim);
      end = Math.min(Math.max(end, 0), dim);
      shape[axis] = Math.max(0, Math.ceil((end - start) / step));
    } else {
      start = Math.min(Math.max(start, 0), dim - 1);
      end = Math.min(Math.max(end, -1), dim - 1);
      shape[axis] = Math.max(0, Math.ceil((start - end) / -step));
    }
    ranges[axis] = [start, end, step];
  });
  const out: Tensor = { shape };
  if (rank === 1 && t.values) {
    const [start, , step] = ranges[0] as [number, number, number];
    out.values = Array.from({ length: shape[0] as number }, (_, i) => (t.values as number[])[start + i * step] as number);
  }
  return { outputs: [out] };
}

function graphInputShape(info: Onnx.IValueInfoProto): number[] | undefined {
  const dims = info.type?.tensorType?.shape?.dim;
  if (!dims) return undefined;
  const shape = dims.map((d) => (d.dimValue !== undefined && d.dimValue !== null && !d.dimParam ? num(d.dimValue) : -1));
  return shape.every((d) => d > 0) || shape.length === 0 ? shape : undefined;
}

/**
 * Counts the MACs of an ONNX model (serialised ModelProto) for the given input shape(s): a
 * plain array names the shape of the only input (the first that is not an initializer), a
 * record gives shapes by input name. Inputs it does not name must have fully static shapes.
 * `label` names the model in errors.
 */
export function countOnnxFlops(model: Uint8Array, inputs: InputShapes, label = 'in-memory ONNX model'): OnnxFlopCount {
  let proto: Onnx.ModelProto;
  try {
    proto = onnx.ModelProto.decode(model);
  } catch (err) {
    throw new WeightsError(`is not an ONNX model (${(err as Error).message})`, label);
  }
  const graph = proto.graph;
  if (!graph) throw new WeightsError('the ONNX model has no graph', label);
  const opset = num(proto.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 13);
  const counter = new FlopCounter(opset);
  for (const init of graph.initializer ?? []) counter.set(init.name ?? '', tensorOf(init));

  const graphInputs = (graph.input ?? []).filter((i) => !counter.has(i.name ?? '')).map((i) => ({ ...i, name: i.name ?? '' }));
  const byName: Record<string, readonly number[]> = Array.isArray(inputs)
    ? { [graphInputs[0]?.name ?? '']: inputs as readonly number[] }
    : (inputs as Readonly<Record<string, readonly number[]>>);
  for (const name of Object.keys(byName)) {
    if (!graphInputs.some((i) => i.name === name)) throw new WeightsError(`the model has no input '${name}'; inputs: ${graphInputs.map((i) => i.name).join(', ')}`, label);
  }
  for (const info of graphInputs) {
    const shape = byName[info.name] ?? graphInputShape(info);
    if (!shape) throw new WeightsError(`input '${info.name}' has a dynamic shape; give its shape to count FLOPs`, label);
    if (!shape.every((d) => Number.isInteger(d) && d > 0)) throw new WeightsError(`input '${info.name}' shape [${shape.join(', ')}] is not all positive integers`, label);
    const declared = info.type?.tensorType?.shape?.dim;
    if (declared && declared.length !== shape.length) {
      throw new WeightsError(`input '${info.name}' has rank ${declared.length}, but the shape given is [${shape.join(', ')}]`, label);
    }
    declared?.forEach((d: Onnx.TensorShapeProto.IDimension, i: number) => {
      if (d.dimValue !== undefined && d.dimValue !== null && !d.dimParam && num(d.dimValue) > 0 && num(d.dimValue) !== shape[i]) {
        throw new WeightsError(`input '${info.name}' is declared with ${num(d.dimValue)} at axis ${i}, but the shape given is [${shape.join(', ')}]`, label);
      }
    });
    counter.set(info.name, { shape: [...shape] });
  }

  // Nodes in dependency order: the ONNX spec asks for it, but the counter does not rely on it.
  const pending = [...(graph.node ?? [])];
  while (pending.length > 0) {
    const ready = pending.findIndex((n) => (n.input ?? []).every((i: string) => !i || counter.has(i)));
    if (ready < 0) {
      const stuck = pending[0] as Onnx.INodeProto;
      const missing = (stuck.input ?? []).filter((i: string) => i && !counter.has(i));
      throw new WeightsError(`node '${stuck.name || stuck.opType}' (op ${stuck.opType}) reads ${missing.join(', ')}, which nothing computes`, label);
    }
    const node = pending.splice(ready, 1)[0] as Onnx.INodeProto;
    try {
      counter.count(node);
    } catch (err) {
      if (!(err instanceof CountError)) throw err;
      throw new WeightsError(`cannot count node '${node.name || (node.output ?? [])[0] || '?'}' (op ${node.opType}): ${err.message}`, label);
    }
  }
  try {
    return counter.result((graph.output ?? []).map((o) => o.name ?? ''));
  } catch (err) {
    if (!(err instanceof CountError)) throw err;
    throw new WeightsError(err.message, label);
  }
}

/** {@link countOnnxFlops} on a model read from a file, or given as bytes. */
export async function countOnnxFileFlops(model: string | Uint8Array, inputs: InputShapes): Promise<OnnxFlopCount> {
  if (typeof model !== 'string') return countOnnxFlops(model, inputs);
  let bytes: Buffer;
  try {
    bytes = await readFile(model);
  } catch (err) {
    throw new WeightsError(`cannot read the ONNX model (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, model);
  }
  return countOnnxFlops(bytes, inputs, model);
}
