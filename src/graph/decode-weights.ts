import { WeightsError } from '../errors.js';
import { GraphConversionError } from './errors.js';
import type { GraphWeight, GraphWeightSpec } from './nodes.js';

const QUANTIZED_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };

/** IEEE 754 half → single. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/**
 * Decodes the concatenated weight shards into named arrays, dequantising float16, uint8 and
 * uint16 entries the way tfjs does. Done here rather than with tfjs' io.decodeWeights so the
 * ONNX path needs no tfjs backend.
 */
export function decodeGraphWeights(specs: readonly GraphWeightSpec[], data: ArrayBuffer, label?: string): Map<string, GraphWeight> {
  const out = new Map<string, GraphWeight>();
  let offset = 0;
  for (const spec of specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const quant = spec.quantization;
    const bytes = quant ? count * (QUANTIZED_BYTES[quant.dtype] ?? NaN) : count * 4;
    if (!Number.isFinite(bytes)) throw new GraphConversionError(`weight '${spec.name}' uses quantisation '${quant?.dtype}', which is not supported`, label);
    if (offset + bytes > data.byteLength) throw new WeightsError(`weight '${spec.name}' runs past the end of the weight data`, label);
    let weight: GraphWeight;
    if (quant) {
      if (spec.dtype !== 'float32') throw new GraphConversionError(`weight '${spec.name}' is quantised ${spec.dtype}; only float32 is supported`, label);
      const values = new Float32Array(count);
      if (quant.dtype === 'float16') {
        const half = new Uint16Array(data.slice(offset, offset + bytes));
        for (let i = 0; i < count; i++) values[i] = halfToFloat(half[i] as number);
      } else {
        const q = quant.dtype === 'uint8' ? new Uint8Array(data, offset, count) : new Uint16Array(data.slice(offset, offset + bytes));
        const scale = quant.scale ?? 1;
        const min = quant.min ?? 0;
        for (let i = 0; i < count; i++) values[i] = (q[i] as number) * scale + min;
      }
      weight = { dtype: 'float32', shape: [...spec.shape], values };
    } else if (spec.dtype === 'float32') {
      weight = { dtype: 'float32', shape: [...spec.shape], values: new Float32Array(data.slice(offset, offset + bytes)) };
    } else if (spec.dtype === 'int32') {
      weight = { dtype: 'int32', shape: [...spec.shape], values: new Int32Array(data.slice(offset, offset + bytes)) };
    } else {
      throw new GraphConversionError(`weight '${spec.name}' has dtype ${spec.dtype}; only float32 and int32 are supported`, label);
    }
    out.set(spec.name, weight);
    offset += bytes;
  }
  if (offset !== data.byteLength) {
    throw new WeightsError(`the weight data holds ${data.byteLength} bytes but the manifest describes ${offset}`, label);
  }
  return out;
}
