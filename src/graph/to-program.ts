import * as tf from '@tensorflow/tfjs-core';
import { WeightsError } from '../errors.js';
import { attrIntList, decodeAttrString, fusedOps, spatialPair } from './attributes.js';
import { GraphConversionError } from './errors.js';
import type { GraphWeight, TfjsGraphNode } from './nodes.js';
import { walkDependencies } from './walk.js';

/**
 * A frozen tfjs graph (converter format) read as a program of tfjs-core ops, up to one node: the
 * differentiable twin of to-onnx.ts. The graph's float constants of more than one
 * value (conv kernels, depthwise kernels, folded batch-norm scales and offsets) become parameters
 * the caller supplies as tensors, so tfjs can train them; scalars and integer constants (clip
 * bounds, reduction axes) stay fixed. tfjs-converter's own executor cannot do this: it holds the
 * weights as constants and runs ops that record no gradients.
 */

/** A parameter of the program: one weight tensor of the graph, in order of first use. */
export interface GraphParam {
  /** The Const node's name, which is also its key in the decoded weights. */
  name: string;
  shape: number[];
  /** Index into `GraphProgram.blocks`. */
  block: number;
}

type Operand = { kind: 'node'; name: string } | { kind: 'param'; index: number } | { kind: 'scalar'; value: number } | { kind: 'ints'; values: number[] };

type Padding = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

/** One op of the program, its operands resolved. */
interface Step {
  name: string;
  op: string;
  inputs: Operand[];
  strides?: [number, number];
  dilations?: [number, number];
  pad?: Padding;
  /** Activation fused after BiasAdd in _FusedConv2D / FusedDepthwiseConv2dNative. */
  activation?: 'linear' | 'relu' | 'relu6';
  keepDims?: boolean;
}

export interface GraphProgramOptions {
  /** The node whose value the program returns. */
  outputNode: string;
  /** `global-average`: the node is an [N, h, w, C] map, averaged over h and w. */
  pooling: 'none' | 'global-average';
  /** Names the block a parameter belongs to; blocks are numbered in order of first use. */
  blockOf: (paramName: string) => string;
  /** Names the graph (its model.json) in errors. */
  label?: string;
}

const UNARY: Record<string, (x: tf.Tensor) => tf.Tensor> = {
  Relu: (x) => tf.relu(x),
  Relu6: (x) => tf.relu6(x),
  Sigmoid: (x) => tf.sigmoid(x),
  Tanh: (x) => tf.tanh(x),
  Elu: (x) => tf.elu(x),
};

const BINARY: Record<string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor> = {
  Add: (a, b) => tf.add(a, b),
  AddV2: (a, b) => tf.add(a, b),
  BiasAdd: (a, b) => tf.add(a, b),
  Sub: (a, b) => tf.sub(a, b),
  Mul: (a, b) => tf.mul(a, b),
  RealDiv: (a, b) => tf.div(a, b),
  Maximum: (a, b) => tf.maximum(a, b),
  Minimum: (a, b) => tf.minimum(a, b),
};

const CONVOLUTIONS = new Set(['Conv2D', '_FusedConv2D', 'DepthwiseConv2dNative', 'FusedDepthwiseConv2dNative']);
const FUSED_ACTIVATIONS: Record<string, Step['activation']> = { Relu: 'relu', Relu6: 'relu6' };

/**
 * The program computing `options.outputNode` from the graph's single image input. Build once,
 * then {@link GraphProgram.run} it with the parameters as tensors.
 */
export class GraphProgram {
  readonly params: GraphParam[] = [];
  /** Block names in order of first use (e.g. the stem first). */
  readonly blocks: string[] = [];
  private readonly steps: Step[] = [];
  private readonly nodes = new Map<string, TfjsGraphNode>();
  private readonly paramIndex = new Map<string, number>();
  private inputName: string | undefined;

  constructor(
    nodes: readonly TfjsGraphNode[],
    private readonly weights: ReadonlyMap<string, GraphWeight>,
    private readonly options: GraphProgramOptions,
  ) {
    for (const node of nodes) this.nodes.set(node.name, node);
    if (!this.nodes.has(options.outputNode)) throw new WeightsError(`has no node '${options.outputNode}' to compute`, options.label);
    this.compile();
  }

  private fail(node: TfjsGraphNode, reason: string): never {
    throw new GraphConversionError(`cannot run node '${node.name}' (op ${node.op}) as a trainable program: ${reason}`, this.options.label);
  }

  private dataInputs(node: TfjsGraphNode): string[] {
    return (node.input ?? []).filter((i) => !i.startsWith('^')).map((i) => {
      const [name, index] = i.split(':') as [string, string | undefined];
      if (index !== undefined && index !== '0') this.fail(node, `reads output ${index} of '${name}'; only first outputs are supported`);
      return name;
    });
  }

  /** Nodes the output depends on, inputs before consumers. */
  private order(): TfjsGraphNode[] {
    const out: TfjsGraphNode[] = [];
    const done = new Set<string>();
    walkDependencies<TfjsGraphNode>(this.options.outputNode, {
      node: (name) => this.nodes.get(name),
      inputs: (node) => this.dataInputs(node),
      done: (name) => done.has(name),
      visit: (node) => {
        done.add(node.name);
        out.push(node);
      },
      fail: (node, reason) => this.fail(node, reason),
    });
    return out;
  }

  /** A Const node as an operand: a parameter when it holds float weights, else a fixed value. */
  private constOperand(node: TfjsGraphNode, consumer: TfjsGraphNode): Operand {
    const w = this.weights.get(node.name);
    if (!w) this.fail(consumer, `its constant '${node.name}' is not in the weight shards (inline constants are not supported)`);
    if (w.dtype === 'int32') return { kind: 'ints', values: Array.from(w.values) };
    if (w.values.length === 1) return { kind: 'scalar', value: w.values[0] as number };
    let index = this.paramIndex.get(node.name);
    if (index === undefined) {
      const blockName = this.options.blockOf(node.name);
      let block = this.blocks.indexOf(blockName);
      if (block < 0) block = this.blocks.push(blockName) - 1;
      index = this.params.push({ name: node.name, shape: [...w.shape], block }) - 1;
      this.paramIndex.set(node.name, index);
    }
    return { kind: 'param', index };
  }

  private spatialPair(node: TfjsGraphNode, key: string): [number, number] {
    return spatialPair(node, key, 1, (reason) => this.fail(node, reason));
  }

  private padding(node: TfjsGraphNode): Padding {
    const padding = decodeAttrString(node.attr?.padding) ?? 'VALID';
    if (padding === 'SAME') return 'same';
    if (padding === 'VALID') return 'valid';
    if (padding === 'EXPLICIT') {
      const p = attrIntList(node, 'explicit_paddings') ?? [];
      if (p.length !== 8 || p[0] !== 0 || p[1] !== 0 || p[6] !== 0 || p[7] !== 0) this.fail(node, `explicit_paddings [${p.join(', ')}] are not 4 NHWC pairs padding only H and W`);
      return [
        [0, 0],
        [p[2] as number, p[3] as number],
        [p[4] as number, p[5] as number],
        [0, 0],
      ];
    }
    return this.fail(node, `padding ${padding} is not supported`);
  }

  private compile(): void {
    const resolved = new Map<string, Operand>();
    for (const node of this.order()) {
      if (node.op === 'Const') continue;
      const operands = (): Operand[] =>
        this.dataInputs(node).map((name) => {
          const found = resolved.get(name);
          if (found) return found;
          const producer = this.nodes.get(name) as TfjsGraphNode;
          if (producer.op === 'Const') return this.constOperand(producer, node);
          return { kind: 'node', name };
        });
      if (node.op === 'Identity' || node.op === 'StopGradient' || node.op === 'Snapshot') {
        const [only] = operands();
        if (!only) this.fail(node, 'it has no input');
        resolved.set(node.name, only);
        continue;
      }
      const step: Step = { name: node.name, op: node.op, inputs: [] };
      if (node.op === 'Placeholder') {
        if (this.inputName !== undefined) this.fail(node, 'the output depends on a second input; only one is supported');
        this.inputName = node.name;
      } else if (CONVOLUTIONS.has(node.op)) {
        const format = decodeAttrString(node.attr?.data_format);
        if (format !== undefined && format !== 'NHWC') this.fail(node, `data_format ${format} is not supported (only NHWC)`);
        step.inputs = operands();
        if (step.inputs[1]?.kind !== 'param') this.fail(node, 'its filter must be a weight constant');
        step.strides = this.spatialPair(node, 'strides');
        step.dilations = this.spatialPair(node, 'dilations');
        step.pad = this.padding(node);
        if (node.op === 'FusedDepthwiseConv2dNative' && typeof step.pad !== 'string') this.fail(node, 'explicit padding is not supported on a fused depthwise conv');
        if (node.op.startsWith('_Fused') || node.op.startsWith('Fused')) {
          const fused = fusedOps(node);
          if (fused[0] !== 'BiasAdd' || fused.length > 2) this.fail(node, `fused ops [${fused.join(', ')}] are not supported (BiasAdd, then at most one activation)`);
          const act = fused[1];
          const activation = act === undefined ? 'linear' : FUSED_ACTIVATIONS[act];
          if (!activation) this.fail(node, `fused activation ${act} is not supported`);
          step.activation = activation;
          if (step.inputs[2]?.kind !== 'param' && step.inputs[2]?.kind !== 'scalar') this.fail(node, 'its bias must be a constant');
        }
      } else if (UNARY[node.op] || BINARY[node.op]) {
        step.inputs = operands();
        const expected = UNARY[node.op] ? 1 : 2;
        if (step.inputs.length !== expected) this.fail(node, `expects ${expected} inputs, got ${step.inputs.length}`);
        if (step.inputs.every((o) => o.kind !== 'node')) this.fail(node, 'all its operands are constants; constant folding is not supported');
      } else if (node.op === 'Mean') {
        step.inputs = operands();
        if (step.inputs[0]?.kind !== 'node' || step.inputs[1]?.kind !== 'ints') this.fail(node, 'expects an activation and constant axes');
        step.keepDims = node.attr?.keep_dims?.b ?? false;
      } else {
        this.fail(node, `op ${node.op} is not supported`);
      }
      this.steps.push(step);
      resolved.set(node.name, { kind: 'node', name: node.name });
    }
    if (this.inputName === undefined) throw new WeightsError(`node '${this.options.outputNode}' does not depend on the graph's input`, this.options.label);
    if (resolved.get(this.options.outputNode)?.kind !== 'node') throw new WeightsError(`node '${this.options.outputNode}' is a constant`, this.options.label);
  }

  /** Parameter indices each step reads, directly or through its inputs. */
  private dependsOnParams(trainable: ReadonlySet<number>): Set<string> {
    const dependent = new Set<string>();
    for (const step of this.steps) {
      if (step.inputs.some((o) => (o.kind === 'param' && trainable.has(o.index)) || (o.kind === 'node' && dependent.has(o.name)))) dependent.add(step.name);
    }
    return dependent;
  }

  private runStep(step: Step, value: (o: Operand) => tf.Tensor | number[]): tf.Tensor {
    const t = (i: number): tf.Tensor => {
      const v = value(step.inputs[i] as Operand);
      if (Array.isArray(v)) throw new WeightsError(`node '${step.name}': input ${i} is a list of integers, not a tensor`, this.options.label);
      return v;
    };
    const unary = UNARY[step.op];
    if (unary) return unary(t(0));
    const binary = BINARY[step.op];
    if (binary) return binary(t(0), t(1));
    const conv = { strides: step.strides as [number, number], pad: step.pad as Padding, dilations: step.dilations as [number, number] };
    switch (step.op) {
      case 'Conv2D':
        return tf.conv2d(t(0) as tf.Tensor4D, t(1) as tf.Tensor4D, conv.strides, conv.pad, 'NHWC', conv.dilations);
      case 'DepthwiseConv2dNative':
        return tf.depthwiseConv2d(t(0) as tf.Tensor4D, t(1) as tf.Tensor4D, conv.strides, conv.pad, 'NHWC', conv.dilations);
      case '_FusedConv2D':
        return tf.fused.conv2d({ x: t(0) as tf.Tensor4D, filter: t(1) as tf.Tensor4D, bias: t(2), activation: step.activation ?? 'linear', ...conv });
      case 'FusedDepthwiseConv2dNative':
        // tfjs types fused depthwise padding without explicit pairs; compile() refuses those.
        return tf.fused.depthwiseConv2d({ x: t(0) as tf.Tensor4D, filter: t(1) as tf.Tensor4D, bias: t(2), activation: step.activation ?? 'linear', ...conv, pad: conv.pad as 'same' | 'valid' });
      case 'Mean':
        return tf.mean(t(0), value(step.inputs[1] as Operand) as number[], step.keepDims ?? false);
      default:
        throw new WeightsError(`node '${step.name}': op ${step.op} has no implementation`, this.options.label);
    }
  }

  /**
   * Runs the program on `x` ([N, H, W, C], already preprocessed) with `params` (one tensor per
   * entry of `params`, in order) and returns the output node's value, pooled when asked.
   *
   * Steps that read no parameter in `trainable` run first, outside the gradient tape (inside a
   * custom gradient, which tfjs does not record into): frozen blocks then cost no memory for a
   * backward pass that would never reach a trainable weight.
   */
  run(x: tf.Tensor, params: readonly tf.Tensor[], trainable: ReadonlySet<number> = new Set()): tf.Tensor {
    const dependent = this.dependsOnParams(trainable);
    const output = this.options.outputNode;
    const values = new Map<string, tf.Tensor>();
    const value = (o: Operand): tf.Tensor | number[] => {
      switch (o.kind) {
        case 'node':
          return values.get(o.name) as tf.Tensor;
        case 'param':
          return params[o.index] as tf.Tensor;
        case 'ints':
          return o.values;
        case 'scalar':
          // Made afresh each time: one kept across the frozen part's scope would be freed with it.
          return tf.scalar(o.value);
      }
    };
    const input = this.inputName as string;
    const frozen = this.steps.filter((s) => !dependent.has(s.name) && s.name !== input);
    const live = this.steps.filter((s) => dependent.has(s.name));
    // Frozen values the trainable part reads, or the output itself when nothing trains.
    const boundary = [...new Set(live.flatMap((s) => s.inputs.flatMap((o) => (o.kind === 'node' && !dependent.has(o.name) ? [o.name] : []))))];
    if (!dependent.has(output)) boundary.push(output);
    if (frozen.length === 0) {
      values.set(input, x);
    } else {
      const shapes: number[][] = [];
      const runFrozen = tf.customGrad(((pixels: tf.Tensor) => {
        values.set(input, pixels);
        for (const step of frozen) values.set(step.name, this.runStep(step, value));
        const outs = boundary.map((name) => values.get(name) as tf.Tensor);
        outs.forEach((o) => shapes.push(o.shape));
        const n = pixels.shape[0] as number;
        const packed = outs.length === 1 ? (outs[0] as tf.Tensor) : tf.concat(outs.map((o) => tf.reshape(o, [n, -1])), 1);
        // The input is pixels: nothing upstream trains, so this gradient is never used.
        return { value: packed, gradFunc: () => tf.zerosLike(pixels) };
      }) as Parameters<typeof tf.customGrad>[0]);
      const packed = runFrozen(x);
      values.clear();
      values.set(input, x);
      let at = 0;
      boundary.forEach((name, i) => {
        if (boundary.length === 1) return values.set(name, packed);
        const shape = shapes[i] as number[];
        const size = shape.slice(1).reduce((a, b) => a * b, 1);
        values.set(name, tf.reshape(tf.slice(packed, [0, at], [-1, size]), shape));
        at += size;
        return values;
      });
    }
    for (const step of live) values.set(step.name, this.runStep(step, value));
    const result = values.get(output) as tf.Tensor;
    return this.options.pooling === 'global-average' ? tf.mean(result, [1, 2]) : tf.reshape(result, [result.shape[0] as number, -1]);
  }
}
