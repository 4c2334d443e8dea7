import * as tf from '@tensorflow/tfjs-core';
import type { ImageBatch, ImageSize } from '../data/image.js';
import { WeightsError } from '../errors.js';
import type { Base, CropBox } from '../bases/base.js';
import { centreSquareCrop } from '../bases/crops.js';
import { initTfjs } from '../runtime/tfjs/backend.js';
import { DEFAULT_MAX_BATCH, embedInSlices, tfjsSliceRunner } from '../bases/embed-loop.js';
import { checkCrop, checkMaxBatch, type TfjsBaseOptions } from '../bases/spec.js';
import { loadWeightsManifestFile, resolvePackageFile } from '../runtime/tfjs/graph-loader.js';

/**
 * face-api's face recogniser (dlib's ResNet-34-like net) rebuilt on our own tfjs-core. face-api's
 * own class cannot be used: every build of @vladmandic/face-api either bundles a second tfjs or
 * imports the `@tensorflow/tfjs` umbrella package, which this project does not install. The
 * weights are read from its manifest; the forward pass follows the layer names in it.
 */

export const FACEAPI_RECOGNITION_MANIFEST = '@vladmandic/face-api/model/face_recognition_model-weights_manifest.json';
export const FACEAPI_INPUT_SIZE: ImageSize = { height: 150, width: 150 };
export const FACEAPI_DIM = 128;
/** face-api subtracts this RGB mean, then divides by 255, before the first convolution. */
export const FACEAPI_MEAN_RGB = [122.782, 117.001, 104.298] as const;
/** Crop chosen by cross-validation in the linear probe on celeba-10k (bench/face-probe.ts). */
export const FACEAPI_DEFAULT_CROP: CropBox = centreSquareCrop(0.6);

export const FACEAPI_TRAINED_ON =
  "face identification: dlib's face recognition ResNet (weights by Davis King, 99.38% on LFW; per dlib's documentation trained on " +
  'about 3 million faces of some 7,500 people from FaceScrub, the VGG face dataset and web images), ported to tfjs by face-api.js';

interface FoldedConv {
  filter: tf.Tensor4D;
  bias: tf.Tensor1D;
}

interface Residual {
  conv1: FoldedConv;
  conv2: FoldedConv;
}

interface Params {
  stem: FoldedConv;
  blocks: Array<{ name: string; down: boolean; layer: Residual }>;
  fc: tf.Tensor2D;
}

/** Stages in order; `_down` blocks halve the resolution. */
const BLOCKS = [
  'conv32_1', 'conv32_2', 'conv32_3',
  'conv64_down', 'conv64_1', 'conv64_2', 'conv64_3',
  'conv128_down', 'conv128_1', 'conv128_2',
  'conv256_down', 'conv256_1', 'conv256_2', 'conv256_down_out',
] as const;

function take(map: tf.NamedTensorMap, name: string, rank: number, file: string): tf.Tensor {
  const t = map[name];
  if (!t || t.rank !== rank) throw new WeightsError(`has no rank-${rank} weight '${name}' (is it face-api's face_recognition_model?)`, file);
  return t;
}

/**
 * Each conv is followed by a per-channel scale and shift: conv(x, W) + b, then * s + t. Folding
 * s into W and b*s + t into the bias gives one fused conv per layer.
 */
function foldConv(map: tf.NamedTensorMap, prefix: string, file: string): FoldedConv {
  const filters = take(map, `${prefix}/conv/filters`, 4, file) as tf.Tensor4D;
  const bias = take(map, `${prefix}/conv/bias`, 1, file);
  const scale = take(map, `${prefix}/scale/weights`, 1, file);
  const shift = take(map, `${prefix}/scale/biases`, 1, file);
  return tf.tidy(() => ({ filter: tf.mul(filters, scale) as tf.Tensor4D, bias: tf.add(tf.mul(bias, scale), shift) as tf.Tensor1D }));
}

function conv(x: tf.Tensor4D, c: FoldedConv, stride: 1 | 2, padding: 'same' | 'valid', relu: boolean): tf.Tensor4D {
  return tf.fused.conv2d({ x, filter: c.filter, strides: stride, pad: padding, bias: c.bias, activation: relu ? 'relu' : 'linear' });
}

/** Zero-pads `x` at the bottom/right (spatial) and the end (channels) up to the given shape. */
function padTo(x: tf.Tensor4D, height: number, width: number, channels: number): tf.Tensor4D {
  const [, h, w, c] = x.shape;
  if (h === height && w === width && c === channels) return x;
  return tf.pad(x, [[0, 0], [0, height - h], [0, width - w], [0, channels - c]]);
}

function residualBlock(x: tf.Tensor4D, layer: Residual, down: boolean): tf.Tensor4D {
  if (!down) {
    const y = conv(conv(x, layer.conv1, 1, 'same', true), layer.conv2, 1, 'same', false);
    return tf.relu(tf.add(y, x));
  }
  let y = conv(conv(x, layer.conv1, 2, 'valid', true), layer.conv2, 1, 'same', false);
  // The shortcut is a 2x2 average pool with the new channels zero; where the strided conv comes
  // out one row/column short of the pool, the conv's output is zero-padded instead.
  let shortcut = tf.avgPool(x, 2, 2, 'valid');
  const [, h, w, c] = y.shape;
  const [, ph, pw] = shortcut.shape;
  y = padTo(y, Math.max(h, ph), Math.max(w, pw), c);
  shortcut = padTo(shortcut, y.shape[1], y.shape[2], c);
  return tf.relu(tf.add(shortcut, y));
}

function forward(params: Params, input: tf.Tensor4D): tf.Tensor2D {
  const mean = tf.tensor1d([...FACEAPI_MEAN_RGB]);
  let x = tf.div(tf.sub(input, mean), 255) as tf.Tensor4D;
  x = conv(x, params.stem, 2, 'valid', true);
  x = tf.maxPool(x, 3, 2, 'valid');
  for (const block of params.blocks) x = residualBlock(x, block.layer, block.down);
  return tf.matMul(tf.mean(x, [1, 2]) as tf.Tensor2D, params.fc);
}

export interface FaceapiRecognitionOptions extends TfjsBaseOptions {
  /** Replace the default crop; `null` means the whole image. */
  crop?: CropBox | null;
}

export class FaceapiRecognitionBase implements Base {
  readonly id = 'faceapi-resnet';
  readonly architecture = 'ResNet-34-like (29 conv layers, 4 stages of 32-256 channels), global average pooling, 256→128 linear descriptor';
  readonly trainedOn = FACEAPI_TRAINED_ON;
  readonly engine = 'tfjs' as const;
  readonly inputSize = FACEAPI_INPUT_SIZE;
  readonly crop?: CropBox;
  /** The mean subtraction and scaling happen inside the net, as in face-api. */
  readonly preprocess = 'raw';
  readonly dim = FACEAPI_DIM;
  /**
   * Its weights are plain tensors, so it could in principle be fine-tuned, but training convs
   * needs Conv2DBackpropFilter, which tfjs-wasm lacks; treat it as a frozen feature extractor.
   */
  readonly trainable = false;

  constructor(
    private readonly params: Params,
    readonly weightsHash: string,
    readonly weightsFiles: readonly string[],
    crop: CropBox | undefined,
    private readonly maxBatch: number,
  ) {
    if (crop) this.crop = crop;
  }

  async embed(batch: ImageBatch): Promise<Float32Array> {
    const run = tfjsSliceRunner(this.inputSize, (x) => forward(this.params, x));
    return embedInSlices({ id: this.id, inputSize: this.inputSize, dim: this.dim, maxBatch: this.maxBatch, preprocess: (p) => p, run }, batch);
  }

  async dispose(): Promise<void> {
    const { stem, blocks, fc } = this.params;
    tf.dispose([stem.filter, stem.bias, fc, ...blocks.flatMap((b) => [b.layer.conv1.filter, b.layer.conv1.bias, b.layer.conv2.filter, b.layer.conv2.bias])]);
  }
}

export async function loadFaceapiRecognitionBase(options: FaceapiRecognitionOptions = {}): Promise<FaceapiRecognitionBase> {
  checkMaxBatch('faceapi-resnet', options.maxBatch);
  if (options.crop) checkCrop('faceapi-resnet', options.crop);
  const file = resolvePackageFile(FACEAPI_RECOGNITION_MANIFEST);
  await initTfjs({ backend: options.backend });
  const { tensors, files, weightsHash } = await loadWeightsManifestFile(file);
  try {
    const fc = take(tensors, 'fc', 2, file) as tf.Tensor2D;
    const params: Params = {
      stem: foldConv(tensors, 'conv32_down', file),
      blocks: BLOCKS.map((name) => ({
        name,
        down: name.includes('_down'),
        layer: { conv1: foldConv(tensors, `${name}/conv1`, file), conv2: foldConv(tensors, `${name}/conv2`, file) },
      })),
      fc: tf.clone(fc),
    };
    const crop = options.crop === null ? undefined : (options.crop ?? FACEAPI_DEFAULT_CROP);
    return new FaceapiRecognitionBase(params, weightsHash, files, crop, options.maxBatch ?? DEFAULT_MAX_BATCH);
  } finally {
    // The folded copies replace the raw weights.
    tf.dispose(Object.values(tensors));
  }
}
