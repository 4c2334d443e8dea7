import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  IDENTITY_DRAW,
  NO_AUGMENTATION,
  STUDY_AUGMENTATION,
  applyAffine,
  augmentImage,
  sampleTransform,
  transformMatrix,
  type AffineDraw,
  type AugmentParams,
  type FillMode,
} from '../../src/data/augment.js';
import type { DecodedImage } from '../../src/data/image.js';
import { UsageError } from '../../src/errors.js';
import { SeededRandom } from '../../src/util/random.js';
import { CELEBA } from '../helpers/shared.js';

const FILE = path.join(CELEBA, 'male', '000003.jpg');

async function decode(pipeline: Sharp): Promise<DecodedImage> {
  const { data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { height: info.height, width: info.width, data: Float32Array.from(data) };
}

let face: DecodedImage; // 89x109 as stored
let square: DecodedImage; // the same face resized to 64x64

beforeAll(async () => {
  face = await decode(sharp(FILE));
  square = await decode(sharp(FILE).resize(64, 64, { fit: 'fill' }));
});

const draw = (d: Partial<AffineDraw>): AffineDraw => ({ ...IDENTITY_DRAW, ...d });

function at(img: DecodedImage, r: number, c: number, ch = 0): number {
  return img.data[(r * img.width + c) * 3 + ch] as number;
}

/** An image built pixel by pixel from (row, col, channel). */
function build(height: number, width: number, f: (r: number, c: number, ch: number) => number): DecodedImage {
  const data = new Float32Array(height * width * 3);
  for (let r = 0; r < height; r++)
    for (let c = 0; c < width; c++) for (let ch = 0; ch < 3; ch++) data[(r * width + c) * 3 + ch] = f(r, c, ch);
  return { height, width, data };
}

/** Same pixels moved by an index map: out(r, c) = img(src(r, c)). */
function permute(img: DecodedImage, src: (r: number, c: number) => [number, number]): DecodedImage {
  return build(img.height, img.width, (r, c, ch) => {
    const [sr, sc] = src(r, c);
    return at(img, sr, sc, ch);
  });
}

function sameBits(a: DecodedImage, b: DecodedImage): boolean {
  return Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

function resample(img: DecodedImage, d: Partial<AffineDraw>, mode: FillMode = 'nearest', cval = 0): DecodedImage {
  return applyAffine(img, transformMatrix(draw(d), img), mode, cval);
}

/** Row/column of the largest value in channel 0 and the sum of channel 0. */
function peak(img: DecodedImage): { r: number; c: number; sum: number } {
  let best = -Infinity;
  let r = -1;
  let c = -1;
  let sum = 0;
  for (let i = 0; i < img.height; i++)
    for (let j = 0; j < img.width; j++) {
      const v = at(img, i, j);
      sum += v;
      if (v > best) [best, r, c] = [v, i, j];
    }
  return { r, c, sum };
}

describe('identity', () => {
  it('zero parameters reproduce a real image bit for bit, in every fill mode', () => {
    expect(transformMatrix(IDENTITY_DRAW, face)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    for (const mode of ['nearest', 'constant', 'reflect', 'wrap'] as const) {
      const out = resample(face, {}, mode, 99);
      expect(out.data === face.data).toBe(false);
      expect(sameBits(out, face)).toBe(true);
    }
    const views = [1, 2, 3].map((v) => augmentImage(face, NO_AUGMENTATION, 5, 'male/000003.jpg', v));
    for (const v of views) expect(sameBits(v, face)).toBe(true);
  });

  it('view 0 is the plain image itself', () => {
    expect(augmentImage(face, STUDY_AUGMENTATION, 5, 'male/000003.jpg', 0)).toBe(face);
  });
});

describe('flips', () => {
  it('a horizontal flip of an asymmetric face is the mirrored array', () => {
    const mirrored = permute(face, (r, c) => [r, face.width - 1 - c]);
    expect(maxAbsDiff(mirrored.data, face.data)).toBeGreaterThan(50); // the face is not symmetric
    expect(sameBits(resample(face, { flipHorizontal: true }), mirrored)).toBe(true);
  });

  it('a vertical flip, and both flips together, are the matching index permutations', () => {
    const { height: h, width: w } = face;
    expect(sameBits(resample(face, { flipVertical: true }), permute(face, (r, c) => [h - 1 - r, c]))).toBe(true);
    const both = resample(face, { flipVertical: true, flipHorizontal: true });
    expect(sameBits(both, permute(face, (r, c) => [h - 1 - r, w - 1 - c]))).toBe(true);
  });
});

describe('rotation', () => {
  // Keras 2.12 builds R(theta) = [[cos, -sin], [sin, cos]] in (x, y) order, centres it on o = N/2 - 0.5
  // and swaps the axes (M' = P M P), so in (row, col) the output-to-input map is
  //   in_row - o = cos * (r - o) + sin * (c - o),   in_col - o = -sin * (r - o) + cos * (c - o).
  // With theta = 90: in_row = c and in_col = 2o - r = N - 1 - r, i.e. output (r, c) samples input
  // (c, N - 1 - r): numpy's rot90, a counter-clockwise quarter turn. theta = -90 samples
  // (N - 1 - c, r), and theta = 180 samples (N - 1 - r, N - 1 - c).
  it('theta = 90 on a square image is the explicit index permutation', () => {
    const n = square.width;
    const rotated = resample(square, { theta: 90 });
    // cos(pi/2) is 6e-17, not 0: sample points sit a hair off the grid, hence a tolerance.
    expect(maxAbsDiff(rotated.data, permute(square, (r, c) => [c, n - 1 - r]).data)).toBeLessThan(1e-3);
    expect(maxAbsDiff(rotated.data, square.data)).toBeGreaterThan(50);
  });

  it('theta = -90 and 180 are the other two quarter-turn permutations', () => {
    const n = square.width;
    const back = resample(square, { theta: -90 });
    expect(maxAbsDiff(back.data, permute(square, (r, c) => [n - 1 - c, r]).data)).toBeLessThan(1e-3);
    const half = resample(square, { theta: 180 });
    expect(maxAbsDiff(half.data, permute(square, (r, c) => [n - 1 - r, n - 1 - c]).data)).toBeLessThan(1e-3);
  });
});

describe('shift and zoom move a marked pixel where the matrix says', () => {
  const H = 21;
  const W = 31;
  const dot = (pr: number, pc: number) => build(H, W, (r, c) => (r === pr && c === pc ? 200 : 0));

  it('the matrix sends each output pixel to the input point it samples', () => {
    // Keras 2.12: tx (from the height range) runs along columns, ty along rows; input = output + shift.
    const m = transformMatrix(draw({ tx: 3, ty: -2 }), { height: H, width: W });
    expect(m).toEqual([1, 0, -2, 0, 1, 3, 0, 0, 1]);
  });

  it('an integer shift moves the dot by exactly minus the shift', () => {
    const img = dot(10, 15);
    // Output (r, c) samples input (r + ty, c + tx): the dot lands at (10 - ty, 15 - tx).
    expect(peak(resample(img, { tx: 3 }, 'constant'))).toEqual({ r: 10, c: 12, sum: 200 });
    expect(peak(resample(img, { ty: 3 }, 'constant'))).toEqual({ r: 7, c: 15, sum: 200 });
    expect(peak(resample(img, { tx: -4, ty: 5 }, 'constant'))).toEqual({ r: 5, c: 19, sum: 200 });
  });

  it('a half-pixel shift splits the dot over two pixels (bilinear)', () => {
    const out = resample(dot(10, 15), { tx: 0.5 }, 'constant');
    expect(at(out, 10, 14)).toBe(100);
    expect(at(out, 10, 15)).toBe(100);
    expect(peak(out).sum).toBe(200);
  });

  it('zoom scales distances from the centre: zx along columns, zy along rows', () => {
    const n = 21;
    const o = n / 2 - 0.5; // 10
    const dotSq = (pr: number, pc: number) => build(n, n, (r, c) => (r === pr && c === pc ? 200 : 0));
    // zx = 2: in_col = o + 2 (c - o). A dot at input column o + 4 lands on column o + 2.
    expect(peak(resample(dotSq(7, o + 4), { zx: 2 }, 'constant'))).toEqual({ r: 7, c: o + 2, sum: 200 });
    // zy = 0.5: in_row = o + 0.5 (r - o). A dot at input row 12 is sampled at full weight by output
    // row 14 and at half weight by rows 13 and 15 (input rows 11.5 and 12.5).
    const stretched = resample(dotSq(12, 5), { zy: 0.5 }, 'constant');
    const column = Array.from({ length: n }, (_, r) => at(stretched, r, 5));
    expect(column).toEqual(column.map((_, r) => (r === 14 ? 200 : r === 13 || r === 15 ? 100 : 0)));
  });

  it('on a non-square image the centre is Keras 2.12\'s: (width/2 - 0.5, height/2 - 0.5) in (row, col)', () => {
    // Keras centres x on height/2 - 0.5 and y on width/2 - 0.5 before swapping x and y, so the
    // fixed point of a zoom on this 21x31 image is row 15, column 10.
    const m = transformMatrix(draw({ zx: 2, zy: 3 }), { height: H, width: W });
    expect(m).toEqual([3, 0, -2 * 15, 0, 2, -10, 0, 0, 1]);
  });

  it('for a random study draw the dot appears where the matrix maps back to it', () => {
    const size = { height: 64, width: 64 };
    const rng = new SeededRandom(11);
    for (let k = 0; k < 20; k++) {
      const d = sampleTransform(STUDY_AUGMENTATION, rng, size);
      const img = build(64, 64, (r, c) => Math.max(0, 255 - 40 * Math.hypot(r - 30, c - 34)));
      const out = applyAffine(img, transformMatrix(d, size), 'constant');
      const { r, c } = peak(out);
      const m = transformMatrix(d, size);
      const inRow = (m[0] as number) * r + (m[1] as number) * c + (m[2] as number);
      const inCol = (m[3] as number) * r + (m[4] as number) * c + (m[5] as number);
      expect(Math.hypot(inRow - 30, inCol - 34)).toBeLessThan(1);
    }
  });
});

describe('fill modes outside the image', () => {
  // A ramp whose value is the column index; tx = -3 makes output column c sample input column c - 3.
  const ramp = build(4, 10, (_r, c) => c);
  const firstColumns = (mode: FillMode) => {
    const out = resample(ramp, { tx: -3 }, mode, 77);
    return [0, 1, 2, 3].map((c) => at(out, 1, c));
  };

  it('nearest repeats the edge, constant fills cval', () => {
    expect(firstColumns('nearest')).toEqual([0, 0, 0, 0]);
    expect(firstColumns('constant')).toEqual([77, 77, 77, 0]);
  });

  it('reflect mirrors about the half-sample edge, wrap uses scipy\'s period of width - 1', () => {
    // reflect: -3 -> 2, -2 -> 1, -1 -> 0; wrap: x -> x + (10 - 1).
    expect(firstColumns('reflect')).toEqual([2, 1, 0, 0]);
    expect(firstColumns('wrap')).toEqual([6, 7, 8, 0]);
  });

  it('a constant-filled rotation puts cval in the corners', () => {
    const out = resample(square, { theta: 45 }, 'constant', 17);
    for (const [r, c] of [[0, 0], [0, 63], [63, 0], [63, 63]] as const) expect(at(out, r, c, 1)).toBe(17);
    expect(at(resample(square, { theta: 45 }, 'nearest'), 0, 0, 1)).not.toBe(17);
  });
});

describe('composed flip equals Keras\' resample-then-flip', () => {
  it('for a rotation + shift + shear + zoom draw with a horizontal flip', () => {
    const d = draw({ theta: 13.7, tx: 4.2, ty: -6.1, shear: 0.17, zx: 0.86, zy: 1.13, flipHorizontal: true });
    for (const mode of ['nearest', 'constant', 'reflect'] as const) {
      const once = applyAffine(face, transformMatrix(d, face), mode, 5);
      const affine = applyAffine(face, transformMatrix({ ...d, flipHorizontal: false }, face), mode, 5);
      const twoStep = permute(affine, (r, c) => [r, face.width - 1 - c]);
      expect(maxAbsDiff(once.data, twoStep.data)).toBeLessThan(1e-3);
      expect(maxAbsDiff(once.data, affine.data)).toBeGreaterThan(10);
    }
  });

  it('for both flips with a rotation', () => {
    const d = draw({ theta: -17, flipHorizontal: true, flipVertical: true });
    const once = resample(face, d);
    const affine = resample(face, { theta: -17 });
    const twoStep = permute(affine, (r, c) => [face.height - 1 - r, face.width - 1 - c]);
    expect(maxAbsDiff(once.data, twoStep.data)).toBeLessThan(1e-3);
  });
});

describe('reproducibility', () => {
  it('the same (seed, image, view) gives the same pixels; another view, seed or image does not', () => {
    const a = augmentImage(face, STUDY_AUGMENTATION, 42, 'male/000003.jpg', 1);
    const b = augmentImage(face, STUDY_AUGMENTATION, 42, 'male/000003.jpg', 1);
    expect(sameBits(a, b)).toBe(true);
    for (const other of [
      augmentImage(face, STUDY_AUGMENTATION, 42, 'male/000003.jpg', 2),
      augmentImage(face, STUDY_AUGMENTATION, 43, 'male/000003.jpg', 1),
      augmentImage(face, STUDY_AUGMENTATION, 42, 'male/000007.jpg', 1),
    ]) {
      expect(maxAbsDiff(a.data, other.data)).toBeGreaterThan(10);
    }
    expect(maxAbsDiff(a.data, face.data)).toBeGreaterThan(10);
  });
});

describe('sampleTransform', () => {
  it('keeps the study\'s 10,000 draws in range, centred, with a fair flip', () => {
    const size = { height: 100, width: 150 }; // non-square: tx scales with the height, ty with the width
    const rng = new SeededRandom(3);
    const n = 10_000;
    const draws = Array.from({ length: n }, () => sampleTransform(STUDY_AUGMENTATION, rng, size));
    const field = (k: keyof AffineDraw) => draws.map((d) => Number(d[k]));
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const bounds: Array<[keyof AffineDraw, number, number, number]> = [
      ['theta', -20, 20, 0.5],
      ['tx', -20, 20, 0.5],
      ['ty', -30, 30, 0.75],
      ['shear', -0.2, 0.2, 0.005],
      ['zx', 0.8, 1.2, 0.005],
      ['zy', 0.8, 1.2, 0.005],
    ];
    for (const [k, lo, hi, tol] of bounds) {
      const xs = field(k);
      expect(Math.min(...xs)).toBeGreaterThanOrEqual(lo);
      expect(Math.max(...xs)).toBeLessThanOrEqual(hi);
      // The range is actually used: the extremes come within 1% of its ends.
      expect(Math.min(...xs)).toBeLessThan(lo + (hi - lo) * 0.01);
      expect(Math.max(...xs)).toBeGreaterThan(hi - (hi - lo) * 0.01);
      expect(Math.abs(mean(xs) - (lo + hi) / 2)).toBeLessThan(tol);
    }
    // zx and zy are drawn independently.
    const zx = field('zx');
    const zy = field('zy');
    const cov = mean(zx.map((x, i) => (x - 1) * ((zy[i] as number) - 1)));
    expect(Math.abs(cov / (0.4 ** 2 / 12))).toBeLessThan(0.05);
    expect(Math.abs(mean(field('flipHorizontal')) - 0.5)).toBeLessThan(0.02);
    expect(field('flipVertical').every((f) => f === 0)).toBe(true);
  });

  it('reads shift ranges of 1 or more as pixels and honours zoom bounds and vertical flips', () => {
    const params: AugmentParams = {
      ...NO_AUGMENTATION,
      heightShiftRange: 5,
      widthShiftRange: 2,
      zoomRange: [0.5, 0.7],
      verticalFlip: true,
    };
    const rng = new SeededRandom(9);
    const draws = Array.from({ length: 2000 }, () => sampleTransform(params, rng, { height: 300, width: 300 }));
    expect(Math.max(...draws.map((d) => Math.abs(d.tx)))).toBeLessThanOrEqual(5);
    expect(Math.max(...draws.map((d) => Math.abs(d.tx)))).toBeGreaterThan(4.9);
    expect(Math.max(...draws.map((d) => Math.abs(d.ty)))).toBeLessThanOrEqual(2);
    expect(draws.every((d) => d.zx >= 0.5 && d.zx <= 0.7 && d.zy >= 0.5 && d.zy <= 0.7)).toBe(true);
    expect(draws.every((d) => d.theta === 0 && d.shear === 0 && !d.flipHorizontal)).toBe(true);
    const vflips = draws.filter((d) => d.flipVertical).length / draws.length;
    expect(Math.abs(vflips - 0.5)).toBeLessThan(0.05);
  });

  it('rejects bad parameters and views with a UsageError naming the field', () => {
    const rng = new SeededRandom(1);
    const size = { height: 8, width: 8 };
    expect(() => sampleTransform({ ...STUDY_AUGMENTATION, rotationRange: -1 }, rng, size)).toThrow(/rotationRange/);
    expect(() => sampleTransform({ ...STUDY_AUGMENTATION, zoomRange: [1.2, 0.8] }, rng, size)).toThrow(UsageError);
    expect(() => sampleTransform({ ...STUDY_AUGMENTATION, zoomRange: 1 }, rng, size)).toThrow(/zoomRange/);
    expect(() =>
      sampleTransform({ ...STUDY_AUGMENTATION, fillMode: 'mirror' as FillMode }, rng, size),
    ).toThrow(/fillMode/);
    expect(() => augmentImage(face, STUDY_AUGMENTATION, 1, 'x', -1)).toThrow(/view/);
    expect(() => applyAffine(face, [1, 0, 0], 'nearest')).toThrow(UsageError);
  });
});
