import type { PixelSource } from '../data/image.js';

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
