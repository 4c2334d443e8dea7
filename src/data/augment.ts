/**
 * The study's training augmentation: a port of Keras 2.12's `ImageDataGenerator` geometric
 * transforms (rotation, shift, shear, zoom, flips) with scipy's order-1 resampling.
 *
 * Keras 2.12 conventions reproduced here, because they are not the obvious ones:
 * - `apply_affine_transform` builds `rotation @ shift @ shear @ zoom` in (x, y) order, centres it
 *   on `(height / 2 - 0.5, width / 2 - 0.5)` in that same order, and only then swaps the two axes
 *   (`M' = P M P`, added by keras-preprocessing PR #318) before handing the matrix to
 *   `scipy.ndimage.affine_transform`. In (row, column) terms that means: a positive `theta` turns
 *   the content counter-clockwise, `tx` (drawn from the height range, scaled by the height) moves
 *   the content along columns, `ty` (width range, scaled by the width) along rows, the shear
 *   slants columns by `-sin(shear) * row`, and `zx` scales columns, `zy` rows. For a non-square
 *   image the centre Keras uses is `(width / 2 - 0.5, height / 2 - 0.5)` in (row, column); it is
 *   kept as is, so a square image (the study resizes to 224x224 first) is centred exactly.
 * - The matrix maps an OUTPUT pixel to the INPUT point it samples (scipy's convention).
 * - Keras flips after the resample; a flip is a pure index permutation of the output, so it is
 *   folded into the same matrix here and each image is resampled once.
 */
import { UsageError } from '../errors.js';
import { SeededRandom } from '../util/random.js';
import type { DecodedImage, ImageSize } from './image.js';

/**
 * How points outside the input are filled, with scipy's meanings:
 * - `nearest`: the edge pixel repeats (`a a a | a b c d | d d d`);
 * - `constant`: `cval` outside; no interpolation across the edge;
 * - `reflect`: half-sample mirror (`d c b a | a b c d | d c b a`);
 * - `wrap`: scipy's `wrap`, whose period is `size - 1` (first and last pixel overlap).
 */
export type FillMode = 'nearest' | 'constant' | 'reflect' | 'wrap';

export const FILL_MODES: readonly FillMode[] = ['nearest', 'constant', 'reflect', 'wrap'];

/** `ImageDataGenerator`'s geometric arguments, in the same units. */
export interface AugmentParams {
  /** Degrees; theta ~ U(-rotationRange, rotationRange). Keras `rotation_range`. */
  rotationRange: number;
  /** Below 1: a fraction of the width; 1 or more: pixels. Keras `width_shift_range`. */
  widthShiftRange: number;
  /** Below 1: a fraction of the height; 1 or more: pixels. Keras `height_shift_range`. */
  heightShiftRange: number;
  /** Shear angle range in DEGREES (Keras 2.x), shear ~ U(-shearRange, shearRange). */
  shearRange: number;
  /** `z` means zx, zy ~ U(1 - z, 1 + z) independently; `[lo, hi]` means U(lo, hi). */
  zoomRange: number | [number, number];
  /** Mirror left-right with probability 0.5. */
  horizontalFlip: boolean;
  /** Mirror top-bottom with probability 0.5. */
  verticalFlip?: boolean;
  fillMode: FillMode;
  /** Fill value for `constant`; 0 when absent. */
  cval?: number;
}

/**
 * The study's `ImageDataGenerator(rotation_range=20, width_shift_range=0.2,
 * height_shift_range=0.2, shear_range=0.2, zoom_range=0.2, horizontal_flip=True,
 * fill_mode='nearest')`. Its `rescale=1./255` is not geometric and belongs to preprocessing.
 */
export const STUDY_AUGMENTATION: Readonly<AugmentParams> = Object.freeze({
  rotationRange: 20,
  widthShiftRange: 0.2,
  heightShiftRange: 0.2,
  shearRange: 0.2,
  zoomRange: 0.2,
  horizontalFlip: true,
  verticalFlip: false,
  fillMode: 'nearest',
  cval: 0,
});

/** Every transform off: each draw is the identity. */
export const NO_AUGMENTATION: Readonly<AugmentParams> = Object.freeze({
  rotationRange: 0,
  widthShiftRange: 0,
  heightShiftRange: 0,
  shearRange: 0,
  zoomRange: 0,
  horizontalFlip: false,
  verticalFlip: false,
  fillMode: 'nearest',
  cval: 0,
});

/** One image's transform, in Keras' `get_random_transform` terms. */
export interface AffineDraw {
  /** Rotation, degrees. */
  theta: number;
  /** Keras `tx`, pixels: drawn from the height range times the height (see the module note). */
  tx: number;
  /** Keras `ty`, pixels: drawn from the width range times the width. */
  ty: number;
  /** Shear angle, degrees. */
  shear: number;
  zx: number;
  zy: number;
  flipHorizontal: boolean;
  flipVertical: boolean;
}

/** The identity draw. */
export const IDENTITY_DRAW: Readonly<AffineDraw> = Object.freeze({
  theta: 0,
  tx: 0,
  ty: 0,
  shear: 0,
  zx: 1,
  zy: 1,
  flipHorizontal: false,
  flipVertical: false,
});

function checkRange(name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new UsageError(`augmentation ${name} must be a finite number >= 0, got ${value}`);
  }
}

/** The zoom bounds `[lo, hi]` that `params.zoomRange` stands for, validated. */
export function zoomBounds(params: Pick<AugmentParams, 'zoomRange'>): [number, number] {
  const z = params.zoomRange;
  const [lo, hi] = typeof z === 'number' ? [1 - z, 1 + z] : z;
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo <= 0 || lo > hi) {
    throw new UsageError(
      `augmentation zoomRange ${JSON.stringify(z)} must give bounds 0 < lo <= hi, got [${lo}, ${hi}]`,
    );
  }
  return [lo, hi];
}

/** Throws a UsageError naming the first bad field of `params`. */
export function validateAugmentParams(params: AugmentParams): void {
  checkRange('rotationRange', params.rotationRange);
  checkRange('widthShiftRange', params.widthShiftRange);
  checkRange('heightShiftRange', params.heightShiftRange);
  checkRange('shearRange', params.shearRange);
  zoomBounds(params);
  if (!FILL_MODES.includes(params.fillMode)) {
    throw new UsageError(
      `augmentation fillMode must be one of ${FILL_MODES.join(', ')}, got ${String(params.fillMode)}`,
    );
  }
  if (params.cval !== undefined && !Number.isFinite(params.cval)) {
    throw new UsageError(`augmentation cval must be finite, got ${params.cval}`);
  }
}

function shift(rng: SeededRandom, range: number, extent: number): number {
  if (range === 0) return 0;
  const value = rng.uniform(-range, range);
  return range < 1 ? value * extent : value;
}

/**
 * Draws one transform the way Keras' `get_random_transform` does, in the same order (theta, tx,
 * ty, shear, zx, zy, horizontal flip, vertical flip); a range of 0 draws nothing, while both flip
 * coins are always tossed. Keras' integer shift ranges (a discrete pixel choice) have no
 * counterpart: a range of 1 or more is a continuous pixel range.
 */
export function sampleTransform(params: AugmentParams, rng: SeededRandom, size: ImageSize): AffineDraw {
  validateAugmentParams(params);
  const theta = params.rotationRange === 0 ? 0 : rng.uniform(-params.rotationRange, params.rotationRange);
  const tx = shift(rng, params.heightShiftRange, size.height);
  const ty = shift(rng, params.widthShiftRange, size.width);
  const shear = params.shearRange === 0 ? 0 : rng.uniform(-params.shearRange, params.shearRange);
  const [lo, hi] = zoomBounds(params);
  let zx = 1;
  let zy = 1;
  if (!(lo === 1 && hi === 1)) {
    zx = rng.uniform(lo, hi);
    zy = rng.uniform(lo, hi);
  }
  const flipHorizontal = rng.next() < 0.5 && params.horizontalFlip;
  const flipVertical = rng.next() < 0.5 && params.verticalFlip === true;
  return { theta, tx, ty, shear, zx, zy, flipHorizontal, flipVertical };
}

type Mat3 = number[];

function mul(a: Mat3, b: Mat3): Mat3 {
  const out = new Array<number>(9).fill(0);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      let sum = 0;
      for (let k = 0; k < 3; k++) sum += (a[i * 3 + k] as number) * (b[k * 3 + j] as number);
      out[i * 3 + j] = sum;
    }
  }
  return out;
}

function translation(a: number, b: number): Mat3 {
  return [1, 0, a, 0, 1, b, 0, 0, 1];
}

/**
 * The 3x3 row-major matrix taking an output `(row, col, 1)` to the input `(row, col, 1)` it
 * samples: Keras 2.12's `apply_affine_transform` matrix (after its axis swap) times the flips.
 */
export function transformMatrix(draw: AffineDraw, size: ImageSize): number[] {
  const { height: h, width: w } = size;
  const t = (draw.theta * Math.PI) / 180;
  const s = (draw.shear * Math.PI) / 180;
  // Built in Keras' own (x, y) order first, so each factor reads like its source.
  const rotation: Mat3 = [Math.cos(t), -Math.sin(t), 0, Math.sin(t), Math.cos(t), 0, 0, 0, 1];
  const shear: Mat3 = [1, -Math.sin(s), 0, 0, Math.cos(s), 0, 0, 0, 1];
  const zoom: Mat3 = [draw.zx, 0, 0, 0, draw.zy, 0, 0, 0, 1];
  let m = mul(mul(mul(rotation, translation(draw.tx, draw.ty)), shear), zoom);
  const ox = h / 2 - 0.5;
  const oy = w / 2 - 0.5;
  m = mul(mul(translation(ox, oy), m), translation(-ox, -oy));
  // Keras' M' = P M P: swap both the first two rows and the first two columns.
  const swapped: Mat3 = [
    m[4] as number, m[3] as number, m[5] as number,
    m[1] as number, m[0] as number, m[2] as number,
    0, 0, 1,
  ];
  // Keras mirrors the resampled image, so output (r, c) reads resampled (r, w-1-c) and so on.
  const flip: Mat3 = [
    draw.flipVertical ? -1 : 1, 0, draw.flipVertical ? h - 1 : 0,
    0, draw.flipHorizontal ? -1 : 1, draw.flipHorizontal ? w - 1 : 0,
    0, 0, 1,
  ];
  return mul(swapped, flip);
}

/** Maps an integer index into [0, n) by the half-sample mirror that scipy's `reflect` uses. */
function reflectIndex(i: number, n: number): number {
  const period = 2 * n;
  let k = i % period;
  if (k < 0) k += period;
  return k < n ? k : period - 1 - k;
}

/**
 * scipy's `wrap` for a coordinate: period `n - 1`, landing in [0, n - 1]; the interpolation
 * neighbour past `n - 1` then only ever carries weight 0.
 */
function wrapCoordinate(x: number, n: number): number {
  if (n <= 1) return 0;
  const period = n - 1;
  if (x < 0) return x + period * (Math.trunc(-x / period) + 1);
  if (x > period) return x - period * Math.trunc(x / period);
  return x;
}

/**
 * Resamples `image` through `matrix` (output `(row, col, 1)` to input, row-major 3x3) with
 * bilinear interpolation, as `scipy.ndimage.affine_transform(order=1, mode=fillMode)` does per
 * channel. Returns a new image of the same size.
 */
export function applyAffine(
  image: DecodedImage,
  matrix: readonly number[],
  fillMode: FillMode,
  cval = 0,
): DecodedImage {
  const { height: h, width: w, data: src } = image;
  if (src.length !== h * w * 3) {
    throw new UsageError(`image data holds ${src.length} values, expected ${h}x${w}x3 = ${h * w * 3}`);
  }
  if (matrix.length !== 9 || !matrix.every(Number.isFinite)) {
    throw new UsageError(`affine matrix must be 9 finite numbers, got ${JSON.stringify(matrix)}`);
  }
  if (!FILL_MODES.includes(fillMode)) {
    throw new UsageError(`fillMode must be one of ${FILL_MODES.join(', ')}, got ${String(fillMode)}`);
  }
  const [a00, a01, a02, a10, a11, a12] = matrix as [number, number, number, number, number, number];
  const out = new Float32Array(h * w * 3);
  const rowStride = w * 3;
  const maxY = h - 1;
  const maxX = w - 1;

  for (let r = 0; r < h; r++) {
    const baseY = a00 * r + a02;
    const baseX = a10 * r + a12;
    let o = r * rowStride;
    for (let c = 0; c < w; c++, o += 3) {
      let y = baseY + a01 * c;
      let x = baseX + a11 * c;
      if (y >= 0 && y < maxY && x >= 0 && x < maxX) {
        // Interior: all four neighbours exist, no mode applies.
        const y0 = y | 0;
        const x0 = x | 0;
        const fy = y - y0;
        const fx = x - x0;
        const p = y0 * rowStride + x0 * 3;
        const q = p + rowStride;
        for (let ch = 0; ch < 3; ch++) {
          const v00 = src[p + ch] as number;
          const v01 = src[p + 3 + ch] as number;
          const v10 = src[q + ch] as number;
          const v11 = src[q + 3 + ch] as number;
          const top = v00 + fx * (v01 - v00);
          const bottom = v10 + fx * (v11 - v10);
          out[o + ch] = top + fy * (bottom - top);
        }
        continue;
      }
      let y0: number, y1: number, x0: number, x1: number;
      if (fillMode === 'constant') {
        if (!(y >= 0 && y <= maxY && x >= 0 && x <= maxX)) {
          out[o] = cval;
          out[o + 1] = cval;
          out[o + 2] = cval;
          continue;
        }
      } else if (fillMode === 'nearest') {
        y = y < 0 ? 0 : y > maxY ? maxY : y;
        x = x < 0 ? 0 : x > maxX ? maxX : x;
      } else if (fillMode === 'wrap') {
        y = wrapCoordinate(y, h);
        x = wrapCoordinate(x, w);
      }
      y0 = Math.floor(y);
      x0 = Math.floor(x);
      const fy = y - y0;
      const fx = x - x0;
      if (fillMode === 'reflect') {
        y1 = reflectIndex(y0 + 1, h);
        x1 = reflectIndex(x0 + 1, w);
        y0 = reflectIndex(y0, h);
        x0 = reflectIndex(x0, w);
      } else {
        // y, x now lie in [0, size - 1]; a neighbour past the edge has weight 0.
        y1 = y0 < maxY ? y0 + 1 : maxY;
        x1 = x0 < maxX ? x0 + 1 : maxX;
      }
      const p0 = y0 * rowStride;
      const p1 = y1 * rowStride;
      for (let ch = 0; ch < 3; ch++) {
        const v00 = src[p0 + x0 * 3 + ch] as number;
        const v01 = src[p0 + x1 * 3 + ch] as number;
        const v10 = src[p1 + x0 * 3 + ch] as number;
        const v11 = src[p1 + x1 * 3 + ch] as number;
        const top = v00 + fx * (v01 - v00);
        const bottom = v10 + fx * (v11 - v10);
        out[o + ch] = top + fy * (bottom - top);
      }
    }
  }
  return { height: h, width: w, data: out };
}

function isIdentity(draw: AffineDraw): boolean {
  return (
    draw.theta === 0 &&
    draw.tx === 0 &&
    draw.ty === 0 &&
    draw.shear === 0 &&
    draw.zx === 1 &&
    draw.zy === 1 &&
    !draw.flipHorizontal &&
    !draw.flipVertical
  );
}

/**
 * One augmented view of `image`, reproducible from `(seed, imageKey, view)` alone whatever the
 * order images are processed in. View 0 is the plain image: `image` itself is returned, untouched.
 * An identity draw (e.g. from `NO_AUGMENTATION`) returns a copy without resampling, as Keras skips
 * the transform then.
 */
export function augmentImage(
  image: DecodedImage,
  params: AugmentParams,
  seed: number,
  imageKey: string,
  view: number,
): DecodedImage {
  if (!Number.isInteger(view) || view < 0) {
    throw new UsageError(`augmentation view must be an integer >= 0, got ${view}`);
  }
  if (view === 0) return image;
  const draw = sampleTransform(params, SeededRandom.keyed(seed, imageKey, view), image);
  if (isIdentity(draw)) return { height: image.height, width: image.width, data: image.data.slice() };
  return applyAffine(image, transformMatrix(draw, image), params.fillMode, params.cval ?? 0);
}
