import sharp, { type OutputInfo } from 'sharp';
import { letterboxRgb, SMALL_DECODE_SIDE, toRgb8, type Letterbox } from './letterbox-geometry.js';

export { toRgb8, type Letterbox };

/** The image scaled to fit a `size` square (letterbox-geometry.ts' letterboxRgb). */
export async function letterbox(rgb: Uint8Array, width: number, height: number, size: number): Promise<Letterbox> {
  return letterboxRgb({ width, height, data: rgb }, width, height, size);
}

/**
 * Letterboxes made from a photo's compressed bytes, for coordinates in an image of `width` x
 * `height` showing that photo (possibly decoded at another size). The photo is decoded once,
 * small: sharp shrinks a JPEG while decoding it, so this costs a fraction of a full decode, and
 * every detector size is cut from that copy (in TypeScript, as the browser page does).
 * `srgbProfile`: the photo's ICC profile is sRGB, and its no-op transform is skipped.
 */
export function letterboxesFromBytes(bytes: Uint8Array, width: number, height: number, options: { srgbProfile?: boolean } = {}): (size: number) => Promise<Letterbox> {
  let small: Promise<{ data: Buffer; info: OutputInfo }> | undefined;
  return async (size) => {
    const side = Math.min(SMALL_DECODE_SIDE, Math.max(width, height));
    small ??= sharp(bytes, { autoOrient: true, ...(options.srgbProfile ? { ignoreIcc: true } : {}) })
      .removeAlpha()
      .toColourspace('srgb')
      .resize(width >= height ? side : null, width >= height ? null : side, { kernel: 'linear' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const { data, info } = await small;
    return letterboxRgb({ width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }, width, height, size);
  };
}
