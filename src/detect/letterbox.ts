import sharp, { type OutputInfo, type Sharp } from 'sharp';
import { letterboxPlacement, SMALL_DECODE_SIDE, toRgb8, type Letterbox } from './letterbox-geometry.js';

export { toRgb8, type Letterbox };


/**
 * The image scaled to fit a `size` square, centred, the rest black (what the detector's zero
 * input means once scaled to [-1, 1]). Squashing instead, as some ports do, changes a face's
 * shape with the photo's aspect ratio.
 */
export async function letterbox(rgb: Uint8Array, width: number, height: number, size: number): Promise<Letterbox> {
  return letterboxFrom(sharp(rgb, { raw: { width, height, channels: 3 } }), width, height, size, false);
}

/**
 * Letterboxes made from a photo's compressed bytes, for coordinates in an image of `width` x
 * `height` showing that photo (possibly decoded at another size). The photo is decoded once,
 * small: sharp shrinks a JPEG while decoding it, so this costs a fraction of a full decode, and
 * every detector size is cut from that copy.
 */
export function letterboxesFromBytes(bytes: Uint8Array, width: number, height: number): (size: number) => Promise<Letterbox> {
  let small: Promise<{ data: Buffer; info: OutputInfo }> | undefined;
  return async (size) => {
    const side = Math.min(SMALL_DECODE_SIDE, Math.max(width, height));
    small ??= sharp(bytes, { autoOrient: true })
      .removeAlpha()
      .toColourspace('srgb')
      .resize(width >= height ? side : null, width >= height ? null : side, { kernel: 'linear' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const { data, info } = await small;
    return letterboxFrom(sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } }), width, height, size, true);
  };
}

async function letterboxFrom(source: Sharp, width: number, height: number, size: number, alwaysResize: boolean): Promise<Letterbox> {
  const { width: w, height: h, left, top } = letterboxPlacement(width, height, size);
  let pipeline = source;
  if (alwaysResize || w !== width || h !== height) pipeline = pipeline.resize(w, h, { fit: 'fill', kernel: 'linear' });
  if (w !== size || h !== size) pipeline = pipeline.extend({ left, top, right: size - w - left, bottom: size - h - top, background: { r: 0, g: 0, b: 0 } });
  const { data } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  return { pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), size, scaleX: w / width, scaleY: h / height, offsetX: left, offsetY: top };
}
