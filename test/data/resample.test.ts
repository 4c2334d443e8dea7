import { readdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { resizeRgb } from '../../src/data/resample.js';
import type { Rgb8Image } from '../../src/data/image.js';
import { CELEBA, MEBEAUTY } from '../helpers/shared.js';

async function rgb(file: string, size?: { width: number; height: number }): Promise<Rgb8Image> {
  let img = sharp(file).removeAlpha();
  if (size) img = img.resize(size.width, size.height, { fit: 'fill' });
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

async function sharpResize(im: Rgb8Image, width: number, height: number): Promise<Uint8Array> {
  const { data } = await sharp(im.data, { raw: { width: im.width, height: im.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return new Uint8Array(data);
}

function agreement(a: Uint8Array, b: Uint8Array): { exact: number; max: number } {
  let same = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    if (d === 0) same++;
    max = Math.max(max, d);
  }
  return { exact: same / a.length, max };
}

describe('resizeRgb: the page resizes as sharp does in Node', () => {
  it('enlarges and shrinks real faces to the bytes sharp gives, within 2 levels', async () => {
    const celeba = path.join(CELEBA, 'male', (await readdir(path.join(CELEBA, 'male'))).sort()[3] as string);
    const meb = path.join(MEBEAUTY, 'female', 'hispanic', 'raamin-ka-v8dc2XkhIfM-unsplash.jpg');
    const face = await rgb(celeba);
    const scene = await rgb(meb, { width: 1280, height: 720 });
    // Shrinking by less than 4 (the filter alone) is exact. An enlargement differs by 1 where the value
    // falls within a few hundredths of a half (libvips' fixed point); a shrink by 10 (a block average,
    // then the filter) is the least exact, and the page never does it: a photo's detector inputs come
    // from its 384 px copy, as in Node.
    const cases: Array<[Rgb8Image, number, number, number]> = [
      [face, 105, 128, 0.99], // the front detector's letterbox of a CelebA image
      [face, 209, 256, 0.99], // the back detector's
      [{ ...face, ...(await rgb(celeba, { width: 80, height: 80 })) }, 224, 224, 0.99], // a base crop to faceres' input
      [scene, 384, 216, 0.999], // a photo's small copy
      [scene, 128, 72, 0.65],
      [scene, 160, 720, 0.999], // one axis shrinks more than 4x (a block shrink first), the other stays
      [await rgb(meb), 113, 128, 0.999],
    ];
    for (const [im, w, h, least] of cases) {
      const ours = resizeRgb(im, w, h);
      expect([ours.width, ours.height]).toEqual([w, h]);
      const { exact, max } = agreement(ours.data, await sharpResize(im, w, h));
      expect(max, `${im.width}x${im.height} -> ${w}x${h}`).toBeLessThanOrEqual(2);
      expect(exact, `${im.width}x${im.height} -> ${w}x${h}`).toBeGreaterThan(least);
    }
  });
});
