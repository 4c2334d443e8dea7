import * as tfc from '@tensorflow/tfjs-core';
import * as layers from '@tensorflow/tfjs-layers';
import type * as tfl from '@tensorflow/tfjs-layers';
import { UsageError } from '../errors.js';

/**
 * One training step like `model.trainOnBatch(x, y)` for a model compiled with binary
 * cross-entropy and accuracy, but with the batch run through the model `microBatch` images at a
 * time and their gradients summed before the optimizer's one update. The loss is a mean over the
 * batch, so gradients of the micro-batch means weighted by their share add up to the batch's:
 * the update is the same, while activations are held for `microBatch` images only. That is what
 * lets VGG16 train at 224 px with the study's batch of 64 inside the wasm backend's 4 GB heap,
 * which holds about 6 such images. Returns [loss, accuracy] as trainOnBatch does.
 */
export async function trainOnBatchInMicroBatches(model: tfl.LayersModel, x: tfc.Tensor, y: tfc.Tensor, microBatch: number): Promise<[number, number]> {
  if (!Number.isInteger(microBatch) || microBatch < 1) throw new UsageError(`micro-batch must be a whole number ≥ 1, got ${microBatch}`);
  const optimizer = model.optimizer;
  if (!optimizer) throw new UsageError('the model must be compiled before training');
  const variables = model.trainableWeights.map((w) => w.read() as tfc.Variable);
  const n = x.shape[0] as number;
  let sum: tfc.NamedTensorMap = {};
  let loss = 0;
  let accuracy = 0;
  try {
    for (let start = 0; start < n; start += microBatch) {
      const size = Math.min(microBatch, n - start);
      const share = size / n;
      const xm = tfc.slice(x, start, size);
      const ym = tfc.slice(y, start, size);
      let acc: tfc.Tensor | undefined;
      const { value, grads } = tfc.variableGrads(() => {
        const p = model.apply(xm, { training: true }) as tfc.Tensor;
        acc = tfc.keep(tfc.mean(layers.metrics.binaryAccuracy(ym, p)));
        return tfc.mul(tfc.mean(layers.metrics.binaryCrossentropy(ym, p)), share);
      }, variables);
      loss += (await value.data())[0] as number;
      accuracy += ((await (acc as tfc.Tensor).data())[0] as number) * share;
      tfc.dispose([xm, ym, value, acc as tfc.Tensor]);
      const next: tfc.NamedTensorMap = {};
      for (const [name, g] of Object.entries(grads)) {
        const previous = sum[name];
        next[name] = previous ? tfc.add(previous, g) : g;
        if (previous) tfc.dispose([previous, g]);
      }
      sum = next;
    }
    optimizer.applyGradients(sum);
  } finally {
    tfc.dispose(Object.values(sum));
  }
  return [loss, accuracy];
}
