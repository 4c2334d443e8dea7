import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { letterboxesFromBytes } from '../../src/detect/letterbox.js';
import { photoDetectorInput } from '../../src/detect/photo-input.js';
import { celebaFiles } from '../helpers/face-images.js';

/*
 * A photo's detector inputs: a CelebA face (89x109, smaller than the 384 px small copy) has its
 * letterboxes cut from the full decode, and they hold the same bytes a second, small decode gives;
 * face-api's 1920 px group photo still gets them from the small decode.
 */

describe('photoDetectorInput', () => {
  it("cuts a small photo's letterboxes from its full decode, byte for byte what the small decode gives", async () => {
    for (const file of [...(await celebaFiles('female', 2)), ...(await celebaFiles('male', 2))]) {
      const bytes = await readFile(file);
      const { input } = await photoDetectorInput(bytes, file);
      expect([input.width, input.height]).toEqual([89, 109]);
      const fromBytes = letterboxesFromBytes(bytes, input.width, input.height);
      for (const size of [128, 256, 384]) {
        const [ours, decoded] = await Promise.all([input.letterbox?.(size), fromBytes(size)]);
        expect(ours?.size).toBe(size);
        expect(Buffer.compare(Buffer.from(ours?.pixels ?? []), Buffer.from(decoded.pixels))).toBe(0);
        expect([ours?.scaleX, ours?.offsetX, ours?.offsetY]).toEqual([decoded.scaleX, decoded.offsetX, decoded.offsetY]);
      }
    }
  });

  it("gives a large photo's letterboxes from the small decode, at the full photo's coordinates", async () => {
    const file = 'node_modules/@vladmandic/face-api/demo/sample1.jpg';
    const bytes = await readFile(file);
    const { input } = await photoDetectorInput(bytes, file);
    expect([input.width, input.height]).toEqual([1920, 1280]);
    const box = await input.letterbox?.(384);
    expect(box?.scaleX).toBeCloseTo(384 / 1920, 6);
    const reference = await letterboxesFromBytes(bytes, 1920, 1280, { srgbProfile: true })(384);
    expect(Buffer.compare(Buffer.from(box?.pixels ?? []), Buffer.from(reference.pixels))).toBe(0);
  });
});
