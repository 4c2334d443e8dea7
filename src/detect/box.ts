import type { ImageSize } from '../data/image.js';

/** A rectangle in pixels of an image; fractional where face-api keeps it fractional. */
export interface PixelBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A face box in whole pixels of the image the detector saw, as face-api's extractFaceTensors cuts it. */
export interface FaceBox extends PixelBox {
  score: number;
}

/** face-api's `Box.clipAtImageBorders`: clipped to the image, then each number floored. */
export function clipToImage(box: PixelBox, width: number, height: number): PixelBox {
  const x = Math.max(box.x, 0);
  const y = Math.max(box.y, 0);
  const w = Math.min(box.x + box.width - x, width - x);
  const h = Math.min(box.y + box.height - y, height - y);
  return { x: Math.floor(x), y: Math.floor(y), width: Math.floor(w), height: Math.floor(h) };
}

/**
 * A box found in an image padded by `pad` pixels on every side, in pixels of the original image,
 * clipped to it; null when most of it lies in the added border (the border's texture, not a face).
 */
export function unpadBox(box: FaceBox, pad: number, size: ImageSize): FaceBox | null {
  const clipped = clipToImage({ x: box.x - pad, y: box.y - pad, width: box.width, height: box.height }, size.width, size.height);
  if (clipped.width <= 0 || clipped.height <= 0 || clipped.width * clipped.height < 0.5 * box.width * box.height) return null;
  return { score: box.score, ...clipped };
}
