import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImageBuffer } from '../../src/data/decode.js';
import { degradeFrame, validateDegradeParams } from '../../src/data/degrade.js';
import type { DecodedImage } from '../../src/data/image.js';
import { alignedFaceBox } from '../../src/data/reframe.js';
import { SeededRandom } from '../../src/util/random.js';
import { CELEBA } from '../helpers/shared.js';

const NONE = { tight: 0, jpeg: 0, gamma: 0, grey: 0 };

async function face(): Promise<DecodedImage> {
  const file = path.join(CELEBA, 'female', '000001.jpg');
  return decodeImageBuffer(await readFile(file), file);
}

const mean = (im: DecodedImage) => im.data.reduce((s, v) => s + v, 0) / im.data.length;

describe('degradeFrame', () => {
  it('changes nothing when every probability is 0', async () => {
    const im = await face();
    const out = await degradeFrame(im, NONE, new SeededRandom(1));
    expect(Array.from(out.data)).toEqual(Array.from(im.data));
  });

  it('tight: keeps a box around the face and repeats its edge outside, as the photo path fills a tight crop', async () => {
    const im = await face();
    const out = await degradeFrame(im, { ...NONE, tight: 1 }, new SeededRandom(7));
    const { face: box } = alignedFaceBox(im.width, im.height);
    const at = (d: DecodedImage, x: number, y: number) => Array.from(d.data.subarray((y * d.width + x) * 3, (y * d.width + x) * 3 + 3));
    // The centre of the face is untouched; the top-left corner (hair, background) is replaced.
    const cx = Math.round(box.x + box.width / 2);
    const cy = Math.round(box.y + box.height / 2);
    expect(at(out, cx, cy)).toEqual(at(im, cx, cy));
    expect(at(out, 0, 0)).not.toEqual(at(im, 0, 0));
    // Outside the kept box every row repeats one pixel: the top row is constant along the columns left of the box.
    const row0 = Array.from({ length: 5 }, (_, x) => at(out, x, 0).join());
    expect(new Set(row0).size).toBe(1);
  });

  it('gamma darkens or brightens, grey equalises the channels, JPEG changes the pixels', async () => {
    const im = await face();
    const shifts = await Promise.all([1, 2, 3, 4, 5, 6].map(async (s) => mean(await degradeFrame(im, { ...NONE, gamma: 1 }, new SeededRandom(s))) - mean(im)));
    expect(shifts.some((d) => d < -5)).toBe(true);
    expect(shifts.some((d) => d > 5)).toBe(true);
    const grey = await degradeFrame(im, { ...NONE, grey: 1 }, new SeededRandom(1));
    for (let i = 0; i < grey.data.length; i += 3) expect(grey.data[i]).toBe(grey.data[i + 2]);
    const jpeg = await degradeFrame(im, { ...NONE, jpeg: 1 }, new SeededRandom(1));
    expect(jpeg.width).toBe(im.width);
    const diff = jpeg.data.reduce((s, v, i) => s + Math.abs(v - (im.data[i] as number)), 0) / im.data.length;
    expect(diff).toBeGreaterThan(1);
    expect(diff).toBeLessThan(30);
  });

  it('draws the same degradation from the same stream, and refuses probabilities outside 0..1', async () => {
    const im = await face();
    const all = { tight: 0.5, jpeg: 0.5, gamma: 0.5, grey: 0.5 };
    const a = await degradeFrame(im, all, SeededRandom.keyed(1, 'x', 2));
    const b = await degradeFrame(im, all, SeededRandom.keyed(1, 'x', 2));
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(() => validateDegradeParams({ ...NONE, jpeg: 1.5 })).toThrow(/jpeg must be a probability from 0 to 1, got 1.5/);
  });
});
