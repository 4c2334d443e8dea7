import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tfc from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { initTfjs } from '../../src/runtime/tfjs/backend.js';
import { imageBatches } from '../../src/data/batches.js';
import { createCustomCnn } from '../../src/zoo/custom-cnn/network.js';
import { trainEndToEnd, type EndToEndRun, type TrainEngine } from '../../src/train/fit-end-to-end.js';
import { binaryCrossEntropy, predictProbs } from '../../src/train/fit.js';
import { createHead } from '../../src/train/head.js';
import { hwioToOihw, OrtTrainer, type OrtTrainerOptions } from '../../src/train/ort-trainer.js';
import { withSeededMathRandom } from '../../src/train/seeded-math-random.js';
import { CELEBA, CELEBA_IDENTITIES } from '../helpers/shared.js';
import { facegender } from '../helpers/cli.js';
import { scanDataset } from '../../src/data/dataset.js';
import { makeSplit } from '../../src/data/split.js';
import { writeSplit } from '../../src/data/split-file.js';

/** Largest difference over the largest magnitude: a relative error that a tiny entry cannot blow up. */
function relError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return diff / scale;
}

function randomPixels(n: number, h: number, w: number, seed: number): Float32Array {
  return tfc.tidy(() => tfc.randomUniform([n, h, w, 3], 0, 255, 'float32', seed).dataSync() as Float32Array);
}

/** tfjs' own gradients of the Keras loss, with the dropout mask tfjs draws under `seed`. */
async function tfjsGradients(model: tfl.LayersModel, x: Float32Array, y: Float32Array, n: number, h: number, w: number, seed: number): Promise<Float32Array[]> {
  return withSeededMathRandom(seed, async () =>
    tfc.tidy(() => {
      const xs = tfc.tensor4d(x, [n, h, w, 3]);
      const ys = tfc.tensor2d(y, [n, 1]);
      const vars = model.trainableWeights.map((v) => v.read() as tfc.Variable);
      const { grads } = tfc.variableGrads(() => tfc.mean(tfl.metrics.binaryCrossentropy(ys, model.apply(xs, { training: true }) as tfc.Tensor)) as tfc.Scalar, vars);
      return vars.map((v) => {
        const g = (grads[v.name] as tfc.Tensor).dataSync() as Float32Array;
        const [kh, kw, cin, cout] = v.shape as number[];
        return v.rank === 4 ? hwioToOihw(g, kh as number, kw as number, cin as number, cout as number) : Float32Array.from(g);
      });
    }),
  );
}

/** A small sequential classifier made of the pieces the ONNX trainer builds. */
function smallModel(pieces: tfl.layers.Layer[], h: number, w: number): tfl.LayersModel {
  return withSeededSync(7, () => {
    const m = tfl.sequential();
    m.add(tfl.layers.rescaling({ scale: 1 / 255, offset: 0, inputShape: [h, w, 3] }));
    for (const p of pieces) m.add(p);
    return m;
  });
}

function withSeededSync<T>(seed: number, fn: () => T): T {
  let out: T | undefined;
  void withSeededMathRandom(seed, async () => {
    out = fn();
  });
  return out as T;
}

const conv = (filters: number) => tfl.layers.conv2d({ filters, kernelSize: 3, padding: 'same', activation: 'relu', biasInitializer: tfl.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: filters }) });
const pool = () => tfl.layers.maxPooling2d({ poolSize: 2, strides: 2 });
const gap = () => tfl.layers.globalAveragePooling2d({});
const dense = (units: number, activation: 'relu' | 'sigmoid') => tfl.layers.dense({ units, activation, biasInitializer: tfl.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: units }) });

async function compareGradients(model: tfl.LayersModel, h: number, w: number, n = 6, graph: Pick<OrtTrainerOptions, 'weightGrad' | 'inputGrad' | 'poolGrad'> = {}, flatPatches = false): Promise<number[]> {
  const x = randomPixels(n, h, w, 3);
  // Paint the top-left 6x6 of every other image one colour.
  if (flatPatches) for (let i = 0; i < n; i += 2) for (let y = 0; y < 6; y++) for (let xx = 0; xx < 6; xx++) x.set([200, 120, 40], ((i * h + y) * w + xx) * 3);
  const y = Float32Array.from({ length: n }, (_, i) => i % 2);
  const expected = await tfjsGradients(model, x, y, n, h, w, 11);
  const trainer = await OrtTrainer.create(model, { height: h, width: w, lr: 1e-3, threads: 1, ...graph });
  try {
    const hasDropout = model.layers.some((l) => l.getClassName() === 'Dropout');
    const mask = hasDropout ? await withSeededMathRandom(11, async () => trainer.drawDropoutMask(n)) : new Float32Array(0);
    const grads = await trainer.gradients(x, y, n, mask);
    const names = Object.keys(grads).filter((k) => k.startsWith('grad:'));
    expect(names).toHaveLength(expected.length);
    return names.map((name, i) => relError(grads[name] as Float32Array, expected[i] as Float32Array));
  } finally {
    await trainer.dispose();
  }
}

beforeAll(async () => {
  await initTfjs();
});

describe('ONNX Runtime training graph: gradients against tfjs on small shapes', () => {
  it("a conv's weight and bias gradients (conv → global average → dense sigmoid), rectangular input", async () => {
    const errors = await compareGradients(smallModel([conv(5), gap(), dense(1, 'sigmoid')], 6, 10), 6, 10);
    expect(errors).toHaveLength(4);
    for (const e of errors) expect(e).toBeLessThan(1e-5);
  });

  it.each([
    { weightGrad: 'auto', inputGrad: 'conv-transpose', poolGrad: 'indices' },
    { weightGrad: 'im2col-gemm', inputGrad: 'conv-transpose', poolGrad: 'mask' },
    { weightGrad: 'shifted', inputGrad: 'conv-flipped', poolGrad: 'indices' },
    { weightGrad: 'im2col-gemm', inputGrad: 'conv-flipped', poolGrad: 'unpool' },
  ] as const)("max pool and a conv's input gradient (conv → pool → conv → pool → global average → dense), $weightGrad, $inputGrad, $poolGrad", async (graph) => {
    // The first conv's gradients reach it only through the second conv's input gradient and both
    // pools. 10x14 leaves an odd 5x7 map whose last row and column the second pool drops; flat
    // patches of colour make windows with equal maxima, which must send their gradient where tfjs does.
    const errors = await compareGradients(smallModel([conv(4), pool(), conv(7), pool(), gap(), dense(1, 'sigmoid')], 10, 14), 10, 14, 6, graph, true);
    expect(errors).toHaveLength(6);
    for (const e of errors) expect(e).toBeLessThan(1e-5);
  });

  it('dense layers with ReLU and dropout, fed the mask tfjs draws under the same seed', async () => {
    const errors = await compareGradients(smallModel([conv(3), pool(), gap(), dense(9, 'relu'), dense(6, 'relu'), tfl.layers.dropout({ rate: 0.4 }), dense(1, 'sigmoid')], 4, 4), 4, 4, 16);
    expect(errors).toHaveLength(8);
    for (const e of errors) expect(e).toBeLessThan(1e-5);
  });

  it('refuses a layer it does not build, naming it', async () => {
    const model = smallModel([tfl.layers.conv2d({ filters: 2, kernelSize: 5, padding: 'same', activation: 'relu' }), gap(), dense(1, 'sigmoid')], 8, 8);
    await expect(OrtTrainer.create(model, { height: 8, width: 8, lr: 1e-3 })).rejects.toThrow(/cannot train layer .*Conv2D.*tfjs engine/);
  });
});

/** The first `perClass` CelebA faces of each class, females first. */
async function celebaFiles(perClass: number, skip = 0): Promise<{ files: string[]; labels: Uint8Array }> {
  const files: string[] = [];
  for (const cls of ['female', 'male']) {
    const names = (await readdir(path.join(CELEBA, cls))).filter((f) => f.endsWith('.jpg')).sort();
    files.push(...names.slice(skip, skip + perClass).map((f) => path.join(CELEBA, cls, f)));
  }
  return { files, labels: Uint8Array.from(files, (_, i) => (i < perClass ? 0 : 1)) };
}

/** The custom CNN with the study's head, built as trainEndToEnd builds it: the same seed gives the same weights. */
async function customClassifier(size: number, seed: number): Promise<tfl.LayersModel> {
  return withSeededMathRandom(seed, async () => {
    const m = tfl.sequential();
    m.add(createCustomCnn({ inputSize: size, seed }).model);
    for (const layer of createHead(512).layers) m.add(layer);
    return m;
  });
}

describe('ONNX Runtime training equals tfjs training on real faces', () => {
  const size = 64;
  const batch = 16;
  const steps = 8;
  let pixels: Float32Array;
  let labels: Float32Array;

  beforeAll(async () => {
    const set = await celebaFiles(steps * batch / 2);
    pixels = new Float32Array(set.files.length * size * size * 3);
    for await (const { batch: b, indices } of imageBatches(set.files, { batchSize: 32, size: { height: size, width: size } })) {
      pixels.set(b.data, (indices[0] as number) * size * size * 3);
    }
    // Interleave the classes so every batch holds both.
    const order = Array.from({ length: set.files.length }, (_, i) => (i % 2 === 0 ? i / 2 : set.files.length / 2 + (i - 1) / 2));
    const per = size * size * 3;
    const mixed = new Float32Array(pixels.length);
    order.forEach((from, to) => mixed.set(pixels.subarray(from * per, (from + 1) * per), to * per));
    pixels = mixed;
    labels = Float32Array.from(order, (from) => set.labels[from] as number);
  });

  /** tfjs' own training: the loss of each step and the weights after the last. */
  async function tfjsTraining(model: tfl.LayersModel): Promise<{ losses: number[]; weights: Float32Array[] }> {
    const per = size * size * 3;
    const optimizer = tfc.train.adam(1e-3);
    model.compile({ optimizer, loss: 'binaryCrossentropy' });
    const losses = await withSeededMathRandom(5, async () => {
      const out: number[] = [];
      for (let s = 0; s < steps; s++) {
        const xs = tfc.tensor4d(pixels.subarray(s * batch * per, (s + 1) * batch * per), [batch, size, size, 3]);
        const ys = tfc.tensor2d(labels.subarray(s * batch, (s + 1) * batch), [batch, 1]);
        out.push((await model.trainOnBatch(xs, ys)) as number);
        tfc.dispose([xs, ys]);
      }
      return out;
    });
    optimizer.dispose();
    return { losses, weights: model.getWeights().map((w) => w.dataSync() as Float32Array) };
  }

  /** Euclidean distance between two sets of weights. */
  const distance = (a: Float32Array[], b: Float32Array[]) => Math.sqrt(a.reduce((sum, w, i) => sum + w.reduce((s, v, j) => s + (v - ((b[i] as Float32Array)[j] as number)) ** 2, 0), 0));

  it('follows the same loss curve and ends at the same weights as tfjs, within the spread tfjs itself shows', async () => {
    const reference = await tfjsTraining(await customClassifier(size, 1));

    // Float tolerance, measured: tfjs again, its start moved by one float32 ulp. Adam divides each
    // gradient by its own running magnitude, so weights whose gradient is nearly zero take steps
    // decided by rounding; after a few steps at 64 px both runs differ by ~1e-4 in loss.
    const nudgedModel = await customClassifier(size, 1);
    nudgedModel.setWeights(nudgedModel.getWeights().map((w) => tfc.mul(w, 1 + 2 ** -23)));
    const nudged = await tfjsTraining(nudgedModel);

    const ours = await customClassifier(size, 1);
    const trainer = await OrtTrainer.create(ours, { height: size, width: size, lr: 1e-3 });
    const per = size * size * 3;
    const losses = await withSeededMathRandom(5, async () => {
      const out: number[] = [];
      for (let s = 0; s < steps; s++) out.push((await trainer.trainOnBatch(pixels.subarray(s * batch * per, (s + 1) * batch * per), labels.subarray(s * batch, (s + 1) * batch), batch)).loss);
      return out;
    });
    trainer.writeTo();
    await trainer.dispose();
    const weights = ours.getWeights().map((w) => w.dataSync() as Float32Array);

    // The network learns: the loss moves far more than the engines differ.
    expect(Math.max(...reference.losses) - Math.min(...reference.losses)).toBeGreaterThan(0.03);
    // Before Adam's amplification builds up, the two engines agree to float32 rounding.
    for (let s = 0; s < 2; s++) expect(Math.abs((losses[s] as number) - (reference.losses[s] as number))).toBeLessThan(1e-6);
    const gap = (a: number[]) => Math.max(...a.map((l, s) => Math.abs(l - (reference.losses[s] as number))));
    expect(gap(nudged.losses)).toBeGreaterThan(0);
    expect(gap(losses)).toBeLessThan(3 * gap(nudged.losses));
    expect(gap(losses)).toBeLessThan(2e-3);
    expect(distance(weights, reference.weights)).toBeLessThan(3 * distance(nudged.weights, reference.weights));
  });
});

describe('trainEndToEnd on either engine', () => {
  it('gives the same history, and the ONNX-trained weights land in the tfjs model (best epoch restored)', async () => {
    const train = await celebaFiles(32, 100);
    const val = await celebaFiles(16, 200);
    const base = { id: 'custom', inputSize: { height: 32, width: 32 }, dim: 512 };
    const run = async (engine: TrainEngine): Promise<EndToEndRun> =>
      trainEndToEnd({ ...base, model: createCustomCnn({ inputSize: 32, seed: 3 }).model }, train, val, { engine, epochs: 3, batchSize: 16, patience: 0, seed: 3 });
    const tfjs = await run('tfjs');
    const ort = await run('onnxruntime');
    expect(ort.history).toHaveLength(3);
    ort.history.forEach((h, i) => {
      const t = tfjs.history[i] as (typeof tfjs.history)[number];
      expect(Math.abs(h.loss - t.loss)).toBeLessThan(1e-3);
      expect(Math.abs(h.val_loss - t.val_loss)).toBeLessThan(1e-3);
      expect(h.accuracy).toBeCloseTo(t.accuracy, 1);
    });
    expect(ort.bestEpoch).toBe(tfjs.bestEpoch);
    // The saved tfjs model holds the best epoch's weights: its own predictions give that epoch's val_loss.
    const x = new Float32Array(val.files.length * 32 * 32 * 3);
    for await (const { batch: b, indices } of imageBatches(val.files, { batchSize: 32, size: { height: 32, width: 32 } })) x.set(b.data, (indices[0] as number) * 32 * 32 * 3);
    const xs = tfc.tensor4d(x, [val.files.length, 32, 32, 3]);
    const probs = await predictProbs(ort.model, xs);
    xs.dispose();
    const best = ort.history[ort.bestEpoch - 1] as (typeof ort.history)[number];
    expect(binaryCrossEntropy(probs, val.labels)).toBeCloseTo(best.val_loss, 5);
    // Reproducible: the same seed gives the same run again, to the bit.
    const again = await run('onnxruntime');
    expect(again.history.map((h) => [h.loss, h.val_loss])).toEqual(ort.history.map((h) => [h.loss, h.val_loss]));
    for (const m of [tfjs.model, ort.model, again.model]) m.dispose();
  });
});

describe('facegender train --base custom', () => {
  it('trains on ONNX Runtime by default, on tfjs with --train-engine tfjs, records which, and rejects another engine', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-ort-engine-'));
    const split = makeSplit(await scanDataset(CELEBA, { identities: CELEBA_IDENTITIES }), { train: 32, val: 16, test: 16, balanced: true, seed: 2 });
    const splitFile = path.join(dir, 'split.json');
    await writeSplit(split, splitFile);
    const common = ['train', '--split', splitFile, '--base', 'custom', '--input-size', '32', '--epochs', '1', '--batch-size', '16', '--resamples', '20'];
    for (const engine of ['onnxruntime', 'tfjs']) {
      const out = path.join(dir, engine);
      const r = await facegender([...common, ...(engine === 'tfjs' ? ['--train-engine', 'tfjs'] : []), '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      const manifest = JSON.parse(await readFile(path.join(out, 'facegender.json'), 'utf8')) as { training: { engine: string } };
      expect(manifest.training.engine).toBe(engine);
    }
    const bad = await facegender([...common, '--train-engine', 'torch', '--out', path.join(dir, 'bad')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--train-engine.*torch.*onnxruntime, tfjs|Allowed choices are onnxruntime, tfjs/);
  });
});
