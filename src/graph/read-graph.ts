import { readGraphModelFiles, sha256Buffers } from '../runtime/tfjs/graph-loader.js';
import { decodeGraphWeights } from './decode-weights.js';
import type { GraphWeight, GraphWeightSpec, TfjsGraphNode } from './nodes.js';
import { tfjsGraphToOnnx, type ConvertedGraph, type GraphToOnnxOptions } from './to-onnx.js';

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
