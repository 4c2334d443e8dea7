import { ImageDecodeError, UsageError } from '../errors.js';
import type { ProgressFn } from '../util/progress.js';
import { decodeImage, type DecodeOptions } from './decode.js';
import type { DecodedImage, ImageBatch, ImageSize } from './image.js';

export interface ImageBatchOptions extends Omit<DecodeOptions, 'size'> {
  batchSize: number;
  /** Every image is stretched to this size; required because a batch is one [N, H, W, 3] block. */
  size: ImageSize;
  /** How many batches may be decoded ahead of the one the consumer is waiting for. Default 2. */
  prefetch?: number;
  /** Skip undecodable images (listed in `skipped`) instead of throwing the first one's error. */
  skipBad?: boolean;
  /** Reports `{ stage: 'decode', done, total }` in files (skipped ones included) as batches are handed out. */
  onProgress?: ProgressFn;
  /** Applied to each decoded image before packing (e.g. augmentation); must keep `size`. */
  transform?: (image: DecodedImage, index: number) => DecodedImage;
}

export interface ImageFileBatch {
  batch: ImageBatch;
  /** Position in the input list of each image in `batch`, in batch order. */
  indices: number[];
  /** The file of each image in `batch`, in batch order. */
  files: string[];
}

export interface SkippedImage {
  file: string;
  /** Position in the input list. */
  index: number;
  reason: string;
}

/**
 * An async iterator of batches. `skipped` grows, in input order, as batches are handed out, so
 * after the loop ends it lists every image that `skipBad` left out.
 */
export interface ImageBatchStream extends AsyncGenerator<ImageFileBatch, void, undefined> {
  readonly skipped: readonly SkippedImage[];
}

type Outcome = { ok: true; image: DecodedImage } | { ok: false; error: unknown };

/**
 * Decodes `files` into [N, H, W, 3] batches in input order. Files are cut into consecutive groups
 * of `batchSize`; with `skipBad` a group's batch holds only its good images (a group with none is
 * not yielded), so read `batch.n` and `indices` rather than assuming `batchSize`.
 *
 * While the consumer holds one batch, at most `prefetch` further groups are being decoded, so
 * memory stays at about (prefetch + 1) batches whatever the dataset size. Decodes within and
 * across groups run concurrently on libuv's pool, where sharp does its work.
 */
export function imageBatches(files: readonly string[], options: ImageBatchOptions): ImageBatchStream {
  // Checked here rather than in the generator so misuse fails at the call, not at the first pull.
  const { batchSize, size, prefetch = 2 } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`batch size must be a positive whole number, got ${batchSize}`);
  if (!Number.isInteger(prefetch) || prefetch < 0) throw new UsageError(`prefetch must be a whole number >= 0, got ${prefetch}`);
  if (!size || !Number.isInteger(size.width) || !Number.isInteger(size.height) || size.width < 1 || size.height < 1) {
    throw new UsageError(`batching needs a positive image size, got ${size ? `${size.width}x${size.height}` : 'none'}`);
  }
  const list = [...files];
  const skipped: SkippedImage[] = [];
  return Object.assign(generate(list, options, prefetch, skipped), { skipped });
}

async function* generate(
  files: string[],
  options: ImageBatchOptions,
  prefetch: number,
  skipped: SkippedImage[],
): AsyncGenerator<ImageFileBatch, void, undefined> {
  const { batchSize, size, skipBad = false, onProgress, transform } = options;
  const decodeOptions: DecodeOptions = {
    size,
    interpolation: options.interpolation,
    background: options.background,
    maxPixels: options.maxPixels,
    tolerateWarnings: options.tolerateWarnings,
    crop: options.crop,
  };
  const groups = Math.ceil(files.length / batchSize);

  // Outcomes never reject: a group decoded ahead and then abandoned (the consumer broke out of
  // its loop) must not surface as an unhandled rejection.
  const decodeGroup = (group: number): Promise<Outcome[]> => {
    const start = group * batchSize;
    const members = files.slice(start, start + batchSize);
    return Promise.all(
      members.map(async (file, k): Promise<Outcome> => {
        try {
          const image = await decodeImage(file, decodeOptions);
          return { ok: true, image: transform ? transform(image, start + k) : image };
        } catch (error) {
          return { ok: false, error };
        }
      }),
    );
  };

  const inFlight: Promise<Outcome[]>[] = [];
  let started = 0;
  for (let group = 0; group < groups; group++) {
    while (started < groups && started <= group + prefetch) inFlight.push(decodeGroup(started++));
    const outcomes = await (inFlight.shift() as Promise<Outcome[]>);

    const start = group * batchSize;
    const images: DecodedImage[] = [];
    const indices: number[] = [];
    outcomes.forEach((outcome, k) => {
      const index = start + k;
      const file = files[index] as string;
      if (outcome.ok) {
        images.push(outcome.image);
        indices.push(index);
      } else if (skipBad && outcome.error instanceof ImageDecodeError) {
        skipped.push({ file, index, reason: bareReason(outcome.error, file) });
      } else {
        throw outcome.error;
      }
    });

    onProgress?.({ stage: 'decode', done: Math.min(start + batchSize, files.length), total: files.length });
    if (images.length === 0) continue;
    yield { batch: pack(images, indices, files, size), indices, files: indices.map((i) => files[i] as string) };
  }
}

function pack(images: DecodedImage[], indices: number[], files: string[], size: ImageSize): ImageBatch {
  const stride = size.height * size.width * 3;
  const data = new Float32Array(images.length * stride);
  images.forEach((image, k) => {
    if (image.height !== size.height || image.width !== size.width || image.data.length !== stride) {
      throw new Error(
        `${files[indices[k] as number]}: transform returned ${image.width}x${image.height} (${image.data.length} values), expected ${size.width}x${size.height}x3`,
      );
    }
    data.set(image.data, k * stride);
  });
  return { n: images.length, height: size.height, width: size.width, data };
}

function bareReason(error: ImageDecodeError, file: string): string {
  const prefix = `${error.file ?? file}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}
