import type { BaseWorkerLoad, BaseWorkerReply, BaseWorkerRequest } from './base-worker-messages.js';

/** The page's side of a base worker (base-worker.ts): load once, then features for batches of faces. */

interface WorkerLike {
  postMessage(message: BaseWorkerRequest, transfer?: ArrayBufferLike[]): void;
  onmessage: ((event: { data: BaseWorkerReply }) => void) | null;
  onerror: ((event: { message?: string }) => void) | null;
  terminate(): void;
}

type WorkerConstructor = new (url: string | URL, options?: { type?: 'module' | 'classic'; name?: string }) => WorkerLike;

export class BaseWorker {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(features: Float32Array): void; reject(err: Error): void }>();
  private failure: Error | undefined;
  private readyWaiter: { resolve(): void; reject(err: Error): void } | undefined;

  private constructor(private readonly worker: WorkerLike) {
    worker.onmessage = (event) => this.receive(event.data);
    worker.onerror = (event) => this.fail(new Error(`the page's base worker failed: ${event.message ?? 'unknown error'}`));
  }

  /** Starts the worker script at `url` and loads the base in it; resolves once it can run. */
  static async start(url: string | URL, load: Omit<BaseWorkerLoad, 'type'>): Promise<BaseWorker> {
    const WorkerClass = (globalThis as unknown as { Worker?: WorkerConstructor }).Worker;
    if (!WorkerClass) throw new Error('this browser has no Web Workers');
    const worker = new WorkerClass(url, { type: 'module', name: 'facegender-base' });
    const client = new BaseWorker(worker);
    await new Promise<void>((resolve, reject) => {
      client.readyWaiter = { resolve, reject };
      worker.postMessage({ type: 'load', ...load });
    });
    return client;
  }

  /** The features of n preprocessed [n, height, width, 3] images; `pixels` is transferred (unusable after). */
  features(pixels: Float32Array, n: number, height: number, width: number): Promise<Float32Array> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'run', id, pixels, n, height, width }, [pixels.buffer]);
    });
  }

  private receive(reply: BaseWorkerReply): void {
    if (reply.type === 'ready') {
      this.readyWaiter?.resolve();
      this.readyWaiter = undefined;
      return;
    }
    if (reply.type === 'features') {
      this.pending.get(reply.id)?.resolve(reply.features);
      this.pending.delete(reply.id);
      return;
    }
    if (reply.id === null) {
      this.fail(new Error(`the page's base worker could not load the base: ${reply.message}`));
      return;
    }
    this.pending.get(reply.id)?.reject(new Error(`the page's base worker failed: ${reply.message}`));
    this.pending.delete(reply.id);
  }

  private fail(err: Error): void {
    this.failure = err;
    this.readyWaiter?.reject(err);
    this.readyWaiter = undefined;
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }

  terminate(): void {
    this.fail(new Error("the page's base worker was stopped"));
    this.worker.terminate();
  }
}
