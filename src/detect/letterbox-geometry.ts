import type { PixelSource, Rgb8Image } from '../data/image.js';
import { resizeRgb } from '../data/resample.js';

/** A square detector input and where it came from: square pixel = image pixel · scale + offset. */
export interface Letterbox {
  /** size x size x 3 RGB, 0..255. */
  pixels: Uint8Array;
  size: number;
  scaleX: number;
  scaleY: number;
  offsetX: number;
  offsetY: number;
}

/** Where a width x height image sits in a `size` square: scaled to fit, centred, the rest black. */
export interface LetterboxPlacement {
  /** The image's size inside the square. */
  width: number;
  height: number;
  left: number;
  top: number;
}

export function letterboxPlacement(width: number, height: number, size: number): LetterboxPlacement {
  const scale = size / Math.max(width, height);
  const w = Math.max(1, Math.min(size, Math.round(width * scale)));
  const h = Math.max(1, Math.min(size, Math.round(height * scale)));
  return { width: w, height: h, left: Math.floor((size - w) / 2), top: Math.floor((size - h) / 2) };
}

/** Longest side of the one small decode a photo's letterboxes are made from: the largest detector input. */
export const SMALL_DECODE_SIDE = 384;

/** The size of that small copy of a width x height photo (sharp rounds the side it derives). */
export function smallDecodeSize(width: number, height: number): { width: number; height: number } {
  const side = Math.min(SMALL_DECODE_SIDE, Math.max(width, height));
  return width >= height ? { width: side, height: Math.max(1, Math.round((height * side) / width)) } : { width: Math.max(1, Math.round((width * side) / height)), height: side };
}

/** 8-bit RGB, what sharp takes as raw input. */
export function toRgb8(image: PixelSource): Uint8Array {
  if (image.data instanceof Uint8Array) return image.data;
  const out = new Uint8Array(image.data.length);
  for (let i = 0; i < out.length; i++) out[i] = image.data[i] as number;
  return out;
}

/**
 * `image` (showing a width x height photo, perhaps at another size) scaled into a `size` square,
 * centred, the rest black (what the detector's zero input means once scaled to [-1, 1]).
 * Squashing instead, as some ports do, changes a face's shape with the photo's aspect ratio. The
 * resize is data/resample.ts' (sharp's linear kernel reproduced), so Node and the browser page
 * give the detector the same bytes.
 */
export function letterboxRgb(image: Rgb8Image, width: number, height: number, size: number): Letterbox {
  const { width: w, height: h, left, top } = letterboxPlacement(width, height, size);
  const fitted = image.width === w && image.height === h ? image : resizeRgb(image, w, h);
  const pixels = new Uint8Array(size * size * 3);
  for (let y = 0; y < h; y++) pixels.set(fitted.data.subarray(y * w * 3, (y + 1) * w * 3), ((top + y) * size + left) * 3);
  return { pixels, size, scaleX: w / width, scaleY: h / height, offsetX: left, offsetY: top };
}
