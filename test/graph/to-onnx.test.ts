import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CENTERNET_SPEC } from '../../src/zoo/centernet.js';
import { FACERES_SPECS } from '../../src/zoo/faceres.js';
import { MOBILEFACE_SPEC } from '../../src/zoo/mobileface.js';
import { loadGraphBase } from '../../src/bases/load-graph-base.js';
import { loadOfflineBase, OFFLINE_BASE_CANDIDATES } from '../../src/zoo/index.js';
import { loadOnnxGraphBase, OnnxGraphBase } from '../../src/bases/graph-base.js';
import { convertGraphModelFile } from '../../src/graph/read-graph.js';
import { OnnxSession } from '../../src/runtime/onnx/session.js';
import { initTfjs } from '../../src/runtime/tfjs/backend.js';
import { TfjsGraphBase } from '../../src/bases/graph-base.js';
import { type GraphBaseSpec } from '../../src/bases/spec.js';
import { loadGraphModelFile, resolvePackageFile } from '../../src/runtime/tfjs/graph-loader.js';
import { samePadding, tfjsGraphToOnnx } from '../../src/graph/to-onnx.js';
import { decodeGraphWeights } from '../../src/graph/decode-weights.js';
import { GraphConversionError } from '../../src/graph/errors.js';
import { type GraphWeightSpec, type TfjsAttrValue, type TfjsGraphNode } from '../../src/graph/nodes.js';
import { decodeImage } from '../../src/data/decode.js';
import type { ImageBatch } from '../../src/data/image.js';
import { WeightsError } from '../../src/errors.js';
import { CELEBA } from '../helpers/shared.js';

/** Real CelebA faces, both genders. */
const SAMPLE = ['female/000001.jpg', 'female/000002.jpg', 'male/000003.jpg', 'male/000008.jpg', 'female/000004.jpg'];

async function loadBatch(spec: GraphBaseSpec): Promise<ImageBatch> {
  const per = spec.inputSize.height * spec.inputSize.width * 3;
  const data = new Float32Array(SAMPLE.length * per);
  for (const [i, file] of SAMPLE.entries()) {
    const img = await decodeImage(path.join(CELEBA, file), { size: spec.inputSize, ...(spec.crop ? { crop: spec.crop } : {}) });
    data.set(img.data, i * per);
  }
  return { n: SAMPLE.length, ...spec.inputSize, data };
}

interface Agreement {
  maxAbsDiff: number;
  maxAbsRef: number;
  minCosine: number;
}

function slice(batch: ImageBatch, n: number): ImageBatch {
  return { ...batch, n, data: batch.data.subarray(0, n * batch.height * batch.width * 3) };
}

function agreement(ref: Float32Array, got: Float32Array, rows: number): Agreement {
  expect(got.length).toBe(ref.length);
  const dim = ref.length / rows;
  let maxAbsDiff = 0;
  let maxAbsRef = 0;
  let minCosine = 1;
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let i = r * dim; i < (r + 1) * dim; i++) {
      const a = ref[i] as number;
      const b = got[i] as number;
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a - b));
      maxAbsRef = Math.max(maxAbsRef, Math.abs(a));
      dot += a * b;
      na += a * a;
      nb += b * b;
    }
    minCosine = Math.min(minCosine, dot / Math.sqrt(na * nb));
  }
  return { maxAbsDiff, maxAbsRef, minCosine };
}

function expectSameFeatures(ref: Float32Array, got: Float32Array, rows: number): Agreement {
  const a = agreement(ref, got, rows);
  expect(a.maxAbsRef).toBeGreaterThan(0);
  expect(a.maxAbsDiff).toBeLessThanOrEqual(1e-3 * a.maxAbsRef);
  expect(a.minCosine).toBeGreaterThanOrEqual(0.99999);
  return a;
}

beforeAll(async () => {
  await initTfjs();
});

describe.each([
  ['faceres-deep', FACERES_SPECS['faceres-deep']],
  ['faceres', FACERES_SPECS.faceres],
  ['centernet', CENTERNET_SPEC],
  ['mobileface', MOBILEFACE_SPEC],
] as const)('%s converted to ONNX', (_id, spec) => {
  let tfjsBase: TfjsGraphBase;
  let onnxBase: OnnxGraphBase;
  let batch: ImageBatch;

  beforeAll(async () => {
    const file = resolvePackageFile(spec.model);
    const loaded = await loadGraphModelFile(file, { freeSpatial: spec.anyInputSize ?? false });
    tfjsBase = new TfjsGraphBase(spec, loaded.weightsHash, loaded.files, loaded.model, spec.featureNode, spec.pooling, {});
    onnxBase = await loadOnnxGraphBase(spec, file, { maxBatch: 3 });
    batch = await loadBatch(spec);
  });
  afterAll(async () => {
    await tfjsBase?.dispose();
    await onnxBase?.dispose();
  });

  it('gives the features of the tfjs graph on real faces, through the base pipeline', async () => {
    const ref = await tfjsBase.embed(batch);
    // maxBatch 3 makes ONNX Runtime see a full and a partial batch.
    const got = await onnxBase.embed(batch);
    const a = expectSameFeatures(ref, got, batch.n);
    console.log(`${spec.id}: max |diff| ${a.maxAbsDiff.toExponential(2)} (${(a.maxAbsDiff / a.maxAbsRef).toExponential(2)} of max |ref|), min cosine ${a.minCosine}`);
    // The features differ between faces, so agreement is not agreement on a constant.
    const d = spec.dim;
    expect(agreement(got.subarray(0, d), got.subarray(2 * d, 3 * d), 1).minCosine).toBeLessThan(0.999);
  });

  it('reads the same weight files, with the same hash, and says it runs on ONNX Runtime', () => {
    expect(onnxBase.engine).toBe('onnxruntime');
    expect(onnxBase.weightsHash).toBe(tfjsBase.weightsHash);
    expect(onnxBase.weightsFiles).toEqual(tfjsBase.weightsFiles);
    expect(onnxBase.dim).toBe(spec.dim);
    expect(onnxBase.inputSize).toEqual(spec.inputSize);
    expect(onnxBase.crop).toEqual(spec.crop);
    expect(onnxBase.preprocess).toBe(spec.preprocess);
  });
});

// ---------------------------------------------------------------------------------------------
// A small hand-written graph that exercises each converted op, with odd sizes and strides.

const b64 = (s: string) => Buffer.from(s).toString('base64');
const ints = (...v: number[]): TfjsAttrValue => ({ list: { i: v.map(String) } });
const str = (s: string): TfjsAttrValue => ({ s: b64(s) });
const strs = (...s: string[]): TfjsAttrValue => ({ list: { s: s.map(b64) } });
const F: TfjsAttrValue = { type: 'DT_FLOAT' };

interface ConstData {
  shape: number[];
  values: Float32Array | Int32Array;
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function randomConst(shape: number[], rand: () => number, scale = 1): ConstData {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, values: Float32Array.from({ length: n }, () => rand() * scale) };
}

const INPUT_SHAPE = [9, 11, 4];

function syntheticGraph(): { nodes: TfjsGraphNode[]; consts: Record<string, ConstData> } {
  const rand = seeded(7);
  const consts: Record<string, ConstData> = {
    w1: randomConst([3, 3, 4, 6], rand),
    b1: randomConst([6], rand),
    dw: randomConst([5, 5, 6, 2], rand),
    db: randomConst([12], rand),
    we: randomConst([2, 3, 4, 5], rand),
    pads: { shape: [4, 2], values: Int32Array.from([0, 0, 1, 2, 0, 1, 0, 0]) },
    axis: { shape: [], values: Int32Array.from([-1]) },
    spatial: { shape: [2], values: Int32Array.from([1, 2]) },
    heightAxis: { shape: [1], values: Int32Array.from([1]) },
    shift: randomConst([24], rand),
    low: { shape: [], values: Float32Array.from([-0.05]) },
    high: randomConst([1, 1, 1, 24], rand, 2),
    shape: { shape: [2], values: Int32Array.from([-1, 4 * 4 * 24]) },
    k: randomConst([384, 5], rand, 0.2),
    kb: randomConst([5], rand),
  };
  const conv = { T: F, data_format: str('NHWC'), dilations: ints(1, 1, 1, 1) };
  const nodes: TfjsGraphNode[] = [
    { name: 'x', op: 'Placeholder', attr: { dtype: F, shape: { shape: { dim: [-1, ...INPUT_SHAPE].map((d) => ({ size: String(d) })) } } } },
    ...Object.entries(consts).map(([name, c]) => ({ name, op: 'Const', attr: { dtype: { type: c.values instanceof Int32Array ? 'DT_INT32' : 'DT_FLOAT' } } })),
    { name: 'c1', op: '_FusedConv2D', input: ['x', 'w1', 'b1'], attr: { ...conv, strides: ints(1, 2, 2, 1), padding: str('SAME'), fused_ops: strs('BiasAdd', 'Relu6'), num_args: { i: '1' }, epsilon: { f: 0 } } },
    { name: 'd1', op: 'FusedDepthwiseConv2dNative', input: ['c1', 'dw', 'db'], attr: { ...conv, strides: ints(1, 1, 1, 1), padding: str('SAME'), fused_ops: strs('BiasAdd', 'Relu'), num_args: { i: '1' } } },
    { name: 'ce', op: 'Conv2D', input: ['x', 'we'], attr: { ...conv, strides: ints(1, 2, 1, 1), padding: str('EXPLICIT'), explicit_paddings: ints(0, 0, 1, 0, 0, 2, 0, 0) } },
    { name: 'p1', op: 'Pad', input: ['d1', 'pads'], attr: { T: F } },
    // ce can be negative, so zero padding before these pools changes their result.
    { name: 'pe', op: 'Pad', input: ['ce', 'pads'], attr: { T: F } },
    { name: 'mv', op: 'MaxPool', input: ['pe'], attr: { T: F, data_format: str('NHWC'), ksize: ints(1, 2, 3, 1), strides: ints(1, 1, 1, 1), padding: str('VALID') } },
    { name: 'av', op: 'AvgPool', input: ['pe'], attr: { T: F, data_format: str('NHWC'), ksize: ints(1, 3, 3, 1), strides: ints(1, 2, 2, 1), padding: str('VALID') } },
    { name: 'm1', op: 'MaxPool', input: ['p1'], attr: { T: F, data_format: str('NHWC'), ksize: ints(1, 3, 3, 1), strides: ints(1, 2, 2, 1), padding: str('SAME') } },
    { name: 'a1', op: 'AvgPool', input: ['p1'], attr: { T: F, data_format: str('NHWC'), ksize: ints(1, 3, 3, 1), strides: ints(1, 2, 2, 1), padding: str('SAME') } },
    { name: 'cat', op: 'ConcatV2', input: ['m1', 'a1', 'axis'], attr: { T: F, N: { i: '2' } } },
    { name: 'se', op: 'Mean', input: ['cat', 'spatial'], attr: { T: F, keep_dims: { b: true } } },
    { name: 'gate', op: 'Sigmoid', input: ['se'], attr: { T: F } },
    { name: 'mul', op: 'Mul', input: ['cat', 'gate'], attr: { T: F } },
    { name: 'sub', op: 'Sub', input: ['mul', 'shift'], attr: { T: F } },
    { name: 'relu', op: 'Relu', input: ['sub'], attr: { T: F } },
    { name: 'mx', op: 'Maximum', input: ['relu', 'low'], attr: { T: F } },
    { name: 'mn', op: 'Minimum', input: ['mx', 'high'], attr: { T: F } },
    { name: 'id', op: 'Identity', input: ['mn'], attr: { T: F } },
    { name: 'meanH', op: 'Mean', input: ['id', 'heightAxis'], attr: { T: F, keep_dims: { b: false } } },
    { name: 'flat', op: 'Reshape', input: ['id', 'shape'], attr: { T: F } },
    { name: 'fc', op: '_FusedMatMul', input: ['flat', 'k', 'kb'], attr: { T: F, fused_ops: strs('BiasAdd', 'Relu'), transpose_a: { b: false }, transpose_b: { b: false }, num_args: { i: '1' }, epsilon: { f: 0 } } },
    { name: 'sm', op: 'Softmax', input: ['fc'], attr: { T: F } },
  ];
  return { nodes, consts };
}

function packWeights(consts: Record<string, ConstData>): { specs: GraphWeightSpec[]; data: ArrayBuffer } {
  const specs: GraphWeightSpec[] = [];
  const parts: Uint8Array[] = [];
  for (const [name, c] of Object.entries(consts)) {
    specs.push({ name, shape: c.shape, dtype: c.values instanceof Int32Array ? 'int32' : 'float32' });
    parts.push(new Uint8Array(c.values.buffer.slice(0)));
  }
  const joined = Buffer.concat(parts);
  return { specs, data: joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength) };
}

describe('conversion of each op on a hand-written graph', () => {
  const { nodes, consts } = syntheticGraph();
  const { specs, data } = packWeights(consts);
  const n = 3;
  const input = Float32Array.from({ length: n * INPUT_SHAPE.reduce((a, b) => a * b, 1) }, seeded(11));

  // Each output checks one op or layout remap: strided SAME conv on odd sizes (c1), depthwise
  // with multiplier 2 (d1), explicit padding (ce), Pad and both pools, SAME (m1, a1) and VALID
  // over zeros that matter (mv, av; ONNX Runtime's PadFusion must not swallow the Pad), channel concat
  // (cat), a broadcast gate (mul), Relu → Maximum/Minimum merged into Clip (mn), a non-spatial
  // mean (meanH), NHWC flattening before a dense layer (fc) and softmax (sm).
  it.each(['c1', 'd1', 'ce', 'm1', 'a1', 'mv', 'av', 'cat', 'mul', 'mn', 'meanH', 'fc', 'sm'])('%s matches tfjs', async (output) => {
    const model = await loadGraphModel(
      tf.io.fromMemory({ modelTopology: { node: nodes, library: {}, versions: {} } as unknown as object, weightSpecs: specs as tf.io.WeightsManifestEntry[], weightData: data, format: 'graph-model' }),
    );
    const ref = tf.tidy(() => model.execute(tf.tensor4d(input, [n, ...INPUT_SHAPE] as [number, number, number, number]), output) as tf.Tensor);
    const refData = (await ref.data()) as Float32Array;
    const refShape = ref.shape;
    ref.dispose();
    model.dispose();

    const converted = tfjsGraphToOnnx(nodes, decodeGraphWeights(specs, data), { outputNode: output });
    expect(converted.outputShape.slice(1)).toEqual(refShape.slice(1));
    const session = await OnnxSession.create(converted.model, { label: output, threads: 1 });
    try {
      const got = await session.run(input, [n, ...INPUT_SHAPE]);
      expect(got.dims).toEqual(refShape);
      expectSameFeatures(refData, got.data, n);
    } finally {
      await session.dispose();
    }
  });

  it('runs at sizes unknown when converting, with SAME padding left to ONNX Runtime (auto_pad)', async () => {
    const free = nodes.map((node) =>
      node.op === 'Placeholder' ? { ...node, attr: { ...node.attr, shape: { shape: { dim: [-1, -1, -1, 4].map((d) => ({ size: String(d) })) } } } } : node,
    );
    const model = await loadGraphModel(
      tf.io.fromMemory({ modelTopology: { node: free, library: {}, versions: {} } as unknown as object, weightSpecs: specs as tf.io.WeightsManifestEntry[], weightData: data, format: 'graph-model' }),
    );
    const converted = tfjsGraphToOnnx(free, decodeGraphWeights(specs, data), { outputNode: 'd1', pooling: 'global-average' });
    expect(converted.inputDims).toEqual(['N', 'H', 'W', 4]);
    const session = await OnnxSession.create(converted.model, { label: 'free', threads: 1 });
    try {
      for (const [h, w] of [[9, 11], [12, 7]] as const) {
        const x = Float32Array.from({ length: 2 * h * w * 4 }, seeded(h * w));
        const ref = tf.tidy(() => tf.mean(model.execute(tf.tensor4d(x, [2, h, w, 4]), 'd1') as tf.Tensor, [1, 2]));
        const got = await session.run(x, [2, h, w, 4]);
        expect(got.dims).toEqual([2, 12]);
        expectSameFeatures((await ref.data()) as Float32Array, got.data, 2);
        ref.dispose();
      }
    } finally {
      await session.dispose();
      model.dispose();
    }
  });

  it('merges Relu, Maximum and Minimum by scalars into one Clip', () => {
    const chain: TfjsGraphNode[] = [
      nodes[0] as TfjsGraphNode,
      { name: 'six', op: 'Const' },
      { name: 'zero', op: 'Const' },
      { name: 'r', op: 'Relu', input: ['x'] },
      { name: 'lo', op: 'Minimum', input: ['r', 'six'] },
      { name: 'hi', op: 'Maximum', input: ['lo', 'zero'] },
    ];
    const w = new Map([
      ['six', { dtype: 'float32' as const, shape: [], values: Float32Array.of(6) }],
      ['zero', { dtype: 'float32' as const, shape: [], values: Float32Array.of(0) }],
    ]);
    const converted = tfjsGraphToOnnx(chain, w, { outputNode: 'hi' });
    const ops = onnxProto.onnx.ModelProto.decode(converted.model).graph?.node?.map((n) => n.opType);
    expect(ops).toEqual(['Transpose', 'Clip', 'Transpose', 'Identity']);
    expect(converted.opCounts).toEqual({ Placeholder: 1, Relu: 1, Const: 2, Minimum: 1, Maximum: 1 });
  });
});

describe('errors', () => {
  const { nodes, consts } = syntheticGraph();
  const { specs, data } = packWeights(consts);

  it('names the node and the op it cannot convert', () => {
    const withErf: TfjsGraphNode[] = [...nodes, { name: 'odd/Erf', op: 'Erf', input: ['c1'], attr: { T: F } }, { name: 'after', op: 'Relu', input: ['odd/Erf'] }];
    const convert = () => tfjsGraphToOnnx(withErf, decodeGraphWeights(specs, data), { outputNode: 'after', label: 'tiny/model.json' });
    expect(convert).toThrow(GraphConversionError);
    expect(convert).toThrow(WeightsError);
    expect(convert).toThrow("tiny/model.json: cannot convert node 'odd/Erf' (op Erf) to ONNX: op Erf is not supported");
  });

  it('names fused ops it cannot convert', () => {
    const fused = nodes.map((n) => (n.name === 'c1' ? { ...n, attr: { ...n.attr, fused_ops: strs('BiasAdd', 'Swish') } } : n));
    expect(() => tfjsGraphToOnnx(fused, decodeGraphWeights(specs, data), { outputNode: 'd1' })).toThrow(/node 'c1' \(op _FusedConv2D\).*fused activation Swish/);
  });

  it('names a missing output node and weight data of the wrong size', () => {
    expect(() => tfjsGraphToOnnx(nodes, decodeGraphWeights(specs, data), { outputNode: 'nope', label: 'm.json' })).toThrow("m.json: has no node 'nope'");
    expect(() => decodeGraphWeights(specs, data.slice(0, data.byteLength - 4), 'm.json')).toThrow(/m\.json: weight '\w+' runs past the end/);
  });

  it("reproduces TensorFlow's SAME padding: the odd pixel at the end", () => {
    expect(samePadding(224, 3, 2)).toEqual([0, 1]);
    expect(samePadding(225, 3, 2)).toEqual([1, 1]);
    expect(samePadding(56, 5, 2)).toEqual([1, 2]);
    expect(samePadding(7, 1, 1)).toEqual([0, 0]);
  });
});

describe('real graph beyond the supported ops', () => {
  it("names centernet's first unsupported op on the way to its detection head", async () => {
    const file = resolvePackageFile(CENTERNET_SPEC.model);
    await expect(convertGraphModelFile(file, { outputNode: 'tower_0/keypoints', inputSize: { height: 128, width: 128 } })).rejects.toThrow(
      /centernet\.json: cannot convert node '[^']+' \(op ResizeBilinear\) to ONNX: op ResizeBilinear is not supported/,
    );
  });
});

describe('engine choice for graph bases', () => {
  it('loads the offline graph bases on ONNX Runtime by default, on tfjs when asked, with one weights hash', async () => {
    const graphCandidates = OFFLINE_BASE_CANDIDATES.filter((c) => c.id !== 'faceapi-resnet');
    expect(graphCandidates.map((c) => c.engine)).toEqual(graphCandidates.map(() => 'onnxruntime'));
    const face = await loadOfflineBase('face');
    const faceTfjs = await loadOfflineBase('face', { engine: 'tfjs' });
    try {
      expect(face).toBeInstanceOf(OnnxGraphBase);
      expect(face.engine).toBe('onnxruntime');
      expect(faceTfjs).toBeInstanceOf(TfjsGraphBase);
      expect(faceTfjs.engine).toBe('tfjs');
      expect(face.weightsHash).toBe(faceTfjs.weightsHash);
      const batch = await loadBatch(FACERES_SPECS['faceres-deep']);
      const one = slice(batch, 2);
      expectSameFeatures(await faceTfjs.embed(one), await face.embed(one), 2);
    } finally {
      await face.dispose();
      await faceTfjs.dispose();
    }
  });

  it('falls back to tfjs for a graph the converter cannot take, unless ONNX Runtime is demanded', async () => {
    // A node past centernet's upsampling: its ResizeBilinear has no converter.
    const spec: GraphBaseSpec = { ...CENTERNET_SPEC, featureNode: 'tower_0/CenternetHead/c5_upsample/up_sampling2d/ResizeBilinear' };
    const fallback = await loadGraphBase(spec);
    try {
      expect(fallback.engine).toBe('tfjs');
    } finally {
      await fallback.dispose();
    }
    await expect(loadGraphBase(spec, { engine: 'onnxruntime' })).rejects.toThrow(GraphConversionError);
    await expect(loadGraphBase(spec, { engine: 'wasm' as never })).rejects.toThrow(/unknown engine 'wasm'/);
  });

  it('passes the thread count to ONNX Runtime and checks it', async () => {
    const base = await loadGraphBase(MOBILEFACE_SPEC, { threads: 1 });
    try {
      expect((base as OnnxGraphBase).threads).toBe(1);
    } finally {
      await base.dispose();
    }
    await expect(loadGraphBase(MOBILEFACE_SPEC, { threads: 0 })).rejects.toThrow(/threads must be a positive integer/);
  });
});
