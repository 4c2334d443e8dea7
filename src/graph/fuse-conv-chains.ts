import type { GraphWeight, TfjsAttrValue, TfjsGraphNode } from './nodes.js';
import { producerOf as producer } from './prune-graph.js';

/**
 * Folds what follows a convolution into the convolution itself: a per-channel Mul (a batch norm's
 * scale, folded into the kernel), a per-channel Add or BiasAdd (its shift, the bias) and a ReLU,
 * or a ReLU clipped at 6 (Relu → Minimum 6 → Maximum 0, as Keras' ReLU(6) is exported). The chain
 * becomes one `_FusedConv2D` or `FusedDepthwiseConv2dNative` with BiasAdd and the activation,
 * which tfjs' wasm backend runs as one XNNPACK operator with its output clamp.
 *
 * Why: graphs converted from Keras MobileNets (human-models' faceres) keep the batch norm and
 * the clip as separate element-wise ops, five full passes over every feature map after each
 * convolution; in a browser they cost more than the convolutions.
 */

export interface FusedGraph {
  nodes: TfjsGraphNode[];
  weights: Map<string, GraphWeight>;
  /** Convolutions that absorbed at least one following op. */
  fused: number;
  /** Nodes removed (the absorbed ops and constants no longer used). */
  removed: number;
}

export interface FuseOptions {
  /** Nodes whose values are read from outside (outputs): never absorbed into a later node. */
  keep?: readonly string[];
}

type Activation = 'Relu' | 'Relu6' | undefined;

const base64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

export function fuseConvChains(nodes: readonly TfjsGraphNode[], weights: ReadonlyMap<string, GraphWeight>, options: FuseOptions = {}): FusedGraph {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const consumers = new Map<string, TfjsGraphNode[]>();
  for (const n of nodes) {
    for (const input of n.input ?? []) {
      const from = producer(input);
      const users = consumers.get(from);
      if (users) users.push(n);
      else consumers.set(from, [n]);
    }
  }
  const keep = new Set(options.keep ?? []);

  const constOf = (input: string | undefined): GraphWeight | undefined => {
    if (input === undefined) return undefined;
    const node = byName.get(producer(input));
    if (node?.op !== 'Const') return undefined;
    const w = weights.get(node.name);
    return w?.dtype === 'float32' ? w : undefined;
  };
  /** The one node that reads `node`, if exactly one does and `node` is not an output. */
  const onlyConsumer = (node: TfjsGraphNode): TfjsGraphNode | undefined => {
    if (keep.has(node.name)) return undefined;
    const users = consumers.get(node.name) ?? [];
    return users.length === 1 ? users[0] : undefined;
  };
  /** The constant operand of a binary op whose other operand is `from`. */
  const otherConst = (op: TfjsGraphNode, from: TfjsGraphNode): GraphWeight | undefined => {
    const inputs = op.input ?? [];
    if (inputs.length !== 2) return undefined;
    const i = inputs.findIndex((x) => producer(x) === from.name);
    return i < 0 ? undefined : constOf(inputs[1 - i]);
  };
  const perChannel = (w: GraphWeight | undefined, channels: number): Float32Array | undefined => {
    if (!w || w.values.length !== channels) return undefined;
    // Broadcast over NHWC's last axis: [C], [1, C] or [1, 1, 1, C].
    if (w.shape.length === 0 || w.shape[w.shape.length - 1] !== channels) return undefined;
    return w.values as Float32Array;
  };
  const scalar = (w: GraphWeight | undefined): number | undefined => (w && w.values.length === 1 ? (w.values[0] as number) : undefined);

  const replaced = new Map<string, TfjsGraphNode>();
  const absorbed = new Set<string>();
  const added = new Map<string, GraphWeight>();
  const addedNodes: TfjsGraphNode[] = [];
  let fused = 0;

  for (const conv of nodes) {
    if (conv.op !== 'Conv2D' && conv.op !== 'DepthwiseConv2dNative') continue;
    const kernel = constOf(conv.input?.[1]);
    if (!kernel || kernel.shape.length !== 4 || (conv.input?.length ?? 0) !== 2) continue;
    const [kh, kw, cin, last] = kernel.shape as [number, number, number, number];
    const channels = conv.op === 'Conv2D' ? last : cin * last;

    const chain: TfjsGraphNode[] = [conv];
    let scale: Float32Array | undefined;
    let shift: Float32Array | undefined;
    let activation: Activation;
    let next = onlyConsumer(conv);
    if (next?.op === 'Mul') {
      scale = perChannel(otherConst(next, conv), channels);
      if (scale) {
        chain.push(next);
        next = onlyConsumer(next);
      }
    }
    if (next && (next.op === 'Add' || next.op === 'AddV2' || next.op === 'BiasAdd')) {
      const tail = chain[chain.length - 1] as TfjsGraphNode;
      // BiasAdd's bias is always its second input; Add may hold the constant on either side.
      const b = next.op === 'BiasAdd' ? (producer(next.input?.[0] ?? '') === tail.name ? constOf(next.input?.[1]) : undefined) : otherConst(next, tail);
      shift = perChannel(b, channels);
      if (shift) {
        chain.push(next);
        next = onlyConsumer(next);
      }
    }
    if (next?.op === 'Relu6') {
      activation = 'Relu6';
      chain.push(next);
    } else if (next?.op === 'Relu') {
      activation = 'Relu';
      chain.push(next);
      // clip_by_value(relu(x), 0, 6): Minimum with 6 and Maximum with 0, in either order.
      for (let step = 0; step < 2; step++) {
        const tail = chain[chain.length - 1] as TfjsGraphNode;
        const clip = onlyConsumer(tail);
        if (!clip) break;
        const c = scalar(otherConst(clip, tail));
        if (clip.op === 'Minimum' && c === 6 && activation === 'Relu') activation = 'Relu6';
        else if (!(clip.op === 'Maximum' && c === 0)) break;
        chain.push(clip);
      }
    }
    if (chain.length === 1) continue;

    const tail = chain[chain.length - 1] as TfjsGraphNode;
    const k = Float32Array.from(kernel.values as Float32Array);
    if (scale) {
      const s = scale;
      // The output channel is the last axis for Conv2D, (in, multiplier) flattened for depthwise.
      for (let i = 0; i < k.length; i++) k[i] = (k[i] as number) * (s[i % channels] as number);
    }
    const kernelName = `${tail.name}/fused_kernel`;
    const biasName = `${tail.name}/fused_bias`;
    added.set(kernelName, { dtype: 'float32', shape: [kh, kw, cin, last], values: k });
    added.set(biasName, { dtype: 'float32', shape: [channels], values: shift ? Float32Array.from(shift) : new Float32Array(channels) });
    for (const name of [kernelName, biasName]) addedNodes.push({ name, op: 'Const', attr: { dtype: { type: 'DT_FLOAT' } } });

    const ops = ['BiasAdd', ...(activation ? [activation] : [])];
    const attr: Record<string, TfjsAttrValue> = { ...(conv.attr ?? {}), fused_ops: { list: { s: ops.map(base64) } }, num_args: { i: '1' }, epsilon: { f: 0 } };
    delete attr.use_cudnn_on_gpu;
    const input = [conv.input?.[0] as string, kernelName, biasName];
    replaced.set(tail.name, { name: tail.name, op: conv.op === 'Conv2D' ? '_FusedConv2D' : 'FusedDepthwiseConv2dNative', input, attr });
    for (const n of chain) if (n !== tail) absorbed.add(n.name);
    fused++;
  }

  let out = nodes.filter((n) => !absorbed.has(n.name)).map((n) => replaced.get(n.name) ?? n);
  out.push(...addedNodes);
  // Constants read only by absorbed ops (the old kernels, scales, shifts, clip bounds) go too.
  const used = new Set(out.flatMap((n) => (n.input ?? []).map(producer)));
  const before = nodes.length + addedNodes.length;
  out = out.filter((n) => n.op !== 'Const' || used.has(n.name) || keep.has(n.name));
  const names = new Set(out.map((n) => n.name));
  const outWeights = new Map<string, GraphWeight>();
  for (const [name, w] of [...weights, ...added]) if (names.has(name)) outWeights.set(name, w);
  return { nodes: out, weights: outWeights, fused, removed: before - out.length };
}
