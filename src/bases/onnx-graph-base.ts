import type { ImageBatch } from '../data/image.js';
import { WeightsError } from '../errors.js';
import { OnnxSession } from './onnx-session.js';
import { GraphSpecBase } from './graph-spec-base.js';
import { checkImageBatch, type GraphBaseSpec } from './tfjs-graph-base.js';
import { readGraphModelFiles, sha256Buffers } from './tfjs-graph-loader.js';
import {
  decodeGraphWeights,
  tfjsGraphToOnnx,
  type ConvertedGraph,
  type GraphToOnnxOptions,
  type GraphWeight,
  type GraphWeightSpec,
  type TfjsGraphNode,
} from './tfjs-graph-to-onnx.js';

/**
 * A frozen tfjs graph base run by ONNX Runtime: the graph up to the spec's feature node is
 * converted to ONNX when the base loads (tfjs-graph-to-onnx.ts). It reads the same weight files
 * as the tfjs engine and gives the same features within float rounding, several times faster.
 */

export interface OnnxGraphBaseOptions {
  /** Images per forward pass; bounds memory on large batches. Default 32. */
  maxBatch?: number;
  /** ONNX Runtime intra-op threads; default 2. */
  threads?: number;
}

export interface GraphModelAsOnnx {
  converted: ConvertedGraph;
  /** The graph's nodes and decoded weights, for converting it again with other weights. */
  nodes: TfjsGraphNode[];
  weights: Map<string, GraphWeight>;
  /** model.json, then its weight shards. */
  files: string[];
  /** sha256 over model.json and the shards, computed as the tfjs loader does. */
  weightsHash: string;
}

/** A tfjs graph model as read, before any conversion. */
export type GraphModelRead = Omit<GraphModelAsOnnx, 'converted'>;

/** Reads a tfjs graph model (model.json and the shards beside it): its nodes and decoded weights. */
export async function readGraphModel(modelJsonPath: string): Promise<GraphModelRead> {
  const { json, jsonBytes, shards } = await readGraphModelFiles(modelJsonPath);
  const weights = decodeGraphWeights(shards.specs as GraphWeightSpec[], shards.data, modelJsonPath);
  const nodes = json.modelTopology.node as unknown as TfjsGraphNode[];
  return { nodes, weights, files: [modelJsonPath, ...shards.files], weightsHash: sha256Buffers([jsonBytes, ...shards.buffers]) };
}

/**
 * Reads a tfjs graph model and converts the part that computes `options.outputNode` to ONNX.
 * Needs no tfjs backend.
 */
export async function convertGraphModelFile(modelJsonPath: string, options: Omit<GraphToOnnxOptions, 'label'>): Promise<GraphModelAsOnnx> {
  const graph = await readGraphModel(modelJsonPath);
  return { ...graph, converted: tfjsGraphToOnnx(graph.nodes, graph.weights, { ...options, label: modelJsonPath }) };
}

export class OnnxGraphBase extends GraphSpecBase {
  readonly engine = 'onnxruntime' as const;

  constructor(
    spec: GraphBaseSpec,
    weightsHash: string,
    weightsFiles: readonly string[],
    private readonly session: OnnxSession,
    options: OnnxGraphBaseOptions = {},
  ) {
    super(spec, weightsHash, weightsFiles, options.maxBatch);
  }

  get threads(): number {
    return this.session.threads;
  }

  async embed(batch: ImageBatch): Promise<Float32Array> {
    checkImageBatch(this.id, this.inputSize, batch);
    const { n, height, width } = batch;
    const out = new Float32Array(n * this.dim);
    const perImage = height * width * 3;
    for (let start = 0; start < n; start += this.maxBatch) {
      const count = Math.min(this.maxBatch, n - start);
      const pixels = this.preprocessing.apply(batch.data.subarray(start * perImage, (start + count) * perImage));
      const result = await this.session.run(pixels, [count, height, width, 3]);
      if (result.data.length !== count * this.dim) {
        throw new WeightsError(
          `${this.id}: the model produced output [${result.dims.join(', ')}], expected ${this.dim} features per image`,
          this.session.source,
        );
      }
      out.set(result.data, start * this.dim);
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}

/** Checks a converted graph gives `spec.dim` features and opens it in ONNX Runtime; `label` names it in errors. */
export async function openGraphSession(spec: GraphBaseSpec, converted: ConvertedGraph, label: string, threads?: number): Promise<OnnxSession> {
  const perImage = converted.outputShape.slice(1).reduce((a, b) => a * b, 1);
  if (perImage > 0 && perImage !== spec.dim) {
    throw new WeightsError(`node '${spec.featureNode}' gives ${perImage} features per image, but ${spec.id} expects ${spec.dim}`, label);
  }
  return OnnxSession.create(converted.model, {
    label: `${label} (converted to ONNX up to ${spec.featureNode})`,
    ...(threads !== undefined ? { threads } : {}),
  });
}

/** The conversion options for a spec (already carrying any overrides). */
export function graphSpecConversion(spec: GraphBaseSpec): Omit<GraphToOnnxOptions, 'label'> {
  return { outputNode: spec.featureNode, pooling: spec.pooling, inputSize: spec.inputSize };
}

/**
 * Converts the spec's graph (the spec already carrying any overrides) and opens it in ONNX
 * Runtime. Throws a WeightsError naming the node when the graph uses an op the converter lacks.
 */
export async function loadOnnxGraphBase(spec: GraphBaseSpec, modelJsonPath: string, options: OnnxGraphBaseOptions = {}): Promise<OnnxGraphBase> {
  const { converted, files, weightsHash } = await convertGraphModelFile(modelJsonPath, graphSpecConversion(spec));
  const session = await openGraphSession(spec, converted, modelJsonPath, options.threads);
  return new OnnxGraphBase(spec, weightsHash, files, session, options);
}
