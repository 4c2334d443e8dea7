import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ort from '../../src/runtime/onnx/ort.js';
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { FACERES_SPECS } from '../../src/zoo/faceres.js';
import { VGG16_CONV_LAYERS, type ConvWeights } from '../../src/zoo/vgg16/keras-weights.js';
import { MOBILEFACE_SPEC } from '../../src/zoo/mobileface.js';
import { countOnnxFileFlops, countOnnxFlops } from '../../bench/tools/onnx-flops.js';
import { convertGraphModelFile } from '../../src/graph/read-graph.js';
import { buildVgg16OnnxModel } from '../../src/zoo/vgg16/onnx-model.js';
import { resolvePackageFile } from '../../src/runtime/tfjs/graph-loader.js';
import { WeightsError } from '../../src/errors.js';

const { onnx } = onnxProto;
const F = onnx.TensorProto.DataType.FLOAT;
const I64 = onnx.TensorProto.DataType.INT64;
const AT = onnx.AttributeProto.AttributeType;

const VGG_LAYERS = VGG16_CONV_LAYERS['vgg16-imagenet'];

/** Zero weights of the right shapes: the count depends on shapes only. */
function zeroVggWeights(): ConvWeights[] {
  return VGG_LAYERS.map((l) => ({
    layer: l.name,
    inChannels: l.inChannels,
    outChannels: l.outChannels,
    kernel: new Float32Array(l.outChannels * l.inChannels * 9),
    bias: new Float32Array(l.outChannels),
  }));
}

/** Sum over the 13 convs of side² x 3 x 3 x in x out, the side halving after each block's pool. */
function vggClosedForm(side: number): number {
  let total = 0;
  let s = side;
  for (const l of VGG_LAYERS) {
    total += s * s * 9 * l.inChannels * l.outChannels;
    if (l.poolAfter) s = Math.floor(s / 2);
  }
  return total;
}

describe('VGG16 conv base', () => {
  const model = buildVgg16OnnxModel(VGG_LAYERS, zeroVggWeights());

  it('counts the closed-form multiply-adds of its 13 convs at 224 (15.35 GMAC, 30.69 GFLOP)', () => {
    const count = countOnnxFlops(model, [1, 224, 224, 3]);
    expect(count.macs).toBe(vggClosedForm(224));
    expect(count.macs / 1e9).toBeCloseTo(15.35, 2);
    expect(count.flops).toBe(2 * count.macs);
    expect(count.byOp.Conv).toMatchObject({ nodes: 13, macs: count.macs });
    expect(count.byOp.MaxPool?.nodes).toBe(5);
    expect(count.outputShapes).toEqual({ features: [1, 512] });
    // ReLU, bias, pools and the global average: small next to the convs, and kept apart.
    expect(count.elementOps).toBeGreaterThan(0);
    expect(count.elementOps).toBeLessThan(count.macs / 100);
  });

  it('scales with the batch and the input size, in either layout', () => {
    expect(countOnnxFlops(model, [3, 224, 224, 3]).macs).toBe(3 * vggClosedForm(224));
    const small = buildVgg16OnnxModel(VGG_LAYERS, zeroVggWeights(), { inputSize: { height: 160, width: 160 }, layout: 'nchw' });
    const count = countOnnxFlops(small, [2, 3, 160, 160]);
    expect(count.macs).toBe(2 * vggClosedForm(160));
    expect(count.outputShapes.features).toEqual([2, 512]);
  });

  it('reads the model from a file, and refuses a shape the model does not declare', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'onnx-flops-'));
    try {
      const file = path.join(dir, 'vgg16.onnx');
      await writeFile(file, model);
      expect((await countOnnxFileFlops(file, [1, 224, 224, 3])).macs).toBe(vggClosedForm(224));
      await expect(countOnnxFileFlops(file, [1, 3, 224, 224])).rejects.toThrow(/vgg16\.onnx: input 'input' is declared with 224 at axis 1/);
      await expect(countOnnxFileFlops(path.join(dir, 'missing.onnx'), [1, 224, 224, 3])).rejects.toThrow(/missing\.onnx: cannot read the ONNX model \(ENOENT\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// --- a hand-built model exercising the shape rules, checked against ONNX Runtime ---------------

function ints(name: string, v: number[]): Onnx.IAttributeProto {
  return { name, type: AT.INTS, ints: v };
}
function int(name: string, v: number): Onnx.IAttributeProto {
  return { name, type: AT.INT, i: v };
}
function str(name: string, v: string): Onnx.IAttributeProto {
  return { name, type: AT.STRING, s: new TextEncoder().encode(v) };
}
function floats(name: string, dims: number[]): Onnx.ITensorProto {
  const n = dims.reduce((a, b) => a * b, 1);
  const v = Float32Array.from({ length: n }, (_, i) => Math.sin(i + 1) * 0.1);
  return { name, dims, dataType: F, rawData: new Uint8Array(v.buffer) };
}
function int64s(name: string, values: number[]): Onnx.ITensorProto {
  return { name, dims: [values.length], dataType: I64, int64Data: values };
}
function info(name: string, dims: Array<number | string>): Onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: F, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } };
}

/** The outputs that the test compares with what ONNX Runtime produces. */
const TINY_OUTPUTS = ['c1', 'c2', 'c3', 'p', 'pd', 'up', 'rm', 'fl', 'gm', 'mm', 'sl', 'unsq', 'ct'];

/**
 * Input [N, 3, 9, 9]. Multiply-adds per image, by hand:
 *   c1  Conv 3→4, 3x3, stride 2, pads 1:            5x5 out,  4*25*3*9 = 2700
 *   c2  depthwise Conv (group 4), SAME_UPPER, s 2:   3x3 out,  4*9*1*9  =  324
 *   c3  grouped Conv 4→6 (group 2), 2x2 dilation 2:  3x3 out,  6*9*2*4  =  432
 *   gm  Gemm [N,40] x [5,40]ᵀ:                                  40*5   =  200
 *   mm  MatMul [N,15] x [15,7]:                                 15*7   =  105
 *   ct  ConvTranspose 4→3, 3x3, stride 2, pads 1, out pad 1:  4*9*3*9 =  972
 */
const TINY_MACS_PER_IMAGE = 2700 + 324 + 432 + 200 + 105 + 972;

function tinyModel(): Uint8Array {
  const node = (opType: string, input: string[], output: string, attribute: Onnx.IAttributeProto[] = []): Onnx.INodeProto => ({ opType, name: output, input, output: [output], attribute });
  const model: Onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'tiny',
      input: [info('x', ['N', 3, 9, 9])],
      output: TINY_OUTPUTS.map((name) => ({ name })),
      initializer: [
        floats('w1', [4, 3, 3, 3]), floats('b1', [4]), floats('w2', [4, 1, 3, 3]), floats('w3', [6, 2, 2, 2]),
        int64s('pads', [0, 0, 1, 0, 0, 0, 0, 2]),
        { name: 'scales', dims: [4], dataType: F, floatData: [1, 1, 2, 2] },
        int64s('zero', [0]), int64s('minus1', [-1]),
        floats('gb', [5, 40]), floats('gc', [5]), floats('mw', [15, 7]),
        int64s('s_starts', [5]), int64s('s_ends', [0]), int64s('s_axes', [3]), int64s('s_steps', [-2]),
        int64s('u_axes', [1]), floats('wt', [4, 3, 3, 3]),
      ],
      node: [
        node('Conv', ['x', 'w1', 'b1'], 'c1', [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 1, 1, 1])]),
        node('Relu', ['c1'], 'r1'),
        node('Conv', ['r1', 'w2'], 'c2', [int('group', 4), ints('strides', [2, 2]), str('auto_pad', 'SAME_UPPER')]),
        node('Conv', ['r1', 'w3'], 'c3', [int('group', 2), ints('dilations', [2, 2])]),
        node('Concat', ['c2', 'c3'], 'cat', [int('axis', 1)]),
        node('MaxPool', ['cat'], 'p', [ints('kernel_shape', [2, 2]), ints('strides', [2, 2]), int('ceil_mode', 1)]),
        node('AveragePool', ['cat'], 'ap', [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1])]),
        node('Pad', ['ap', 'pads'], 'pd'),
        node('Resize', ['pd', '', 'scales'], 'up', [str('mode', 'nearest')]),
        node('ReduceMean', ['up'], 'rm', [ints('axes', [2, 3]), int('keepdims', 0)]),
        // Exporters' dynamic flatten: Shape → Gather → Concat → Reshape.
        node('Shape', ['p'], 'shp'),
        node('Gather', ['shp', 'zero'], 'batch', [int('axis', 0)]),
        node('Concat', ['batch', 'minus1'], 'target', [int('axis', 0)]),
        node('Reshape', ['p', 'target'], 'fl'),
        node('Gemm', ['fl', 'gb', 'gc'], 'gm', [int('transB', 1)]),
        node('Concat', ['gm', 'rm'], 'both', [int('axis', 1)]),
        node('MatMul', ['both', 'mw'], 'mm'),
        node('Transpose', ['c3'], 'tr', [ints('perm', [0, 2, 3, 1])]),
        node('Slice', ['tr', 's_starts', 's_ends', 's_axes', 's_steps'], 'sl'),
        node('Unsqueeze', ['mm', 'u_axes'], 'unsq'),
        node('ConvTranspose', ['c2', 'wt'], 'ct', [ints('strides', [2, 2]), ints('pads', [1, 1, 1, 1]), ints('output_padding', [1, 1])]),
      ],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

describe('hand-built model', () => {
  const model = tinyModel();

  it('counts the multiply-adds worked out by hand', () => {
    const one = countOnnxFlops(model, [1, 3, 9, 9]);
    expect(one.macs).toBe(TINY_MACS_PER_IMAGE);
    expect(one.byOp.Conv).toMatchObject({ nodes: 3, macs: 2700 + 324 + 432 });
    expect(one.byOp.Gemm?.macs).toBe(200);
    expect(one.byOp.MatMul?.macs).toBe(105);
    expect(one.byOp.ConvTranspose?.macs).toBe(972);
    // Shape arithmetic does no arithmetic worth counting; pools count their windows.
    expect(one.byOp.Shape?.elementOps).toBe(0);
    expect(one.byOp.MaxPool?.elementOps).toBe(10 * 2 * 2 * 4);
    expect(countOnnxFlops(model, [5, 3, 9, 9]).macs).toBe(5 * TINY_MACS_PER_IMAGE);
  });

  it('propagates the shapes ONNX Runtime computes', async () => {
    const n = 2;
    const counted = countOnnxFlops(model, { x: [n, 3, 9, 9] }).outputShapes;
    const session = await ort.InferenceSession.create(model);
    try {
      const x = new ort.Tensor('float32', Float32Array.from({ length: n * 3 * 81 }, (_, i) => (i % 17) / 17), [n, 3, 9, 9]);
      const out = await session.run({ x });
      const actual = Object.fromEntries(TINY_OUTPUTS.map((o) => [o, [...(out[o] as ort.Tensor).dims]]));
      expect(counted).toEqual(actual);
      // A few by hand, so a shared mistake cannot hide.
      expect(actual.p).toEqual([n, 10, 2, 2]);
      expect(actual.up).toEqual([n, 10, 8, 10]);
      expect(actual.fl).toEqual([n, 40]);
      expect(actual.sl).toEqual([n, 3, 3, 3]);
      expect(actual.ct).toEqual([n, 3, 6, 6]);
    } finally {
      await session.release();
    }
  });

  it('names the node and the op it cannot count', () => {
    const bad = onnx.ModelProto.encode({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      graph: { name: 'bad', input: [info('x', [4])], output: [{ name: 'nz' }], node: [{ opType: 'NonZero', name: 'where_nonzero', input: ['x'], output: ['nz'] }] },
    }).finish();
    expect(() => countOnnxFlops(bad, [4], 'bad.onnx')).toThrow(WeightsError);
    expect(() => countOnnxFlops(bad, [4], 'bad.onnx')).toThrow("bad.onnx: cannot count node 'where_nonzero' (op NonZero): op NonZero is not supported");
    expect(() => countOnnxFlops(model, { y: [1, 3, 9, 9] })).toThrow("the model has no input 'y'; inputs: x");
    expect(() => countOnnxFlops(model, {})).toThrow("input 'x' has a dynamic shape; give its shape to count FLOPs");
  });
});

// --- the converted tfjs graph bases -------------------------------------------------------------

describe('converted graph bases', () => {
  it('counts MobileNet v1 (faceres) at 224 as the paper does: 569 M multiply-adds less the 1.02 M of its classifier', async () => {
    const spec = FACERES_SPECS.faceres;
    const { converted } = await convertGraphModelFile(resolvePackageFile(spec.model), { outputNode: spec.featureNode, pooling: spec.pooling, inputSize: spec.inputSize });
    const count = countOnnxFlops(converted.model, [1, 224, 224, 3]);
    expect(count.outputShapes.features).toEqual([1, 1024]);
    expect(count.byOp.Conv?.nodes).toBe(27);
    expect(count.macs / 1e6).toBeGreaterThan(565);
    expect(count.macs / 1e6).toBeLessThan(569 - 1.02 + 1);
  });

  it('gives mobileface the output shape ONNX Runtime gives it, and work proportional to the batch', async () => {
    const spec = MOBILEFACE_SPEC;
    const { converted } = await convertGraphModelFile(resolvePackageFile(spec.model), { outputNode: spec.featureNode, pooling: spec.pooling, inputSize: spec.inputSize });
    const one = countOnnxFlops(converted.model, [1, 112, 112, 3]);
    const three = countOnnxFlops(converted.model, [3, 112, 112, 3]);
    expect(three.macs).toBe(3 * one.macs);
    expect(one.byOp.MatMul?.macs).toBeGreaterThan(0);
    const session = await ort.InferenceSession.create(converted.model);
    try {
      const out = await session.run({ [converted.inputName]: new ort.Tensor('float32', new Float32Array(3 * 112 * 112 * 3).fill(100), [3, 112, 112, 3]) });
      expect(three.outputShapes[converted.outputName]).toEqual([...(out[converted.outputName] as ort.Tensor).dims]);
      expect(three.outputShapes[converted.outputName]).toEqual([3, 256]);
    } finally {
      await session.release();
    }
  });
});
