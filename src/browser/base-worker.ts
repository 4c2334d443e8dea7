import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { graphFeatures } from './base-features.js';
import type { BaseWorkerLoad, BaseWorkerReply, BaseWorkerRequest, BaseWorkerRun } from './base-worker-messages.js';

/**
 * A dedicated worker that runs the base on its own tfjs wasm instance, so a photo's faces are
 * split between it and the page's thread and both cores work at once (tfjs' own wasm threads
 * gave nothing here: the README's browser section).
 */

interface WorkerScope {
  onmessage: ((event: { data: BaseWorkerRequest }) => void) | null;
  postMessage(message: BaseWorkerReply, transfer?: ArrayBufferLike[]): void;
}

const scope = globalThis as unknown as WorkerScope;
let base: { model: GraphModel; featureNode: string; pooling: BaseWorkerLoad['pooling'] } | undefined;

async function load(request: BaseWorkerLoad): Promise<void> {
  setWasmPaths(request.wasm);
  if (!(await tf.setBackend('wasm'))) throw new Error("tfjs could not start its wasm backend in the page's worker");
  base = { model: await loadGraphModel(request.model), featureNode: request.featureNode, pooling: request.pooling };
}

async function run(request: BaseWorkerRun): Promise<Float32Array> {
  if (!base) throw new Error('the base worker was asked to run before its model loaded');
  return graphFeatures(base.model, request.pixels, request.n, request, base.featureNode, base.pooling);
}

scope.onmessage = (event) => {
  const request = event.data;
  if (request.type === 'load') {
    load(request).then(
      () => scope.postMessage({ type: 'ready' }),
      (err: unknown) => scope.postMessage({ type: 'error', id: null, message: (err as Error).message }),
    );
    return;
  }
  run(request).then(
    (features) => scope.postMessage({ type: 'features', id: request.id, features }, [features.buffer]),
    (err: unknown) => scope.postMessage({ type: 'error', id: request.id, message: (err as Error).message }),
  );
};
