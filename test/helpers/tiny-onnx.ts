import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import type { Base } from '../../src/bases/base.js';

const { onnx } = onnxProto;
const F = onnx.TensorProto.DataType.FLOAT;

function valueInfo(name: string, dims: Array<number | string>): Onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: F, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } };
}

/**
 * A small real conv net as ONNX (NCHW input [N, 3, size, size] → Conv 3x3 stride 2 → ReLU →
 * global average pool → [N, channels]), with fixed pseudo-random weights: a fast base for tests
 * of the machinery around bases.
 */
export function smallConvOnnx(size: number, channels = 16, seed = 7): Uint8Array {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 0.2;
  const weights = Float32Array.from({ length: channels * 3 * 9 }, rand);
  const bias = Float32Array.from({ length: channels }, rand);
  const init = (name: string, dims: number[], values: Float32Array): Onnx.ITensorProto => ({
    name,
    dims,
    dataType: F,
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  });
  const ints = (name: string, v: number[]): Onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v });
  const model: Onnx.IModelProto = {
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'facegender-tests',
    graph: {
      name: 'small-conv',
      input: [valueInfo('x', ['N', 3, size, size])],
      output: [valueInfo('y', ['N', channels])],
      initializer: [init('w', [channels, 3, 3, 3], weights), init('b', [channels], bias)],
      node: [
        { opType: 'Conv', input: ['x', 'w', 'b'], output: ['c'], attribute: [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 1, 1, 1])] },
        { opType: 'Relu', input: ['c'], output: ['r'] },
        { opType: 'GlobalAveragePool', input: ['r'], output: ['g'] },
        { opType: 'Flatten', input: ['g'], output: ['y'] },
      ],
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** The same base, counting how many images reach `embed`. */
export function countingBase(base: Base): Base & { calls: number; images: number } {
  const counted = Object.create(base) as Base & { calls: number; images: number };
  counted.calls = 0;
  counted.images = 0;
  counted.embed = async (batch) => {
    counted.calls++;
    counted.images += batch.n;
    return base.embed(batch);
  };
  return counted;
}
