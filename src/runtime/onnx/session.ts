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

function describe(meta: ort.InferenceSession.ValueMetadata): TensorInfo {
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

/** One ONNX Runtime session on the CPU, fed float32 tensors. */
export class OnnxSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    /** File path or label, for error messages. */
    readonly source: string,
    readonly threads: number,
  ) {}

  static async create(model: Uint8Array | string, options: OnnxSessionOptions = {}): Promise<OnnxSession> {
    const threads = options.threads ?? DEFAULT_THREADS;
    const sessionOptions = cpuSessionOptions(threads);
    const source = typeof model === 'string' ? model : (options.label ?? 'in-memory ONNX model');
    try {
      const session =
        typeof model === 'string'
          ? await ort.InferenceSession.create(model, sessionOptions)
          : await ort.InferenceSession.create(model, sessionOptions);
      return new OnnxSession(session, source, threads);
    } catch (err) {
      throw new WeightsError(`ONNX Runtime could not load the model: ${(err as Error).message}`, source);
    }
  }

  get inputs(): TensorInfo[] {
    return this.session.inputMetadata.map(describe);
  }

  get outputs(): TensorInfo[] {
    return this.session.outputMetadata.map(describe);
  }

  /** Runs the model's first input (or `inputName`) on one float32 tensor and returns one output. */
  async run(data: Float32Array, dims: readonly number[], opts: { inputName?: string; outputName?: string } = {}): Promise<OutputTensor> {
    const outputName = opts.outputName ?? this.session.outputNames[0];
    if (outputName === undefined) throw new WeightsError('model has no outputs', this.source);
    return (await this.runOutputs(data, dims, [outputName], opts.inputName))[outputName] as OutputTensor;
  }

  /** Runs the model's first input (or `inputName`) on one float32 tensor and returns the named outputs (default all). */
  async runOutputs(data: Float32Array, dims: readonly number[], outputNames: readonly string[] = this.session.outputNames, inputName = this.session.inputNames[0]): Promise<Record<string, OutputTensor>> {
    if (inputName === undefined) throw new WeightsError('model has no inputs', this.source);
    for (const name of outputNames) {
      if (!this.session.outputNames.includes(name)) {
        throw new WeightsError(`model has no output '${name}'; outputs: ${this.session.outputNames.join(', ')}`, this.source);
      }
    }
    const input = new ort.Tensor('float32', data, dims);
    let results: ort.InferenceSession.OnnxValueMapType;
    try {
      results = await this.session.run({ [inputName]: input }, [...outputNames]);
    } catch (err) {
      throw new WeightsError(`inference failed on input [${dims.join(', ')}]: ${(err as Error).message}`, this.source);
    } finally {
      input.dispose();
    }
    const out: Record<string, OutputTensor> = {};
    try {
      for (const name of outputNames) {
        const output = results[name] as ort.Tensor;
        if (output.type !== 'float32') throw new WeightsError(`output '${name}' is ${output.type}, expected float32`, this.source);
        // Copy out so the native buffer can be released at once.
        out[name] = { data: Float32Array.from(output.data as Float32Array), dims: [...output.dims] };
      }
    } finally {
      for (const name of outputNames) (results[name] as ort.Tensor | undefined)?.dispose();
    }
    return out;
  }

  /**
   * Runs a batch of [N, H, W, 3] images. With `layout: 'nchw'` the pixels are transposed here
   * for models whose input is [N, 3, H, W].
   */
  async runImages(
    data: Float32Array,
    n: number,
    size: ImageSize,
    layout: PixelLayout,
    opts: { inputName?: string; outputName?: string } = {},
  ): Promise<OutputTensor> {
    const { height, width } = size;
    if (data.length !== n * height * width * 3) {
      throw new UsageError(`batch holds ${data.length} values, expected ${n}x${height}x${width}x3 = ${n * height * width * 3}`);
    }
    return layout === 'nchw'
      ? this.run(nhwcToNchw(data, n, height, width), [n, 3, height, width], opts)
      : this.run(data, [n, height, width, 3], opts);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
