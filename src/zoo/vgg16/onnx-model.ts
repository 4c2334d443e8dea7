import type { ImageSize } from '../../data/image.js';
import { WeightsError } from '../../errors.js';
import { attrInt, attrInts, encodeModel, floatInitializer, floatValueInfo, ONNX_INPUT_NAME, ONNX_OUTPUT_NAME, type Onnx } from '../../runtime/onnx/builder.js';
import { KERNEL_SIZE, type ConvWeights, type Vgg16ConvLayer } from './keras-weights.js';

export interface Vgg16GraphOptions {
  /** Default 224x224. The conv base works at any size that survives five 2x2 pools. */
  inputSize?: ImageSize;
  /**
   * `nhwc`: input [N, H, W, 3] with the transpose to NCHW done inside the graph (the default:
   * callers hand over their pixel buffer unchanged). `nchw`: input [N, 3, H, W].
   */
  layout?: 'nhwc' | 'nchw';
}

/**
 * Builds VGG16's conv base (13 conv3x3+ReLU, 5 max pools) followed by global average pooling,
 * as an ONNX model with a dynamic batch dimension. Output: [N, 512].
 */
export function buildVgg16OnnxModel(
  layers: readonly Vgg16ConvLayer[],
  weights: readonly ConvWeights[],
  options: Vgg16GraphOptions = {},
): Uint8Array {
  const { height, width } = options.inputSize ?? { height: 224, width: 224 };
  const layout = options.layout ?? 'nhwc';
  if (weights.length !== layers.length) {
    throw new WeightsError(`VGG16 graph needs ${layers.length} conv layers, got ${weights.length}`);
  }
  const nodes: Onnx.INodeProto[] = [];
  const initializers: Onnx.ITensorProto[] = [];
  let current = ONNX_INPUT_NAME;
  if (layout === 'nhwc') {
    nodes.push({ opType: 'Transpose', name: 'to_nchw', input: [current], output: ['input_nchw'], attribute: [attrInts('perm', [0, 3, 1, 2])] });
    current = 'input_nchw';
  }
  layers.forEach((layer, i) => {
    const w = weights[i] as ConvWeights;
    if (w.layer !== layer.name || w.inChannels !== layer.inChannels || w.outChannels !== layer.outChannels) {
      throw new WeightsError(`VGG16 graph: weights for ${w.layer} do not fit layer ${layer.name}`);
    }
    const kernelName = `${layer.name}/kernel`;
    const biasName = `${layer.name}/bias`;
    initializers.push(
      floatInitializer(kernelName, [layer.outChannels, layer.inChannels, KERNEL_SIZE, KERNEL_SIZE], w.kernel),
      floatInitializer(biasName, [layer.outChannels], w.bias),
    );
    nodes.push({
      opType: 'Conv',
      name: layer.name,
      input: [current, kernelName, biasName],
      output: [`${layer.name}/conv`],
      attribute: [attrInts('kernel_shape', [KERNEL_SIZE, KERNEL_SIZE]), attrInts('pads', [1, 1, 1, 1]), attrInts('strides', [1, 1])],
    });
    nodes.push({ opType: 'Relu', name: `${layer.name}/relu`, input: [`${layer.name}/conv`], output: [`${layer.name}/out`] });
    current = `${layer.name}/out`;
    if (layer.poolAfter) {
      nodes.push({
        opType: 'MaxPool',
        name: `${layer.name}/pool`,
        input: [current],
        output: [`${layer.name}/pooled`],
        attribute: [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2])],
      });
      current = `${layer.name}/pooled`;
    }
  });
  nodes.push({ opType: 'GlobalAveragePool', name: 'global_avg_pool', input: [current], output: ['gap'] });
  nodes.push({ opType: 'Flatten', name: 'flatten', input: ['gap'], output: [ONNX_OUTPUT_NAME], attribute: [attrInt('axis', 1)] });

  const lastWidth = (layers[layers.length - 1] as Vgg16ConvLayer).outChannels;
  const inputDims: Array<number | string> = layout === 'nhwc' ? ['N', height, width, 3] : ['N', 3, height, width];
  return encodeModel('facegender', {
    name: 'vgg16_conv_base',
    node: nodes,
    initializer: initializers,
    input: [floatValueInfo(ONNX_INPUT_NAME, inputDims)],
    output: [floatValueInfo(ONNX_OUTPUT_NAME, ['N', lastWidth])],
  });
}
