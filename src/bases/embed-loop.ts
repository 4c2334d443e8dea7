import * as tf from '@tensorflow/tfjs-core';
import type { ImageBatch, ImageSize } from '../data/image.js';
import { UsageError, WeightsError } from '../errors.js';

/** Images per forward pass unless a base is told otherwise; bounds memory on large batches. */
export const DEFAULT_MAX_BATCH = 32;

/** Throws unless `batch` is a well-formed batch at `size`. */
export function checkImageBatch(id: string, size: ImageSize, batch: ImageBatch): void {
  if (batch.height !== size.height || batch.width !== size.width) {
    throw new UsageError(`${id} takes ${size.width}x${size.height} images, got ${batch.width}x${batch.height}`);
  }
  const expected = batch.n * batch.height * batch.width * 3;
  if (!Number.isInteger(batch.n) || batch.n < 0 || batch.data.length !== expected) {
    throw new UsageError(`${id}: a batch of ${batch.n} ${batch.width}x${batch.height} RGB images needs ${expected} values, got ${batch.data.length}`);
  }
}

/** Runs the model on `count` preprocessed images; returns count * dim features. */
export type SliceRunner = (pixels: Float32Array, count: number) => Promise<Float32Array>;

export interface EmbedLoop {
  id: string;
  inputSize: ImageSize;
  dim: number;
  /** Images per run; Infinity for all at once. */
  maxBatch: number;
  preprocess: (pixels: Float32Array) => Float32Array;
  run: SliceRunner;
  /** Names the model in errors (its file). */
  source?: string;
}

/**
 * The one embed loop every base shares: checks the batch, then preprocesses and runs it in slices
 * of at most `maxBatch` images, and gathers the [n, dim] features.
 */
export async function embedInSlices(loop: EmbedLoop, batch: ImageBatch): Promise<Float32Array> {
  const { id, dim, maxBatch } = loop;
  checkImageBatch(id, loop.inputSize, batch);
  const { n, height, width } = batch;
  const out = new Float32Array(n * dim);
  const perImage = height * width * 3;
  for (let start = 0; start < n; start += maxBatch) {
    const count = Math.min(maxBatch, n - start);
    const features = await loop.run(loop.preprocess(batch.data.subarray(start * perImage, (start + count) * perImage)), count);
    if (features.length !== count * dim) {
      throw new WeightsError(`${id}: the model produced ${features.length / count} features per image, expected ${dim}`, loop.source);
    }
    out.set(features, start * dim);
  }
  return out;
}

/** A tfjs forward pass as a slice runner; each slice's tensors are freed before the next starts. */
export function tfjsSliceRunner(size: ImageSize, forward: (x: tf.Tensor4D) => tf.Tensor): SliceRunner {
  return async (pixels, count) => {
    const features = tf.tidy(() => tf.reshape(forward(tf.tensor4d(pixels, [count, size.height, size.width, 3])), [count, -1]));
    try {
      return (await features.data()) as Float32Array;
    } finally {
      features.dispose();
    }
  };
}
