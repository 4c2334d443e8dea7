import type { ImageSize } from '../data/image.js';
import { WeightsError } from '../errors.js';
import {
  attrFloat,
  attrInt,
  attrInts,
  attrString,
  encodeModel,
  floatInitializer,
  floatValueInfo,
  int64Initializer,
  ONNX_INPUT_NAME,
  ONNX_OUTPUT_NAME,
  type Onnx,
} from '../runtime/onnx/builder.js';
import { attrIntList, decodeAttrString, fusedOps, spatialPair } from './attributes.js';
import { GraphConversionError } from './errors.js';
import type { GraphWeight, TfjsAttrValue, TfjsGraphNode } from './nodes.js';
import { walkDependencies } from './walk.js';

/**
 * Converts the part of a frozen tfjs graph model (converter format) that computes one node into
 * an ONNX model, so ONNX Runtime can run it several times faster than single-threaded tfjs-wasm.
 *
 * TensorFlow graphs are NHWC; ONNX Runtime's convolutions want NCHW. The converted graph takes
 * the same [N, H, W, C] input, transposes it once, and runs NCHW throughout: every 4-D
 * activation is held as NCHW, and constants, axes and paddings that meet one are permuted to
 * match. Anything the converter does not know throws a WeightsError naming the node and op.
 */


export interface GraphToOnnxOptions {
  /** The node whose value the model outputs, e.g. `global_pooling/Mean`. */
  outputNode: string;
  /** `global-average`: the node is an [N, h, w, C] map, averaged over h and w to [N, C] in the graph. */
  pooling?: 'none' | 'global-average';
  /**
   * Height and width the model will be fed. Replaces the placeholder's own (frozen graphs often
   * fix them), and fixes TensorFlow's 'SAME' paddings, which depend on the input size.
   */
  inputSize?: ImageSize;
  /** Names the model (its model.json path) in error messages. */
  label?: string;
  /**
   * More nodes to output beside `outputNode` (a detector has several heads). They come out as
   * `features_1`, `features_2`, ... in this order, 4-D ones in NHWC like the first, never pooled.
   */
  extraOutputs?: readonly string[];
}

export interface ConvertedGraph {
  /** Serialised ONNX ModelProto. */
  model: Uint8Array;
  inputName: string;
  outputName: string;
  /** [N, H, W, C]; N is symbolic. */
  inputDims: Array<number | string>;
  /** The output's shape in TensorFlow's order (NHWC for 4-D outputs); -1 where unknown. */
  outputShape: number[];
  /** Every output: `outputName` first, then one per `extraOutputs` entry. */
  outputNames: string[];
  /** Their shapes, as `outputShape`. */
  outputShapes: number[][];
  /** TensorFlow ops converted, with their counts, for logs. */
  opCounts: Record<string, number>;
}

// ---------------------------------------------------------------------------------------------
// Conversion

/** A converted value. 4-D activations are held as NCHW; `shape` is always in TensorFlow's order. */
interface Value {
  /** ONNX value name; empty for a constant not yet emitted. */
  name: string;
  /** TensorFlow (NHWC) shape; -1 where unknown (the batch). */
  shape: number[];
  /** Held as NCHW (a 4-D activation). */
  nchw: boolean;
  constant?: GraphWeight;
}

/** ONNX axis j holds TensorFlow axis NCHW_FROM_NHWC[j]. */
const NCHW_FROM_NHWC = [0, 3, 1, 2];
/** TensorFlow axis a sits at ONNX axis NHWC_TO_NCHW_AXIS[a]. */
const NHWC_TO_NCHW_AXIS = [0, 2, 3, 1];

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** NHWC data of a 4-D constant → NCHW. */
function transposeNhwcToNchw(values: Float32Array, shape: readonly number[]): Float32Array {
  const [n = 1, h = 1, w = 1, c = 1] = shape;
  const out = new Float32Array(values.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++) out[((b * c + k) * h + y) * w + x] = values[((b * h + y) * w + x) * c + k] as number;
  return out;
}

/** TensorFlow 'SAME' padding along one axis: the odd pixel goes at the end. */
export function samePadding(inSize: number, kernel: number, stride: number, dilation = 1): [number, number] {
  const effective = (kernel - 1) * dilation + 1;
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + effective - inSize, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    out.push(x === 1 ? y : y === 1 ? x : x === -1 || y === -1 ? Math.max(x, y) : x);
  }
  return out;
}

class GraphConverter {
  private readonly nodes = new Map<string, TfjsGraphNode>();
  private readonly values = new Map<string, Value>();
  private readonly onnxNodes: Onnx.INodeProto[] = [];
  private readonly initializers: Onnx.ITensorProto[] = [];
  private readonly emittedConstants = new Map<string, string>();
  private readonly opCounts: Record<string, number> = {};
  /** Values of the scalar initializers made by scalar(), for merging Clips. */
  private readonly scalarValues = new Map<string, number>();
  private inputDims: Array<number | string> | undefined;
  private uid = 0;

  constructor(
    nodes: readonly TfjsGraphNode[],
    private readonly weights: ReadonlyMap<string, GraphWeight>,
    private readonly options: GraphToOnnxOptions,
  ) {
    for (const node of nodes) this.nodes.set(node.name, node);
  }

  private fail(node: TfjsGraphNode, reason: string): never {
    throw new GraphConversionError(`cannot convert node '${node.name}' (op ${node.op}) to ONNX: ${reason}`, this.options.label);
  }

  private fresh(base: string): string {
    return `${base}:onnx${this.uid++}`;
  }

  private emit(opType: string, inputs: string[], output: string, attribute: Onnx.IAttributeProto[] = []): string {
    this.onnxNodes.push({ opType, name: output, input: inputs, output: [output], attribute });
    return output;
  }

  private floatInitializer(name: string, dims: number[], values: Float32Array): string {
    this.initializers.push(floatInitializer(name, dims, values));
    return name;
  }

  private int64Initializer(name: string, values: number[]): string {
    this.initializers.push(int64Initializer(name, values));
    return name;
  }

  private scalar(value: number): string {
    const key = `scalar:${value}`;
    const found = this.emittedConstants.get(key);
    if (found) return found;
    const name = this.floatInitializer(`:scalar${this.uid++}`, [], Float32Array.of(value));
    this.emittedConstants.set(key, name);
    this.scalarValues.set(name, value);
    return name;
  }

  // --- reading the TensorFlow graph ---------------------------------------------------------

  private attr(node: TfjsGraphNode, key: string): TfjsAttrValue | undefined {
    return node.attr?.[key];
  }

  private attrStr(node: TfjsGraphNode, key: string): string | undefined {
    return decodeAttrString(this.attr(node, key));
  }

  private dataInputs(node: TfjsGraphNode): string[] {
    return (node.input ?? []).filter((i) => !i.startsWith('^'));
  }

  private constantOf(node: TfjsGraphNode): GraphWeight {
    const stored = this.weights.get(node.name);
    if (stored) return stored;
    const tensor = this.attr(node, 'value')?.tensor;
    if (!tensor) this.fail(node, 'the constant is neither in the weight shards nor inline in model.json');
    const shape = (tensor.tensorShape?.dim ?? []).map((d) => Number(d.size ?? 1));
    const count = product(shape);
    const isInt = tensor.dtype === 'DT_INT32';
    if (!isInt && tensor.dtype !== 'DT_FLOAT') this.fail(node, `inline constant of type ${tensor.dtype} is not supported`);
    let values: Float32Array | Int32Array;
    if (tensor.tensorContent) {
      const bytes = Buffer.from(tensor.tensorContent, 'base64');
      const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      values = isInt ? new Int32Array(copy) : new Float32Array(copy);
    } else {
      const list = (isInt ? tensor.intVal : tensor.floatVal)?.map(Number) ?? [];
      values = isInt ? new Int32Array(count) : new Float32Array(count);
      // TensorFlow stores a constant filled with one value as that single value.
      for (let i = 0; i < count; i++) values[i] = list.length === 1 ? (list[0] as number) : (list[i] ?? 0);
    }
    if (values.length !== count) this.fail(node, `inline constant holds ${values.length} values for shape [${shape.join(', ')}]`);
    return { dtype: isInt ? 'int32' : 'float32', shape, values };
  }

  /** The converted value of a node's input, converting its producers first. */
  private value(ref: string, consumer: TfjsGraphNode): Value {
    const [name, index] = ref.split(':') as [string, string | undefined];
    if (index !== undefined && index !== '0') this.fail(consumer, `reads output ${index} of '${name}'; only first outputs are supported`);
    const found = this.values.get(name);
    if (found) return found;
    if (!this.nodes.has(name)) this.fail(consumer, `its input '${name}' is not in the graph`);
    this.convertFrom(name);
    return this.values.get(name) as Value;
  }

  /** Converts `target` and everything it depends on. */
  private convertFrom(target: string): void {
    walkDependencies<TfjsGraphNode>(target, {
      node: (name) => this.nodes.get(name),
      inputs: (node) => this.dataInputs(node).map((ref) => ref.split(':')[0] as string),
      done: (name) => this.values.has(name),
      visit: (node) => {
        this.values.set(node.name, this.convertNode(node));
        this.opCounts[node.op] = (this.opCounts[node.op] ?? 0) + 1;
      },
      fail: (node, reason) => this.fail(node, reason),
    });
  }

  // --- constants ------------------------------------------------------------------------------

  private constInput(node: TfjsGraphNode, index: number, what: string): GraphWeight {
    const ref = this.dataInputs(node)[index];
    if (ref === undefined) this.fail(node, `it has no input ${index} (${what})`);
    const v = this.value(ref, node);
    if (!v.constant) this.fail(node, `its ${what} ('${ref}') must be a constant`);
    return v.constant;
  }

  private intList(node: TfjsGraphNode, index: number, what: string): number[] {
    const c = this.constInput(node, index, what);
    return Array.from(c.values, Number);
  }

  /** Constants keep their node's name, remembered through the weight object. */
  private readonly constNames = new WeakMap<GraphWeight, string>();

  /** A constant operand of an elementwise op whose other operand is `partner`. */
  private constOperand(v: Value, partner: Value, node: TfjsGraphNode): string {
    const c = v.constant as GraphWeight;
    if (c.dtype !== 'float32') this.fail(node, 'integer operands of arithmetic are not supported');
    const id = this.constNames.get(c) ?? `${node.name}:const${this.uid++}`;
    const toNchw = partner.nchw && c.shape.length > 0;
    const key = `${id}|${toNchw ? 'nchw' : 'plain'}`;
    const found = this.emittedConstants.get(key);
    if (found) return found;
    let name: string;
    if (!toNchw) {
      name = this.floatInitializer(id, c.shape, c.values as Float32Array);
    } else {
      if (c.shape.length > 4) this.fail(node, `a ${c.shape.length}-D constant cannot meet a 4-D activation`);
      const nhwc = [...Array<number>(4 - c.shape.length).fill(1), ...c.shape];
      const dims = NCHW_FROM_NHWC.map((a) => nhwc[a] as number);
      name = this.floatInitializer(`${id}:nchw`, dims, transposeNhwcToNchw(c.values as Float32Array, nhwc));
    }
    this.emittedConstants.set(key, name);
    return name;
  }

  // --- op helpers -----------------------------------------------------------------------------

  private activation(node: TfjsGraphNode, index: number): Value {
    const ref = this.dataInputs(node)[index];
    if (ref === undefined) this.fail(node, `it has no input ${index}`);
    const v = this.value(ref, node);
    if (v.constant) this.fail(node, `input ${index} ('${ref}') is a constant; constant folding is not supported`);
    return v;
  }

  private image(node: TfjsGraphNode, index = 0): Value {
    const v = this.activation(node, index);
    if (!v.nchw) this.fail(node, `expects a 4-D image tensor, got shape [${v.shape.join(', ')}]`);
    return v;
  }

  private checkNhwc(node: TfjsGraphNode): void {
    const format = this.attrStr(node, 'data_format');
    if (format !== undefined && format !== 'NHWC') this.fail(node, `data_format ${format} is not supported (only NHWC)`);
  }

  /**
   * ONNX padding attributes and the output size for a TensorFlow window op over a 4-D NHWC
   * input. Pools get `auto_pad`, never `pads`: ONNX Runtime's PadFusion folds a zero Pad before a
   * pool into the pool's padding, where MaxPool pads with -inf and AveragePool leaves padding out
   * of the count, so the zeros would silently stop counting (and MaxPool refuses pads as large as
   * its kernel). It leaves pools with an auto_pad alone.
   */
  private window(
    node: TfjsGraphNode,
    input: Value,
    kernel: [number, number],
    stride: [number, number],
    dilation: [number, number],
    pool: boolean,
  ): { attrs: Onnx.IAttributeProto[]; outH: number; outW: number } {
    const padding = this.attrStr(node, 'padding') ?? 'VALID';
    const [, h = -1, w = -1] = input.shape;
    const eff = (k: number, d: number) => (k - 1) * d + 1;
    const attrs: Onnx.IAttributeProto[] = [attrInts('kernel_shape', kernel), attrInts('strides', stride)];
    const size = (inSize: number, k: number, s: number, d: number, pads: number) => (inSize > 0 ? Math.floor((inSize + pads - eff(k, d)) / s) + 1 : -1);
    if (padding === 'SAME') {
      if (h > 0 && w > 0 && !pool) {
        const [top, bottom] = samePadding(h, kernel[0], stride[0], dilation[0]);
        const [left, right] = samePadding(w, kernel[1], stride[1], dilation[1]);
        attrs.push(attrInts('pads', [top, left, bottom, right]));
      } else {
        // ONNX's SAME_UPPER puts the odd pixel at the end, as TensorFlow does.
        attrs.push(attrString('auto_pad', 'SAME_UPPER'));
      }
      return { attrs, outH: h > 0 ? Math.ceil(h / stride[0]) : -1, outW: w > 0 ? Math.ceil(w / stride[1]) : -1 };
    }
    if (padding === 'VALID') {
      attrs.push(pool ? attrString('auto_pad', 'VALID') : attrInts('pads', [0, 0, 0, 0]));
      return { attrs, outH: size(h, kernel[0], stride[0], dilation[0], 0), outW: size(w, kernel[1], stride[1], dilation[1], 0) };
    }
    if (padding === 'EXPLICIT' && !pool) {
      const p = attrIntList(node, 'explicit_paddings') ?? [];
      const [n0, n1, top = 0, bottom = 0, left = 0, right = 0, c0, c1] = p;
      if (p.length !== 8 || n0 !== 0 || n1 !== 0 || c0 !== 0 || c1 !== 0) this.fail(node, `explicit_paddings [${p.join(', ')}] are not 4 NHWC pairs padding only H and W`);
      attrs.push(attrInts('pads', [top, left, bottom, right]));
      return { attrs, outH: size(h, kernel[0], stride[0], dilation[0], top + bottom), outW: size(w, kernel[1], stride[1], dilation[1], left + right) };
    }
    return this.fail(node, `padding ${padding} is not supported`);
  }

  private spatialPair(node: TfjsGraphNode, key: string, fallback: number): [number, number] {
    return spatialPair(node, key, fallback, (reason) => this.fail(node, reason));
  }

  /** Conv2D and DepthwiseConv2dNative, plain or fused with a bias and an activation. */
  private convolution(node: TfjsGraphNode, depthwise: boolean, fused: boolean): Value {
    this.checkNhwc(node);
    const x = this.image(node, 0);
    const filter = this.constInput(node, 1, 'filter');
    if (filter.shape.length !== 4) this.fail(node, `filter shape [${filter.shape.join(', ')}] is not 4-D`);
    const [kh, kw, fin, fout] = filter.shape as [number, number, number, number];
    const inChannels = x.shape[3] as number;
    const values = filter.values as Float32Array;
    let outChannels: number;
    let group: number;
    let weights: Float32Array;
    if (depthwise) {
      // [kh, kw, in, multiplier] → [in * multiplier, 1, kh, kw]; output channel i*m + j.
      if (inChannels > 0 && fin !== inChannels) this.fail(node, `depthwise filter expects ${fin} channels, input has ${inChannels}`);
      outChannels = fin * fout;
      group = fin;
      weights = new Float32Array(values.length);
      for (let y = 0; y < kh; y++)
        for (let xx = 0; xx < kw; xx++)
          for (let i = 0; i < fin; i++)
            for (let m = 0; m < fout; m++) weights[((i * fout + m) * kh + y) * kw + xx] = values[((y * kw + xx) * fin + i) * fout + m] as number;
    } else {
      // [kh, kw, in, out] → [out, in, kh, kw]; fewer filter inputs than channels means grouped.
      if (inChannels > 0 && inChannels % fin !== 0) this.fail(node, `filter has ${fin} input channels, the input ${inChannels}`);
      outChannels = fout;
      group = inChannels > 0 ? inChannels / fin : 1;
      weights = new Float32Array(values.length);
      for (let y = 0; y < kh; y++)
        for (let xx = 0; xx < kw; xx++)
          for (let i = 0; i < fin; i++)
            for (let o = 0; o < fout; o++) weights[((o * fin + i) * kh + y) * kw + xx] = values[((y * kw + xx) * fin + i) * fout + o] as number;
    }
    const stride = this.spatialPair(node, 'strides', 1);
    const dilation = this.spatialPair(node, 'dilations', 1);
    const { attrs, outH, outW } = this.window(node, x, [kh, kw], stride, dilation, false);
    attrs.push(attrInts('dilations', dilation), attrInt('group', group));
    const w = this.floatInitializer(`${node.name}:weights`, depthwise ? [outChannels, 1, kh, kw] : [outChannels, fin, kh, kw], weights);
    const inputs = [x.name, w];

    let ops: string[] = [];
    if (fused) {
      ops = fusedOps(node);
      if (ops[0] === 'BiasAdd') {
        const bias = this.constInput(node, 2, 'bias');
        if (bias.shape.length !== 1 || bias.shape[0] !== outChannels) this.fail(node, `bias shape [${bias.shape.join(', ')}] does not fit ${outChannels} channels`);
        inputs.push(this.floatInitializer(`${node.name}:bias`, [outChannels], bias.values as Float32Array));
        ops = ops.slice(1);
      } else if (ops.length > 0) {
        this.fail(node, `fused ops [${ops.join(', ')}] are not supported (only BiasAdd, then an activation)`);
      }
    }
    const out: Value = { name: '', shape: [x.shape[0] ?? -1, outH, outW, outChannels], nchw: true };
    const conv = this.emit('Conv', inputs, ops.length > 0 ? this.fresh(node.name) : node.name, attrs);
    if (ops.length > 1) this.fail(node, `fused ops [BiasAdd, ${ops.join(', ')}] are not supported (at most one activation)`);
    const act = ops[0];
    out.name = act === undefined ? conv : this.fusedActivation(node, act, conv, out, 3);
    return out;
  }

  /** The activation fused into a _Fused* op; `extraArg` is where its own argument (Prelu's alpha) sits. */
  private fusedActivation(node: TfjsGraphNode, act: string, input: string, shapeOf: Value, extraArg: number): string {
    switch (act) {
      case 'Relu':
        return this.emit('Relu', [input], node.name);
      case 'Relu6':
        return this.emit('Clip', [input, this.scalar(0), this.scalar(6)], node.name);
      case 'Sigmoid':
        return this.emit('Sigmoid', [input], node.name);
      case 'Tanh':
        return this.emit('Tanh', [input], node.name);
      case 'Elu':
        return this.emit('Elu', [input], node.name);
      case 'LeakyRelu':
        return this.emit('LeakyRelu', [input], node.name, [attrFloat('alpha', this.attr(node, 'leakyrelu_alpha')?.f ?? 0.2)]);
      case 'Prelu': {
        const ref = this.dataInputs(node)[extraArg];
        if (ref === undefined) this.fail(node, 'fused Prelu has no alpha input');
        const alpha = this.value(ref, node);
        const slope = alpha.constant ? this.constOperand(alpha, shapeOf, node) : alpha.name;
        return this.emit('PRelu', [input, slope], node.name);
      }
      default:
        return this.fail(node, `fused activation ${act} is not supported`);
    }
  }

  private elementwise(node: TfjsGraphNode, opType: string): Value {
    const refs = this.dataInputs(node);
    if (refs.length !== 2) this.fail(node, `expects 2 inputs, got ${refs.length}`);
    const [a, b] = refs.map((r) => this.value(r, node)) as [Value, Value];
    if (a.constant && b.constant) this.fail(node, 'both operands are constants; constant folding is not supported');
    const shape = broadcastShapes(a.shape, b.shape);
    const partner = a.constant ? b : a;
    if (!a.constant && !b.constant && a.nchw !== b.nchw) {
      this.fail(node, `cannot broadcast shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] across layouts`);
    }
    if (shape.length !== partner.shape.length) {
      this.fail(node, `broadcasting [${a.shape.join(', ')}] with [${b.shape.join(', ')}] raises the rank; not supported`);
    }
    const other = a.constant ?? b.constant;
    if ((opType === 'Max' || opType === 'Min') && other?.dtype === 'float32' && other.values.length === 1) {
      // A bound by a scalar is a one-sided Clip, which simplify() can merge into a Relu6-like Clip.
      const bound = this.scalar(other.values[0] as number);
      const inputs = opType === 'Max' ? [partner.name, bound, ''] : [partner.name, '', bound];
      return { name: this.emit('Clip', inputs, node.name), shape, nchw: partner.nchw };
    }
    const names = [a, b].map((v) => (v.constant ? this.constOperand(v, partner, node) : v.name));
    return { name: this.emit(opType, names, node.name), shape, nchw: partner.nchw };
  }

  private unary(node: TfjsGraphNode, opType: string, extra: string[] = [], attrs: Onnx.IAttributeProto[] = []): Value {
    const x = this.activation(node, 0);
    return { name: this.emit(opType, [x.name, ...extra], node.name, attrs), shape: [...x.shape], nchw: x.nchw };
  }

  /** A TensorFlow axis of `v` as the ONNX axis that holds it. */
  private onnxAxis(node: TfjsGraphNode, v: Value, axis: number): number {
    const rank = v.shape.length;
    const a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) this.fail(node, `axis ${axis} is out of range for rank ${rank}`);
    return v.nchw ? (NHWC_TO_NCHW_AXIS[a] as number) : a;
  }

  private mean(node: TfjsGraphNode): Value {
    const x = this.activation(node, 0);
    const rank = x.shape.length;
    const tfAxes = [...new Set(this.intList(node, 1, 'reduction indices').map((a) => (a < 0 ? a + rank : a)))].sort((p, q) => p - q);
    const keep = this.attr(node, 'keep_dims')?.b ?? false;
    const axes = tfAxes.map((a) => this.onnxAxis(node, x, a));
    const kept = x.shape.map((d, i) => (tfAxes.includes(i) ? 1 : d));
    const shape = keep ? kept : x.shape.filter((_, i) => !tfAxes.includes(i));
    if (x.nchw && tfAxes.length === 2 && tfAxes[0] === 1 && tfAxes[1] === 2) {
      // Spatial means are global average pooling, which ONNX Runtime runs faster than ReduceMean.
      if (keep) return { name: this.emit('GlobalAveragePool', [x.name], node.name), shape, nchw: true };
      const pooled = this.emit('GlobalAveragePool', [x.name], this.fresh(node.name));
      return { name: this.emit('Flatten', [pooled], node.name, [attrInt('axis', 1)]), shape, nchw: false };
    }
    const attrs = [attrInts('axes', axes), attrInt('keepdims', keep ? 1 : 0)];
    if (keep || !x.nchw) return { name: this.emit('ReduceMean', [x.name], node.name, attrs), shape, nchw: keep && x.nchw };
    // The axes left over are in NCHW order; put them back in TensorFlow's.
    const left = [0, 1, 2, 3].filter((j) => !axes.includes(j)).map((j) => NCHW_FROM_NHWC[j] as number);
    const reduced = this.emit('ReduceMean', [x.name], this.fresh(node.name), attrs);
    const order = left.map((_, i) => i).sort((p, q) => (left[p] as number) - (left[q] as number));
    const name = order.every((o, i) => o === i) ? this.emit('Identity', [reduced], node.name) : this.emit('Transpose', [reduced], node.name, [attrInts('perm', order)]);
    return { name, shape, nchw: false };
  }

  private pad(node: TfjsGraphNode): Value {
    const x = this.activation(node, 0);
    const rank = x.shape.length;
    const flat = this.intList(node, 1, 'paddings');
    if (flat.length !== 2 * rank) this.fail(node, `paddings hold ${flat.length} values for a rank-${rank} input`);
    let mode = 'constant';
    const inputs = [x.name];
    if (node.op === 'MirrorPad') {
      const m = this.attrStr(node, 'mode');
      if (m !== 'REFLECT') this.fail(node, `mirror mode ${m} is not supported (only REFLECT)`);
      mode = 'reflect';
    }
    const begins: number[] = [];
    const ends: number[] = [];
    for (let j = 0; j < rank; j++) {
      const a = x.nchw ? (NCHW_FROM_NHWC[j] as number) : j;
      begins.push(flat[2 * a] as number);
      ends.push(flat[2 * a + 1] as number);
    }
    inputs.push(this.int64Initializer(`${node.name}:pads`, [...begins, ...ends]));
    if (node.op === 'PadV2') {
      const c = this.constInput(node, 2, 'constant value');
      inputs.push(this.scalar(c.values[0] as number));
    }
    const shape = x.shape.map((d, i) => (d < 0 ? d : d + (flat[2 * i] as number) + (flat[2 * i + 1] as number)));
    return { name: this.emit('Pad', inputs, node.name, [attrString('mode', mode)]), shape, nchw: x.nchw };
  }

  private pool(node: TfjsGraphNode, opType: 'MaxPool' | 'AveragePool'): Value {
    this.checkNhwc(node);
    const x = this.image(node, 0);
    const kernel = this.spatialPair(node, 'ksize', 1);
    const stride = this.spatialPair(node, 'strides', 1);
    const { attrs, outH, outW } = this.window(node, x, kernel, stride, [1, 1], true);
    // TensorFlow's average pooling leaves padding out of the count, ONNX's default too.
    return { name: this.emit(opType, [x.name], node.name, attrs), shape: [x.shape[0] ?? -1, outH, outW, x.shape[3] ?? -1], nchw: true };
  }

  private concat(node: TfjsGraphNode): Value {
    const refs = this.dataInputs(node);
    const axis = this.intList(node, refs.length - 1, 'axis')[0] as number;
    const parts = refs.slice(0, -1).map((r) => this.value(r, node));
    const partner = parts.find((p) => !p.constant);
    if (!partner) this.fail(node, 'all its inputs are constants; constant folding is not supported');
    if (parts.some((p) => !p.constant && p.nchw !== partner.nchw)) this.fail(node, 'its inputs mix 4-D and other ranks');
    const rank = partner.shape.length;
    const a = axis < 0 ? axis + rank : axis;
    const names = parts.map((p) => (p.constant ? this.constOperand(p, partner, node) : p.name));
    const shape = [...partner.shape];
    shape[a] = parts.reduce((s, p) => (s < 0 || (p.shape[a] ?? -1) < 0 ? -1 : s + (p.shape[a] as number)), 0);
    return { name: this.emit('Concat', names, node.name, [attrInt('axis', this.onnxAxis(node, partner, a))]), shape, nchw: partner.nchw };
  }

  private reshape(node: TfjsGraphNode): Value {
    const x = this.activation(node, 0);
    const target = this.intList(node, 1, 'shape');
    if (target.includes(0)) this.fail(node, 'a zero in the target shape is not supported');
    const known = x.shape.every((d) => d > 0) ? product(x.shape) : -1;
    const shape = target.map((d) => (d === -1 && known > 0 ? known / -product(target) : d));
    let input = x.name;
    if (x.nchw) input = this.emit('Transpose', [input], this.fresh(node.name), [attrInts('perm', [0, 2, 3, 1])]);
    const shapeName = this.int64Initializer(`${node.name}:shape`, target);
    if (target.length !== 4) return { name: this.emit('Reshape', [input, shapeName], node.name), shape, nchw: false };
    const reshaped = this.emit('Reshape', [input, shapeName], this.fresh(node.name));
    return { name: this.emit('Transpose', [reshaped], node.name, [attrInts('perm', [0, 3, 1, 2])]), shape, nchw: true };
  }

  private matmul(node: TfjsGraphNode, fused: boolean): Value {
    const x = this.activation(node, 0);
    if (x.nchw || x.shape.length !== 2) this.fail(node, `expects a 2-D input, got shape [${x.shape.join(', ')}]`);
    if (this.attr(node, 'transpose_a')?.b) this.fail(node, 'transpose_a is not supported');
    const kernel = this.constInput(node, 1, 'kernel');
    if (kernel.shape.length !== 2) this.fail(node, `kernel shape [${kernel.shape.join(', ')}] is not 2-D`);
    let [k, m] = kernel.shape as [number, number];
    let values = kernel.values as Float32Array;
    if (this.attr(node, 'transpose_b')?.b) {
      const t = new Float32Array(values.length);
      for (let i = 0; i < k; i++) for (let j = 0; j < m; j++) t[j * k + i] = values[i * m + j] as number;
      values = t;
      [k, m] = [m, k];
    }
    const shape = [x.shape[0] ?? -1, m];
    const w = this.floatInitializer(`${node.name}:kernel`, [k, m], values);
    let ops = fused ? fusedOps(node) : [];
    let out = this.emit('MatMul', [x.name, w], ops.length > 0 ? this.fresh(node.name) : node.name);
    if (ops[0] === 'BiasAdd') {
      const bias = this.constInput(node, 2, 'bias');
      const b = this.floatInitializer(`${node.name}:bias`, [m], bias.values as Float32Array);
      out = this.emit('Add', [out, b], ops.length > 1 ? this.fresh(node.name) : node.name);
      ops = ops.slice(1);
    } else if (ops.length > 0) {
      this.fail(node, `fused ops [${ops.join(', ')}] are not supported (only BiasAdd, then an activation)`);
    }
    if (ops.length > 1) this.fail(node, `fused ops [BiasAdd, ${ops.join(', ')}] are not supported (at most one activation)`);
    const result: Value = { name: out, shape, nchw: false };
    if (ops[0] !== undefined) result.name = this.fusedActivation(node, ops[0], out, result, 3);
    return result;
  }

  private placeholder(node: TfjsGraphNode): Value {
    if (this.inputDims) this.fail(node, 'the output depends on a second input; only one is supported');
    const dims = (this.attr(node, 'shape')?.shape?.dim ?? []).map((d) => Number(d.size ?? -1));
    if (dims.length !== 4) this.fail(node, `the input has shape [${dims.join(', ')}]; only [N, H, W, C] images are supported`);
    const size = this.options.inputSize;
    const [, h, w, c] = dims as [number, number, number, number];
    const height = size?.height ?? h;
    const width = size?.width ?? w;
    if (!(c > 0)) this.fail(node, 'the input does not declare its channel count');
    this.inputDims = ['N', height > 0 ? height : 'H', width > 0 ? width : 'W', c];
    const nchw = this.emit('Transpose', [ONNX_INPUT_NAME], `${node.name}:nchw`, [attrInts('perm', [0, 3, 1, 2])]);
    return { name: nchw, shape: [-1, height > 0 ? height : -1, width > 0 ? width : -1, c], nchw: true };
  }

  private convertNode(node: TfjsGraphNode): Value {
    switch (node.op) {
      case 'Placeholder':
        return this.placeholder(node);
      case 'Const': {
        const constant = this.constantOf(node);
        this.constNames.set(constant, node.name);
        return { name: '', shape: [...constant.shape], nchw: false, constant };
      }
      case 'Identity':
      case 'StopGradient':
      case 'Snapshot':
        return this.value(this.dataInputs(node)[0] ?? '', node);
      case 'Conv2D':
        return this.convolution(node, false, false);
      case '_FusedConv2D':
        return this.convolution(node, false, true);
      case 'DepthwiseConv2dNative':
        return this.convolution(node, true, false);
      case 'FusedDepthwiseConv2dNative':
        return this.convolution(node, true, true);
      case 'Add':
      case 'AddV2':
      case 'BiasAdd':
        return this.elementwise(node, 'Add');
      case 'Sub':
        return this.elementwise(node, 'Sub');
      case 'Mul':
        return this.elementwise(node, 'Mul');
      case 'RealDiv':
        return this.elementwise(node, 'Div');
      case 'Maximum':
        return this.elementwise(node, 'Max');
      case 'Minimum':
        return this.elementwise(node, 'Min');
      case 'Prelu':
        return this.elementwise(node, 'PRelu');
      case 'Relu':
        return this.unary(node, 'Relu');
      case 'Relu6':
        return this.unary(node, 'Clip', [this.scalar(0), this.scalar(6)]);
      case 'Sigmoid':
        return this.unary(node, 'Sigmoid');
      case 'Tanh':
        return this.unary(node, 'Tanh');
      case 'Elu':
        return this.unary(node, 'Elu');
      case 'LeakyRelu':
        return this.unary(node, 'LeakyRelu', [], [attrFloat('alpha', this.attr(node, 'alpha')?.f ?? 0.2)]);
      case 'Softmax': {
        const x = this.activation(node, 0);
        return this.unary(node, 'Softmax', [], [attrInt('axis', this.onnxAxis(node, x, -1))]);
      }
      case 'Mean':
        return this.mean(node);
      case 'Pad':
      case 'PadV2':
      case 'MirrorPad':
        return this.pad(node);
      case 'MaxPool':
        return this.pool(node, 'MaxPool');
      case 'AvgPool':
        return this.pool(node, 'AveragePool');
      case 'ConcatV2':
        return this.concat(node);
      case 'Reshape':
        return this.reshape(node);
      case 'MatMul':
        return this.matmul(node, false);
      case '_FusedMatMul':
        return this.matmul(node, true);
      default:
        return this.fail(node, `op ${node.op} is not supported`);
    }
  }

  /**
   * Merges Relu → Clip(min ≥ 0) and Clip → Clip chains into one Clip. Keras' clipped ReLU comes
   * out of TensorFlow as Relu, Minimum, Maximum; as one Clip, ONNX Runtime fuses it into the
   * convolution before it and keeps the whole net in its blocked layout, instead of reordering
   * memory around every layer. The results are exactly equal.
   */
  private simplify(): void {
    const producer = new Map<string, Onnx.INodeProto>();
    const consumers = new Map<string, number>();
    for (const n of this.onnxNodes) {
      producer.set((n.output as string[])[0] as string, n);
      for (const i of n.input ?? []) if (i) consumers.set(i, (consumers.get(i) ?? 0) + 1);
    }
    const bound = (name: string | undefined): number | undefined => (name ? this.scalarValues.get(name) : undefined);
    const removed = new Set<Onnx.INodeProto>();
    for (const n of this.onnxNodes) {
      if (n.opType !== 'Clip') continue;
      const inputs = n.input as string[];
      if (inputs.slice(1).some((i) => i && bound(i) === undefined)) continue;
      for (;;) {
        const source = producer.get(inputs[0] as string);
        if (!source || removed.has(source) || consumers.get(inputs[0] as string) !== 1) break;
        const srcInputs = source.input as string[];
        if (source.opType === 'Clip' && srcInputs.slice(1).every((i) => !i || bound(i) !== undefined)) {
          const lows = [bound(inputs[1]), bound(srcInputs[1])].filter((v): v is number => v !== undefined);
          const highs = [bound(inputs[2]), bound(srcInputs[2])].filter((v): v is number => v !== undefined);
          const low = lows.length > 0 ? Math.max(...lows) : undefined;
          const high = highs.length > 0 ? Math.min(...highs) : undefined;
          if (low !== undefined && high !== undefined && low > high) break;
          inputs[1] = low === undefined ? '' : this.scalar(low);
          inputs[2] = high === undefined ? '' : this.scalar(high);
        } else if (source.opType === 'Relu') {
          if (!((bound(inputs[1]) ?? -1) >= 0)) inputs[1] = this.scalar(0);
        } else {
          break;
        }
        inputs[0] = srcInputs[0] as string;
        removed.add(source);
      }
    }
    const kept = this.onnxNodes.filter((n) => !removed.has(n));
    this.onnxNodes.length = 0;
    this.onnxNodes.push(...kept);
    // Drop initializers the merges left unused; ONNX Runtime warns about each one.
    const used = new Set(kept.flatMap((n) => n.input ?? []));
    const initializers = this.initializers.filter((t) => used.has(t.name as string));
    this.initializers.length = 0;
    this.initializers.push(...initializers);
  }

  /** Emits the graph output `outName` for the converted node `target`. */
  private emitOutput(target: string, outName: string, pooling: 'none' | 'global-average'): number[] {
    const last = this.values.get(target) as Value;
    const node = this.nodes.get(target) as TfjsGraphNode;
    if (last.constant) this.fail(node, 'the requested output is a constant');
    let name = last.name;
    let shape = last.shape;
    if (pooling === 'global-average') {
      if (!last.nchw) this.fail(node, `global-average pooling needs an [N, h, w, C] map, got shape [${last.shape.join(', ')}]`);
      name = this.emit('GlobalAveragePool', [name], this.fresh(target));
      shape = [last.shape[0] ?? -1, last.shape[3] ?? -1];
    } else if (last.nchw) {
      // Callers flatten the output as tfjs would, so 4-D outputs go back to NHWC.
      name = this.emit('Transpose', [name], this.fresh(target), [attrInts('perm', [0, 2, 3, 1])]);
    }
    this.emit(pooling === 'global-average' ? 'Flatten' : 'Identity', [name], outName, pooling === 'global-average' ? [attrInt('axis', 1)] : []);
    return shape;
  }

  convert(): ConvertedGraph {
    const { outputNode, pooling = 'none' } = this.options;
    const targets = [outputNode, ...(this.options.extraOutputs ?? [])];
    for (const t of targets) if (!this.nodes.has(t)) throw new WeightsError(`has no node '${t}' to convert`, this.options.label);
    for (const t of targets) this.convertFrom(t);
    if (!this.inputDims) this.fail(this.nodes.get(outputNode) as TfjsGraphNode, 'the requested output does not depend on any input');
    const outputNames = targets.map((_, i) => (i === 0 ? ONNX_OUTPUT_NAME : `${ONNX_OUTPUT_NAME}_${i}`));
    const outputShapes = targets.map((t, i) => this.emitOutput(t, outputNames[i] as string, i === 0 ? pooling : 'none'));
    this.simplify();
    const dim = (d: number, i: number): number | string => (i === 0 ? 'N' : d > 0 ? d : `d${i}`);
    const inputDims = this.inputDims;
    return {
      model: encodeModel('facegender tfjs-graph-to-onnx', {
        name: outputNode,
        node: this.onnxNodes,
        initializer: this.initializers,
        input: [floatValueInfo(ONNX_INPUT_NAME, inputDims)],
        output: outputShapes.map((shape, i) => floatValueInfo(outputNames[i] as string, shape.map(dim))),
      }),
      inputName: ONNX_INPUT_NAME,
      outputName: ONNX_OUTPUT_NAME,
      inputDims,
      outputShape: outputShapes[0] as number[],
      outputNames,
      outputShapes,
      opCounts: { ...this.opCounts },
    };
  }
}

/**
 * Builds the ONNX model computing `options.outputNode` of a tfjs graph model from its topology
 * (`modelTopology.node`) and its decoded weights (see {@link decodeGraphWeights}). The model
 * takes float32 [N, H, W, C] and returns the node's value, or its spatial mean with
 * `pooling: 'global-average'`.
 */
export function tfjsGraphToOnnx(nodes: readonly TfjsGraphNode[], weights: ReadonlyMap<string, GraphWeight>, options: GraphToOnnxOptions): ConvertedGraph {
  return new GraphConverter(nodes, weights, options).convert();
}
