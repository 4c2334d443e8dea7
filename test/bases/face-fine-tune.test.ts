import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tfc from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FACERES_SPECS } from '../../src/zoo/faceres.js';
import { isFineTunable, type FineTunableBase } from '../../src/bases/fine-tunable.js';
import { readGraphBaseWeights } from '../../src/graph/program-layer.js';
import { decodeGraphWeightBytes, encodeGraphWeightBytes, GRAPH_WEIGHTS_FORMAT } from '../../src/graph/weight-bytes.js';
import { readGraphModel } from '../../src/graph/read-graph.js';
import { getPreprocessing } from '../../src/bases/preprocess.js';
import { loadBase, loadFineTunedBase } from '../../src/zoo/index.js';
import { initTfjs } from '../../src/runtime/tfjs/backend.js';
import { resolvePackageFile } from '../../src/runtime/tfjs/graph-loader.js';
import { GraphProgram } from '../../src/graph/to-program.js';
import type { GraphWeight } from '../../src/graph/nodes.js';
import { depthwiseConv2dFilterGradient } from '../../src/runtime/tfjs/kernels/depthwise-conv2d-backprop-filter.js';
import { imageBatches } from '../../src/data/batches.js';
import type { ImageBatch } from '../../src/data/image.js';
import { scanDataset } from '../../src/data/dataset.js';
import { makeSplit, type Split } from '../../src/data/split.js';
import { BundleError, UsageError, WeightsError } from '../../src/errors.js';
import { loadClassifier } from '../../src/predict/classifier.js';
import { runExperiment, type ExperimentResult } from '../../src/experiments/experiment.js';
import { BASE_WEIGHTS_BIN } from '../../src/train/bundle.js';
import type { EpochRecord } from '../../src/train/fit.js';
import { partFiles, trainModel } from '../../src/train/train-model.js';
import { relativeError } from '../helpers/relative-error.js';
import { CELEBA, CELEBA_IDENTITIES } from '../helpers/shared.js';

type Tf = Awaited<ReturnType<typeof initTfjs>>;
let tf: Tf;
let tmp: string;
let split: Split;
let face: FineTunableBase;
let faceFile: string;
let faceWeights: Map<string, GraphWeight>;

/** A fixed pseudo-random array (an LCG in JavaScript, so both backends see the same numbers). */
function values(shape: number[], seed: number): Float32Array {
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let s = seed;
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = s / 2147483648 - 0.5;
  }
  return out;
}

function sameFloats(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function on<T>(backend: 'wasm' | 'cpu', fn: () => T): Promise<T> {
  await initTfjs({ backend });
  return fn();
}

async function faceImages(files: string[], base: FineTunableBase): Promise<ImageBatch> {
  let out: ImageBatch | undefined;
  for await (const { batch } of imageBatches(files, { batchSize: files.length, size: base.inputSize, ...(base.crop ? { crop: base.crop } : {}) })) out = batch;
  return out as ImageBatch;
}

beforeAll(async () => {
  tf = await initTfjs();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'fg-face-ft-'));
  const dataset = await scanDataset(CELEBA, { identities: CELEBA_IDENTITIES });
  split = makeSplit(dataset, { train: 24, val: 12, test: 12, balanced: true, seed: 5 });
  const base = await loadBase('face');
  if (!isFineTunable(base)) throw new Error('face is not fine-tunable');
  face = base;
  faceFile = resolvePackageFile(FACERES_SPECS['faceres-deep'].model);
  faceWeights = (await readGraphModel(faceFile)).weights;
});

afterAll(async () => {
  await face?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

describe('depthwise conv gradients on wasm match the cpu backend', () => {
  const cases: Array<{ x: [number, number, number, number]; f: [number, number, number, number]; stride: number; pad: 'same' | 'valid' }> = [
    { x: [2, 8, 8, 3], f: [3, 3, 3, 1], stride: 1, pad: 'same' },
    { x: [2, 9, 7, 4], f: [3, 3, 4, 1], stride: 2, pad: 'same' },
    { x: [2, 8, 8, 4], f: [3, 3, 4, 1], stride: 2, pad: 'same' },
    { x: [2, 9, 9, 2], f: [3, 3, 2, 2], stride: 2, pad: 'valid' },
    { x: [1, 10, 11, 3], f: [5, 5, 3, 2], stride: 1, pad: 'valid' },
  ];
  for (const c of cases) {
    it(`x [${c.x.join(', ')}], filter [${c.f.join(', ')}], stride ${c.stride}, ${c.pad}`, async () => {
      const run = (): Float32Array[] => {
        const x = tf.tensor4d(values(c.x, 1), c.x);
        const w = tf.tensor4d(values(c.f, 2), c.f);
        const yShape = tf.tidy(() => tf.depthwiseConv2d(x, w, c.stride, c.pad).shape);
        const r = tf.tensor(values(yShape, 3), yShape);
        const grads = tf.grads((a: tfc.Tensor, b: tfc.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(a as tfc.Tensor4D, b as tfc.Tensor4D, c.stride, c.pad), r)));
        const out = grads([x, w]).map((g) => g.dataSync() as Float32Array);
        tf.dispose([x, w, r]);
        return out;
      };
      const reference = await on('cpu', run);
      const wasm = await on('wasm', run);
      expect(tf.getKernel('DepthwiseConv2dNativeBackpropFilter', 'wasm')).toBeDefined();
      expect(relativeError(wasm[0] as Float32Array, reference[0] as Float32Array)).toBeLessThan(1e-5);
      expect(relativeError(wasm[1] as Float32Array, reference[1] as Float32Array)).toBeLessThan(1e-5);
    });
  }

  it('rejects a dy that does not fit the conv', () => {
    const x = tf.zeros([1, 6, 6, 2]) as tfc.Tensor4D;
    const dy = tf.zeros([1, 5, 5, 2]) as tfc.Tensor4D;
    expect(() => depthwiseConv2dFilterGradient(x, dy, { filterShape: [3, 3, 2, 1], strides: 1, pad: 'same' })).toThrow(/dy has shape \[1, 5, 5, 2\] but the conv output is \[1, 6, 6, 2\]/);
    tf.dispose([x, dy]);
  });
});

describe('faceres-deep as a trainable tfjs program', () => {
  it('has the stem and 13 depthwise-separable blocks, and gives the ONNX Runtime features on CelebA images', async () => {
    expect(face.id).toBe('faceres-deep');
    expect(face.blockCount).toBe(14);
    const files = [...partFiles(split, 'test').files.slice(0, 3), ...partFiles(split, 'val').files.slice(0, 3)];
    const batch = await faceImages(files, face);
    const frozen = await face.embed(batch);
    const model = await face.trainableModel(3);
    try {
      // 1 stem conv + bias, and per block: depthwise kernel, its BN scale and offset, pointwise kernel and offset.
      expect(model.weights.length).toBe(2 + 13 * 5);
      expect(model.trainableWeights.length).toBe(3 * 5);
      const x = tf.tensor4d(getPreprocessing(face.preprocess).apply(batch.data), [files.length, 224, 224, 3]);
      const y = model.predict(x) as tfc.Tensor;
      expect(y.shape).toEqual([files.length, 1024]);
      const features = y.dataSync() as Float32Array;
      tf.dispose([x, y]);
      expect(relativeError(features, frozen)).toBeLessThan(1e-4);
    } finally {
      model.dispose();
    }
  });

  it('back-propagates to every block on wasm as on the cpu backend', async () => {
    const program = new GraphProgram(
      (JSON.parse(await readFile(faceFile, 'utf8')) as { modelTopology: { node: never[] } }).modelTopology.node,
      faceWeights,
      { outputNode: 'global_pooling/Mean', pooling: 'none', blockOf: (w) => FACERES_SPECS['faceres-deep'].fineTune?.blockOf(w) ?? '' },
    );
    expect(program.blocks).toEqual(['stem', ...Array.from({ length: 13 }, (_, i) => `block ${i + 1}`)]);
    // Real faces: random pixels leave every unit of the last block clipped, with no gradient at all.
    let pixels: Float32Array | undefined;
    for await (const { batch } of imageBatches(partFiles(split, 'train').files.slice(0, 1), { batchSize: 1, size: { height: 32, width: 32 } })) pixels = getPreprocessing(face.preprocess).apply(batch.data);
    const run = (): Float32Array[] => {
      const params = program.params.map((p) => tf.tensor(faceWeights.get(p.name)?.values as Float32Array, p.shape));
      const x = tf.tensor4d(pixels as Float32Array, [1, 32, 32, 3]);
      const r = tf.tensor(values([1, 1024], 8), [1, 1024]);
      const trainable = new Set(program.params.map((_, i) => i));
      const grads = tf.grads((...ps: tfc.Tensor[]) => tf.sum(tf.mul(program.run(x, ps, trainable), r)))(params);
      const out = grads.map((g) => g.dataSync() as Float32Array);
      tf.dispose([x, r, ...params, ...grads]);
      return out;
    };
    const reference = await on('cpu', run);
    const wasm = await on('wasm', run);
    expect(wasm.length).toBe(67);
    wasm.forEach((g, i) => {
      const name = program.params[i]?.name;
      expect(g.some((v) => v !== 0), name).toBe(true);
      expect(relativeError(g, reference[i] as Float32Array), name).toBeLessThan(1e-4);
    });
  });

  it('trains only the last block when told to', async () => {
    const model = await face.trainableModel(1);
    const batch = await faceImages(partFiles(split, 'train').files.slice(0, 4), face);
    const x = tf.tensor4d(getPreprocessing(face.preprocess).apply(batch.data), [4, 224, 224, 3]);
    const y = tf.tensor2d([1, 0, 1, 0], [4, 1]);
    const head = tfl.sequential({ layers: [model, tfl.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) })] });
    head.compile({ optimizer: tf.train.adam(1e-3), loss: 'binaryCrossentropy' });
    await head.trainOnBatch(x, y);
    await head.trainOnBatch(x, y);
    const after = readGraphBaseWeights(model, 0);
    const changed = [...after].filter(([name, w]) => !sameFloats(w.values, faceWeights.get(name)?.values as Float32Array)).map(([name]) => name);
    expect(changed.sort()).toEqual(['conv_dw_13/depthwise_kernel', 'conv_dw_13_bn/batchnorm_1/mul', 'conv_dw_13_bn/batchnorm_1/sub', 'conv_pw_13/convolution/merged_input', 'conv_pw_13_bn/batchnorm_1/sub']);
    tf.dispose([x, y]);
    head.dispose();
  });
});

describe('stored fine-tuned graph weights', () => {
  it('round-trip, and are refused when they do not fit the graph', () => {
    const kernel = faceWeights.get('conv_pw_13/convolution/merged_input') as GraphWeight;
    const bias = faceWeights.get('conv_pw_13_bn/batchnorm_1/sub') as GraphWeight;
    const bytes = encodeGraphWeightBytes(new Map([['conv_pw_13/convolution/merged_input', kernel], ['conv_pw_13_bn/batchnorm_1/sub', bias]]));
    expect(bytes.byteLength % 4).toBe(0);
    const back = decodeGraphWeightBytes(bytes.slice(), faceWeights, 'x.bin');
    expect([...back.keys()]).toEqual(['conv_pw_13/convolution/merged_input', 'conv_pw_13_bn/batchnorm_1/sub']);
    expect(sameFloats(back.get('conv_pw_13/convolution/merged_input')?.values as Float32Array, kernel.values)).toBe(true);
    expect(() => decodeGraphWeightBytes(bytes.subarray(0, bytes.length - 4), faceWeights, 'x.bin')).toThrow(/x.bin: not fine-tuned graph weights .* the header describes \d+ bytes, found \d+/);
    const wrong = encodeGraphWeightBytes(new Map([['conv_pw_11_bn/batchnorm_1/sub', bias]]));
    expect(() => decodeGraphWeightBytes(wrong, faceWeights, 'x.bin')).toThrow(/weight 'conv_pw_11_bn\/batchnorm_1\/sub' is stored as \[1024\], the graph's is \[512\]/);
  });
});

describe('fine-tuning face after the head', () => {
  let run: ExperimentResult;
  let out: string;
  const events: Array<{ notice: string } | { epoch: EpochRecord }> = [];

  beforeAll(async () => {
    out = path.join(tmp, 'run');
    // Seed-1 head at 1e-3 for one epoch, then block 14 at 1e-4: validation loss 0.245 → 0.210, so the epoch is kept.
    run = await runExperiment(split, 'face', out, {
      epochs: 1,
      lr: 1e-3,
      batchSize: 8,
      patience: 0,
      augmentViews: 0,
      fineTuneEpochs: 1,
      fineTuneLr: 1e-4,
      fineTuneBlocks: 1,
      cacheDir: path.join(tmp, 'cache'),
      resamples: 50,
      onNotice: (notice) => events.push({ notice }),
      onEpoch: (epoch) => events.push({ epoch }),
    });
  });

  it('states the measured expected time before the fine-tune epoch and keeps the epoch', () => {
    const i = events.findIndex((e) => 'notice' in e);
    const notice = (events[i] as { notice: string }).notice;
    expect(notice).toMatch(/^fine-tuning faceres-deep \(block 14\) for 1 epoch on 24 images at 224x224 on tfjs-wasm: measured [\d.]+ s\/image training, [\d.]+ s\/image validation → expected about \d+ s$/);
    expect(i).toBeLessThan(events.findIndex((e) => 'epoch' in e && e.epoch.phase === 'fine-tune'));
    const estimate = (run.trained.config.fineTune as { estimate: { trainSecondsPerImage: number; expectedSeconds: number } }).estimate;
    expect(estimate.trainSecondsPerImage).toBeGreaterThan(0);
    expect(estimate.expectedSeconds).toBeGreaterThan(0);
    expect(run.trained.history.map((h) => [h.epoch, h.phase])).toEqual([
      [1, 'head'],
      [2, 'fine-tune'],
    ]);
    expect(run.trained.bestEpoch).toBe(2);
  });

  it('stores only the last block, changed, in the bundle', async () => {
    const bytes = await readFile(path.join(out, BASE_WEIGHTS_BIN));
    const manifest = run.manifest;
    expect(manifest.base.fineTuned).toMatchObject({ weightsFile: BASE_WEIGHTS_BIN, format: GRAPH_WEIGHTS_FORMAT, originalWeightsHash: face.weightsHash, trainableBlocks: 1, bytes: bytes.byteLength });
    expect(manifest.base.weightsHash).toBe(createHash('sha256').update(bytes).digest('hex'));
    const stored = decodeGraphWeightBytes(bytes, faceWeights);
    expect([...stored.keys()].every((name) => /^conv_(dw|pw)_13[/_]/.test(name))).toBe(true);
    expect(stored.size).toBe(5);
    for (const [name, w] of stored) expect(sameFloats(w.values, faceWeights.get(name)?.values as Float32Array), name).toBe(false);
  });

  it('loads the bundle to the same probabilities', async () => {
    const clf = await loadClassifier(out);
    try {
      expect(clf.base.weightsHash).toBe(run.manifest.base.weightsHash);
      const probs = await clf.probabilities(partFiles(split, 'test').files);
      const saved = run.evaluation.predictions.map((p) => p.prob);
      expect(probs.length).toBe(12);
      probs.forEach((p, i) => expect(Math.abs(p - (saved[i] as number))).toBeLessThanOrEqual(1e-5));
    } finally {
      await clf.dispose();
    }
  });

  it('refuses stored weights tuned from another version of the graph', async () => {
    const bytes = await readFile(path.join(out, BASE_WEIGHTS_BIN));
    const other = { originalWeightsHash: '0'.repeat(64), format: GRAPH_WEIGHTS_FORMAT, trainableBlocks: 1 };
    await expect(loadFineTunedBase('faceres-deep', bytes, other, { file: 'b.bin' })).rejects.toThrow(WeightsError);
    await expect(loadFineTunedBase('faceres-deep', bytes, other, { file: 'b.bin' })).rejects.toThrow(/^b.bin: was fine-tuned from faceres-deep weights with sha256 000000000000…/);
  });

  it('refuses damaged stored weights, naming the file', async () => {
    const copy = path.join(tmp, 'damaged');
    await cp(out, copy, { recursive: true });
    const file = path.join(copy, BASE_WEIGHTS_BIN);
    const bytes = await readFile(file);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
    await writeFile(file, bytes);
    await expect(loadClassifier(copy)).rejects.toThrow(BundleError);
    await expect(loadClassifier(copy)).rejects.toThrow(`${file}: fine-tuned base weights hash to sha256`);
  });
});

describe('bases that stay frozen', () => {
  it('are refused with the list of fine-tunable ones', async () => {
    const base = await loadBase('mobileface');
    try {
      expect(isFineTunable(base)).toBe(false);
      const err = await trainModel(split, base, { fineTuneEpochs: 1 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toBe(
        'base mobileface cannot be fine-tuned: its weights are frozen in an ONNX Runtime graph; fine-tuning works for custom, face (faceres-deep), generic (centernet), faceres, faceres-deep, centernet, vgg16-imagenet, vggface (graph bases on their default engine, ONNX Runtime)',
      );
    } finally {
      await base.dispose();
    }
    await expect(trainModel(split, face, { fineTuneEpochs: 1, fineTuneBlocks: 15 })).rejects.toThrow(/fine-tune blocks must be a whole number from 1 to 14 \(the last N blocks of faceres-deep\)/);
  });
});
