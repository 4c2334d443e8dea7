import type { TfjsAttrValue, TfjsGraphNode } from './nodes.js';

/** TensorFlow graph JSON keeps string attributes (and lists of them) base64-encoded. */
export function decodeBase64(s: string): string {
  return Buffer.from(s, 'base64').toString('utf8');
}

export function decodeAttrString(value: TfjsAttrValue | undefined): string | undefined {
  return value?.s === undefined ? undefined : decodeBase64(value.s);
}

export function attrIntList(node: TfjsGraphNode, key: string): number[] | undefined {
  return node.attr?.[key]?.list?.i?.map(Number);
}

/**
 * An NHWC [1, h, w, 1] attribute (strides, dilations, ksize) as [h, w]; `fallback` in both when
 * absent. `fail` reports any other shape against the node.
 */
export function spatialPair(node: TfjsGraphNode, key: string, fallback: number, fail: (reason: string) => never): [number, number] {
  const list = attrIntList(node, key);
  if (!list) return [fallback, fallback];
  if (list.length !== 4 || list[0] !== 1 || list[3] !== 1) fail(`${key} [${list.join(', ')}] must be [1, h, w, 1]`);
  return [list[1] as number, list[2] as number];
}

/** The ops a _Fused* node applies after its main op, e.g. ['BiasAdd', 'Relu']. */
export function fusedOps(node: TfjsGraphNode): string[] {
  return (node.attr?.fused_ops?.list?.s ?? []).map(decodeBase64);
}
