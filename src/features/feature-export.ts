import { UsageError } from '../errors.js';
import { writeFileAtomically } from '../util/atomic-write.js';

/** NPY v1.0: magic, header length, a Python dict literal padded to 64 bytes, then the raw array. */
export function encodeNpy(data: Float32Array, shape: number[]): Uint8Array {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + dict.length + 1;
  const header = dict + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

/**
 * Writes feature vectors for use in other tools: `.npy` (a [files, dim] float32 array, with the
 * file order in a `.files.txt` beside it) or `.json` (file names with their vectors).
 */
export async function writeFeatures(out: string, files: string[], vectors: Float32Array, dim: number): Promise<string[]> {
  if (out.endsWith('.npy')) {
    const list = out.replace(/\.npy$/, '.files.txt');
    await writeFileAtomically(out, encodeNpy(vectors, [files.length, dim]));
    await writeFileAtomically(list, files.join('\n') + '\n');
    return [out, list];
  }
  if (out.endsWith('.json')) {
    const rows = files.map((file, i) => ({ file, vector: Array.from(vectors.subarray(i * dim, (i + 1) * dim)) }));
    await writeFileAtomically(out, JSON.stringify({ dim, count: files.length, features: rows }) + '\n');
    return [out];
  }
  throw new UsageError(`--out must end in .json or .npy, got ${out}`);
}
