import type { Rgb8Image } from '../data/image.js';
import { letterboxPlacement, smallDecodeSize, type Letterbox } from '../detect/letterbox-geometry.js';
import { resizeRgb } from './resample.js';

/**
 * The detector's square inputs in the page, made as the Node photo path makes them
 * (detect/letterbox.ts): from one copy of the photo at most 384 px long, resized into the square
 * and padded with black.
 */

/** `image` (showing a width x height photo, perhaps smaller) scaled into a `size` square, centred, the rest black. */
export function letterboxRgb(image: Rgb8Image, width: number, height: number, size: number): Letterbox {
  const { width: w, height: h, left, top } = letterboxPlacement(width, height, size);
  const fitted = image.width === w && image.height === h ? image : resizeRgb(image, w, h);
  const pixels = new Uint8Array(size * size * 3);
  for (let y = 0; y < h; y++) pixels.set(fitted.data.subarray(y * w * 3, (y + 1) * w * 3), ((top + y) * size + left) * 3);
  return { pixels, size, scaleX: w / width, scaleY: h / height, offsetX: left, offsetY: top };
}

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
