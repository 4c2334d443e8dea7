import type { CropBox } from './base.js';

/**
 * Width over height of a CelebA aligned image (178x218, or the 89x109 half-size copies). The face
 * models were trained on tight, square face crops, so their crops are square in pixels on it.
 */
export const CELEBA_ALIGNED_ASPECT = 178 / 218;

/**
 * A centred crop `widthFraction` of the image wide and as many pixels high, on an image of
 * width/height `aspect`. Rounded to 4 decimals so the box reads cleanly in reports and cache keys.
 */
export function centreSquareCrop(widthFraction: number, aspect: number = CELEBA_ALIGNED_ASPECT): CropBox {
  const round = (v: number) => Math.round(v * 1e4) / 1e4;
  const width = widthFraction;
  const height = Math.min(1, widthFraction * aspect);
  return { top: round((1 - height) / 2), left: round((1 - width) / 2), height: round(height), width: round(width) };
}
