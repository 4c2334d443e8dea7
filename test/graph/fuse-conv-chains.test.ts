import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/data/decode.js';
import { fuseConvChains } from '../../src/graph/fuse-conv-chains.js';
import type { GraphWeight, TfjsAttrValue, TfjsGraphNode } from '../../src/graph/nodes.js';
import { pruneGraph } from '../../src/graph/prune-graph.js';
import { readGraphModel } from '../../src/graph/read-graph.js';
import { encodeGraphModel } from '../../src/graph/write-graph.js';
import { getPreprocessing } from '../../src/bases/preprocess.js';
import { initTfjs } from '../../src/runtime/tfjs/backend.js';
import { readGraphModelFiles, resolvePackageFile, type GraphModelJson } from '../../src/runtime/tfjs/graph-loader.js';
import { FACERES_SPECS } from '../../src/zoo/faceres.js';
import { CELEBA } from '../helpers/shared.js';

async function tfjsGraph(template: GraphModelJson, nodes: readonly TfjsGraphNode[], weights: ReadonlyMap<string, GraphWeight>): Promise<GraphModel> {
  const { json, bin } = encodeGraphModel(template, nodes, weights, 'w.bin');
  const group = json.weightsManifest[0] as GraphModelJson['weightsManifest'][number];
  return loadGraphModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology as unknown as tf.io.ModelArtifacts['modelTopology'],
      weightSpecs: group.weights as tf.io.WeightsManifestEntry[],
      weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
      format: 'graph-model',
    }),
  );
}

async function run(model: GraphModel, x: tf.Tensor, output: string): Promise<Float32Array> {
  const y = model.execute(x, output) as tf.Tensor;
  try {
    return (await y.data()) as Float32Array;
  } finally {
    y.dispose();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(b.length).toBe(a.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}

beforeAll(async () => {
  await initTfjs();
});

describe('fuseConvChains on faceres-deep (the default face base)', () => {
  const spec = FACERES_SPECS['faceres-deep'];
  const file = resolvePackageFile(spec.model);

  it('folds every batch norm and ReLU6 into its convolution and gives the same features on real faces', async () => {
    const graph = await readGraphModel(file);
    const { json } = await readGraphModelFiles(file);
    const pruned = pruneGraph(graph.nodes, graph.weights, [spec.featureNode], file);
    // The age and gender heads after the pooled features are gone.
    expect(pruned.nodes.some((n) => n.name.startsWith('gender_pred') || n.name.startsWith('age_pred') || n.name.startsWith('feats'))).toBe(false);
    expect(graph.nodes.some((n) => n.name.startsWith('gender_pred'))).toBe(true);
    const fused = fuseConvChains(pruned.nodes, pruned.weights, { keep: [spec.featureNode] });
    // The stem, 13 depthwise and 13 pointwise convolutions.
    expect(fused.fused).toBe(27);
    const ops = new Map<string, number>();
    for (const n of fused.nodes) ops.set(n.op, (ops.get(n.op) ?? 0) + 1);
    expect(ops.get('_FusedConv2D')).toBe(14);
    expect(ops.get('FusedDepthwiseConv2dNative')).toBe(13);
    for (const op of ['Mul', 'Add', 'Relu', 'Minimum', 'Maximum', 'Conv2D', 'DepthwiseConv2dNative']) expect(ops.get(op) ?? 0, op).toBe(0);
    expect(fused.nodes.filter((n) => n.op !== 'Const').length).toBeLessThan(40);

    // Five real CelebA faces, cropped and preprocessed as the base takes them.
    const faces = ['female/000001.jpg', 'female/000002.jpg', 'male/000003.jpg', 'male/000008.jpg', 'female/000004.jpg'];
    const per = spec.inputSize.height * spec.inputSize.width * 3;
    const pixels = new Float32Array(faces.length * per);
    for (const [i, face] of faces.entries()) {
      const img = await decodeImage(path.join(CELEBA, face), { size: spec.inputSize, ...(spec.crop ? { crop: spec.crop } : {}) });
      pixels.set(img.data, i * per);
    }
    const x = tf.tensor4d(getPreprocessing(spec.preprocess).apply(pixels), [faces.length, spec.inputSize.height, spec.inputSize.width, 3]);
    const before = await run(await tfjsGraph(json, graph.nodes, graph.weights), x, spec.featureNode);
    const after = await run(await tfjsGraph(json, fused.nodes, fused.weights), x, spec.featureNode);
    x.dispose();
    const scale = before.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(scale).toBeGreaterThan(0.1);
    expect(maxAbsDiff(before, after)).toBeLessThan(1e-5 * Math.max(1, scale) * 10);
  });
});

// A small graph with every pattern the pass knows, and the cases where it must stop.

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const CONV_ATTR: Record<string, TfjsAttrValue> = {
  T: { type: 'DT_FLOAT' },
  strides: { list: { i: ['1', '1', '1', '1'] } },
  padding: { s: b64('SAME') },
  data_format: { s: b64('NHWC') },
  dilations: { list: { i: ['1', '1', '1', '1'] } },
};

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

class GraphBuilder {
  readonly nodes: TfjsGraphNode[] = [{ name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '-1' }, { size: '6' }, { size: '6' }, { size: '3' }] } } } }];
  readonly weights = new Map<string, GraphWeight>();
  private readonly random = seeded(7);
  constant(name: string, shape: number[], values?: number[]): string {
    const n = shape.reduce((a, b) => a * b, 1);
    this.weights.set(name, { dtype: 'float32', shape, values: Float32Array.from(values ?? Array.from({ length: n }, () => this.random() * 4)) });
    this.nodes.push({ name, op: 'Const', attr: { dtype: { type: 'DT_FLOAT' } } });
    return name;
  }
  op(name: string, op: string, input: string[], attr: Record<string, TfjsAttrValue> = { T: { type: 'DT_FLOAT' } }): string {
    this.nodes.push({ name, op, input, attr });
    return name;
  }
}

// tfjs reads the producer version of a graph's topology.
const TEMPLATE = { format: 'graph-model', modelTopology: { node: [], versions: { producer: 1 } }, weightsManifest: [] } as GraphModelJson;

async function compare(g: GraphBuilder, outputs: string[]): Promise<ReturnType<typeof fuseConvChains>> {
  const fused = fuseConvChains(g.nodes, g.weights, { keep: outputs });
  const x = tf.randomUniform([2, 6, 6, 3], -3, 3, 'float32', 11);
  const [before, after] = [await tfjsGraph(TEMPLATE, g.nodes, g.weights), await tfjsGraph(TEMPLATE, fused.nodes, fused.weights)];
  for (const output of outputs) {
    const a = await run(before, x, output);
    const b = await run(after, x, output);
    expect(a.some((v) => v !== 0)).toBe(true);
    expect(maxAbsDiff(a, b), output).toBeLessThan(1e-4);
  }
  x.dispose();
  return fused;
}

const opsOf = (nodes: readonly TfjsGraphNode[]): string[] => nodes.filter((n) => n.op !== 'Const' && n.op !== 'Placeholder').map((n) => n.op);

describe('fuseConvChains on small graphs', () => {
  it('folds Mul, Add and Relu → Minimum 6 → Maximum 0 into a conv, and BiasAdd + Relu into a depthwise conv', async () => {
    const g = new GraphBuilder();
    const conv = g.op('conv', 'Conv2D', ['x', g.constant('k', [3, 3, 3, 4])], CONV_ATTR);
    const mul = g.op('mul', 'Mul', [conv, g.constant('scale', [4])]);
    // The shift on the left of the Add, as some converters write it.
    const add = g.op('add', 'AddV2', [g.constant('shift', [4]), mul]);
    const relu = g.op('relu', 'Relu', [add]);
    const min = g.op('min', 'Minimum', [relu, g.constant('six', [], [6])]);
    const max = g.op('max', 'Maximum', [min, g.constant('zero', [], [0])]);
    const dw = g.op('dw', 'DepthwiseConv2dNative', [max, g.constant('dk', [3, 3, 4, 2])], CONV_ATTR);
    const bias = g.op('bias', 'BiasAdd', [dw, g.constant('db', [8])]);
    g.op('out', 'Relu', [bias]);
    const fused = await compare(g, ['out']);
    expect(fused.fused).toBe(2);
    expect(opsOf(fused.nodes)).toEqual(['_FusedConv2D', 'FusedDepthwiseConv2dNative']);
    const [first, second] = fused.nodes.filter((n) => n.op.startsWith('_Fused') || n.op.startsWith('Fused')) as [TfjsGraphNode, TfjsGraphNode];
    const activation = (n: TfjsGraphNode) => (n.attr?.fused_ops?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString());
    expect([first.name, activation(first)]).toEqual(['max', ['BiasAdd', 'Relu6']]);
    expect([second.name, activation(second)]).toEqual(['out', ['BiasAdd', 'Relu']]);
    // The old kernels, scales and clip bounds are gone with the ops that read them.
    for (const name of ['k', 'scale', 'shift', 'six', 'zero', 'dk', 'db']) expect(fused.weights.has(name), name).toBe(false);
  });

  it('stops at a value read twice, at a kept output, and at a clip that is not ReLU6', async () => {
    const g = new GraphBuilder();
    // conv's Mul is read twice: only the Mul is folded, the Add stays.
    const conv = g.op('conv', 'Conv2D', ['x', g.constant('k', [3, 3, 3, 4])], CONV_ATTR);
    const mul = g.op('mul', 'Mul', [conv, g.constant('scale', [4])]);
    const add = g.op('add', 'Add', [mul, g.constant('shift', [4])]);
    const side = g.op('side', 'Relu', [mul]);
    // conv2's Add is an output: folded up to it, its Relu stays; a Minimum at 5 is not ReLU6.
    const conv2 = g.op('conv2', 'Conv2D', [add, g.constant('k2', [1, 1, 4, 4])], CONV_ATTR);
    const add2 = g.op('add2', 'BiasAdd', [conv2, g.constant('b2', [4])]);
    const relu2 = g.op('relu2', 'Relu', [add2]);
    const conv3 = g.op('conv3', 'Conv2D', [relu2, g.constant('k3', [1, 1, 4, 4])], CONV_ATTR);
    const relu3 = g.op('relu3', 'Relu', [conv3]);
    g.op('clip5', 'Minimum', [relu3, g.constant('five', [], [5])]);
    const fused = await compare(g, ['clip5', side, add2]);
    expect(fused.fused).toBe(3);
    const byName = new Map(fused.nodes.map((n) => [n.name, n.op]));
    expect(byName.get('mul')).toBe('_FusedConv2D');
    expect(byName.get('add')).toBe('Add');
    expect(byName.get('add2')).toBe('_FusedConv2D');
    expect(byName.get('relu2')).toBe('Relu');
    expect(byName.get('relu3')).toBe('_FusedConv2D');
    expect(byName.get('clip5')).toBe('Minimum');
  });
});
