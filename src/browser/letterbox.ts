import type { Rgb8Image } from '../data/image.js';
import { letterboxRgb, smallDecodeSize, type Letterbox } from '../detect/letterbox-geometry.js';
import { resizeRgb } from '../data/resample.js';

/**
 * The detector's square inputs in the page, made as the Node photo path makes them
 * (detect/letterbox.ts): from one copy of the photo at most 384 px long, resized into the square
 * and padded with black.
 */

/** Letterboxes of a photo at any detector size, all cut from one small copy made on first use. */
export function photoLetterboxes(photo: Rgb8Image): (size: number) => Promise<Letterbox> {
  let small: Rgb8Image | undefined;
  return async (size) => {
    if (!small) {
      const s = smallDecodeSize(photo.width, photo.height);
      small = s.width === photo.width && s.height === photo.height ? photo : resizeRgb(photo, s.width, s.height);
    }
    return letterboxRgb(small, photo.width, photo.height, size);
  };
}
