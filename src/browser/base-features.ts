import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';

/**
 * The base's features of n preprocessed [n, height, width, 3] images, one row each: what the
 * page's thread and its base worker both compute, so they give the same numbers.
 */
export async function graphFeatures(model: GraphModel, pixels: Float32Array, n: number, size: { height: number; width: number }, featureNode: string, pooling: 'none' | 'global-average'): Promise<Float32Array> {
  const x = tf.tensor4d(pixels, [n, size.height, size.width, 3]);
  const features = tf.tidy(() => {
    const y = model.execute(x, featureNode) as tf.Tensor;
    return tf.reshape(pooling === 'global-average' ? tf.mean(y, [1, 2]) : y, [n, -1]);
  });
  try {
    return Float32Array.from(await features.data());
  } finally {
    tf.dispose([x, features]);
  }
}
