import { WeightsError } from '../errors.js';
import type { GraphWeight } from './nodes.js';

/**
 * How a bundle stores a fine-tuned graph base's weights: only the tensors fine-tuning changed, by
 * their graph node names, since the rest are the package's.
 *
 *   bytes 0-3   "FGGW"
 *   bytes 4-7   header length L, uint32 little-endian
 *   next L      JSON {"tensors": [{"name": string, "shape": number[]}, ...]}, UTF-8, padded with
 *               spaces so the floats start at a multiple of 4
 *   the rest    each tensor's float32 values, little-endian, row-major, in header order
 */
export const GRAPH_WEIGHTS_FORMAT = 'tfjs-graph-weights-f32le';

const MAGIC = 'FGGW';

function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Float32Array is little-endian on every platform Node runs on. */
export function encodeGraphWeightBytes(weights: ReadonlyMap<string, GraphWeight>): Uint8Array {
  const tensors = [...weights].map(([name, w]) => {
    if (w.dtype !== 'float32' || w.values.length !== count(w.shape)) throw new WeightsError(`weight '${name}' is not a float32 tensor of shape [${w.shape.join(', ')}]`);
    return { name, shape: w.shape };
  });
  let header = Buffer.from(JSON.stringify({ tensors }), 'utf8');
  const padded = Math.ceil((8 + header.byteLength) / 4) * 4 - 8;
  header = Buffer.concat([header, Buffer.alloc(padded - header.byteLength, ' ')]);
  const floats = [...weights.values()].reduce((s, w) => s + w.values.length, 0);
  const out = new Uint8Array(8 + header.byteLength + 4 * floats);
  out.set(Buffer.from(MAGIC, 'latin1'), 0);
  new DataView(out.buffer).setUint32(4, header.byteLength, true);
  out.set(header, 8);
  const data = new Float32Array(out.buffer, 8 + header.byteLength, floats);
  let at = 0;
  for (const w of weights.values()) {
    data.set(w.values as Float32Array, at);
    at += w.values.length;
  }
  return out;
}

/**
 * The inverse of encodeGraphWeightBytes, checked against the graph's own weights: every stored
 * tensor must replace one of them with the same shape. `file` names the source in errors.
 */
export function decodeGraphWeightBytes(bytes: Uint8Array, original: ReadonlyMap<string, GraphWeight>, file?: string): Map<string, GraphWeight> {
  const bad = (reason: string): never => {
    throw new WeightsError(`not fine-tuned graph weights in ${GRAPH_WEIGHTS_FORMAT}: ${reason}`, file);
  };
  if (bytes.byteLength < 8 || Buffer.from(bytes.subarray(0, 4)).toString('latin1') !== MAGIC) bad(`they do not start with "${MAGIC}"`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  if (headerLength % 4 !== 0 || 8 + headerLength > bytes.byteLength) bad(`header length ${headerLength} does not fit ${bytes.byteLength} bytes`);
  let tensors: Array<{ name: string; shape: number[] }> = [];
  try {
    tensors = (JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString('utf8')) as { tensors: typeof tensors }).tensors;
  } catch (e) {
    bad(`unreadable header (${(e as Error).message})`);
  }
  if (!Array.isArray(tensors)) bad('the header lists no tensors');
  const expected = 8 + headerLength + 4 * tensors.reduce((s, t) => s + count(t.shape), 0);
  if (expected !== bytes.byteLength) bad(`the header describes ${expected} bytes, found ${bytes.byteLength}`);
  // A copy, so the floats are aligned whatever the offset of `bytes` in its buffer. Not
  // `bytes.slice`: on a Node Buffer that is a view, whose `.buffer` starts at the file's header.
  const floats = new Float32Array(new Uint8Array(bytes.subarray(8 + headerLength)).buffer);
  const out = new Map<string, GraphWeight>();
  let at = 0;
  for (const t of tensors) {
    const own = original.get(t.name);
    if (!own) bad(`the graph has no weight '${t.name}'`);
    else if (own.dtype !== 'float32' || own.shape.join(',') !== t.shape.join(',')) bad(`weight '${t.name}' is stored as [${t.shape.join(', ')}], the graph's is [${own.shape.join(', ')}]`);
    const n = count(t.shape);
    out.set(t.name, { dtype: 'float32', shape: [...t.shape], values: floats.slice(at, at + n) });
    at += n;
  }
  return out;
}
