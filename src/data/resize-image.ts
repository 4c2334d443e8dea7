import sharp from 'sharp';
import { UsageError } from '../errors.js';
import { cropPixels, type Interpolation } from './decode.js';
import type { CropBox, DecodedImage, ImageSize } from './image.js';

const KERNELS = { bilinear: 'linear', nearest: 'nearest', bicubic: 'cubic', lanczos: 'lanczos3' } as const satisfies Record<Interpolation, string>;

export interface ResizeOptions {
  /** Cut this part first, as fractions of the image (a base's `crop`). */
  crop?: CropBox;
  size: ImageSize;
  /** Default `bilinear`, as in decoding. */
  interpolation?: Interpolation;
}

/**
 * Crops and resizes an image already in memory with the same sharp steps `decodeImage` applies to
 * a file (extract, then a `fill` resize with the same kernel), so an aligned face reaches a base
 * exactly as a dataset image of the same pixels would.
 */
export async function resizeImage(image: DecodedImage, options: ResizeOptions): Promise<DecodedImage> {
  const { width, height, data } = image;
  if (data.length !== width * height * 3) throw new UsageError(`image data holds ${data.length} values, expected ${width}x${height}x3`);
  const bytes = Buffer.alloc(data.length);
  // Decoded images hold whole 0..255 values already; rounding keeps a round trip lossless.
  for (let i = 0; i < data.length; i++) bytes[i] = Math.min(255, Math.max(0, Math.round(data[i] as number)));
  let pipeline = sharp(bytes, { raw: { width, height, channels: 3 } });
  if (options.crop) pipeline = pipeline.extract(cropPixels(options.crop, { width, height }));
  pipeline = pipeline.resize(options.size.width, options.size.height, { fit: 'fill', kernel: KERNELS[options.interpolation ?? 'bilinear'] });
  const { data: out, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Float32Array(out) };
}
