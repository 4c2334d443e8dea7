import ort from './ort.js';
import type { ImageSize } from '../../data/image.js';
import { UsageError, WeightsError } from '../../errors.js';

export const DEFAULT_THREADS = 2;

/**
 * ONNX Runtime's intra-op threads sleep between runs instead of spinning. Between runs the caller
 * has work of its own (decoding, alignment, Adam), which spinning threads starve on 2 cores.
 * Measured on the photo path (`bench/photo-speed.ts`, `bench:serve`, quiet machine): one photo
 * p50 77 → 48 ms, tight crops 52 → 60 photos/s, the server 15.9 → 19.2 requests/s; in training,
 * spinning threads made a step 2-3x slower when another job shared the cores.
 */
const SLEEPING_THREADS = { session: { intra_op: { allow_spinning: '0' } } } as const;

/** The options every facegender session runs with: the CPU, `threads` intra-op threads (default 2), sleeping between runs. */
export function cpuSessionOptions(threads: number = DEFAULT_THREADS): ort.InferenceSession.SessionOptions {
  if (!Number.isInteger(threads) || threads < 1) throw new UsageError(`threads must be a positive integer, got ${threads}`);
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: SLEEPING_THREADS,
  };
}

export type PixelLayout = 'nhwc' | 'nchw';

export interface OnnxSessionOptions {
  /** ONNX Runtime intra-op threads; default 2 (the machine's cores; more only adds contention). */
  threads?: number;
  /** Names the model in error messages when it is given as bytes. */
  label?: string;
}

export interface OutputTensor {
  data: Float32Array;
  dims: number[];
}

/** Input or output description read from the model; symbolic dimensions are strings. */
export interface TensorInfo {
  name: string;
  type: string | undefined;
  shape: ReadonlyArray<number | string> | undefined;
}

/** A model input's or output's description as TensorInfo. */
export function describeValue(meta: ort.InferenceSession.ValueMetadata): TensorInfo {
  return meta.isTensor
    ? { name: meta.name, type: meta.type, shape: meta.shape }
    : { name: meta.name, type: undefined, shape: undefined };
}

/** [N, H, W, C] → [N, C, H, W]. */
export function nhwcToNchw(data: Float32Array, n: number, height: number, width: number, channels = 3): Float32Array {
  const out = new Float32Array(data.length);
  const plane = height * width;
  for (let b = 0; b < n; b++) {
    const base = b * plane * channels;
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < channels; c++) out[base + c * plane + p] = data[base + p * channels + c] as number;
    }
  }
  return out;
}

/**
 * Opens a model in ONNX Runtime with cpuSessionOptions. Throws a plain Error with the message
 * the caller puts under the model's name (OnnxSession here, the worker for WorkerOnnxSession).
 */
export async function createOrtSession(model: Uint8Array | string, threads: number): Promise<ort.InferenceSession> {
  const sessionOptions = cpuSessionOptions(threads);
  try {
    return typeof model === 'string' ? await ort.InferenceSession.create(model, sessionOptions) : await ort.InferenceSession.create(model, sessionOptions);
  } catch (err) {
    throw new Error(`ONNX Runtime could not load the model: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * One run of one float32 input, returning copies of the named outputs (the native buffers are
 * released at once). The one code path of both the in-process and the worker session, so both
 * give the same bits. Throws a plain Error with the message the caller puts under the model's name.
 */
export async function runFloat(session: ort.InferenceSession, inputName: string, data: Float32Array, dims: readonly number[], outputNames: readonly string[]): Promise<Record<string, OutputTensor>> {
  const input = new ort.Tensor('float32', data, dims);
  let results: ort.InferenceSession.OnnxValueMapType;
  try {
    results = await session.run({ [inputName]: input }, [...outputNames]);
  } catch (err) {
    throw new Error(`inference failed on input [${dims.join(', ')}]: ${(err as Error).message}`, { cause: err });
  } finally {
    input.dispose();
  }
  const out: Record<string, OutputTensor> = {};
  try {
    for (const name of outputNames) {
      const output = results[name] as ort.Tensor;
      if (output.type !== 'float32') throw new Error(`output '${name}' is ${output.type}, expected float32`);
      out[name] = { data: Float32Array.from(output.data as Float32Array), dims: [...output.dims] };
    }
  } finally {
    for (const name of outputNames) (results[name] as ort.Tensor | undefined)?.dispose();
  }
  return out;
}

export interface RunOptions {
  /** Default the model's first input. */
  inputName?: string;
  /**
   * The caller gives up `data`: a session in a worker thread may then move its buffer there
   * (leaving it detached here) instead of copying it. Only for arrays that span their whole buffer.
   */
  handOver?: boolean;
}

/** One run as a session carries it out: `data` already in the model's layout, or NHWC to transpose first. */
export interface RunRequest {
  data: Float32Array;
  dims: readonly number[];
  inputName: string;
  outputNames: readonly string[];
  handOver: boolean;
  /** Set when `data` is [n, height, width, 3] and the model takes [n, 3, height, width]. */
  toNchw?: { n: number; height: number; width: number };
}

/** What the photo path and the bases use of a session, wherever ONNX Runtime runs it. */
export interface OnnxRunner {
  /** File path or label, for error messages. */
  readonly source: string;
  readonly threads: number;
  readonly inputs: TensorInfo[];
  readonly outputs: TensorInfo[];
  /** Runs the model's first input (or `inputName`) on one float32 tensor and returns one output (default the first). */
  run(data: Float32Array, dims: readonly number[], opts?: RunOptions & { outputName?: string }): Promise<OutputTensor>;
  /** Runs the model's first input (or `inputName`) on one float32 tensor and returns the named outputs (default all). */
  runOutputs(data: Float32Array, dims: readonly number[], opts?: RunOptions & { outputNames?: readonly string[] }): Promise<Record<string, OutputTensor>>;
  /**
   * Runs a batch of [N, H, W, 3] images. With `layout: 'nchw'` the pixels are transposed
   * (by the session) for models whose input is [N, 3, H, W].
   */
  runImages(data: Float32Array, n: number, size: ImageSize, layout: PixelLayout, opts?: RunOptions & { outputName?: string }): Promise<OutputTensor>;
  dispose(): Promise<void>;
}

/** The checks and defaults every OnnxRunner shares; `execute` carries a checked run out. */
export abstract class OnnxRunnerBase implements OnnxRunner {
  private disposed = false;

  constructor(
    readonly source: string,
    readonly threads: number,
    readonly inputs: TensorInfo[],
    readonly outputs: TensorInfo[],
  ) {}

  protected abstract execute(request: RunRequest): Promise<Record<string, OutputTensor>>;

  protected abstract release(): Promise<void>;

  async run(data: Float32Array, dims: readonly number[], opts: RunOptions & { outputName?: string } = {}): Promise<OutputTensor> {
    const outputName = opts.outputName ?? this.outputs[0]?.name;
    if (outputName === undefined) throw new WeightsError('model has no outputs', this.source);
    return (await this.runOutputs(data, dims, { ...opts, outputNames: [outputName] }))[outputName] as OutputTensor;
  }

  async runOutputs(data: Float32Array, dims: readonly number[], opts: RunOptions & { outputNames?: readonly string[] } = {}): Promise<Record<string, OutputTensor>> {
    return this.checkedRun({ data, dims, ...this.names(opts), handOver: opts.handOver ?? false });
  }

  async runImages(data: Float32Array, n: number, size: ImageSize, layout: PixelLayout, opts: RunOptions & { outputName?: string } = {}): Promise<OutputTensor> {
    const { height, width } = size;
    if (data.length !== n * height * width * 3) {
      throw new UsageError(`batch holds ${data.length} values, expected ${n}x${height}x${width}x3 = ${n * height * width * 3}`);
    }
    if (layout === 'nhwc') return this.run(data, [n, height, width, 3], opts);
    const { inputName, outputNames } = this.names({ ...opts, outputNames: [opts.outputName ?? this.outputs[0]?.name ?? ''] });
    const name = outputNames[0] as string;
    const out = await this.checkedRun({ data, dims: [n, 3, height, width], inputName, outputNames, handOver: opts.handOver ?? false, toNchw: { n, height, width } });
    return out[name] as OutputTensor;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.release();
  }

  private async checkedRun(request: RunRequest): Promise<Record<string, OutputTensor>> {
    if (this.disposed) throw new UsageError('this ONNX Runtime session was disposed; load the model again to run it', this.source);
    return this.execute(request);
  }

  private names(opts: { inputName?: string; outputNames?: readonly string[] }): { inputName: string; outputNames: readonly string[] } {
    const inputName = opts.inputName ?? this.inputs[0]?.name;
    if (inputName === undefined) throw new WeightsError('model has no inputs', this.source);
    const known = this.outputs.map((o) => o.name);
    if (known.length === 0) throw new WeightsError('model has no outputs', this.source);
    const outputNames = opts.outputNames ?? known;
    for (const name of outputNames) {
      if (!known.includes(name)) throw new WeightsError(`model has no output '${name}'; outputs: ${known.join(', ')}`, this.source);
    }
    return { inputName, outputNames };
  }
}

/** One ONNX Runtime session on the CPU, run on the calling (JavaScript) thread, fed float32 tensors. */
export class OnnxSession extends OnnxRunnerBase {
  private constructor(
    private readonly session: ort.InferenceSession,
    source: string,
    threads: number,
  ) {
    super(source, threads, session.inputMetadata.map(describeValue), session.outputMetadata.map(describeValue));
  }

  static async create(model: Uint8Array | string, options: OnnxSessionOptions = {}): Promise<OnnxSession> {
    const threads = options.threads ?? DEFAULT_THREADS;
    // A bad thread count is the caller's UsageError, not the model's WeightsError.
    cpuSessionOptions(threads);
    const source = typeof model === 'string' ? model : (options.label ?? 'in-memory ONNX model');
    try {
      return new OnnxSession(await createOrtSession(model, threads), source, threads);
    } catch (err) {
      throw new WeightsError((err as Error).message, source);
    }
  }

  protected async execute(r: RunRequest): Promise<Record<string, OutputTensor>> {
    const data = r.toNchw ? nhwcToNchw(r.data, r.toNchw.n, r.toNchw.height, r.toNchw.width) : r.data;
    try {
      return await runFloat(this.session, r.inputName, data, r.dims, r.outputNames);
    } catch (err) {
      throw new WeightsError((err as Error).message, this.source);
    }
  }

  protected async release(): Promise<void> {
    await this.session.release();
  }
}
