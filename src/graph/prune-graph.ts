import { GraphConversionError } from './errors.js';
import type { GraphWeight, TfjsGraphNode } from './nodes.js';
import { walkDependencies } from './walk.js';

export interface PrunedGraph {
  nodes: TfjsGraphNode[];
  weights: Map<string, GraphWeight>;
}

/** `name`, `^name` or `name:1` → `name`. */
export function producerOf(input: string): string {
  const plain = input.startsWith('^') ? input.slice(1) : input;
  const colon = plain.lastIndexOf(':');
  return colon > 0 && /^\d+$/.test(plain.slice(colon + 1)) ? plain.slice(0, colon) : plain;
}

/**
 * Keeps only the nodes `outputs` are computed from, and their weights: a base read at its pooled
 * features need not ship the heads after them (faceres' age and gender layers, about 1 MB).
 */
export function pruneGraph(nodes: readonly TfjsGraphNode[], weights: ReadonlyMap<string, GraphWeight>, outputs: readonly string[], label = 'graph'): PrunedGraph {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const needed = new Set<string>();
  for (const output of outputs) {
    if (!byName.has(output)) throw new GraphConversionError(`has no node '${output}' to keep`, label);
    walkDependencies<TfjsGraphNode>(output, {
      node: (name) => byName.get(name),
      inputs: (node) => (node.input ?? []).map(producerOf),
      done: (name) => needed.has(name),
      visit: (node) => void needed.add(node.name),
      fail: (node, reason) => {
        throw new GraphConversionError(`node '${node.name}' (${node.op}): ${reason}`, label);
      },
    });
  }
  const kept = nodes.filter((n) => needed.has(n.name));
  return { nodes: kept, weights: new Map([...weights].filter(([name]) => needed.has(name))) };
}
