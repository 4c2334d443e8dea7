import { access } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { ImageBatch, ImageSize } from '../data/image.js';
import { UsageError, WeightsError } from '../errors.js';
import type { Base } from './base.js';
import { sha256File } from '../util/file-hash.js';
import { openOnnxSession, type OnnxThread } from '../runtime/onnx/open-session.js';
import type { OnnxRunner, OutputTensor, PixelLayout, TensorInfo } from '../runtime/onnx/session.js';
import { embedInSlices } from './embed-loop.js';
import { getPreprocessing } from './preprocess.js';

export interface OnnxFileBaseOptions {
  inputSize: ImageSize;
  /** A name from PREPROCESSING, applied to 0..255 RGB before the model sees it. */
  preprocess: string;
  /** Whether the model's image input is [N, H, W, 3] or [N, 3, H, W]. */
  layout: PixelLayout;
  /** Which output holds the features; default the model's first output. */
  outputName?: string;
  /** How a 4-D feature map becomes a vector: global average over H and W (default) or flatten. */
  reduce?: 'avg' | 'flatten';
  threads?: number;
  /** Where ONNX Runtime runs the model; default the main thread. */
  onnxThread?: OnnxThread;
  /** For the comparison table; default says the weights' origin is unknown. */
  trainedOn?: string;
}

function isNum(d: number | string | undefined): d is number {
  return typeof d === 'number' && d > 0;
}

/**
 * A 4-D output is a feature map in the model's own layout: channels second for NCHW models,
 * last for NHWC ones.
 */
function reduceOutput(out: OutputTensor, n: number, layout: PixelLayout, reduce: 'avg' | 'flatten'): { data: Float32Array; dim: number } {
  const per = out.data.length / n;
  if (out.dims.length !== 4 || reduce === 'flatten') return { data: out.data, dim: per };
  const [, a, b, c] = out.dims as [number, number, number, number];
  const [channels, spatial] = layout === 'nchw' ? [a, b * c] : [c, a * b];
  const pooled = new Float32Array(n * channels);
  for (let i = 0; i < n; i++) {
    const src = i * per;
    for (let ch = 0; ch < channels; ch++) {
      let sum = 0;
      for (let p = 0; p < spatial; p++) {
        sum += out.data[layout === 'nchw' ? src + ch * spatial + p : src + p * channels + ch] as number;
      }
      pooled[i * channels + ch] = sum / spatial;
    }
  }
  return { data: pooled, dim: channels };
}

/** Output vector length read from metadata when every non-batch dimension is fixed. */
function dimFromMetadata(info: TensorInfo, layout: PixelLayout, reduce: 'avg' | 'flatten'): number | undefined {
  const shape = info.shape;
  if (!shape || shape.length < 2) return undefined;
  const rest = shape.slice(1);
  if (!rest.every(isNum)) return undefined;
  if (shape.length === 4 && reduce === 'avg') return layout === 'nchw' ? rest[0] : rest[2];
  return rest.reduce((p, d) => p * d, 1);
}

function checkInput(info: TensorInfo | undefined, options: OnnxFileBaseOptions, file: string): void {
  if (!info) throw new WeightsError('model has no input', file);
  if (info.type !== undefined && info.type !== 'float32') {
    throw new WeightsError(`input '${info.name}' is ${info.type}; only float32 image inputs are supported`, file);
  }
  const shape = info.shape;
  if (!shape || shape.length === 0) return;
  const { height, width } = options.inputSize;
  const expected = options.layout === 'nchw' ? [3, height, width] : [height, width, 3];
  const described = options.layout === 'nchw' ? `[N, 3, ${height}, ${width}]` : `[N, ${height}, ${width}, 3]`;
  const mismatch = shape.length !== 4 || shape.slice(1).some((d, i) => isNum(d) && d !== expected[i]);
  if (mismatch) {
    throw new WeightsError(
      `input '${info.name}' has shape [${shape.join(', ')}], but layout ${options.layout} at ${width}x${height} wants ${described}`,
      file,
    );
  }
}

class OnnxFileBase implements Base {
  readonly engine = 'onnxruntime' as const;
  readonly trainable = false;

  constructor(
    readonly id: string,
    readonly architecture: string,
    readonly trainedOn: string,
    readonly inputSize: ImageSize,
    readonly preprocess: string,
    readonly dim: number,
    readonly weightsHash: string,
    private readonly session: OnnxRunner,
    private readonly layout: PixelLayout,
    private readonly outputName: string,
    private readonly reduce: 'avg' | 'flatten',
    /** Models exported with batch size fixed at 1 are fed one image at a time. */
    private readonly singleImage: boolean,
  ) {}

  embed(batch: ImageBatch): Promise<Float32Array> {
    const { session, layout, outputName, reduce } = this;
    return embedInSlices(
      {
        id: this.id,
        inputSize: this.inputSize,
        dim: this.dim,
        maxBatch: this.singleImage ? 1 : Number.POSITIVE_INFINITY,
        preprocess: (p) => getPreprocessing(this.preprocess).apply(p),
        source: session.source,
        run: async (pixels, n) => {
          // Preprocessing returns a new array, so the pixels are ours to move to a worker.
          const raw = await session.runImages(pixels, n, this.inputSize, layout, { outputName, handOver: true });
          if (raw.dims[0] !== n) throw new WeightsError(`output '${outputName}' has shape [${raw.dims.join(', ')}] for a batch of ${n}`, session.source);
          const { data, dim } = reduceOutput(raw, n, layout, reduce);
          if (dim !== this.dim) throw new WeightsError(`output '${outputName}' gave ${dim} values per image, expected ${this.dim}`, session.source);
          return data;
        },
      },
      batch,
    );
  }

  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}

/**
 * Any ONNX model whose input is a float32 image batch, used as a frozen base. The feature
 * length comes from the output's metadata, or from one probe run when that has symbolic
 * dimensions.
 */
export async function loadOnnxFileBase(path: string, options: OnnxFileBaseOptions): Promise<Base> {
  const file = resolve(path);
  try {
    await access(file);
  } catch {
    throw new WeightsError('ONNX model file does not exist or cannot be read', file);
  }
  getPreprocessing(options.preprocess);
  const { height, width } = options.inputSize;
  if (!(Number.isInteger(height) && Number.isInteger(width) && height > 0 && width > 0)) {
    throw new UsageError(`input size must be positive integers, got ${width}x${height}`);
  }
  const reduce = options.reduce ?? 'avg';
  const session = await openOnnxSession(file, { threads: options.threads, ...(options.onnxThread ? { thread: options.onnxThread } : {}) });
  try {
    const input = session.inputs[0];
    checkInput(input, options, file);
    const outputs = session.outputs;
    const outputName = options.outputName ?? outputs[0]?.name;
    const output = outputs.find((o) => o.name === outputName);
    if (!output || outputName === undefined) {
      throw new WeightsError(
        `model has no output '${String(outputName)}'; outputs: ${outputs.map((o) => o.name).join(', ') || 'none'}`,
        file,
      );
    }
    const singleImage = input?.shape?.[0] === 1;
    let dim = dimFromMetadata(output, options.layout, reduce);
    if (dim === undefined) {
      const probe = await session.runImages(new Float32Array(height * width * 3), 1, options.inputSize, options.layout, { outputName });
      dim = reduceOutput(probe, 1, options.layout, reduce).dim;
    }
    const weightsHash = await sha256File(file);
    return new OnnxFileBase(
      `onnx:${file}`,
      `ONNX model ${basename(file)} (output '${outputName}'${reduce === 'avg' ? ', 4-D maps global-average-pooled' : ''})`,
      options.trainedOn ?? 'unknown (user-supplied ONNX model)',
      { height, width },
      options.preprocess,
      dim,
      weightsHash,
      session,
      options.layout,
      outputName,
      reduce,
      singleImage,
    );
  } catch (err) {
    await session.dispose();
    throw err;
  }
}
