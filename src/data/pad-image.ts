import { UsageError } from '../errors.js';
import type { DecodedImage, PixelSource } from './image.js';

/** How an added border is filled: black, or the edge pixels repeated. */
export type BorderFill = 'black' | 'edge';

/**
 * Adds `pad` pixels on every side. Face detectors miss faces that touch the image's edges (a
 * CelebA aligned crop is one); a border of repeated edge pixels gives them context without
 * adding a hard black frame.
 */
export function padImage(image: PixelSource, pad: number, fill: BorderFill): DecodedImage {
  if (!(Number.isInteger(pad) && pad >= 0)) throw new UsageError(`padding must be a whole number ≥ 0, got ${pad}`);
  if (pad === 0) return image.data instanceof Float32Array ? (image as DecodedImage) : { width: image.width, height: image.height, data: Float32Array.from(image.data) };
  const { height, width, data } = image;
  const h = height + 2 * pad;
  const w = width + 2 * pad;
  const out = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++) {
    const sy = y - pad;
    const inside = sy >= 0 && sy < height;
    if (!inside && fill === 'black') continue;
    const srcRow = Math.min(height - 1, Math.max(0, sy));
    for (let x = 0; x < w; x++) {
      const sx = x - pad;
      if (fill === 'black' && (sx < 0 || sx >= width)) continue;
      const src = (srcRow * width + Math.min(width - 1, Math.max(0, sx))) * 3;
      const dst = (y * w + x) * 3;
      out[dst] = data[src] as number;
      out[dst + 1] = data[src + 1] as number;
      out[dst + 2] = data[src + 2] as number;
    }
  }
  return { height: h, width: w, data: out };
}
