import type { CropBox, ImageSize } from './image.js';

/** The crop box in whole pixels, at least one pixel and inside the image. */
export function cropPixels(crop: CropBox, size: ImageSize): { left: number; top: number; width: number; height: number } {
  const left = Math.min(size.width - 1, Math.round(crop.left * size.width));
  const top = Math.min(size.height - 1, Math.round(crop.top * size.height));
  const width = Math.max(1, Math.min(size.width - left, Math.round(crop.width * size.width)));
  const height = Math.max(1, Math.min(size.height - top, Math.round(crop.height * size.height)));
  return { left, top, width, height };
}
