import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { describeNonImage, sniffImageFormat } from '../data/sniff.js';
import { FacegenderError, ImageDecodeError } from '../errors.js';

export interface ThumbnailOptions {
  /** Box the thumbnail fits inside, keeping the image's aspect ratio. */
  width?: number;
  height?: number;
  /** JPEG quality, 1–100. */
  quality?: number;
  /** Images resized at once. */
  concurrency?: number;
}

/**
 * 64x78 at quality 70 is a CelebA face (89x109) at about 0.7 scale, around 2 KB: 750 of them
 * inlined as base64 stay near 2.5 MB, well inside the report's 10 MB budget.
 */
export const THUMBNAIL_DEFAULTS = { width: 64, height: 78, quality: 70, concurrency: 8 } as const;

export interface Thumbnail {
  /** `data:image/jpeg;base64,…`, to inline in the page. */
  dataUri: string;
  width: number;
  height: number;
  /** Size of the JPEG before base64. */
  bytes: number;
}

export async function makeThumbnail(file: string, options: ThumbnailOptions = {}): Promise<Thumbnail> {
  const { width, height, quality } = { ...THUMBNAIL_DEFAULTS, ...options };
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new ImageDecodeError(`cannot read image (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
  // Only raster formats: sharp would also render an SVG, which has no place among face images.
  if (!sniffImageFormat(bytes.subarray(0, 32))) throw new ImageDecodeError(describeNonImage(bytes.subarray(0, 32), bytes.length), file);
  try {
    const { data, info } = await sharp(bytes, { autoOrient: true })
      .resize({ width, height, fit: 'inside' })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality, mozjpeg: true })
      .toBuffer({ resolveWithObject: true });
    return { dataUri: `data:image/jpeg;base64,${data.toString('base64')}`, width: info.width, height: info.height, bytes: data.length };
  } catch (e) {
    throw new ImageDecodeError(`cannot make a thumbnail: ${(e as Error).message}`, file);
  }
}

export interface ThumbnailSet {
  /** By the file path given. */
  thumbnails: Map<string, Thumbnail>;
  /** Files that could not be read or decoded, with the reason; the page shows their names instead. */
  failed: Array<{ file: string; reason: string }>;
}

/** Thumbnails of many files, each made once, a few at a time. */
export async function makeThumbnails(files: Iterable<string>, options: ThumbnailOptions = {}): Promise<ThumbnailSet> {
  const unique = [...new Set(files)];
  const concurrency = options.concurrency ?? THUMBNAIL_DEFAULTS.concurrency;
  const thumbnails = new Map<string, Thumbnail>();
  const failed: ThumbnailSet['failed'] = [];
  let next = 0;
  const worker = async () => {
    while (next < unique.length) {
      const file = unique[next++] as string;
      try {
        thumbnails.set(file, await makeThumbnail(file, options));
      } catch (e) {
        if (!(e instanceof FacegenderError)) throw e;
        failed.push({ file, reason: e.message });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, unique.length)) }, worker));
  failed.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return { thumbnails, failed };
}
