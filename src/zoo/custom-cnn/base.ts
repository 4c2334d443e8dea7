import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ImageBatch } from '../../data/image.js';
import { UsageError } from '../../errors.js';
import type { TrainableBase } from '../../bases/base.js';
import { createCustomCnn, type CustomCnnOptions } from './network.js';
import { initTfjs } from '../../runtime/tfjs/backend.js';

/** sha256 of a model's weight values, so caches and bundles can tell two initialisations apart. */
export async function hashModelWeights(model: tfl.LayersModel): Promise<string> {
  const hash = createHash('sha256');
  for (const w of model.getWeights()) {
    const data = (await w.data()) as Float32Array;
    hash.update(w.shape.join('x')).update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest('hex');
}

/** The study's custom CNN as a base. Untrained, its features are only a starting point: train it end to end. */
export async function loadCustomBase(options: CustomCnnOptions = {}): Promise<TrainableBase> {
  await initTfjs();
  const seed = options.seed ?? 1;
  const cnn = createCustomCnn({ ...options, seed });
  const weightsHash = await hashModelWeights(cnn.model);
  const { height, width } = cnn.inputSize;
  return {
    id: 'custom',
    architecture: cnn.architecture,
    trainedOn: cnn.trainedOn,
    engine: 'tfjs',
    inputSize: cnn.inputSize,
    preprocess: 'study',
    dim: cnn.dim,
    trainable: true,
    weightsHash,
    model: cnn.model,
    options: { inputSize: height, seed },
    async embed(batch: ImageBatch): Promise<Float32Array> {
      if (batch.height !== height || batch.width !== width) {
        throw new UsageError(`custom: expected ${width}x${height} images, got ${batch.width}x${batch.height}`);
      }
      const x = tf.tensor4d(batch.data, [batch.n, height, width, 3]);
      const y = cnn.model.predict(x) as tf.Tensor;
      const out = (await y.data()) as Float32Array;
      tf.dispose([x, y]);
      return out;
    },
    async dispose() {
      cnn.model.dispose();
    },
  };
}
