import { Worker } from 'node:worker_threads';
import { FacegenderError, WeightsError } from '../../errors.js';
// Imported for its side effect before any worker starts: ORT reads ORT_DISABLE_TELEMETRY from the
// process's environment, which a worker thread's `process.env` (a copy) cannot set.
import './ort.js';
import { cpuSessionOptions, DEFAULT_THREADS, OnnxRunnerBase, type OnnxSessionOptions, type OutputTensor, type RunRequest, type TensorInfo } from './session.js';

/**
 * ONNX Runtime sessions run in a worker thread. onnxruntime-node's `run` computes synchronously
 * on the thread that calls it, so an in-process session stops the JavaScript thread for the
 * whole run: no HTTP, decoding, resampling or alignment meanwhile. Here the main thread only
 * posts the input (moved, not copied, when the caller hands it over) and gets the outputs back
 * (moved too); ORT, its options and the code of the run (session.ts' runFloat) are the same, so
 * the outputs are the same bits.
 */

/** What the worker thread (session-worker.ts) is asked to do. */
export type WorkerRequest =
  | { op: 'open'; session: number; model: Uint8Array | string; threads: number }
  | ({ op: 'run'; session: number } & Omit<RunRequest, 'handOver'>)
  | { op: 'release'; session: number };

/** A request as posted: `id` matches it with its answer. */
export interface WorkerEnvelope {
  id: number;
  request: WorkerRequest;
}

/** The answer to each request: an opened model's inputs and outputs, a run's results. */
export type WorkerReply =
  | { id: number; ok: true; metadata?: { inputs: TensorInfo[]; outputs: TensorInfo[] }; results?: Record<string, OutputTensor> }
  | { id: number; ok: false; message: string };

type Success = Extract<WorkerReply, { ok: true }>;

interface Pending {
  resolve: (reply: Success) => void;
  reject: (err: Error) => void;
  /** The model the request concerns, for errors. */
  source: string;
}

const SELF = import.meta.url;

/**
 * Starts the thread. From TypeScript sources (tsx, vitest) the entry is a .ts file, which Node 20
 * does not pass through the parent's loader hooks when it starts a worker, so the worker registers
 * tsx itself first; from the built package it is plain JavaScript.
 */
function startThread(): Worker {
  if (!SELF.endsWith('.ts')) return new Worker(new URL('./session-worker.js', SELF));
  const entry = new URL('./session-worker.ts', SELF).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); });`, { eval: true });
}

/**
 * One worker thread owning ONNX Runtime sessions; sessions opened in the same OnnxWorker run one
 * after another, as on the main thread. It holds the process open only while a request is
 * pending, so an idle worker never keeps a finished command from exiting.
 */
export class OnnxWorker {
  private readonly pending = new Map<number, Pending>();
  private nextRequest = 1;
  private nextSession = 1;
  /** Set once the thread cannot take requests any more: why. */
  private stopped: string | undefined;
  private closing = false;
  private lastError: Error | undefined;

  private constructor(private readonly thread: Worker) {
    thread.unref();
    thread.on('message', (reply: WorkerReply) => this.settle(reply));
    thread.on('error', (err) => (this.lastError = err));
    thread.on('exit', (code) => {
      this.stopped = this.closing
        ? 'its ONNX Runtime worker thread was closed'
        : `its ONNX Runtime worker thread stopped unexpectedly (exit code ${code}${this.lastError ? `: ${this.lastError.message}` : ''})`;
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(new FacegenderError(`${this.stopped} before the request finished`, p.source));
      }
    });
  }

  static start(): OnnxWorker {
    return new OnnxWorker(startThread());
  }

  /**
   * Opens a model (bytes or a file path) in this worker with the options of an in-process
   * OnnxSession; a model ORT cannot load gives the same WeightsError naming it.
   */
  async open(model: Uint8Array | string, options: OnnxSessionOptions = {}): Promise<WorkerOnnxSession> {
    const threads = options.threads ?? DEFAULT_THREADS;
    // A bad thread count is the caller's UsageError, thrown here as by OnnxSession.
    cpuSessionOptions(threads);
    const source = typeof model === 'string' ? model : (options.label ?? 'in-memory ONNX model');
    const session = this.nextSession++;
    // An exact copy to move: cloning a view would copy its whole underlying buffer. Not
    // `slice()`, which gives a view of a Node Buffer (as protobufjs encodes in Node).
    const sent = typeof model === 'string' ? model : new Uint8Array(model);
    const reply = await this.request({ op: 'open', session, model: sent, threads }, typeof sent === 'string' ? [] : [sent.buffer as ArrayBuffer], source);
    const { inputs = [], outputs = [] } = reply.metadata ?? {};
    return new WorkerOnnxSession(this, session, source, threads, inputs, outputs);
  }

  /** Sends one request; resolves with its answer, rejects with a WeightsError naming `source` when ORT failed. */
  request(request: WorkerRequest, transfer: ArrayBuffer[], source: string): Promise<Success> {
    if (this.stopped) return Promise.reject(new FacegenderError(`${this.stopped}; load the model again`, source));
    const id = this.nextRequest++;
    return new Promise<Success>((resolve, reject) => {
      if (this.pending.size === 0) this.thread.ref();
      this.pending.set(id, { resolve, reject, source });
      this.thread.postMessage({ id, request } satisfies WorkerEnvelope, transfer);
    });
  }

  /** False once the thread has ended (closed or died). */
  get running(): boolean {
    return this.stopped === undefined;
  }

  /** Ends the thread and every session in it; pending requests are rejected. */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.closing = true;
    await this.thread.terminate();
  }

  private settle(reply: WorkerReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.thread.unref();
    if (reply.ok) p.resolve(reply);
    else p.reject(new WeightsError(reply.message, p.source));
  }
}

/** A session that an OnnxWorker runs; see OnnxRunner for its methods. */
export class WorkerOnnxSession extends OnnxRunnerBase {
  /** Set when this session started its worker and ends it on dispose. */
  ownsWorker = false;

  constructor(
    readonly worker: OnnxWorker,
    private readonly id: number,
    source: string,
    threads: number,
    inputs: TensorInfo[],
    outputs: TensorInfo[],
  ) {
    super(source, threads, inputs, outputs);
  }

  protected async execute(r: RunRequest): Promise<Record<string, OutputTensor>> {
    const { handOver, ...run } = r;
    const whole = r.data.byteOffset === 0 && r.data.byteLength === r.data.buffer.byteLength && r.data.buffer instanceof ArrayBuffer;
    // A copy the caller never sees can be moved; so can the caller's array when handed over whole.
    const data = handOver && whole ? r.data : r.data.slice();
    const reply = await this.worker.request({ op: 'run', session: this.id, ...run, data }, [data.buffer as ArrayBuffer], this.source);
    return reply.results ?? {};
  }

  protected async release(): Promise<void> {
    if (this.worker.running) await this.worker.request({ op: 'release', session: this.id }, [], this.source);
    if (this.ownsWorker) await this.worker.close();
  }
}
