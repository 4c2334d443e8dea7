import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSsdDetector, type SsdFaceDetector } from '../../src/detect/ssd-detector.js';
import { findFaces } from '../../src/detect/find-faces.js';
import { decodeImage } from '../../src/data/decode.js';
import { CELEBA_FRAME, describeSimilarity } from '../../src/data/face-align.js';
import type { DecodedImage } from '../../src/data/image.js';
import { readPhoto } from '../../src/data/read-photo.js';
import { blankImage, celebaFiles, collage } from '../helpers/face-images.js';
import { REPO } from '../helpers/shared.js';

/*
 * Face detection and alignment on real images: the rebuilt face-api nets against face-api itself,
 * a CelebA image giving one face whose aligned crop looks like the original, a collage giving one
 * face per tile, a blank image giving none, and a rotated face coming back level.
 */

const run = promisify(execFile);
let detector: SsdFaceDetector;
let dir: string;

beforeAll(async () => {
  detector = await loadSsdDetector();
  dir = await mkdtemp(path.join(tmpdir(), 'fg-face-'));
});

afterAll(async () => {
  await detector?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Pearson correlation and mean absolute difference of two same-sized images. */
function similarity(a: DecodedImage, b: DecodedImage): { r: number; mad: number } {
  expect([a.width, a.height]).toEqual([b.width, b.height]);
  const n = a.data.length;
  let ma = 0;
  let mb = 0;
  let mad = 0;
  for (let i = 0; i < n; i++) {
    ma += a.data[i] as number;
    mb += b.data[i] as number;
    mad += Math.abs((a.data[i] as number) - (b.data[i] as number));
  }
  ma /= n;
  mb /= n;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < n; i++) {
    const da = (a.data[i] as number) - ma;
    const db = (b.data[i] as number) - mb;
    cov += da * db;
    va += da * da;
    vb += db * db;
  }
  return { r: cov / Math.sqrt(va * vb), mad: mad / n };
}

const median = (v: number[]) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? (s[s.length >> 1] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

describe('the rebuilt face-api nets', () => {
  it("find the same faces and landmarks as face-api's own detectAllFaces().withFaceLandmarks()", async () => {
    const files = [...(await celebaFiles('female', 2, 4)), ...(await celebaFiles('male', 1, 1))];
    const { png } = await collage(files);
    const { image } = await readPhoto(png, 'collage.png');
    const pixelsFile = path.join(dir, 'collage.f32');
    await writeFile(pixelsFile, Buffer.from(image.data.buffer));
    const { stdout } = await run(process.execPath, [path.join(REPO, 'test', 'helpers', 'faceapi-landmarks-reference.mjs'), pixelsFile, String(image.height), String(image.width)], { cwd: REPO, maxBuffer: 16 << 20 });
    const reference = (JSON.parse(stdout) as Array<{ box: { x: number; y: number; width: number; height: number }; score: number; points: number[][] }>).sort((a, b) => a.box.x - b.box.x);
    const [mine] = await detector.detect([image]);
    const ours = [...(mine ?? [])].sort((a, b) => a.box.x - b.box.x);
    expect(reference.length).toBe(3);
    expect(ours.length).toBe(3);
    ours.forEach((face, i) => {
      const ref = reference[i] as (typeof reference)[number];
      expect(face.box.score).toBeCloseTo(ref.score, 4);
      // face-api cuts the face at the floored box; its landmarks are shifted by the unfloored one.
      expect(face.box.x).toBe(Math.floor(ref.box.x));
      expect(face.box.y).toBe(Math.floor(ref.box.y));
      expect(Math.abs(face.box.width - ref.box.width)).toBeLessThan(1);
      const dx = ref.box.x - face.box.x;
      const dy = ref.box.y - face.box.y;
      face.landmarks.forEach((p, j) => {
        const q = ref.points[j] as number[];
        expect(Math.abs(p.x + dx - (q[0] as number))).toBeLessThan(0.05);
        expect(Math.abs(p.y + dy - (q[1] as number))).toBeLessThan(0.05);
      });
    });
  });
});

describe('finding and aligning faces', () => {
  it('gives one face per CelebA image, cut in a frame that matches the original framing', async () => {
    const files = [...(await celebaFiles('female', 10)), ...(await celebaFiles('male', 10, 1))];
    const rs: number[] = [];
    const scales: number[] = [];
    const shifts: number[] = [];
    let single = 0;
    for (const file of files) {
      const photo = await readPhoto(await readFile(file), file);
      const [faces] = await findFaces(detector, [photo.image], { frame: { width: photo.image.width, height: photo.image.height } });
      if (faces?.length !== 1) continue;
      single++;
      const face = faces[0] as (typeof faces)[number];
      // The original is itself a CelebA frame: aligning it again should be close to the identity.
      const { scale, degrees } = describeSimilarity(face.aligned.toFrame);
      expect(Math.abs(degrees)).toBeLessThan(5);
      scales.push(scale);
      shifts.push(Math.hypot(face.aligned.toFrame.tx, face.aligned.toFrame.ty));
      rs.push(similarity(face.aligned.image, photo.image).r);
      // The box holds the eyes.
      const eye = face.landmarks[36] as { x: number; y: number };
      expect(eye.x).toBeGreaterThan(face.box.x);
      expect(eye.x).toBeLessThan(face.box.x + face.box.width);
    }
    expect(single).toBeGreaterThanOrEqual(18);
    expect(Math.abs(median(scales) - 1)).toBeLessThan(0.05);
    expect(median(shifts)).toBeLessThan(3);
    expect(median(rs)).toBeGreaterThan(0.9);
  });

  it('gives as many faces as a collage has dataset images, each in its own tile, left to right', async () => {
    const files = [...(await celebaFiles('female', 2, 4)), ...(await celebaFiles('male', 2, 1))];
    const { png, tiles } = await collage(files);
    const photo = await readPhoto(png, 'collage.png');
    const [faces] = await findFaces(detector, [photo.image]);
    expect(faces?.length).toBe(4);
    faces?.forEach((face, i) => {
      const tile = tiles[i] as (typeof tiles)[number];
      const cx = face.box.x + face.box.width / 2;
      const cy = face.box.y + face.box.height / 2;
      expect(cx).toBeGreaterThan(tile.left);
      expect(cx).toBeLessThan(tile.left + tile.width);
      expect(cy).toBeGreaterThan(tile.top);
      expect(cy).toBeLessThan(tile.top + tile.height);
      expect(face.aligned.image.width).toBe(CELEBA_FRAME.width);
      expect(face.aligned.image.height).toBe(CELEBA_FRAME.height);
    });
  });

  it('gives no face in a blank image, even on the second, padded look', async () => {
    const photo = await readPhoto(await blankImage(), 'blank.jpg');
    const [faces] = await findFaces(detector, [photo.image]);
    expect(faces).toEqual([]);
  });

  it('levels a tilted face: a CelebA image turned by 20° comes back upright and framed as before', async () => {
    const [file] = await celebaFiles('female', 1, 8);
    const upright = await decodeImage(file as string, { size: CELEBA_FRAME });
    // sharp turns clockwise for a positive angle; a grey margin around the face keeps it detectable.
    const tilted = await sharp(file as string).resize(CELEBA_FRAME.width, CELEBA_FRAME.height).extend({ top: 80, bottom: 80, left: 80, right: 80, extendWith: 'copy' }).rotate(20, { background: '#808080' }).png().toBuffer();
    const photo = await readPhoto(tilted, 'tilted.png');
    const [faces] = await findFaces(detector, [photo.image]);
    expect(faces?.length).toBe(1);
    const face = (faces ?? [])[0] as NonNullable<typeof faces>[number];
    // Undoing a clockwise turn is a counter-clockwise one.
    expect(face.aligned.degrees).toBeGreaterThan(-25);
    expect(face.aligned.degrees).toBeLessThan(-15);
    expect(similarity(face.aligned.image, upright).r).toBeGreaterThan(0.85);
  });
});
