import { cp, mkdtemp, readdir, writeFile, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadOnnxFileBase } from '../../src/bases/onnx-file-base.js';
import type { Base } from '../../src/bases/base.js';
import { extractFeatures } from '../../src/features/extract-features.js';
import { augmentImage, STUDY_AUGMENTATION } from '../../src/data/augment.js';
import { decodeImage } from '../../src/data/decode.js';
import { createHash } from 'node:crypto';
import { CELEBA } from '../helpers/shared.js';
import { countingBase, smallConvOnnx } from '../helpers/tiny-onnx.js';

let dir: string;
let images: string[];
let modelFile: string;
const SIZE = 48;

async function smallBase(file = modelFile): Promise<Base> {
  return loadOnnxFileBase(file, { inputSize: { height: SIZE, width: SIZE }, preprocess: 'study', layout: 'nchw', threads: 1 });
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-extract-'));
  modelFile = path.join(dir, 'small.onnx');
  await writeFile(modelFile, smallConvOnnx(SIZE));
  const data = path.join(dir, 'images');
  await cp(path.join(CELEBA, 'female'), data, { recursive: true, filter: (src) => !src.endsWith('.jpg') || /\/0000[0-4]\d\.jpg$/.test(src) });
  images = (await readdir(data)).sort().map((f) => path.join(data, f));
});

describe('extractFeatures with the cache', () => {
  it('embeds every view once; a second run calls the base zero times and returns the same vectors', async () => {
    expect(images.length).toBeGreaterThanOrEqual(20);
    const cacheDir = path.join(dir, 'cache-a');
    const first = countingBase(await smallBase());
    const a = await extractFeatures(first, images, { cacheDir, views: 2, batchSize: 8 });
    expect(first.images).toBe(images.length * 3);
    expect([a.computed, a.cached]).toEqual([images.length * 3, 0]);
    expect(a.views).toHaveLength(3);
    expect(a.views[0]?.length).toBe(images.length * 16);

    const second = countingBase(await smallBase());
    const b = await extractFeatures(second, images, { cacheDir, views: 2, batchSize: 8 });
    expect(second.calls).toBe(0);
    expect([b.computed, b.cached]).toEqual([0, images.length * 3]);
    for (let v = 0; v < 3; v++) expect(b.views[v]).toEqual(a.views[v]);
    // Views differ from the plain image and from each other.
    expect(a.views[1]).not.toEqual(a.views[0]);
    expect(a.views[2]).not.toEqual(a.views[1]);
  });

  it('stores exactly what the base gives for the decoded, augmented view', async () => {
    const base = await smallBase();
    const feats = await extractFeatures(base, images.slice(0, 2), { cacheDir: false, views: 1, seed: 5 });
    const img = await decodeImage(images[1] as string, { size: base.inputSize });
    const hash = createHash('sha256').update(await readFile(images[1] as string)).update('\u0000').digest('hex');
    const view = augmentImage(img, STUDY_AUGMENTATION, 5, hash, 1);
    const direct = await base.embed({ n: 1, height: SIZE, width: SIZE, data: view.data });
    expect(feats.views[1]?.subarray(16, 32)).toEqual(direct);
    const plain = await base.embed({ n: 1, height: SIZE, width: SIZE, data: img.data });
    expect(feats.views[0]?.subarray(16, 32)).toEqual(plain);
  });

  it('recomputes only a changed image, and everything for changed weights', async () => {
    const cacheDir = path.join(dir, 'cache-b');
    const copy = path.join(dir, 'changing');
    await cp(path.dirname(images[0] as string), copy, { recursive: true });
    const files = (await readdir(copy)).sort().map((f) => path.join(copy, f));
    await extractFeatures(await smallBase(), files, { cacheDir, views: 1 });
    await writeFile(files[3] as string, await readFile(files[4] as string).then((b) => Buffer.concat([b, Buffer.from([0])])));
    const again = countingBase(await smallBase());
    const r = await extractFeatures(again, files, { cacheDir, views: 1 });
    expect(again.images).toBe(2); // both views of the one changed file
    expect(r.computed).toBe(2);

    const otherWeights = path.join(dir, 'other.onnx');
    await writeFile(otherWeights, smallConvOnnx(SIZE, 16, 99));
    const changed = countingBase(await smallBase(otherWeights));
    await extractFeatures(changed, files, { cacheDir, views: 1 });
    expect(changed.images).toBe(files.length * 2);
    // The first weights' entries are still there.
    const back = countingBase(await smallBase());
    await extractFeatures(back, files, { cacheDir, views: 1 });
    expect(back.calls).toBe(0);
  });

  it('skips a bad image with skipBad and names it otherwise', async () => {
    const bad = path.join(dir, 'bad.jpg');
    await writeFile(bad, 'not a jpeg');
    const list = [images[0] as string, bad, images[1] as string];
    await expect(extractFeatures(await smallBase(), list, { cacheDir: false })).rejects.toThrow(`${bad}: not an image (looks like text)`);
    const r = await extractFeatures(await smallBase(), list, { cacheDir: false, skipBad: true });
    expect(r.indices).toEqual([0, 2]);
    expect(r.views[0]?.length).toBe(2 * 16);
    expect(r.skipped).toEqual([{ file: bad, reason: 'not an image (looks like text)' }]);
    expect((await stat(bad)).size).toBeGreaterThan(0);
  });
});

describe('extractFeatures with degraded views', () => {
  it('leaves the plain view alone, degrades the augmented ones, and caches them under their own key', async () => {
    const cacheDir = path.join(dir, 'cache-degrade');
    const some = images.slice(0, 8);
    const study = await extractFeatures(countingBase(await smallBase()), some, { cacheDir, views: 2 });
    const all = { tight: 1, jpeg: 1, gamma: 1, grey: 1 };
    const counted = countingBase(await smallBase());
    const degraded = await extractFeatures(counted, some, { cacheDir, views: 2, degrade: all });
    // View 0 comes from the cache (its key has no augmentation); views 1 and 2 are new.
    expect(counted.images).toBe(some.length * 2);
    expect(Array.from(degraded.views[0] as Float32Array)).toEqual(Array.from(study.views[0] as Float32Array));
    for (const v of [1, 2]) expect(Array.from(degraded.views[v] as Float32Array)).not.toEqual(Array.from(study.views[v] as Float32Array));
    const again = countingBase(await smallBase());
    const b = await extractFeatures(again, some, { cacheDir, views: 2, degrade: all });
    expect(again.calls).toBe(0);
    expect(Array.from(b.views[2] as Float32Array)).toEqual(Array.from(degraded.views[2] as Float32Array));
  });
});
