import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, decodeImageBuffer, imageDimensions, type Interpolation } from '../../src/data/decode.js';
import type { DecodedImage } from '../../src/data/image.js';
import { SHARED } from '../helpers/shared.js';
import { ImageDecodeError, UsageError } from '../../src/errors.js';

const shared = (rel: string) => join(SHARED, rel);
const CELEB = shared('datasets/celeba-10k/male/000003.jpg');
const CELEB_W = 89;
const CELEB_H = 109;

let dir: string;
const at = (name: string) => join(dir, name);

function pixel(img: DecodedImage, y: number, x: number): number[] {
  const i = (y * img.width + x) * 3;
  return Array.from(img.data.subarray(i, i + 3));
}

async function decodeError(promise: Promise<unknown>): Promise<ImageDecodeError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageDecodeError);
  return err as ImageDecodeError;
}

/** A 1-bit greyscale PNG whose header claims width x height, all black; small on disk, huge decoded. */
function pngBomb(width: number, height: number): Buffer {
  const chunk = (type: string, body: Buffer) => {
    const typed = Buffer.concat([Buffer.from(type, 'ascii'), body]);
    const out = Buffer.alloc(12 + body.length);
    out.writeUInt32BE(body.length, 0);
    typed.copy(out, 4);
    out.writeUInt32BE(crc32(typed), 8 + body.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  const rows = Buffer.alloc(height * (1 + Math.ceil(width / 8))); // filter byte 0 + packed zero bits per row
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'facegender-decode-'));
  const jpeg = await readFile(CELEB);
  await writeFile(at('empty.jpg'), Buffer.alloc(0));
  await writeFile(at('truncated.jpg'), jpeg.subarray(0, jpeg.length >> 1));
  await writeFile(at('text.jpg'), 'this is a note, not a photo\n');
  // Three junk bytes before the first DQT marker (offset 20 in this file): libjpeg warns, PIL decodes.
  expect(jpeg.readUInt16BE(20)).toBe(0xffdb);
  await writeFile(at('junk-before-marker.jpg'), Buffer.concat([jpeg.subarray(0, 20), Buffer.from([1, 2, 3]), jpeg.subarray(20)]));

  // 2x2 RGBA: transparent red, half-transparent green, opaque blue, transparent grey.
  const rgba = Buffer.from([255, 0, 0, 0, 0, 255, 0, 128, 0, 0, 255, 255, 10, 20, 30, 0]);
  await sharp(rgba, { raw: { width: 2, height: 2, channels: 4 } }).png().toFile(at('alpha.png'));

  const u16 = new Uint16Array([65535, 0, 32896, 0, 65535, 256, 257, 1000, 60000, 65535, 65535, 65535]);
  await sharp(u16, { raw: { width: 2, height: 2, channels: 3 } }).toColourspace('rgb16').png().toFile(at('16bit.png'));

  // A horizontal grey ramp, written as a one-channel JPEG.
  const ramp = Buffer.alloc(64 * 16 * 3);
  for (let i = 0; i < 64 * 16; i++) ramp.fill((i % 64) * 4, i * 3, i * 3 + 3);
  await sharp(ramp, { raw: { width: 64, height: 16, channels: 3 } }).toColourspace('b-w').jpeg({ quality: 95 }).toFile(at('grey.jpg'));

  await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 255, g: 0, b: 0 } } })
    .toColourspace('cmyk')
    .jpeg()
    .toFile(at('cmyk.jpg'));

  // Stored 48 wide x 24 high with a red 8x8 block in the stored top-left corner, tagged
  // orientation 6 ("rotate 90 degrees clockwise to display").
  const stored = Buffer.alloc(48 * 24 * 3);
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) stored[(y * 48 + x) * 3] = 255;
  await sharp(stored, { raw: { width: 48, height: 24, channels: 3 } })
    .jpeg({ quality: 95 })
    .withMetadata({ orientation: 6 })
    .toFile(at('exif6.jpg'));

  await writeFile(at('bomb.png'), pngBomb(20000, 20000));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('bad input', () => {
  it('rejects an empty file, naming it', async () => {
    const err = await decodeError(decodeImage(at('empty.jpg')));
    expect(err.file).toBe(at('empty.jpg'));
    expect(err.message).toBe(`${at('empty.jpg')}: empty file (0 bytes)`);
  });

  it('rejects a JPEG cut in half, even when warnings are tolerated', async () => {
    for (const tolerateWarnings of [false, true]) {
      const err = await decodeError(decodeImage(at('truncated.jpg'), { tolerateWarnings }));
      expect(err.file).toBe(at('truncated.jpg'));
      expect(err.message).toMatch(/truncated\.jpg: truncated or corrupt JPEG: .*premature end/i);
      expect(err.message.split('\n')).toHaveLength(1);
    }
  });

  it('rejects a text file named .jpg', async () => {
    const err = await decodeError(decodeImage(at('text.jpg')));
    expect(err.message).toBe(`${at('text.jpg')}: not an image (looks like text)`);
  });

  it('rejects a JPEG libjpeg warns about unless warnings are tolerated, then decodes it like the clean file', async () => {
    const err = await decodeError(decodeImage(at('junk-before-marker.jpg')));
    expect(err.message).toMatch(/junk-before-marker\.jpg: truncated or corrupt JPEG: .*extraneous bytes/);
    const tolerated = await decodeImage(at('junk-before-marker.jpg'), { tolerateWarnings: true });
    const clean = await decodeImage(CELEB);
    expect(tolerated.data).toEqual(clean.data);
  });

  it('rejects a missing file', async () => {
    const err = await decodeError(decodeImage(at('nope.jpg')));
    expect(err.message).toMatch(/nope\.jpg: cannot read file: .*ENOENT/);
  });

  it('rejects a 20000x20000 PNG bomb by its header, fast and without allocating it', async () => {
    const rssBefore = process.memoryUsage().rss;
    const started = performance.now();
    const err = await decodeError(decodeImage(at('bomb.png'), { size: { height: 224, width: 224 } }));
    const elapsed = performance.now() - started;
    expect(err.message).toBe(`${at('bomb.png')}: image is 20000x20000 = 400000000 pixels, over the limit of 50000000`);
    expect(elapsed).toBeLessThan(1000);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024);
  });

  it('applies a custom pixel limit', async () => {
    const err = await decodeError(decodeImage(CELEB, { maxPixels: 9000 }));
    expect(err.message).toBe(`${CELEB}: image is 89x109 = 9701 pixels, over the limit of 9000`);
    await expect(decodeImage(CELEB, { maxPixels: 9701 })).resolves.toMatchObject({ width: 89, height: 109 });
  });

  it('rejects invalid options as usage errors', async () => {
    await expect(decodeImage(CELEB, { size: { height: 0, width: 10 } })).rejects.toBeInstanceOf(UsageError);
    await expect(decodeImage(CELEB, { interpolation: 'cubic' as Interpolation })).rejects.toBeInstanceOf(UsageError);
    await expect(decodeImage(CELEB, { maxPixels: -1 })).rejects.toBeInstanceOf(UsageError);
  });
});

describe('colour handling', () => {
  it('flattens alpha onto black by default, or white', async () => {
    const black = await decodeImage(at('alpha.png'));
    const white = await decodeImage(at('alpha.png'), { background: 'white' });
    expect([black.width, black.height, black.data.length]).toEqual([2, 2, 12]);
    // Fully transparent pixels become the background whatever colour was stored under them.
    expect(pixel(black, 0, 0)).toEqual([0, 0, 0]);
    expect(pixel(black, 1, 1)).toEqual([0, 0, 0]);
    expect(pixel(white, 0, 0)).toEqual([255, 255, 255]);
    expect(pixel(white, 1, 1)).toEqual([255, 255, 255]);
    // Alpha 128/255 blends: 255 * a on black, 255 * a + 255 * (1 - a) on white.
    const a = 128 / 255;
    const blendBlack = [0, 255 * a, 0];
    const blendWhite = [255 * (1 - a), 255, 255 * (1 - a)];
    pixel(black, 0, 1).forEach((v, c) => expect(Math.abs(v - (blendBlack[c] as number))).toBeLessThanOrEqual(1));
    pixel(white, 0, 1).forEach((v, c) => expect(Math.abs(v - (blendWhite[c] as number))).toBeLessThanOrEqual(1));
    expect(pixel(black, 1, 0)).toEqual([0, 0, 255]);
    expect(pixel(white, 1, 0)).toEqual([0, 0, 255]);
  });

  it('reduces a 16-bit PNG to 0..255 by its high byte', async () => {
    const meta = await sharp(at('16bit.png')).metadata();
    expect([meta.depth, meta.channels]).toEqual(['ushort', 3]);
    const img = await decodeImage(at('16bit.png'));
    const stored = [65535, 0, 32896, 0, 65535, 256, 257, 1000, 60000, 65535, 65535, 65535];
    expect(Array.from(img.data)).toEqual(stored.map((v) => Math.floor(v / 256)));
    expect(pixel(img, 0, 0)).toEqual([255, 0, 128]);
  });

  it('expands a one-channel JPEG to three equal channels', async () => {
    expect((await sharp(at('grey.jpg')).metadata()).channels).toBe(1);
    const img = await decodeImage(at('grey.jpg'));
    expect(img.data.length).toBe(64 * 16 * 3);
    for (let i = 0; i < img.data.length; i += 3) {
      expect(img.data[i + 1]).toBe(img.data[i]);
      expect(img.data[i + 2]).toBe(img.data[i]);
    }
    // The ramp survives: left end dark, right end light.
    expect(pixel(img, 8, 0)[0]).toBeLessThan(20);
    expect(pixel(img, 8, 63)[0]).toBeGreaterThan(230);
  });

  it('converts a CMYK JPEG to RGB of roughly the right colour', async () => {
    const meta = await sharp(at('cmyk.jpg')).metadata();
    expect([meta.space, meta.channels]).toEqual(['cmyk', 4]);
    const img = await decodeImage(at('cmyk.jpg'));
    expect(img.data.length).toBe(16 * 16 * 3);
    const [r, g, b] = pixel(img, 8, 8) as [number, number, number];
    expect(r).toBeGreaterThan(200);
    expect(g).toBeLessThan(40);
    expect(b).toBeLessThan(40);
  });

  it('applies EXIF orientation 6: dimensions swap and the stored top-left lands top-right', async () => {
    const meta = await sharp(at('exif6.jpg')).metadata();
    expect([meta.width, meta.height, meta.orientation]).toEqual([48, 24, 6]);
    expect(await imageDimensions(at('exif6.jpg'))).toEqual({ width: 24, height: 48 });

    const img = await decodeImage(at('exif6.jpg'));
    expect([img.width, img.height]).toEqual([24, 48]);
    const isRed = ([r, g, b]: number[]) => (r as number) > 200 && (g as number) < 40 && (b as number) < 40;
    expect(isRed(pixel(img, 2, 21))).toBe(true);
    for (const [y, x] of [
      [2, 2],
      [45, 2],
      [45, 21],
    ] as const) {
      expect(Math.max(...pixel(img, y, x))).toBeLessThan(30);
    }

    // Resizing happens after orientation: the requested size is the displayed one.
    const resized = await decodeImage(at('exif6.jpg'), { size: { height: 96, width: 48 } });
    expect([resized.width, resized.height]).toEqual([48, 96]);
    expect(isRed(pixel(resized, 4, 42))).toBe(true);
  });
});

describe('real images', () => {
  it('decodes a CelebA JPEG at native size, matching the raw 8-bit pixels', async () => {
    const img = await decodeImage(CELEB);
    expect([img.width, img.height]).toEqual([CELEB_W, CELEB_H]);
    const raw = await sharp(CELEB).raw().toBuffer();
    expect(img.data).toBeInstanceOf(Float32Array);
    expect(Array.from(img.data)).toEqual(Array.from(raw));
    expect(await imageDimensions(CELEB)).toEqual({ width: CELEB_W, height: CELEB_H });
  });

  it('decodes a buffer like the file, naming the buffer in errors', async () => {
    const bytes = await readFile(CELEB);
    const fromBuffer = await decodeImageBuffer(bytes, 'upload.jpg', { size: { height: 50, width: 40 } });
    const fromFile = await decodeImage(CELEB, { size: { height: 50, width: 40 } });
    expect(fromBuffer.data).toEqual(fromFile.data);
    const err = await decodeError(decodeImageBuffer(bytes.subarray(0, 500), 'upload.jpg'));
    expect(err.message).toMatch(/^upload\.jpg: truncated or corrupt JPEG: /);
  });

  it('stretches to 224x224; nearest only copies source pixels, bilinear blends them', async () => {
    const native = await decodeImage(CELEB);
    const sourceColours = new Set<number>();
    for (let i = 0; i < native.data.length; i += 3) {
      sourceColours.add(((native.data[i] as number) << 16) | ((native.data[i + 1] as number) << 8) | (native.data[i + 2] as number));
    }
    const unseenColours = (img: DecodedImage) => {
      let n = 0;
      for (let i = 0; i < img.data.length; i += 3) {
        const key = ((img.data[i] as number) << 16) | ((img.data[i + 1] as number) << 8) | (img.data[i + 2] as number);
        if (!sourceColours.has(key)) n++;
      }
      return n;
    };

    const results: Record<string, DecodedImage> = {};
    for (const interpolation of ['bilinear', 'nearest', 'bicubic', 'lanczos'] as const) {
      const img = await decodeImage(CELEB, { size: { height: 224, width: 224 }, interpolation });
      expect([img.width, img.height, img.data.length]).toEqual([224, 224, 224 * 224 * 3]);
      let min = Infinity;
      let max = -Infinity;
      for (const v of img.data) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      expect(min).toBeGreaterThanOrEqual(0);
      expect(max).toBeLessThanOrEqual(255);
      expect(max - min).toBeGreaterThan(100);
      results[interpolation] = img;
    }
    expect(unseenColours(results.nearest as DecodedImage)).toBe(0);
    // Blending must produce colours the source never had in a good share of pixels.
    expect(unseenColours(results.bilinear as DecodedImage)).toBeGreaterThan(224 * 224 * 0.2);
    expect(results.bilinear?.data).not.toEqual(results.bicubic?.data);
    // Default is bilinear.
    expect((await decodeImage(CELEB, { size: { height: 224, width: 224 } })).data).toEqual(results.bilinear?.data);
  });
});

describe('crop', () => {
  it('cuts the given fractions before resizing, and after EXIF orientation', async () => {
    const native = await decodeImage(CELEB);
    const crop = { top: 0.2, left: 0.1, height: 0.6, width: 0.8 };
    const img = await decodeImage(CELEB, { crop });
    // 0.2*109 = 21.8 → 22, 0.1*89 = 8.9 → 9, 0.6*109 = 65.4 → 65, 0.8*89 = 71.2 → 71.
    expect([img.height, img.width]).toEqual([65, 71]);
    for (const [y, x] of [[0, 0], [10, 40], [64, 70]] as const) expect(pixel(img, y, x)).toEqual(pixel(native, y + 22, x + 9));
    const resized = await decodeImage(CELEB, { crop, size: { height: 112, width: 112 } });
    expect([resized.height, resized.width, resized.data.length]).toEqual([112, 112, 112 * 112 * 3]);

    // A 40x20 image stored with orientation 6 shows as 20 wide, 40 high; the crop applies to that.
    const raw = Buffer.alloc(40 * 20 * 3, 0);
    // A red 5x5 block at the stored top-left, which orientation 6 shows at the top right.
    for (let y = 0; y < 5; y++) for (let x = 0; x < 5; x++) raw[(y * 40 + x) * 3] = 255;
    await sharp(raw, { raw: { width: 40, height: 20, channels: 3 } }).jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toFile(at('crop-exif.jpg'));
    const shown = await decodeImage(at('crop-exif.jpg'), { crop: { top: 0, left: 0.5, height: 0.25, width: 0.5 } });
    expect([shown.width, shown.height]).toEqual([10, 10]);
    expect(pixel(shown, 0, 9)[0]).toBeGreaterThan(200);
    expect(pixel(shown, 0, 0)[0]).toBeLessThan(30);
  });

  it('rejects a crop outside the image', async () => {
    await expect(decodeImage(CELEB, { crop: { top: 0.5, left: 0, height: 0.6, width: 1 } })).rejects.toThrow(UsageError);
  });
});
