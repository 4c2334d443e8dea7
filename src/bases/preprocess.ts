import { UsageError } from '../errors.js';

/**
 * A named pixel transform from [N, H, W, 3] RGB 0..255 to what a base's weights expect. Each
 * returns a new array of the same layout; the input is never changed.
 */
export interface Preprocessing {
  readonly name: string;
  readonly description: string;
  apply(data: Float32Array): Float32Array;
}

/** RGB→BGR, then per-channel mean subtraction, the convention of Caffe-trained VGG weights. */
function bgrMinusMean(meanBgr: readonly [number, number, number]): (data: Float32Array) => Float32Array {
  const [mb, mg, mr] = meanBgr;
  return (data) => {
    const out = new Float32Array(data.length);
    for (let i = 0; i + 2 < data.length; i += 3) {
      out[i] = (data[i + 2] as number) - mb;
      out[i + 1] = (data[i + 1] as number) - mg;
      out[i + 2] = (data[i] as number) - mr;
    }
    return out;
  };
}

function entry(name: string, description: string, apply: (data: Float32Array) => Float32Array): Preprocessing {
  return { name, description, apply };
}

export const PREPROCESSING: Readonly<Record<string, Preprocessing>> = {
  'caffe-imagenet': entry(
    'caffe-imagenet',
    "RGB→BGR, minus the ImageNet mean [103.939, 116.779, 123.68] (Keras applications' VGG16 'caffe' mode)",
    bgrMinusMean([103.939, 116.779, 123.68]),
  ),
  'vggface-v1': entry(
    'vggface-v1',
    "RGB→BGR, minus the VGGFace mean [93.5940, 104.7624, 129.1863] (keras-vggface preprocess_input, version 1)",
    bgrMinusMean([93.594, 104.7624, 129.1863]),
  ),
  study: entry('study', "x/255, RGB, no mean: the study's ImageDataGenerator(rescale=1./255)", (data) => {
    const out = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = (data[i] as number) / 255;
    return out;
  }),
  raw: entry('raw', 'unchanged RGB 0..255 (for models that normalise inside their graph)', (data) => Float32Array.from(data)),
};

export function getPreprocessing(name: string): Preprocessing {
  const found = Object.hasOwn(PREPROCESSING, name) ? PREPROCESSING[name] : undefined;
  if (!found) {
    throw new UsageError(`unknown preprocessing '${name}'; known: ${Object.keys(PREPROCESSING).join(', ')}`);
  }
  return found;
}

