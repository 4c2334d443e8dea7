import sharp from 'sharp';
import { ImageDecodeError, UsageError } from '../errors.js';
import { decodeImageBuffer, decodeImageBytes, DEFAULT_MAX_PIXELS, type DecodeOptions } from './decode.js';
import type { DecodedImage, ImageSize, Rgb8Image } from './image.js';
import { isSrgbProfile } from './icc.js';
import { describeNonImage, sniffImageFormat, type ImageFormat } from './sniff.js';

/** The bytes are not an image of a supported format (judged by their content, not a name or header). */
export class NotAnImageError extends ImageDecodeError {}
/** The image declares more pixels than allowed: a decompression bomb, or simply too large. */
export class ImageTooLargeError extends ImageDecodeError {}

/**
 * Longest side a photo is decoded at before face detection. The detector works at 512 px and an
 * aligned face is 178x218 at most, so more pixels only cost memory (a 24-megapixel photo would
 * take 290 MB as floats); 1600 px keeps faces down to ~1/12 of a group photo's width detectable.
 */
export const DEFAULT_PHOTO_MAX_SIDE = 1600;

export interface ReadPhotoOptions {
  /** Largest accepted width × height as stored. Default 50,000,000, as for decoding. */
  maxPixels?: number;
  /** Longest side of the decoded copy; larger photos are shrunk to it. Default 1600. */
  maxSide?: number;
}

export interface Photo<T extends ImageSize = DecodedImage> {
  format: ImageFormat;
  /** The photo's size as displayed (after EXIF orientation). */
  size: ImageSize;
  /** The decoded copy, at most `maxSide` on its longest side. */
  image: T;
  /** Original pixels per decoded pixel (≥ 1): multiply decoded coordinates by it to report them. */
  scale: number;
}

/**
 * Decodes a photo held in memory for face detection. The format comes from the first bytes, the
 * pixel count from the header, both before any pixel is decoded, so a non-image or a bomb costs
 * nothing. Other failures (truncated, corrupt) are plain `ImageDecodeError`s naming `name`.
 */
/**
 * Format (from the first bytes) and displayed size (from the header), with the pixel limit
 * applied, before any pixel is decoded: a non-image or a bomb costs nothing.
 */
export async function probePhoto(bytes: Uint8Array, name: string, maxPixels: number = DEFAULT_MAX_PIXELS): Promise<{ format: ImageFormat; size: ImageSize; srgbProfile: boolean }> {
  if (!(Number.isInteger(maxPixels) && maxPixels > 0)) throw new UsageError(`maxPixels must be a positive whole number, got ${maxPixels}`);
  const format = sniffImageFormat(bytes.subarray(0, 32));
  if (!format) throw new NotAnImageError(describeNonImage(bytes.subarray(0, 32), bytes.length), name);
  let size: ImageSize;
  let srgbProfile: boolean;
  try {
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    size = { width: meta.autoOrient.width, height: meta.autoOrient.height };
    srgbProfile = isSrgbProfile(meta.icc);
  } catch (err) {
    throw new ImageDecodeError(`truncated or corrupt ${format.toUpperCase()}: ${(err as Error).message.split('\n')[0]}`, name);
  }
  const pixels = size.width * size.height;
  if (!(pixels > 0)) throw new ImageDecodeError(`${format.toUpperCase()} header gives no size`, name);
  if (pixels > maxPixels) throw new ImageTooLargeError(`image is ${size.width}x${size.height} = ${pixels} pixels, over the limit of ${maxPixels}`, name);
  return { format, size, srgbProfile };
}

/**
 * Decodes a photo held in memory for face detection, after {@link probePhoto}'s checks. Other
 * failures (truncated, corrupt) are plain `ImageDecodeError`s naming `name`.
 */
export async function readPhoto(bytes: Uint8Array, name: string, options: ReadPhotoOptions = {}): Promise<Photo> {
  return settled(openAs(bytes, name, options, DEFAULT_PHOTO_MAX_SIDE, decodeImageBuffer));
}

/**
 * Longest side of a photo decoded as bytes (openPhotoBytes). A 1920 px photo is decoded whole:
 * resizing costs more than decoding, and faces are then cut at full resolution.
 */
export const DEFAULT_PHOTO_BYTES_MAX_SIDE = 4096;

/** A photo whose header has been read and whose pixels are still decoding. */
export interface OpeningPhoto<T extends ImageSize> extends Omit<Photo<T>, 'image'> {
  /** The size `image` will have. */
  decodedSize: ImageSize;
  /** The photo's embedded ICC profile is sRGB, so its decodes skip the transform (DecodeOptions.srgbProfile). */
  srgbProfile: boolean;
  image: Promise<T>;
}

/**
 * Decodes a photo as bytes (RGB 0..255), at most 4096 px by default, for the photo path. It
 * returns once the header is read, with the decode running, so a caller can start on the photo
 * (the face detector's small inputs) while its pixels decode.
 */
export async function openPhotoBytes(bytes: Uint8Array, name: string, options: ReadPhotoOptions = {}): Promise<OpeningPhoto<Rgb8Image>> {
  return openAs(bytes, name, options, DEFAULT_PHOTO_BYTES_MAX_SIDE, decodeImageBytes);
}

async function openAs<T extends ImageSize>(
  bytes: Uint8Array,
  name: string,
  options: ReadPhotoOptions,
  defaultMaxSide: number,
  decode: (b: Uint8Array, n: string, o: DecodeOptions) => Promise<T>,
): Promise<OpeningPhoto<T>> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxSide = options.maxSide ?? defaultMaxSide;
  if (!(Number.isInteger(maxSide) && maxSide >= 16)) throw new UsageError(`maxSide must be a whole number ≥ 16, got ${maxSide}`);
  const { format, size, srgbProfile } = await probePhoto(bytes, name, maxPixels);
  const scale = Math.max(1, Math.max(size.width, size.height) / maxSide);
  const target = scale > 1 ? { width: Math.max(1, Math.round(size.width / scale)), height: Math.max(1, Math.round(size.height / scale)) } : undefined;
  const image = decode(bytes, name, { maxPixels, srgbProfile, ...(target ? { size: target } : {}) });
  // Awaited by whoever needs the pixels; this keeps a failed decode from being reported as unhandled meanwhile.
  image.catch(() => undefined);
  return { format, size, srgbProfile, decodedSize: target ?? size, image, scale: target ? size.width / target.width : 1 };
}

/** The photo once its pixels are decoded. */
async function settled<T extends ImageSize>(opening: Promise<OpeningPhoto<T>>): Promise<Photo<T>> {
  const { image, decodedSize: _, srgbProfile: __, ...rest } = await opening;
  return { ...rest, image: await image };
}
