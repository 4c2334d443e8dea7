import ort from './ort.js';
import { WeightsError } from '../../errors.js';
import { cpuSessionOptions } from './session.js';

export interface FloatTensor {
  data: Float32Array;
  dims: readonly number[];
}

/**
 * An ONNX Runtime session fed several named float32 tensors at once, as a training step is
 * (pixels, labels, a dropout mask and every weight). OnnxSession serves the one-input models.
 */
export class NamedOnnxSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly label: string,
  ) {}

  static async create(model: Uint8Array, options: { threads?: number; label: string }): Promise<NamedOnnxSession> {
    const sessionOptions = cpuSessionOptions(options.threads);
    try {
      const session = await ort.InferenceSession.create(model, sessionOptions);
      return new NamedOnnxSession(session, options.label);
    } catch (err) {
      throw new WeightsError(`ONNX Runtime could not load the model: ${(err as Error).message}`, options.label);
    }
  }

  /** Runs the model and returns copies of the named outputs (default all). */
  async run(feeds: Record<string, FloatTensor>, outputNames: readonly string[] = this.session.outputNames): Promise<Record<string, Float32Array>> {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor('float32', t.data, t.dims);
    let results: ort.InferenceSession.OnnxValueMapType;
    try {
      results = await this.session.run(inputs, [...outputNames]);
    } catch (err) {
      throw new WeightsError(`ONNX Runtime failed: ${(err as Error).message}`, this.label);
    } finally {
      for (const t of Object.values(inputs)) t.dispose();
    }
    const out: Record<string, Float32Array> = {};
    for (const name of outputNames) {
      const t = results[name] as ort.Tensor;
      out[name] = Float32Array.from(t.data as Float32Array);
      t.dispose();
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
