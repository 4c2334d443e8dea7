import { WeightsError } from '../errors.js';
import { freeInputDimensions, type GraphModelJson } from '../runtime/tfjs/graph-loader.js';
import type { GraphWeight, TfjsGraphNode } from './nodes.js';

/** A graph model.json for `nodes`, with one shard holding the weights of its constants (float32 or int32 each). */
export function encodeGraphModel(template: GraphModelJson, nodes: readonly TfjsGraphNode[], weights: ReadonlyMap<string, GraphWeight>, shard: string): { json: GraphModelJson; bin: Uint8Array } {
  const parts: Uint8Array[] = [];
  const entries = nodes.flatMap((node) => {
    if (node.op !== 'Const') return [];
    const w = weights.get(node.name);
    const inline = node.attr?.value?.tensor;
    if (!w && (inline?.tensorContent !== undefined || inline?.floatVal !== undefined || inline?.intVal !== undefined)) return [];
    if (!w) throw new WeightsError(`the graph's weight '${node.name}' is missing`);
    parts.push(new Uint8Array(w.values.buffer, w.values.byteOffset, w.values.byteLength));
    return [{ name: node.name, shape: w.shape, dtype: w.dtype }];
  });
  const bin = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    bin.set(p, at);
    at += p.byteLength;
  }
  const json: GraphModelJson = { ...template, modelTopology: { ...template.modelTopology, node: nodes as GraphModelJson['modelTopology']['node'] }, weightsManifest: [{ paths: [shard], weights: entries }] };
  freeInputDimensions(json, false);
  return { json, bin };
}
