import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';

/** The pieces every ONNX model facegender builds itself is made of (VGG16, converted tfjs graphs). */

export const { onnx } = onnxProto;
export type { Onnx };

/** Opset 13 has every op our builders use in its final form and is read by any recent ONNX Runtime. */
export const ONNX_OPSET = 13;
/** The input and output names of every model we build: an image batch in, features out. */
export const ONNX_INPUT_NAME = 'input';
export const ONNX_OUTPUT_NAME = 'features';

const ATTR = onnx.AttributeProto.AttributeType;
const DTYPE = onnx.TensorProto.DataType;

export function attrInts(name: string, ints: number[]): Onnx.IAttributeProto {
  return { name, type: ATTR.INTS, ints };
}

export function attrInt(name: string, i: number): Onnx.IAttributeProto {
  return { name, type: ATTR.INT, i };
}

export function attrFloat(name: string, f: number): Onnx.IAttributeProto {
  return { name, type: ATTR.FLOAT, f };
}

export function attrString(name: string, s: string): Onnx.IAttributeProto {
  return { name, type: ATTR.STRING, s: new TextEncoder().encode(s) };
}

/** ONNX raw_data is little-endian, as is every platform onnxruntime-node ships for. */
export function floatInitializer(name: string, dims: number[], values: Float32Array): Onnx.ITensorProto {
  return { name, dims, dataType: DTYPE.FLOAT, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

export function int64Initializer(name: string, values: number[]): Onnx.ITensorProto {
  const data = BigInt64Array.from(values.map((v) => BigInt(v)));
  return { name, dims: [values.length], dataType: DTYPE.INT64, rawData: new Uint8Array(data.buffer) };
}

/** A float tensor's type; a string dimension is symbolic (e.g. the batch, `N`). */
export function floatValueInfo(name: string, dims: ReadonlyArray<number | string | Onnx.TensorShapeProto.IDimension>): Onnx.IValueInfoProto {
  const dim = dims.map((d) => (typeof d === 'string' ? { dimParam: d } : typeof d === 'number' ? { dimValue: d } : d));
  return { name, type: { tensorType: { elemType: DTYPE.FLOAT, shape: { dim } } } };
}

/** Serialises a one-graph model at ONNX_OPSET. */
export function encodeModel(producerName: string, graph: Onnx.IGraphProto): Uint8Array {
  return onnx.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: ONNX_OPSET }], producerName, graph }).finish();
}
