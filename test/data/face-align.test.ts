import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/data/decode.js';
import {
  applySimilarity,
  CELEBA_FACE_TEMPLATE,
  describeSimilarity,
  fitSimilarity,
  invertSimilarity,
  warpSimilarity,
  type Point,
  type Similarity,
} from '../../src/data/face-align.js';
import { padImage } from '../../src/data/pad-image.js';
import { ImageTooLargeError, NotAnImageError, probePhoto, readPhoto } from '../../src/data/read-photo.js';
import { resizeImage } from '../../src/data/resize-image.js';
import { ImageDecodeError } from '../../src/errors.js';
import { centreSquareCrop } from '../../src/bases/crops.js';
import { celebaFiles, decompressionBomb } from '../helpers/face-images.js';

/*
 * The geometry behind face alignment, on real dataset images: the similarity fit, the warp, the
 * in-memory crop+resize that must equal the file decode, the border padding and photo reading.
 */

const rotation = (deg: number, scale: number, tx: number, ty: number): Similarity => ({
  a: scale * Math.cos((deg * Math.PI) / 180),
  b: scale * Math.sin((deg * Math.PI) / 180),
  tx,
  ty,
});

describe('similarity transforms', () => {
  it('recovers a known rotation, scale and shift from five points exactly, and inverts it', () => {
    const truth = rotation(12, 1.7, -30.5, 14.25);
    const from: Point[] = CELEBA_FACE_TEMPLATE.map((p) => ({ x: p.x * 178, y: p.y * 218 }));
    const to = from.map((p) => applySimilarity(truth, p));
    const fit = fitSimilarity(from, to);
    expect(fit.a).toBeCloseTo(truth.a, 10);
    expect(fit.b).toBeCloseTo(truth.b, 10);
    expect(fit.tx).toBeCloseTo(truth.tx, 8);
    expect(fit.ty).toBeCloseTo(truth.ty, 8);
    expect(describeSimilarity(fit).degrees).toBeCloseTo(12, 8);
    expect(describeSimilarity(fit).scale).toBeCloseTo(1.7, 10);
    const back = invertSimilarity(fit);
    for (const p of from) {
      const q = applySimilarity(back, applySimilarity(fit, p));
      expect(q.x).toBeCloseTo(p.x, 9);
      expect(q.y).toBeCloseTo(p.y, 9);
    }
  });

  it('fits noisy points in the least-squares sense (the fit beats the truth on the noisy data)', () => {
    const truth = rotation(-7, 0.6, 5, 9);
    const from: Point[] = CELEBA_FACE_TEMPLATE.map((p) => ({ x: p.x * 178, y: p.y * 218 }));
    const noise = [1.5, -0.8, 0.3, -1.1, 0.9];
    const to = from.map((p, i) => {
      const q = applySimilarity(truth, p);
      return { x: q.x + (noise[i] as number), y: q.y - (noise[(i + 2) % 5] as number) };
    });
    const sse = (s: Similarity) => from.reduce((acc, p, i) => acc + (applySimilarity(s, p).x - (to[i] as Point).x) ** 2 + (applySimilarity(s, p).y - (to[i] as Point).y) ** 2, 0);
    const fit = fitSimilarity(from, to);
    expect(sse(fit)).toBeLessThan(sse(truth));
    // A minimum: any small change of any parameter makes the error larger.
    for (const key of ['a', 'b', 'tx', 'ty'] as const) {
      for (const d of [-1e-3, 1e-3]) expect(sse({ ...fit, [key]: fit[key] + d })).toBeGreaterThan(sse(fit));
    }
    expect(Math.abs(describeSimilarity(fit).degrees + 7)).toBeLessThan(4);
  });

  it('keeps the measured CelebA template level and inside the frame', () => {
    const [le, re, nose, ml, mr] = CELEBA_FACE_TEMPLATE;
    expect(le.y).toBe(re.y);
    expect(ml.y).toBe(mr.y);
    expect(le.x).toBeLessThan(nose.x);
    expect(nose.x).toBeLessThan(re.x);
    expect(le.y).toBeLessThan(nose.y);
    expect(nose.y).toBeLessThan(ml.y);
    // Eyes a little below mid-height and about a fifth of the width apart, as in CelebA.
    expect(le.y).toBeGreaterThan(0.45);
    expect(le.y).toBeLessThan(0.56);
    expect(re.x - le.x).toBeGreaterThan(0.18);
    expect(re.x - le.x).toBeLessThan(0.26);
  });
});

describe('warping a real image', () => {
  it('gives back the image under the identity', async () => {
    const [file] = await celebaFiles('female', 1);
    const im = await decodeImage(file as string);
    const out = warpSimilarity(im, { a: 1, b: 0, tx: 0, ty: 0 }, { width: im.width, height: im.height });
    let maxDiff = 0;
    for (let i = 0; i < im.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs((out.data[i] as number) - (im.data[i] as number)));
    expect(maxDiff).toBeLessThan(1e-3);
  });

  it('undoes a rotation made by sharp: rotating back by the same angle gives the original centre', async () => {
    const [file] = await celebaFiles('male', 1, 1);
    const im = await decodeImage(file as string);
    // sharp rotates about the centre and enlarges the canvas; rotate back about the new centre.
    const rotated = await sharp(file as string).rotate(15, { background: '#000' }).raw().toBuffer({ resolveWithObject: true });
    const rot = { width: rotated.info.width, height: rotated.info.height, data: new Float32Array(rotated.data) };
    const t = (15 * Math.PI) / 180;
    // Output pixel (u, v) of the original frame comes from the rotated image at R(u - cx0) + cx1.
    const c0 = { x: im.width / 2, y: im.height / 2 };
    const c1 = { x: rot.width / 2, y: rot.height / 2 };
    const a = Math.cos(t);
    const b = Math.sin(t);
    const outToImage = { a, b, tx: c1.x - (a * c0.x - b * c0.y), ty: c1.y - (b * c0.x + a * c0.y) };
    const back = warpSimilarity(rot, outToImage, { width: im.width, height: im.height });
    // Compare the inner half, away from the corners the rotation filled with black.
    let sum = 0;
    let n = 0;
    for (let y = Math.floor(im.height / 4); y < (3 * im.height) / 4; y++) {
      for (let x = Math.floor(im.width / 4); x < (3 * im.width) / 4; x++) {
        for (let c = 0; c < 3; c++) {
          const i = (y * im.width + x) * 3 + c;
          sum += Math.abs((back.data[i] as number) - (im.data[i] as number));
          n++;
        }
      }
    }
    expect(sum / n).toBeLessThan(8);
  });

  it('averages samples when shrinking, so a fine stripe pattern turns grey instead of aliasing', () => {
    const w = 64;
    const stripes = new Float32Array(w * w * 3);
    for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) stripes.fill(x % 2 ? 255 : 0, (y * w + x) * 3, (y * w + x) * 3 + 3);
    const small = warpSimilarity({ width: w, height: w, data: stripes }, { a: 4, b: 0, tx: 0, ty: 0 }, { width: 16, height: 16 });
    for (const v of small.data) expect(Math.abs(v - 127.5)).toBeLessThan(1);
  });
});

describe('cropping and resizing in memory', () => {
  it('gives the same pixels as decoding the file with the same crop and size', async () => {
    const files = [...(await celebaFiles('female', 2)), ...(await celebaFiles('male', 2))];
    const crop = centreSquareCrop(0.75);
    for (const file of files) {
      const viaFile = await decodeImage(file, { crop, size: { width: 112, height: 112 } });
      const viaMemory = await resizeImage(await decodeImage(file), { crop, size: { width: 112, height: 112 } });
      expect(viaMemory.width).toBe(112);
      expect(Array.from(viaMemory.data)).toEqual(Array.from(viaFile.data));
    }
  });
});

describe('padding', () => {
  it('repeats edge pixels or adds black', async () => {
    const [file] = await celebaFiles('female', 1);
    const im = await decodeImage(file as string);
    const edge = padImage(im, 5, 'edge');
    const black = padImage(im, 5, 'black');
    expect([edge.width, edge.height]).toEqual([im.width + 10, im.height + 10]);
    const px = (img: typeof im, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
    expect(px(edge, 0, 0)).toEqual(px(im, 0, 0));
    expect(px(edge, edge.width - 1, 7)).toEqual(px(im, im.width - 1, 2));
    expect(px(black, 0, 0)).toEqual([0, 0, 0]);
    expect(px(black, 5, 5)).toEqual(px(im, 0, 0));
    expect(() => padImage(im, -1, 'edge')).toThrow(/whole number/);
  });
});

describe('reading photos', () => {
  it('judges the content, not the name: text is not an image', async () => {
    await expect(readPhoto(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"></svg>'), 'face.jpg')).rejects.toThrow(NotAnImageError);
    await expect(readPhoto(Buffer.alloc(0), 'empty.jpg')).rejects.toThrow(/empty file/);
  });

  it('refuses a decompression bomb from its header, before decoding', async () => {
    const bomb = await decompressionBomb();
    expect(bomb.length).toBeLessThan(200_000);
    const t0 = performance.now();
    const err = await probePhoto(bomb, 'bomb.png', 40_000_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageTooLargeError);
    expect(err).toBeInstanceOf(ImageDecodeError);
    expect((err as Error).message).toBe('bomb.png: image is 8000x8000 = 64000000 pixels, over the limit of 40000000');
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('refuses a truncated JPEG with an ImageDecodeError naming it', async () => {
    const [file] = await celebaFiles('male', 1);
    const bytes = await readFile(file as string);
    await expect(readPhoto(bytes.subarray(0, bytes.length >> 1), 'cut.jpg')).rejects.toThrow(/cut\.jpg: truncated or corrupt JPEG/);
  });

  it('shrinks a large photo to the longest side and reports the scale back to its pixels', async () => {
    const big = await sharp({ create: { width: 3200, height: 2400, channels: 3, background: '#808080' } }).jpeg().toBuffer();
    const photo = await readPhoto(big, 'big.jpg', { maxSide: 800 });
    expect(photo.size).toEqual({ width: 3200, height: 2400 });
    expect([photo.image.width, photo.image.height]).toEqual([800, 600]);
    expect(photo.scale).toBe(4);
    const small = await readPhoto(await sharp({ create: { width: 300, height: 200, channels: 3, background: '#808080' } }).png().toBuffer(), 'small.png');
    expect([small.image.width, small.image.height, small.scale]).toEqual([300, 200, 1]);
  });

  it('applies EXIF orientation, so the size is the photo as displayed', async () => {
    const rotated = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#808080' } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const photo = await readPhoto(rotated, 'phone.jpg');
    expect(photo.size).toEqual({ width: 200, height: 300 });
    expect([photo.image.width, photo.image.height]).toEqual([200, 300]);
  });
});
