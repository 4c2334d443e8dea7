import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageBatches, type ImageFileBatch } from '../../src/data/batches.js';
import { decodeImage, imageDimensions } from '../../src/data/decode.js';
import type { DecodedImage } from '../../src/data/image.js';
import { SHARED } from '../helpers/shared.js';
import { ImageDecodeError, UsageError } from '../../src/errors.js';
import type { ProgressEvent } from '../../src/util/progress.js';

const shared = (rel: string) => join(SHARED, rel);
const CELEBA = shared('datasets/celeba-10k');

async function celebaFiles(): Promise<string[]> {
  const out: string[] = [];
  for (const sub of ['male', 'female']) {
    const names = (await readdir(join(CELEBA, sub))).filter((n) => n.endsWith('.jpg')).sort();
    out.push(...names.map((n) => join(CELEBA, sub, n)));
  }
  return out;
}

/** Bitwise equality; much faster than toEqual on 10^4-element typed arrays. */
function sameFloats(a: Float32Array | undefined, b: Float32Array): boolean {
  return a !== undefined && a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

async function collect(stream: AsyncIterable<ImageFileBatch>): Promise<ImageFileBatch[]> {
  const out: ImageFileBatch[] = [];
  for await (const b of stream) out.push(b);
  return out;
}

/** Waits until `read()` stops changing for `quietMs`, so every decode that was started has finished. */
async function settle(read: () => number, quietMs = 300, maxMs = 10_000): Promise<number> {
  const deadline = Date.now() + maxMs;
  let last = read();
  let since = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    const now = read();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) break;
  }
  return last;
}

let all: string[];
let hundred: string[];
let dir: string;
const SIZE = { height: 72, width: 60 };

beforeAll(async () => {
  all = await celebaFiles();
  // Both classes, interleaved, so order mistakes show up as wrong pixels.
  hundred = Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? all[i] : all[all.length - 1 - i]) as string);
  dir = await mkdtemp(join(tmpdir(), 'facegender-batches-'));
  await writeFile(join(dir, 'empty.jpg'), Buffer.alloc(0));
  await writeFile(join(dir, 'notes.jpg'), 'not a face\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('imageBatches', () => {
  it('packs 100 CelebA images into 7 ordered batches of 16, each image equal to its single decode', async () => {
    const events: ProgressEvent[] = [];
    const batches = await collect(imageBatches(hundred, { batchSize: 16, size: SIZE, onProgress: (e) => events.push(e) }));
    expect(batches.map((b) => b.batch.n)).toEqual([16, 16, 16, 16, 16, 16, 4]);
    expect(batches.flatMap((b) => b.indices)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(batches.flatMap((b) => b.files)).toEqual(hundred);
    const stride = SIZE.height * SIZE.width * 3;
    for (const { batch, indices } of batches) {
      expect([batch.height, batch.width, batch.data.length]).toEqual([SIZE.height, SIZE.width, batch.n * stride]);
      const singles = await Promise.all(indices.map((i) => decodeImage(hundred[i] as string, { size: SIZE })));
      singles.forEach((single, k) => expect(sameFloats(batch.data.subarray(k * stride, (k + 1) * stride), single.data)).toBe(true));
      // Neighbouring images differ, so a mix-up within a batch could not pass the check above.
      expect(sameFloats(singles[0]?.data, (singles[1] as DecodedImage).data)).toBe(false);
    }
    expect(events.map((e) => e.done)).toEqual([16, 32, 48, 64, 80, 96, 100]);
    expect(events.every((e) => e.total === 100 && e.stage === 'decode')).toBe(true);
  });

  it('passes the interpolation through and applies the transform with input positions', async () => {
    const files = hundred.slice(0, 6);
    const seen: number[] = [];
    const invert = (img: DecodedImage, index: number): DecodedImage => {
      seen.push(index);
      return { ...img, data: img.data.map((v) => 255 - v) };
    };
    const [only] = await collect(imageBatches(files, { batchSize: 8, size: SIZE, interpolation: 'nearest', transform: invert }));
    expect(seen.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    const stride = SIZE.height * SIZE.width * 3;
    for (let k = 0; k < files.length; k++) {
      const single = await decodeImage(files[k] as string, { size: SIZE, interpolation: 'nearest' });
      expect(only?.batch.data.subarray(k * stride, (k + 1) * stride)).toEqual(single.data.map((v) => 255 - v));
    }
  });

  it('with skipBad, leaves bad files out of the batches and lists them in input order', async () => {
    const files = hundred.slice(0, 20);
    files.splice(5, 0, join(dir, 'empty.jpg'));
    files.splice(17, 0, join(dir, 'notes.jpg'));
    const stream = imageBatches(files, { batchSize: 8, size: SIZE, skipBad: true });
    const batches = await collect(stream);
    expect(batches.map((b) => b.batch.n)).toEqual([7, 8, 5]);
    expect(batches.flatMap((b) => b.indices)).toEqual(Array.from({ length: 22 }, (_, i) => i).filter((i) => i !== 5 && i !== 17));
    expect(batches.flatMap((b) => b.files)).toEqual(hundred.slice(0, 20));
    expect(stream.skipped).toEqual([
      { file: join(dir, 'empty.jpg'), index: 5, reason: 'empty file (0 bytes)' },
      { file: join(dir, 'notes.jpg'), index: 17, reason: 'not an image (looks like text)' },
    ]);
    // The image after a skipped one is packed right behind its predecessor.
    const stride = SIZE.height * SIZE.width * 3;
    const sixth = await decodeImage(files[6] as string, { size: SIZE });
    expect(batches[0]?.batch.data.subarray(5 * stride, 6 * stride)).toEqual(sixth.data);
  });

  it('does not yield a batch whose files are all bad', async () => {
    const files = [join(dir, 'empty.jpg'), join(dir, 'notes.jpg'), ...hundred.slice(0, 3)];
    const stream = imageBatches(files, { batchSize: 2, size: SIZE, skipBad: true });
    const batches = await collect(stream);
    expect(batches.map((b) => b.indices)).toEqual([[2, 3], [4]]);
    expect(stream.skipped.map((s) => s.index)).toEqual([0, 1]);
  });

  it('without skipBad, yields the batches before the first bad file and then throws its error', async () => {
    const received: ImageFileBatch[] = [];
    const ordered = [...hundred.slice(0, 8), join(dir, 'notes.jpg'), ...hundred.slice(8, 12), join(dir, 'empty.jpg')];
    const err = await (async () => {
      try {
        for await (const b of imageBatches(ordered, { batchSize: 4, size: SIZE })) received.push(b);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ImageDecodeError);
    expect((err as ImageDecodeError).file).toBe(join(dir, 'notes.jpg'));
    expect((err as ImageDecodeError).message).toContain('not an image (looks like text)');
    expect(received.map((b) => b.indices)).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
  });

  it('does not swallow errors that are not decode errors, even with skipBad', async () => {
    const failing = () => {
      throw new RangeError('augmentation bug');
    };
    await expect(collect(imageBatches(hundred.slice(0, 4), { batchSize: 2, size: SIZE, skipBad: true, transform: failing }))).rejects.toThrow(
      'augmentation bug',
    );
  });

  it('rejects a transform that changes the size', async () => {
    const shrink = (img: DecodedImage): DecodedImage => ({ height: 1, width: 1, data: img.data.subarray(0, 3) });
    await expect(collect(imageBatches(hundred.slice(0, 2), { batchSize: 2, size: SIZE, transform: shrink }))).rejects.toThrow(
      /transform returned 1x1/,
    );
  });

  it('decodes at most prefetch batches ahead of the consumer', async () => {
    for (const [prefetch, batchSize] of [
      [2, 4],
      [0, 5],
      [1, 8],
    ] as const) {
      let decoded = 0;
      const stream = imageBatches(hundred.slice(0, 60), {
        batchSize,
        prefetch,
        size: SIZE,
        transform: (img) => {
          decoded++;
          return img;
        },
      });
      const first = await stream.next();
      expect(first.done).toBe(false);
      // Every decode that was started finishes and passes the hook, so once the count is quiet
      // it equals the number of decodes started.
      expect(await settle(() => decoded)).toBe((prefetch + 1) * batchSize);
      await stream.next();
      expect(await settle(() => decoded)).toBe((prefetch + 2) * batchSize);
      await stream.return();
      expect(await settle(() => decoded)).toBe((prefetch + 2) * batchSize);
    }
  });

  it('lets a consumer stop early without unhandled rejections from bad files decoded ahead', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const files = [...hundred.slice(0, 4), join(dir, 'notes.jpg'), join(dir, 'empty.jpg')];
      for await (const b of imageBatches(files, { batchSize: 2, size: SIZE, prefetch: 2 })) {
        expect(b.indices).toEqual([0, 1]);
        break;
      }
      await new Promise((r) => setTimeout(r, 300));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('rejects bad options at the call', () => {
    expect(() => imageBatches(hundred, { batchSize: 0, size: SIZE })).toThrow(UsageError);
    expect(() => imageBatches(hundred, { batchSize: 4, size: SIZE, prefetch: -1 })).toThrow(UsageError);
    expect(() => imageBatches(hundred, { batchSize: 4, size: { height: 10, width: 0 } })).toThrow(UsageError);
  });

  it('yields nothing for no files', async () => {
    expect(await collect(imageBatches([], { batchSize: 4, size: SIZE }))).toEqual([]);
  });

  it('decodes all 10,000 CelebA images, each 89 wide and 109 high', async () => {
    expect(all).toHaveLength(10_000);
    const native = { height: 109, width: 89 };
    const started = performance.now();
    let images = 0;
    let lastIndex = -1;
    const stream = imageBatches(all, { batchSize: 256, size: native });
    for await (const { batch, indices } of stream) {
      expect(indices[0]).toBe(lastIndex + 1);
      lastIndex = indices[indices.length - 1] as number;
      images += batch.n;
      let max = 0;
      for (let i = 0; i < batch.data.length; i++) max = Math.max(max, batch.data[i] as number);
      expect(max).toBeGreaterThan(100); // not blank
      expect(max).toBeLessThanOrEqual(255);
    }
    const decodeMs = performance.now() - started;
    expect(images).toBe(10_000);
    expect(stream.skipped).toEqual([]);

    // The batches above were asked for 89x109, which would hide a wrongly sized source; read each
    // file's own header too.
    const sizes = new Map<string, number>();
    for (let i = 0; i < all.length; i += 500) {
      const dims = await Promise.all(all.slice(i, i + 500).map((f) => imageDimensions(f)));
      for (const d of dims) sizes.set(`${d.width}x${d.height}`, (sizes.get(`${d.width}x${d.height}`) ?? 0) + 1);
    }
    expect(Object.fromEntries(sizes)).toEqual({ '89x109': 10_000 });
    console.log(`decoded 10,000 CelebA images in ${(decodeMs / 1000).toFixed(1)} s`);
  });
});
