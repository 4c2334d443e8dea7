import type * as tfl from '@tensorflow/tfjs-layers';
import { UsageError, WeightsError } from '../errors.js';
import type { FineTunableBase, FineTunedBase, FineTunedInfo } from './fine-tunable.js';
import { buildGraphBaseModel, firstTrainableBlock, readGraphBaseWeights } from '../graph/program-layer.js';
import { decodeGraphWeightBytes, encodeGraphWeightBytes, GRAPH_WEIGHTS_FORMAT } from '../graph/weight-bytes.js';
import { graphSpecConversion, OnnxGraphBase, openGraphSession, type OnnxGraphBaseOptions } from './graph-base.js';
import { readGraphModel, type GraphModelRead } from '../graph/read-graph.js';
import type { OnnxRunner } from '../runtime/onnx/session.js';
import { initTfjs } from '../runtime/tfjs/backend.js';
import type { GraphBaseSpec, GraphFineTuneSpec } from './spec.js';
import { GraphProgram } from '../graph/to-program.js';
import { tfjsGraphToOnnx } from '../graph/to-onnx.js';
import { type GraphWeight, type TfjsGraphNode } from '../graph/nodes.js';
import { sha256Bytes } from '../util/file-hash.js';

/**
 * A graph base on ONNX Runtime that can also be fine-tuned: it rebuilds itself as a tfjs-layers
 * model running the same graph (graph/program-layer.ts), and the trained weights go back into the
 * ONNX conversion to give a frozen, fast base again. Its blocks come from the spec's `fineTune`.
 */

/** The graph as read from its package, shared by a base and the bases fine-tuned from it. */
interface GraphSource {
  spec: GraphBaseSpec & { fineTune: GraphFineTuneSpec };
  modelJsonPath: string;
  files: readonly string[];
  nodes: readonly TfjsGraphNode[];
  weights: ReadonlyMap<string, GraphWeight>;
  /** sha256 over model.json and its shards. */
  originalHash: string;
  program: GraphProgram;
}

/** Weights fine-tuning changed, as the base carries them. */
interface TunedWeights {
  weights: ReadonlyMap<string, GraphWeight>;
  bytes: Uint8Array;
  info: FineTunedInfo;
}

/** A fine-tunable graph base whose weights came out of fine-tuning. */
export type FineTunedGraphBase = FineTunableGraphBase & FineTunedBase;

export class FineTunableGraphBase extends OnnxGraphBase implements FineTunableBase {
  readonly blockCount: number;
  readonly trainBytesPerPixel: number;
  /** Set when the weights came out of fine-tuning. */
  readonly fineTuned: FineTunedInfo | undefined;

  constructor(
    private readonly source: GraphSource,
    session: OnnxRunner,
    private readonly tuned: TunedWeights | undefined,
    private readonly runOptions: OnnxGraphBaseOptions,
  ) {
    const { spec } = source;
    const blockCount = source.program.blocks.length;
    const trainedOn = tuned ? `${spec.trainedOn}; then fine-tuned on your data (last ${tuned.info.trainableBlocks} of ${blockCount} blocks)` : spec.trainedOn;
    super({ ...spec, trainedOn }, tuned ? sha256Bytes(tuned.bytes) : source.originalHash, source.files, session, runOptions);
    this.blockCount = blockCount;
    this.trainBytesPerPixel = spec.fineTune.trainBytesPerPixel;
    this.fineTuned = tuned?.info;
  }

  /** The program's parameters as this base holds them: fine-tuned where tuned, else the package's. */
  private currentValues(): GraphWeight[] {
    return this.source.program.params.map((p) => (this.tuned?.weights.get(p.name) ?? this.source.weights.get(p.name)) as GraphWeight);
  }

  async trainableModel(trainableBlocks: number): Promise<tfl.LayersModel> {
    await initTfjs();
    return buildGraphBaseModel(this.source.program, this.currentValues(), {
      trainableBlocks,
      dim: this.dim,
      inputSize: this.inputSize,
      name: `${this.id.replace(/[^A-Za-z0-9_]/g, '_')}_graph_base`,
    });
  }

  async withTrainedWeights(model: tfl.LayersModel, trainableBlocks: number): Promise<FineTunedGraphBase> {
    const changed = readGraphBaseWeights(model, firstTrainableBlock(this.blockCount, trainableBlocks));
    const merged = new Map([...(this.tuned?.weights ?? []), ...changed]);
    const originalWeightsHash = this.fineTuned?.originalWeightsHash ?? this.weightsHash;
    return createFineTunedGraphBase(this.source, merged, { originalWeightsHash, format: GRAPH_WEIGHTS_FORMAT, trainableBlocks }, this.runOptions);
  }

  weightsBytes(): Uint8Array {
    if (!this.tuned) throw new UsageError(`${this.id}'s weights are in ${this.source.modelJsonPath}; only fine-tuned weights are carried`);
    return this.tuned.bytes;
  }
}

async function createFineTunedGraphBase(
  source: GraphSource,
  tunedWeights: ReadonlyMap<string, GraphWeight>,
  info: FineTunedInfo,
  options: OnnxGraphBaseOptions & { label?: string; bytes?: Uint8Array },
): Promise<FineTunedGraphBase> {
  // Graph order, so the same weights always give the same bytes and hash.
  const ordered = new Map(source.program.params.flatMap((p) => (tunedWeights.has(p.name) ? [[p.name, tunedWeights.get(p.name) as GraphWeight] as const] : [])));
  if (ordered.size !== tunedWeights.size) throw new WeightsError(`fine-tuned weights name tensors that ${source.spec.id}'s program does not train`, options.label);
  const bytes = options.bytes ?? encodeGraphWeightBytes(ordered);
  const all = new Map([...source.weights, ...ordered]);
  const label = options.label ?? `${source.modelJsonPath} (fine-tuned)`;
  const converted = tfjsGraphToOnnx(source.nodes, all, { ...graphSpecConversion(source.spec), label });
  const session = await openGraphSession(source.spec, converted, label, options);
  const runOptions: OnnxGraphBaseOptions = {
    ...(options.maxBatch !== undefined ? { maxBatch: options.maxBatch } : {}),
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.onnxThread !== undefined ? { onnxThread: options.onnxThread } : {}),
  };
  return new FineTunableGraphBase(source, session, { weights: ordered, bytes, info }, runOptions) as FineTunedGraphBase;
}

/** The graph read without converting it (a fine-tuned base converts it once, with its own weights), as a trainable program. */
function graphSource(spec: GraphBaseSpec, modelJsonPath: string, graph: GraphModelRead): GraphSource {
  const fineTune = spec.fineTune;
  if (!fineTune) throw new UsageError(`${spec.id} has no fine-tuning blocks`);
  const { files, weightsHash, nodes, weights } = graph;
  const program = new GraphProgram(nodes, weights, { outputNode: spec.featureNode, pooling: spec.pooling, blockOf: (w) => fineTune.blockOf(w), label: modelJsonPath });
  return { spec: { ...spec, fineTune }, modelJsonPath, files, nodes, weights, originalHash: weightsHash, program };
}

/** Loads a graph base whose spec has `fineTune` on ONNX Runtime, able to fine-tune. */
export async function loadFineTunableGraphBase(spec: GraphBaseSpec, modelJsonPath: string, options: OnnxGraphBaseOptions = {}): Promise<FineTunableGraphBase> {
  const graph = await readGraphModel(modelJsonPath);
  // Converting first: a graph the converter cannot take fails as a GraphConversionError, which
  // load-graph-base.ts answers by running it on tfjs.
  const converted = tfjsGraphToOnnx(graph.nodes, graph.weights, { ...graphSpecConversion(spec), label: modelJsonPath });
  const source = graphSource(spec, modelJsonPath, graph);
  const session = await openGraphSession(spec, converted, modelJsonPath, options);
  return new FineTunableGraphBase(source, session, undefined, options);
}

/**
 * A graph base from fine-tuned weights a bundle stores (encoded by graph/weight-bytes.ts); the
 * other weights come from the package, which must still be the one fine-tuning started from.
 */
export async function loadFineTunedGraphBase(
  spec: GraphBaseSpec,
  modelJsonPath: string,
  bytes: Uint8Array,
  fineTuned: FineTunedInfo,
  options: OnnxGraphBaseOptions & { label?: string } = {},
): Promise<FineTunedGraphBase> {
  if (fineTuned.format !== GRAPH_WEIGHTS_FORMAT) {
    throw new WeightsError(`fine-tuned ${spec.id} weights are stored as '${fineTuned.format}'; this version reads '${GRAPH_WEIGHTS_FORMAT}'`, options.label);
  }
  const source = graphSource(spec, modelJsonPath, await readGraphModel(modelJsonPath));
  if (source.originalHash !== fineTuned.originalWeightsHash) {
    throw new WeightsError(
      `was fine-tuned from ${spec.id} weights with sha256 ${fineTuned.originalWeightsHash.slice(0, 12)}…, but ${modelJsonPath} and its shards now hash to ${source.originalHash.slice(0, 12)}…; it stores only the tuned blocks, so it needs the original package version`,
      options.label,
    );
  }
  const tuned = decodeGraphWeightBytes(bytes, source.weights, options.label);
  return createFineTunedGraphBase(source, tuned, fineTuned, { ...options, bytes });
}
