import { readGraphModel } from '../graph/read-graph.js';
import { tfjsGraphToOnnx } from '../graph/to-onnx.js';
import { openOnnxSession, type OnnxThread } from '../runtime/onnx/open-session.js';
import type { OnnxRunner } from '../runtime/onnx/session.js';
import { resolvePackageFile } from '../runtime/tfjs/graph-loader.js';
import { BLAZE_SPECS, blazeInput, blazeOutputNodes, checkBlazeSize, decodeBlaze, type BlazeVariant } from './blazeface-decode.js';
import type { Letterbox } from './letterbox.js';
import type { Detection } from './nms.js';

/**
 * BlazeFace (blazeface-decode.ts has the model and its outputs) run on ONNX Runtime through our
 * converter, cut at its head convolutions.
 */

export { BLAZE_SPECS, type BlazeVariant };

export class BlazeFace {
  private constructor(
    readonly variant: BlazeVariant,
    readonly size: number,
    private readonly session: OnnxRunner,
    private readonly outputs: string[],
  ) {}

  /** Converts the graph at `size` (default the model's own) and opens it in ONNX Runtime, on `onnxThread` (default the main thread). */
  static async load(variant: BlazeVariant, options: { size?: number; threads?: number; onnxThread?: OnnxThread } = {}): Promise<BlazeFace> {
    const spec = BLAZE_SPECS[variant];
    const size = options.size ?? spec.size;
    checkBlazeSize(variant, size);
    const file = resolvePackageFile(spec.model);
    const graph = await readGraphModel(file);
    const nodes = blazeOutputNodes(variant);
    const converted = tfjsGraphToOnnx(graph.nodes, graph.weights, {
      outputNode: nodes[0] as string,
      extraOutputs: nodes.slice(1),
      inputSize: { width: size, height: size },
      label: file,
    });
    const session = await openOnnxSession(converted.model, {
      threads: options.threads ?? 1,
      label: `${file} (converted to ONNX at ${size} px)`,
      ...(options.onnxThread ? { thread: options.onnxThread } : {}),
    });
    return new BlazeFace(variant, size, session, converted.outputNames);
  }

  /** Candidates scoring at least `minScore` in each letterboxed square, mapped back to image pixels (one run for all). */
  async detect(views: readonly Letterbox[], minScore: number): Promise<Detection[][]> {
    const S = this.size;
    const results = await this.session.runOutputs(blazeInput(this.variant, S, views), [views.length, S, S, 3], { handOver: true });
    return decodeBlaze(this.variant, S, views, this.outputs.map((name) => results[name]), minScore, this.session.source);
  }

  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}
