import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImageBytes } from '../../src/data/decode.js';
import { isSrgbProfile, profileDescription } from '../../src/data/icc.js';
import { openPhotoBytes, probePhoto } from '../../src/data/read-photo.js';
import { celebaFiles } from '../helpers/face-images.js';

/*
 * Skipping an sRGB profile's transform: face-api's demo photos (real camera JPEGs) carry the
 * common sRGB IEC61966-2.1 profile; a CelebA face re-encoded with sharp's Display P3 profile
 * stands for a phone photo in a wider gamut, whose transform must still run.
 */

const SAMPLE = 'node_modules/@vladmandic/face-api/demo/sample1.jpg';

async function tagged(profile: 'srgb' | 'p3'): Promise<Buffer> {
  const [file] = (await celebaFiles('female', 1)) as [string];
  return sharp(file).withIccProfile(profile).jpeg({ quality: 95 }).toBuffer();
}

describe('isSrgbProfile', () => {
  it("reads the description of a camera JPEG's v2 profile and of sharp's v4 profiles", async () => {
    const camera = (await sharp(await readFile(SAMPLE)).metadata()).icc as Buffer;
    expect(profileDescription(camera)).toBe('sRGB IEC61966-2.1');
    expect(isSrgbProfile(camera)).toBe(true);
    const p3 = (await sharp(await tagged('p3')).metadata()).icc as Buffer;
    expect(profileDescription(p3)).toMatch(/P3/);
    expect(isSrgbProfile(p3)).toBe(false);
    expect(isSrgbProfile((await sharp(await tagged('srgb')).metadata()).icc)).toBe(true);
  });

  it('is false without a profile and for truncated or garbled bytes', () => {
    expect(isSrgbProfile(undefined)).toBe(false);
    expect(isSrgbProfile(new Uint8Array(0))).toBe(false);
    expect(isSrgbProfile(new Uint8Array(200).fill(0xff))).toBe(false);
  });
});

describe('decoding a photo with an sRGB profile', () => {
  it('gives the same pixels with the transform skipped, and the photo path skips it', async () => {
    const bytes = await readFile(SAMPLE);
    expect((await probePhoto(bytes, SAMPLE)).srgbProfile).toBe(true);
    const opening = await openPhotoBytes(bytes, SAMPLE);
    expect(opening.srgbProfile).toBe(true);
    const skipped = await opening.image;
    const transformed = await decodeImageBytes(bytes, SAMPLE);
    expect(skipped.width).toBe(1920);
    expect(Buffer.compare(Buffer.from(skipped.data), Buffer.from(transformed.data))).toBe(0);
  });

  it('still applies a Display P3 profile, which moves the colours', async () => {
    const bytes = await tagged('p3');
    expect((await probePhoto(bytes, 'p3.jpg')).srgbProfile).toBe(false);
    const honoured = await (await openPhotoBytes(bytes, 'p3.jpg')).image;
    const ignored = await decodeImageBytes(bytes, 'p3.jpg', { srgbProfile: true });
    let moved = 0;
    for (let i = 0; i < honoured.data.length; i++) moved = Math.max(moved, Math.abs((honoured.data[i] as number) - (ignored.data[i] as number)));
    expect(moved).toBeGreaterThan(5);
  });
});
