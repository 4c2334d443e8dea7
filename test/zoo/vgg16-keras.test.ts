import { createHash } from 'node:crypto';
import { copyFile, chmod, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import h5wasm from 'h5wasm/node';
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageBatch } from '../../src/data/image.js';
import { UsageError, WeightsError } from '../../src/errors.js';
import { readVgg16ConvWeights, type ConvWeights } from '../../src/zoo/vgg16/keras-weights.js';
import { loadOnnxFileBase } from '../../src/bases/onnx-file-base.js';
import { getPreprocessing, PREPROCESSING } from '../../src/bases/preprocess.js';
import { loadVgg16Base, resolveVgg16Weights, VGG16_VARIANTS, type Vgg16Variant } from '../../src/zoo/vgg16/base.js';
import { CELEBA, SHARED } from '../helpers/shared.js';
import { vectorAgreement } from '../helpers/vector-agreement.js';

const { onnx } = onnxProto;
const FIXTURES = path.join(SHARED, 'fixtures', 'keras-vgg16');
const IMAGENET_H5 = path.join(FIXTURES, 'vgg16_imagenet_layout_notop.h5');
const VGGFACE_H5 = path.join(FIXTURES, 'vgg16_vggface_layout_notop.h5');
const SIZE = 224;

interface ReferenceFile {
  layer_names: string[];
  preprocessing: { channel_order: string; mean_subtracted_bgr: number[]; scale: number };
  pooled_output: number[][];
  pooled_output_with_rescale_1_over_255_rgb: number[][];
}
interface Reference {
  inputs: string[];
  files: Record<string, ReferenceFile>;
}

let tmp: string;
let reference: Reference;
let fixtureImages: ImageBatch;

async function decodeRgb(file: string, size?: number): Promise<Float32Array> {
  let img = sharp(file).removeAlpha();
  if (size) img = img.resize(size, size, { fit: 'fill' });
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height, info.channels]).toEqual([SIZE, SIZE, 3]);
  return Float32Array.from(data);
}

function packBatch(images: Float32Array[]): ImageBatch {
  const data = new Float32Array(images.length * SIZE * SIZE * 3);
  images.forEach((img, i) => data.set(img, i * SIZE * SIZE * 3));
  return { n: images.length, height: SIZE, width: SIZE, data };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A writable copy of a fixture that the test may then edit in place with h5wasm. */
async function editableCopy(fixture: string, name: string, edit: (f: InstanceType<typeof h5wasm.File>) => void): Promise<string> {
  const target = path.join(tmp, name);
  await copyFile(fixture, target);
  await chmod(target, 0o644);
  const f = new h5wasm.File(target, 'a');
  try {
    edit(f);
  } finally {
    f.close();
  }
  return target;
}

function replaceStringAttr(node: { delete_attribute(n: string): number; create_attribute(n: string, v: string[]): void }, name: string, values: string[]): void {
  node.delete_attribute(name);
  node.create_attribute(name, values);
}

function layerNamesOf(f: InstanceType<typeof h5wasm.File>): string[] {
  return f.attrs['layer_names']?.json_value as string[];
}

async function expectWeightsError(promise: Promise<unknown>, ...parts: string[]): Promise<WeightsError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WeightsError);
  for (const part of parts) expect((err as Error).message).toContain(part);
  return err as WeightsError;
}

function expectSameWeights(a: ConvWeights[], b: ConvWeights[]): void {
  expect(a.map((w) => w.layer)).toEqual(b.map((w) => w.layer));
  a.forEach((w, i) => {
    expect(Buffer.from(w.kernel.buffer).equals(Buffer.from((b[i] as ConvWeights).kernel.buffer))).toBe(true);
    expect(Buffer.from(w.bias.buffer).equals(Buffer.from((b[i] as ConvWeights).bias.buffer))).toBe(true);
  });
}

beforeAll(async () => {
  await h5wasm.ready;
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegender-vgg16-'));
  reference = JSON.parse(await readFile(path.join(FIXTURES, 'reference.json'), 'utf8')) as Reference;
  // The reference PNGs are already 224x224, so they are decoded without resizing.
  fixtureImages = packBatch(await Promise.all(reference.inputs.map((f) => decodeRgb(path.join(FIXTURES, f)))));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('VGG16 conv base from Keras .h5 matches the independent reference', () => {
  const cases: Array<[string, Vgg16Variant, string, string | undefined, keyof ReferenceFile]> = [
    ['vgg16_imagenet_layout_notop.h5', 'vgg16-imagenet', 'caffe-imagenet', undefined, 'pooled_output'],
    ['vgg16_imagenet_layout_notop.h5', 'vgg16-imagenet', 'study', 'study', 'pooled_output_with_rescale_1_over_255_rgb'],
    ['vgg16_vggface_layout_notop.h5', 'vggface', 'vggface-v1', undefined, 'pooled_output'],
    ['vgg16_vggface_layout_notop.h5', 'vggface', 'study', 'study', 'pooled_output_with_rescale_1_over_255_rgb'],
  ];
  it.each(cases)('%s as %s with %s preprocessing', async (file, variant, expectedPreprocess, preprocess, key) => {
    const weights = path.join(FIXTURES, file);
    const base = await loadVgg16Base({ variant, weights, preprocess, threads: 2 });
    try {
      expect(base.id).toBe(variant);
      expect(base.preprocess).toBe(expectedPreprocess);
      expect(base.dim).toBe(512);
      expect(base.inputSize).toEqual({ height: SIZE, width: SIZE });
      expect(base.engine).toBe('onnxruntime');
      expect(base.weightsHash).toBe(sha256(await readFile(weights)));
      const out = await base.embed(fixtureImages);
      expect(out.length).toBe(2 * 512);
      const refRows = (reference.files[file] as ReferenceFile)[key] as number[][];
      refRows.forEach((ref, i) => {
        const { cosine, maxErr, maxRef } = vectorAgreement(out.subarray(i * 512, (i + 1) * 512), ref);
        expect(cosine).toBeGreaterThanOrEqual(0.99999);
        expect(maxErr).toBeLessThanOrEqual(1e-3 * maxRef);
      });
    } finally {
      await base.dispose();
    }
  });

  it("default preprocessing is the one named in reference.json's per-file description", () => {
    for (const [variant, file] of [
      ['vgg16-imagenet', 'vgg16_imagenet_layout_notop.h5'],
      ['vggface', 'vgg16_vggface_layout_notop.h5'],
    ] as const) {
      const pre = (reference.files[file] as ReferenceFile).preprocessing;
      const pixel = new Float32Array([10, 20, 30]);
      const out = getPreprocessing(VGG16_VARIANTS[variant].preprocess).apply(pixel);
      const [mb, mg, mr] = pre.mean_subtracted_bgr as [number, number, number];
      expect(pre.channel_order).toBe('BGR');
      expect(out[0]).toBeCloseTo(30 * pre.scale - mb, 4);
      expect(out[1]).toBeCloseTo(20 * pre.scale - mg, 4);
      expect(out[2]).toBeCloseTo(10 * pre.scale - mr, 4);
    }
  });
});

describe('preprocessing registry', () => {
  it('applies each named transform without changing its input', () => {
    const input = new Float32Array([0, 128, 255, 51, 102, 204]);
    const copy = Float32Array.from(input);
    expect(Array.from(getPreprocessing('study').apply(input))).toEqual(Array.from(input, (v) => Math.fround(v / 255)));
    expect(Array.from(getPreprocessing('raw').apply(input))).toEqual(Array.from(input));
    const face = getPreprocessing('vggface-v1').apply(input);
    expect(face[0]).toBeCloseTo(255 - 93.594, 4);
    expect(face[3]).toBeCloseTo(204 - 93.594, 4);
    expect(face[5]).toBeCloseTo(51 - 129.1863, 4);
    expect(input).toEqual(copy);
    for (const [name, p] of Object.entries(PREPROCESSING)) {
      expect(p.name).toBe(name);
      expect(p.description.length).toBeGreaterThan(10);
    }
    expect(() => getPreprocessing('imagenet-torch')).toThrow(UsageError);
  });
});

describe('Keras .h5 layouts', () => {
  it('reads layer_names split into layer_names0, layer_names1 (HDF5 attribute size limit)', async () => {
    const file = await editableCopy(VGGFACE_H5, 'split.h5', (f) => {
      const names = layerNamesOf(f);
      f.delete_attribute('layer_names');
      f.create_attribute('layer_names0', names.slice(0, 8));
      f.create_attribute('layer_names1', names.slice(8));
    });
    const check = new h5wasm.File(file, 'r');
    expect(Object.keys(check.attrs).filter((a) => a.startsWith('layer_names')).sort()).toEqual(['layer_names0', 'layer_names1']);
    check.close();
    expectSameWeights(await readVgg16ConvWeights(file, 'vggface'), await readVgg16ConvWeights(VGGFACE_H5, 'vggface'));
  });

  it('reads a whole-model save (weights under model_weights) and ignores the fully connected top', async () => {
    const file = path.join(tmp, 'whole-model.h5');
    const src = new h5wasm.File(IMAGENET_H5, 'r');
    const out = new h5wasm.File(file, 'w');
    try {
      const names = [...layerNamesOf(src), 'flatten', 'fc1', 'fc2', 'predictions'];
      out.create_attribute('model_config', JSON.stringify({ class_name: 'Model' }));
      const mw = out.create_group('model_weights');
      mw.create_attribute('layer_names', names);
      for (const layer of names) {
        const g = mw.create_group(layer);
        const srcGroup = src.get(layer);
        const weightNames = srcGroup instanceof h5wasm.Group ? (srcGroup.attrs['weight_names']?.json_value as string[]) : [];
        if (layer.startsWith('fc') || layer === 'predictions') {
          // Shapes of a real top would be huge; small ones suffice since the top must be skipped.
          g.create_attribute('weight_names', [`${layer}_W_1:0`, `${layer}_b_1:0`]);
          g.create_dataset({ name: `${layer}_W_1:0`, data: new Float32Array(8 * 4), shape: [8, 4], dtype: '<f' });
          g.create_dataset({ name: `${layer}_b_1:0`, data: new Float32Array(4), shape: [4], dtype: '<f' });
          continue;
        }
        g.create_attribute('weight_names', weightNames);
        for (const w of weightNames) {
          const ds = (srcGroup as InstanceType<typeof h5wasm.Group>).get(w) as InstanceType<typeof h5wasm.Dataset>;
          g.create_dataset({ name: w, data: ds.value as Float32Array, shape: ds.shape, dtype: '<f' });
        }
      }
    } finally {
      src.close();
      out.close();
    }
    expectSameWeights(await readVgg16ConvWeights(file, 'vgg16-imagenet'), await readVgg16ConvWeights(IMAGENET_H5, 'vgg16-imagenet'));
  });
});

describe('weights errors name the layer, the expected and the found shape', () => {
  it('a kernel of the wrong shape', async () => {
    const file = await editableCopy(VGGFACE_H5, 'wrong-shape.h5', (f) => {
      const g = f.get('conv3_1') as InstanceType<typeof h5wasm.Group>;
      g.create_dataset({ name: 'conv3_1/kernel_bad:0', data: new Float32Array(3 * 3 * 128 * 128), shape: [3, 3, 128, 128], dtype: '<f' });
      replaceStringAttr(g, 'weight_names', ['conv3_1/kernel_bad:0', 'conv3_1/bias:0']);
    });
    const err = await expectWeightsError(readVgg16ConvWeights(file, 'vggface'), 'conv3_1', '[3, 3, 128, 256]', '[3, 3, 128, 128]');
    expect(err.file).toBe(file);
  });

  it('a dense weight where a conv kernel belongs', async () => {
    const file = await editableCopy(IMAGENET_H5, 'dense-in-conv.h5', (f) => {
      const g = f.get('block4_conv2') as InstanceType<typeof h5wasm.Group>;
      g.create_dataset({ name: 'dense_W:0', data: new Float32Array(512 * 512), shape: [512, 512], dtype: '<f' });
      replaceStringAttr(g, 'weight_names', ['dense_W:0', 'block4_conv2_b_1:0']);
    });
    await expectWeightsError(readVgg16ConvWeights(file, 'vgg16-imagenet'), 'block4_conv2', '[3, 3, 512, 512]', '[512, 512]');
  });

  it('a bias of the wrong length', async () => {
    const file = await editableCopy(IMAGENET_H5, 'wrong-bias.h5', (f) => {
      const g = f.get('block5_conv3') as InstanceType<typeof h5wasm.Group>;
      g.create_dataset({ name: 'bias_bad:0', data: new Float32Array(256), shape: [256], dtype: '<f' });
      replaceStringAttr(g, 'weight_names', ['block5_conv3_W_1:0', 'bias_bad:0']);
    });
    await expectWeightsError(readVgg16ConvWeights(file, 'vgg16-imagenet'), 'block5_conv3', 'bias', '[512]', '[256]');
  });

  it('a layer missing', async () => {
    const file = await editableCopy(VGGFACE_H5, 'missing-layer.h5', (f) => {
      replaceStringAttr(f, 'layer_names', layerNamesOf(f).filter((n) => n !== 'conv4_2'));
    });
    await expectWeightsError(readVgg16ConvWeights(file, 'vggface'), 'conv4_2', '[3, 3, 512, 512]', 'found none');
  });

  it('an .h5 without layer_names (not a Keras weights file)', async () => {
    const file = await editableCopy(VGGFACE_H5, 'no-layer-names.h5', (f) => {
      f.delete_attribute('layer_names');
    });
    await expectWeightsError(readVgg16ConvWeights(file, 'vggface'), file, 'no layer_names');
  });

  it("the other variant's file", async () => {
    await expectWeightsError(loadVgg16Base({ variant: 'vgg16-imagenet', weights: VGGFACE_H5 }), 'block1_conv1', '[3, 3, 3, 64]', 'vggface layout');
  });

  it('a file that is not HDF5', async () => {
    const file = path.join(tmp, 'not-hdf5.h5');
    await writeFile(file, 'this is not an HDF5 file\n');
    await expectWeightsError(readVgg16ConvWeights(file, 'vggface'), file, 'not an HDF5');
  });
});

describe('weights file resolution', () => {
  const saved: Record<string, string | undefined> = {};
  const keys = ['HOME', 'FACEGENDER_VGG16_WEIGHTS', 'FACEGENDER_VGGFACE_WEIGHTS'];
  let home: string;

  beforeAll(async () => {
    for (const k of keys) saved[k] = process.env[k];
    home = path.join(tmp, 'home');
    await mkdir(home, { recursive: true });
    process.env['HOME'] = home;
    delete process.env['FACEGENDER_VGG16_WEIGHTS'];
    delete process.env['FACEGENDER_VGGFACE_WEIGHTS'];
  });

  afterAll(() => {
    for (const k of keys) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  it('without weights names the Keras file to get and ~/.keras/models', async () => {
    await expectWeightsError(loadVgg16Base({ variant: 'vggface' }), 'rcmalli_vggface_tf_notop_vgg16.h5', '~/.keras/models', 'FACEGENDER_VGGFACE_WEIGHTS');
    await expectWeightsError(
      resolveVgg16Weights('vgg16-imagenet'),
      'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5',
      '~/.keras/models',
      'FACEGENDER_VGG16_WEIGHTS',
    );
  });

  it('finds the file in ~/.keras/models', async () => {
    const models = path.join(home, '.keras', 'models');
    await mkdir(models, { recursive: true });
    const cached = path.join(models, 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5');
    await symlink(IMAGENET_H5, cached);
    try {
      expect(await resolveVgg16Weights('vgg16-imagenet')).toBe(cached);
      await expectWeightsError(resolveVgg16Weights('vggface'), 'rcmalli_vggface_tf_notop_vgg16.h5');
    } finally {
      await rm(cached);
    }
  });

  it('prefers the option, then the env var, and a named but missing file is an error', async () => {
    const models = path.join(home, '.keras', 'models');
    await mkdir(models, { recursive: true });
    const cached = path.join(models, 'rcmalli_vggface_tf_notop_vgg16.h5');
    await symlink(VGGFACE_H5, cached);
    try {
      process.env['FACEGENDER_VGGFACE_WEIGHTS'] = VGGFACE_H5;
      expect(await resolveVgg16Weights('vggface')).toBe(VGGFACE_H5);
      expect(await resolveVgg16Weights('vggface', IMAGENET_H5)).toBe(IMAGENET_H5);
      const missing = path.join(tmp, 'nope.h5');
      process.env['FACEGENDER_VGGFACE_WEIGHTS'] = missing;
      await expectWeightsError(resolveVgg16Weights('vggface'), missing, 'FACEGENDER_VGGFACE_WEIGHTS');
      await expectWeightsError(resolveVgg16Weights('vggface', missing), missing, 'does not exist');
    } finally {
      delete process.env['FACEGENDER_VGGFACE_WEIGHTS'];
      await rm(cached);
    }
    expect(await readdir(models)).toEqual([]);
  });
});

describe('real CelebA faces', () => {
  it('a batch of 2 embeds to 2x512 finite values, the same as one by one', async () => {
    const files = [path.join(CELEBA, 'male', '000003.jpg'), path.join(CELEBA, 'female', '000001.jpg')];
    const images = await Promise.all(files.map((f) => decodeRgb(f, SIZE)));
    const base = await loadVgg16Base({ variant: 'vggface', weights: VGGFACE_H5, threads: 2 });
    try {
      const both = await base.embed(packBatch(images));
      expect(both.length).toBe(2 * 512);
      expect(both.every(Number.isFinite)).toBe(true);
      expect(both.some((v) => v > 0)).toBe(true);
      const alone = await base.embed(packBatch([images[1] as Float32Array]));
      const { cosine, maxErr, maxRef } = vectorAgreement(alone, Array.from(both.subarray(512)));
      expect(cosine).toBeGreaterThan(0.99999);
      expect(maxErr).toBeLessThanOrEqual(1e-4 * maxRef);
      expect(vectorAgreement(both.subarray(0, 512), Array.from(both.subarray(512))).cosine).toBeLessThan(0.99999);
      // 17 images span two runs inside embed; each row must still belong to its own image.
      const many = await base.embed(packBatch(Array.from({ length: 17 }, (_, i) => images[i % 2] as Float32Array)));
      expect(many.length).toBe(17 * 512);
      for (const row of [15, 16]) {
        const expected = Array.from(both.subarray((row % 2) * 512, (row % 2 + 1) * 512));
        expect(vectorAgreement(many.subarray(row * 512, (row + 1) * 512), expected).cosine).toBeGreaterThan(0.99999);
      }
      await expect(base.embed({ n: 1, height: 112, width: 112, data: new Float32Array(112 * 112 * 3) })).rejects.toThrow(UsageError);
    } finally {
      await base.dispose();
    }
  });
});

// --- a user's .onnx file as a base -------------------------------------------------------

const F = onnx.TensorProto.DataType.FLOAT;
function valueInfo(name: string, dims: Array<number | string>): Onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: F, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  };
}
function tensor(name: string, dims: number[], values: number[]): Onnx.ITensorProto {
  return { name, dims, dataType: F, floatData: values };
}
function tinyModel(nodes: Onnx.INodeProto[], inits: Onnx.ITensorProto[], input: Onnx.IValueInfoProto, outputs: Onnx.IValueInfoProto[]): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: { name: 'tiny', node: nodes, initializer: inits, input: [input], output: outputs },
  }).finish();
}

// A 1x1 conv from 3 to 4 channels: linear, so the mean over pixels of its output is W·mean(x)+b.
const W = [
  [1, 0, 0],
  [0, 2, 0],
  [0.5, 0.5, 0.5],
  [-1, 1, 0.25],
];
const B = [0.1, -0.2, 0.3, 0];
const S = 8;

function randomImages(n: number, seed: number): Float32Array {
  const data = new Float32Array(n * S * S * 3);
  let x = seed;
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    data[i] = (x % 256) as number;
  }
  return data;
}

/** Expected per-image channel means after `study` preprocessing, computed from the pixels directly. */
function expectedMeans(data: Float32Array, n: number): number[][] {
  return Array.from({ length: n }, (_, i) => {
    const mean = [0, 0, 0];
    for (let p = 0; p < S * S; p++) for (let c = 0; c < 3; c++) mean[c]! += (data[(i * S * S + p) * 3 + c] as number) / 255 / (S * S);
    return W.map((row, o) => row.reduce((s, w, c) => s + w * (mean[c] as number), B[o] as number));
  });
}

describe('a user .onnx file as a base', () => {
  const convNodes: Onnx.INodeProto[] = [{ opType: 'Conv', input: ['x', 'w', 'b'], output: ['y'], attribute: [{ name: 'kernel_shape', type: 7, ints: [1, 1] }] }];
  const convInits = [tensor('w', [4, 3, 1, 1], W.flat()), tensor('b', [4], B)];

  async function writeModel(name: string, bytes: Uint8Array): Promise<string> {
    const file = path.join(tmp, name);
    await writeFile(file, bytes);
    return file;
  }

  it('NCHW model with a 4-D output: dim from metadata, global-average-pooled, or flattened', async () => {
    const file = await writeModel('conv-nchw.onnx', tinyModel(convNodes, convInits, valueInfo('x', ['N', 3, S, S]), [valueInfo('y', ['N', 4, S, S])]));
    const data = randomImages(3, 7);
    const base = await loadOnnxFileBase(file, { inputSize: { height: S, width: S }, preprocess: 'study', layout: 'nchw' });
    try {
      expect(base.id).toBe(`onnx:${file}`);
      expect(base.dim).toBe(4);
      expect(base.weightsHash).toBe(sha256(await readFile(file)));
      const out = await base.embed({ n: 3, height: S, width: S, data });
      expectedMeans(data, 3).forEach((row, i) => row.forEach((v, o) => expect(out[i * 4 + o]).toBeCloseTo(v, 5)));
    } finally {
      await base.dispose();
    }
    const flat = await loadOnnxFileBase(file, { inputSize: { height: S, width: S }, preprocess: 'raw', layout: 'nchw', reduce: 'flatten' });
    try {
      expect(flat.dim).toBe(4 * S * S);
      const out = await flat.embed({ n: 1, height: S, width: S, data: data.subarray(0, S * S * 3) });
      // Output channel 1 at pixel (2, 5) is 2 x the green value there, plus its bias.
      const p = 2 * S + 5;
      expect(out[1 * S * S + p]).toBeCloseTo(2 * (data[p * 3 + 1] as number) - 0.2, 3);
    } finally {
      await flat.dispose();
    }
  });

  it('NHWC model whose output shape is symbolic: dim from a probe run', async () => {
    // MatMul on the channel axis is the NHWC equivalent of the 1x1 conv above.
    const wT = W[0]!.map((_, c) => W.map((row) => row[c] as number));
    const nodes: Onnx.INodeProto[] = [
      { opType: 'MatMul', input: ['x', 'wt'], output: ['m'] },
      { opType: 'Add', input: ['m', 'b'], output: ['y'] },
    ];
    const file = await writeModel(
      'matmul-nhwc.onnx',
      tinyModel(nodes, [tensor('wt', [3, 4], wT.flat()), tensor('b', [4], B)], valueInfo('x', ['N', S, S, 3]), [valueInfo('y', ['N', 'h', 'w', 'c'])]),
    );
    const data = randomImages(2, 11);
    const base = await loadOnnxFileBase(file, { inputSize: { height: S, width: S }, preprocess: 'study', layout: 'nhwc' });
    try {
      expect(base.dim).toBe(4);
      const out = await base.embed({ n: 2, height: S, width: S, data });
      expectedMeans(data, 2).forEach((row, i) => row.forEach((v, o) => expect(out[i * 4 + o]).toBeCloseTo(v, 5)));
    } finally {
      await base.dispose();
    }
  });

  it('a model fixed at batch 1 with a named 2-D output is fed one image at a time', async () => {
    const nodes: Onnx.INodeProto[] = [
      ...convNodes,
      { opType: 'GlobalAveragePool', input: ['y'], output: ['g'] },
      { opType: 'Flatten', input: ['g'], output: ['features'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
    ];
    const file = await writeModel(
      'fixed-batch.onnx',
      tinyModel(nodes, convInits, valueInfo('x', [1, 3, S, S]), [valueInfo('y', [1, 4, S, S]), valueInfo('features', [1, 4])]),
    );
    const data = randomImages(3, 3);
    const base = await loadOnnxFileBase(file, { inputSize: { height: S, width: S }, preprocess: 'study', layout: 'nchw', outputName: 'features' });
    try {
      expect(base.dim).toBe(4);
      const out = await base.embed({ n: 3, height: S, width: S, data });
      expectedMeans(data, 3).forEach((row, i) => row.forEach((v, o) => expect(out[i * 4 + o]).toBeCloseTo(v, 5)));
    } finally {
      await base.dispose();
    }
  });

  it('errors name the file and the problem', async () => {
    const file = await writeModel('conv-16.onnx', tinyModel(convNodes, convInits, valueInfo('x', ['N', 3, 16, 16]), [valueInfo('y', ['N', 4, 16, 16])]));
    await expectWeightsError(loadOnnxFileBase(file, { inputSize: { height: S, width: S }, preprocess: 'raw', layout: 'nchw' }), file, '[N, 3, 16, 16]', '[N, 3, 8, 8]');
    await expectWeightsError(loadOnnxFileBase(file, { inputSize: { height: 16, width: 16 }, preprocess: 'raw', layout: 'nhwc' }), file, 'layout nhwc');
    await expectWeightsError(
      loadOnnxFileBase(file, { inputSize: { height: 16, width: 16 }, preprocess: 'raw', layout: 'nchw', outputName: 'logits' }),
      file,
      "no output 'logits'",
    );
    await expect(loadOnnxFileBase(file, { inputSize: { height: 16, width: 16 }, preprocess: 'raw', layout: 'nchw', threads: 0 })).rejects.toThrow(UsageError);
    await expect(loadOnnxFileBase(file, { inputSize: { height: 16, width: 16 }, preprocess: 'bgr', layout: 'nchw' })).rejects.toThrow(UsageError);
    const missing = path.join(tmp, 'missing.onnx');
    await expectWeightsError(loadOnnxFileBase(missing, { inputSize: { height: S, width: S }, preprocess: 'raw', layout: 'nchw' }), missing);
    const garbage = await writeModel('garbage.onnx', new TextEncoder().encode('not a model'));
    await expectWeightsError(loadOnnxFileBase(garbage, { inputSize: { height: S, width: S }, preprocess: 'raw', layout: 'nchw' }), garbage);
  });
});
