import { UsageError } from '../errors.js';
import type { DecodedImage, ImageSize, PixelSource } from './image.js';

/**
 * Cuts a face out of a photo the way CelebA's aligned images are framed, so a classifier trained
 * on those images sees a detected face as it saw its training data.
 *
 * CelebA made its aligned images by a similarity transform (rotation, uniform scale, shift) that
 * puts five landmarks (eye centres, nose tip, mouth corners) on fixed spots of a 178x218 frame;
 * the frame keeps the hair, ears and some background. Here the same five points come from the
 * 68-point landmarks, a least-squares similarity maps them onto {@link CELEBA_FACE_TEMPLATE}, and
 * the photo is resampled into the frame.
 */

export interface Point {
  x: number;
  y: number;
}

/** CelebA's aligned frame. The dataset here is a half-size copy (89x109) of the same framing. */
export const CELEBA_FRAME: ImageSize = { width: 178, height: 218 };

/** Five face points in the order of {@link fivePoints}. */
export type FivePoints = [leftEye: Point, rightEye: Point, nose: Point, mouthLeft: Point, mouthRight: Point];

/**
 * Where the five points sit in CelebA's frame, as fractions of its width and height ("left" is
 * the image's left, i.e. the person's right eye).
 *
 * Measured with `npx tsx bench/face-framing.ts`: face-api's 68-point landmarks on 1000
 * celeba-10k images (the first 500 female and 500 male), each upscaled to 178x218 and padded by
 * 64 px of repeated edge pixels so the detector finds the tight crops; 958 faces were found.
 * Per-point medians (spread: standard deviation over the images):
 *
 * | point | x | y | sd x | sd y |
 * |---|---|---|---|---|
 * | left eye centre | 0.3850 | 0.5099 | 0.011 | 0.006 |
 * | right eye centre | 0.6006 | 0.5115 | 0.010 | 0.006 |
 * | nose tip | 0.4924 | 0.6212 | 0.036 | 0.020 |
 * | mouth, left corner | 0.4037 | 0.6975 | 0.017 | 0.008 |
 * | mouth, right corner | 0.5848 | 0.6995 | 0.016 | 0.008 |
 *
 * The template keeps the medians' x (every point sits about 0.007 left of the centre line, the
 * same for eyes, nose and mouth, so it is how this detector sees CelebA's frame, whichever of the
 * two causes it) and gives each pair its mean y, so aligned eyes and mouths are level (the raw
 * medians tilt by 0.5°). The eyes are 0.216 of the width apart, at 0.511 of the height.
 */
export const CELEBA_FACE_TEMPLATE: FivePoints = [
  { x: 0.385, y: 0.5107 },
  { x: 0.6006, y: 0.5107 },
  { x: 0.4924, y: 0.6212 },
  { x: 0.4037, y: 0.6985 },
  { x: 0.5848, y: 0.6985 },
];

/** Indices of the 68-point (iBUG) scheme used here. */
const LEFT_EYE = [36, 37, 38, 39, 40, 41];
const RIGHT_EYE = [42, 43, 44, 45, 46, 47];
const NOSE_TIP = 30;
const MOUTH_LEFT = 48;
const MOUTH_RIGHT = 54;

function mean(points: readonly Point[], indices: readonly number[]): Point {
  let x = 0;
  let y = 0;
  for (const i of indices) {
    const p = points[i] as Point;
    x += p.x;
    y += p.y;
  }
  return { x: x / indices.length, y: y / indices.length };
}

/** Eye centres, nose tip and mouth corners from 68 landmarks, or the five themselves. */
export function fivePoints(landmarks: readonly Point[]): FivePoints {
  if (landmarks.length === 5) return [...landmarks] as FivePoints;
  if (landmarks.length !== 68) throw new UsageError(`expected 5 or 68 face landmarks, got ${landmarks.length}`);
  return [mean(landmarks, LEFT_EYE), mean(landmarks, RIGHT_EYE), landmarks[NOSE_TIP] as Point, landmarks[MOUTH_LEFT] as Point, landmarks[MOUTH_RIGHT] as Point];
}

/** x' = a·x − b·y + tx, y' = b·x + a·y + ty: rotation by atan2(b, a), scale hypot(a, b), then a shift. */
export interface Similarity {
  a: number;
  b: number;
  tx: number;
  ty: number;
}

export function applySimilarity(s: Similarity, p: Point): Point {
  return { x: s.a * p.x - s.b * p.y + s.tx, y: s.b * p.x + s.a * p.y + s.ty };
}

export function invertSimilarity(s: Similarity): Similarity {
  const d = s.a * s.a + s.b * s.b;
  if (!(d > 0)) throw new UsageError('cannot invert a similarity of scale 0');
  const a = s.a / d;
  const b = -s.b / d;
  return { a, b, tx: -(a * s.tx - b * s.ty), ty: -(b * s.tx + a * s.ty) };
}

/** Scale factor and rotation (degrees, counter-clockwise in image coordinates where y points down). */
export function describeSimilarity(s: Similarity): { scale: number; degrees: number } {
  return { scale: Math.hypot(s.a, s.b), degrees: (Math.atan2(s.b, s.a) * 180) / Math.PI };
}

/**
 * The similarity that maps `from` onto `to` with the least squared error (no reflection).
 * Closed form: centre both sets; a and b are the normalised dot and cross products.
 */
export function fitSimilarity(from: readonly Point[], to: readonly Point[]): Similarity {
  if (from.length !== to.length || from.length < 2) throw new UsageError(`need the same number (≥ 2) of points on both sides, got ${from.length} and ${to.length}`);
  const n = from.length;
  const fc = mean(from, from.map((_, i) => i));
  const tc = mean(to, to.map((_, i) => i));
  let dot = 0;
  let cross = 0;
  let norm = 0;
  for (let i = 0; i < n; i++) {
    const fx = (from[i] as Point).x - fc.x;
    const fy = (from[i] as Point).y - fc.y;
    const tx = (to[i] as Point).x - tc.x;
    const ty = (to[i] as Point).y - tc.y;
    dot += fx * tx + fy * ty;
    cross += fx * ty - fy * tx;
    norm += fx * fx + fy * fy;
  }
  if (!(norm > 0)) throw new UsageError('the source points all coincide');
  const a = dot / norm;
  const b = cross / norm;
  return { a, b, tx: tc.x - (a * fc.x - b * fc.y), ty: tc.y - (b * fc.x + a * fc.y) };
}

/**
 * The similarity from photo pixels to pixels of an aligned frame of `size`. `template` holds where
 * the landmarks sit in CelebA's frame (fractions); by default the five points of
 * CELEBA_FACE_TEMPLATE, taken from 68 landmarks when 68 are given. A detector whose points are
 * placed differently (BlazeFace's eyes sit lower than the 68-point net's) brings its own.
 */
export function celebaAlignment(landmarks: readonly Point[], size: ImageSize = CELEBA_FRAME, template: readonly Point[] = CELEBA_FACE_TEMPLATE): Similarity {
  const target = template.map((p) => ({ x: p.x * size.width, y: p.y * size.height }));
  return fitSimilarity(landmarks.length === template.length ? landmarks : fivePoints(landmarks), target);
}

/**
 * Resamples `image` into a `size` frame: output pixel (u, v) shows the photo at
 * `outToImage(u + 0.5, v + 0.5) − 0.5` (pixel centres). Bilinear, with the photo's edge pixels
 * repeated outside it. When the frame is smaller than the face in the photo, each output pixel
 * averages a k×k grid of bilinear samples (k = ceil(scale / 2)) so a large face is not aliased.
 */
export function warpSimilarity(image: PixelSource, outToImage: Similarity, size: ImageSize, options: { supersample?: boolean } = {}): DecodedImage {
  const { width: W, height: H, data } = image;
  if (!(Number.isInteger(size.width) && size.width > 0 && Number.isInteger(size.height) && size.height > 0)) {
    throw new UsageError(`frame size must be positive whole numbers, got ${size.width}x${size.height}`);
  }
  const out = new Float32Array(size.width * size.height * 3);
  // Each bilinear tap already spans two pixels, so ceil(scale / 2) taps per axis cover a pixel's footprint.
  const k = options.supersample === false ? 1 : Math.max(1, Math.min(8, Math.ceil(Math.hypot(outToImage.a, outToImage.b) / 2 - 1e-6)));
  const { a, b, tx, ty } = outToImage;
  const inv = 1 / (k * k);
  const maxX = W - 1;
  const maxY = H - 1;
  // The inner loop runs for every sample of every face a photo holds; it is written flat (no
  // closures, no allocation) because it is a large share of a photo's time.
  for (let v = 0; v < size.height; v++) {
    for (let u = 0; u < size.width; u++) {
      let r = 0;
      let g = 0;
      let bl = 0;
      for (let sy = 0; sy < k; sy++) {
        const py = v + (sy + 0.5) / k;
        for (let sx = 0; sx < k; sx++) {
          const px = u + (sx + 0.5) / k;
          let x = a * px - b * py + tx - 0.5;
          let y = b * px + a * py + ty - 0.5;
          x = x < 0 ? 0 : x > maxX ? maxX : x;
          y = y < 0 ? 0 : y > maxY ? maxY : y;
          const x0 = x | 0;
          const y0 = y | 0;
          const x1 = x0 < maxX ? x0 + 1 : maxX;
          const y1 = y0 < maxY ? y0 + 1 : maxY;
          const fx = x - x0;
          const fy = y - y0;
          const w00 = (1 - fx) * (1 - fy);
          const w01 = fx * (1 - fy);
          const w10 = (1 - fx) * fy;
          const w11 = fx * fy;
          const i00 = (y0 * W + x0) * 3;
          const i01 = (y0 * W + x1) * 3;
          const i10 = (y1 * W + x0) * 3;
          const i11 = (y1 * W + x1) * 3;
          r += (data[i00] as number) * w00 + (data[i01] as number) * w01 + (data[i10] as number) * w10 + (data[i11] as number) * w11;
          g += (data[i00 + 1] as number) * w00 + (data[i01 + 1] as number) * w01 + (data[i10 + 1] as number) * w10 + (data[i11 + 1] as number) * w11;
          bl += (data[i00 + 2] as number) * w00 + (data[i01 + 2] as number) * w01 + (data[i10 + 2] as number) * w10 + (data[i11 + 2] as number) * w11;
        }
      }
      const o = (v * size.width + u) * 3;
      out[o] = r * inv;
      out[o + 1] = g * inv;
      out[o + 2] = bl * inv;
    }
  }
  return { width: size.width, height: size.height, data: out };
}

export interface AlignedFace {
  /** The face in CelebA's framing, at `size`. */
  image: DecodedImage;
  /** Photo pixels → frame pixels. */
  toFrame: Similarity;
  /** How far the photo was turned to level the eyes (degrees) and by how much it was scaled. */
  degrees: number;
  scale: number;
}

/** The face with these landmarks (see celebaAlignment), cut from `image` in CelebA's framing at `size` (default 178x218). */
export function alignFace(image: PixelSource, landmarks: readonly Point[], size: ImageSize = CELEBA_FRAME, template?: readonly Point[]): AlignedFace {
  const toFrame = celebaAlignment(landmarks, size, template);
  const warped = warpSimilarity(image, invertSimilarity(toFrame), size);
  const { scale, degrees } = describeSimilarity(toFrame);
  return { image: warped, toFrame, degrees, scale };
}
