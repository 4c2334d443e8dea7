import { open, readFile } from 'node:fs/promises';
import sharp, { type KernelEnum, type OutputInfo } from 'sharp';
import { ImageDecodeError, UsageError } from '../errors.js';
import type { CropBox, DecodedImage, ImageSize, Rgb8Image } from './image.js';
import { describeNonImage, sniffImageFormat } from './sniff.js';
import { cropPixels } from './crop-pixels.js';

export { cropPixels };

/**
 * Resampling used when an image is resized. `nearest` is what Keras' `flow_from_directory`
 * uses by default; `bilinear` is this project's default because nearest turns the 89x109 -> 224x224
 * upscale the bases need into visible blocks.
 */
export type Interpolation = 'bilinear' | 'nearest' | 'bicubic' | 'lanczos';

export const INTERPOLATIONS: readonly Interpolation[] = ['bilinear', 'nearest', 'bicubic', 'lanczos'];

/**
 * Colour that transparent pixels are composited onto.
 *
 * Keras loads images with PIL's `convert('RGB')`, which drops alpha and keeps whatever colour the
 * encoder stored under transparent pixels. That colour is arbitrary: most encoders and optimisers
 * write zeros there (so PIL shows black), others keep the original colour. Flattening onto a fixed
 * background gives the same pixels whatever the encoder did and matches PIL exactly in the common
 * zeroed case, hence the default `black`. Half-transparent pixels differ from PIL (which ignores
 * alpha entirely) either way.
 */
export type AlphaBackground = 'black' | 'white';

export interface DecodeOptions {
  /** Stretch to exactly this size, ignoring aspect ratio (Keras `target_size`). Omit for native size. */
  size?: ImageSize;
  /** Default `bilinear`. */
  interpolation?: Interpolation;
  /**
   * Cut this part of the (orientation-corrected) image before resizing, as fractions of its
   * height and width. Bases that were trained on tighter face crops than CelebA's use it.
   */
  crop?: CropBox;
  /** Default `black`. */
  background?: AlphaBackground;
  /** Largest accepted width * height of the stored image, against decompression bombs. Default 50,000,000. */
  maxPixels?: number;
  /**
   * Accept JPEGs on which libjpeg only warns (e.g. junk bytes before a marker, damaged entropy
   * data that decodes to garbage). Default false: such files are rejected, because PIL would
   * silently decode them and a classifier would train or predict on noise. Truncated files are
   * rejected either way.
   */
  tolerateWarnings?: boolean;
  /**
   * The image's embedded ICC profile is sRGB (probePhoto says so): its transform, which changes
   * no pixel, is skipped. It is most of a large JPEG's decode time.
   */
  srgbProfile?: boolean;
}

export const DEFAULT_MAX_PIXELS = 50_000_000;

/**
 * libvips kernel per interpolation. On upscaling libvips switches to its interpolators: `linear`
 * becomes bilinear and `cubic`/`lanczos3` both become bicubic, so `bicubic` and `lanczos` only
 * differ when shrinking. `cubic` is Catmull-Rom and `lanczos3` has a=3, the same kernels as PIL's
 * BICUBIC and LANCZOS.
 */
const KERNELS = {
  bilinear: 'linear',
  nearest: 'nearest',
  bicubic: 'cubic',
  lanczos: 'lanczos3',
} as const satisfies Record<Interpolation, keyof KernelEnum>;

const BACKGROUNDS: Record<AlphaBackground, { r: number; g: number; b: number }> = {
  black: { r: 0, g: 0, b: 0 },
  white: { r: 255, g: 255, b: 255 },
};

/** Decodes an image file to RGB HWC Float32 in 0..255. Errors are `ImageDecodeError`s naming the file. */
export async function decodeImage(file: string, options: DecodeOptions = {}): Promise<DecodedImage> {
  checkOptions(options);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new ImageDecodeError(`cannot read file: ${(err as Error).message}`, file);
  }
  return asFloats(await decodeChecked(bytes, file, options));
}

function asFloats({ width, height, data }: Rgb8Image): DecodedImage {
  return { width, height, data: new Float32Array(data) };
}

/**
 * Decodes image bytes held in memory (e.g. an upload); `name` is only used in error messages.
 */
export async function decodeImageBuffer(bytes: Uint8Array, name: string, options: DecodeOptions = {}): Promise<DecodedImage> {
  checkOptions(options);
  return asFloats(await decodeChecked(bytes, name, options));
}

/** decodeImageBuffer's pixels as bytes: for a photo searched for faces, converting millions of pixels to floats costs more than decoding them. */
export async function decodeImageBytes(bytes: Uint8Array, name: string, options: DecodeOptions = {}): Promise<Rgb8Image> {
  checkOptions(options);
  return decodeChecked(bytes, name, options);
}

/**
 * Width and height as displayed, i.e. after EXIF orientation. Reads only the header, so it is
 * cheap even for huge images and applies no pixel limit.
 */
export async function imageDimensions(file: string): Promise<ImageSize> {
  let head: Buffer;
  let size: number;
  try {
    const handle = await open(file, 'r');
    try {
      size = (await handle.stat()).size;
      head = Buffer.alloc(Math.min(size, 32));
      await handle.read(head, 0, head.length, 0);
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw new ImageDecodeError(`cannot read file: ${(err as Error).message}`, file);
  }
  const format = sniffImageFormat(head);
  if (!format) throw new ImageDecodeError(describeNonImage(head, size), file);
  try {
    return await displayedSize(file);
  } catch (err) {
    throw new ImageDecodeError(`truncated or corrupt ${format.toUpperCase()}: ${sharpMessage(err)}`, file);
  }
}

async function decodeChecked(bytes: Uint8Array, name: string, options: DecodeOptions): Promise<Rgb8Image> {
  // The magic-byte check doubles as an allow-list: sharp would also parse SVG and other text
  // formats, which have no place in a face dataset or an upload.
  const format = sniffImageFormat(bytes.subarray(0, 32));
  if (!format) throw new ImageDecodeError(describeNonImage(bytes.subarray(0, 32), bytes.length), name);

  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const background = BACKGROUNDS[options.background ?? 'black'];
  let pipeline = sharp(bytes, {
    // sharp checks the header's dimensions before allocating anything, so a bomb costs nothing.
    limitInputPixels: maxPixels,
    failOn: options.tolerateWarnings ? 'error' : 'warning',
    // Keras (PIL) ignores EXIF orientation; phone photos sent to the server would then arrive
    // sideways. The CelebA JPEGs carry no EXIF, so training data is unaffected.
    autoOrient: true,
    ...(options.srgbProfile ? { ignoreIcc: true } : {}),
  })
    .flatten({ background })
    // Grey becomes three equal channels, CMYK goes through an ICC transform, and 16-bit samples
    // keep their high byte (as PIL does for 16-bit RGB PNGs). Embedded ICC profiles are honoured,
    // which PIL does not do; CelebA-style JPEGs carry none, so this only matters for uploads.
    .toColourspace('srgb');
  if (options.crop) {
    let shown: ImageSize;
    try {
      shown = await displayedSize(bytes);
    } catch (err) {
      throw new ImageDecodeError(`truncated or corrupt ${format.toUpperCase()}: ${sharpMessage(err)}`, name);
    }
    pipeline = pipeline.extract(cropPixels(options.crop, shown));
  }
  if (options.size) {
    pipeline = pipeline.resize(options.size.width, options.size.height, {
      fit: 'fill',
      kernel: KERNELS[options.interpolation ?? 'bilinear'],
      // JPEG shrink-on-load decodes at a reduced DCT scale, which gives different pixels than a
      // full decode followed by the requested kernel.
      fastShrinkOnLoad: false,
    });
  }

  let data: Buffer;
  let info: OutputInfo;
  try {
    ({ data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true }));
  } catch (err) {
    throw new ImageDecodeError(await explainFailure(err, bytes, format, maxPixels), name);
  }
  if (info.channels !== 3) {
    throw new ImageDecodeError(`decoded to ${info.channels} channels instead of 3 (colour space not supported)`, name);
  }
  return { height: info.height, width: info.width, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

async function explainFailure(err: unknown, bytes: Uint8Array, format: string, maxPixels: number): Promise<string> {
  const message = sharpMessage(err);
  if (/exceeds pixel limit/i.test(message)) {
    try {
      const { width, height } = await sharp(bytes, { limitInputPixels: false }).metadata();
      return `image is ${width}x${height} = ${width * height} pixels, over the limit of ${maxPixels}`;
    } catch {
      return `image is over the limit of ${maxPixels} pixels`;
    }
  }
  return `truncated or corrupt ${format.toUpperCase()}: ${message}`;
}

/** libvips repeats the same line once per failed attempt; one copy of each is enough. */
function sharpMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines = [...new Set(text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0))];
  return lines.join('; ');
}

async function displayedSize(input: string | Uint8Array): Promise<ImageSize> {
  const meta = await sharp(input, { limitInputPixels: false }).metadata();
  return { width: meta.autoOrient.width, height: meta.autoOrient.height };
}

function checkOptions(options: DecodeOptions): void {
  const { size, interpolation, background, maxPixels, crop } = options;
  if (crop) {
    const { top, left, height, width } = crop;
    const ok = [top, left, height, width].every((v) => Number.isFinite(v) && v >= 0 && v <= 1) && height > 0 && width > 0 && top + height <= 1 + 1e-9 && left + width <= 1 + 1e-9;
    if (!ok) throw new UsageError(`crop must be fractions inside the image, got top ${top}, left ${left}, height ${height}, width ${width}`);
  }
  if (size && !(isPositiveInt(size.width) && isPositiveInt(size.height))) {
    throw new UsageError(`image size must be positive whole numbers, got ${size.width}x${size.height}`);
  }
  if (interpolation !== undefined && !INTERPOLATIONS.includes(interpolation)) {
    throw new UsageError(`unknown interpolation '${interpolation}' (expected one of ${INTERPOLATIONS.join(', ')})`);
  }
  if (background !== undefined && !(background in BACKGROUNDS)) {
    throw new UsageError(`unknown background '${background}' (expected black or white)`);
  }
  if (maxPixels !== undefined && !isPositiveInt(maxPixels)) {
    throw new UsageError(`maxPixels must be a positive whole number, got ${maxPixels}`);
  }
}

function isPositiveInt(n: number): boolean {
  return Number.isInteger(n) && n > 0;
}
