import * as tf from '@tensorflow/tfjs-core';
import { WeightsError } from '../errors.js';
import { loadWeightsManifestFile, resolvePackageFile, sha256Buffers } from '../runtime/tfjs/graph-loader.js';

/**
 * Three of face-api's nets rebuilt on our tfjs-core from the weights in @vladmandic/face-api's
 * model folder: the SSD MobileNet v1 face detector, the 68-point landmark net and the age/gender
 * net. face-api itself cannot be loaded in this process: every build either bundles a second tfjs
 * (whose engine and kernel registry would collide with ours) or imports the `@tensorflow/tfjs`
 * umbrella package, which this project does not install. The forward passes follow the layer
 * names in the weights and the installed build (1.7.15); test/competitors/competitors.test.ts checks them
 * against face-api's own bundle.
 */

export const FACEAPI_SSD_MANIFEST = '@vladmandic/face-api/model/ssd_mobilenetv1_model-weights_manifest.json';
export const FACEAPI_LANDMARK_MANIFEST = '@vladmandic/face-api/model/face_landmark_68_model-weights_manifest.json';
export const FACEAPI_AGE_GENDER_MANIFEST = '@vladmandic/face-api/model/age_gender_model-weights_manifest.json';

/** The detector's input side. */
export const SSD_SIZE = 512;
/** The landmark and age/gender nets' input side. */
export const FACE_NET_SIZE = 112;
const FACE_MEAN_RGB = [122.782, 117.001, 104.298] as const;
/** What the installed build divides by after the mean; some versions of face-api's source say 256. */
const FACE_SCALE = 255;
const BN_EPSILON = 0.0010000000474974513;

interface Conv {
  filter: tf.Tensor4D;
  bias: tf.Tensor1D;
}

interface SeparableConv {
  depthwise: tf.Tensor4D;
  pointwise: tf.Tensor4D;
  bias: tf.Tensor1D;
}

interface Dense {
  weights: tf.Tensor2D;
  bias: tf.Tensor1D;
}

export interface SsdParams {
  stem: Conv;
  /** 13 depthwise/pointwise pairs, the depthwise batch norms folded in. */
  pairs: Array<{ depthwise: Conv; pointwise: Conv }>;
  /** Prediction/Conv2d_0..7_pointwise. */
  extra: Conv[];
  boxPredictors: Array<{ box: Conv; cls: Conv }>;
  /** [5118, 4] anchors as (ymin, xmin, ymax, xmax). */
  anchors: tf.Tensor2D;
}

/** A dense block: conv0 (plain in the first block, separable after) and three separable convs. */
interface DenseBlock {
  conv0: Conv | SeparableConv;
  rest: [SeparableConv, SeparableConv, SeparableConv];
}

export interface LandmarkParams {
  blocks: [DenseBlock, DenseBlock, DenseBlock, DenseBlock];
  fc: Dense;
}

interface ReductionBlock {
  sep0: SeparableConv;
  sep1: SeparableConv;
  expansion: Conv;
}

export interface AgeGenderParams {
  convIn: Conv;
  entry: [ReductionBlock, ReductionBlock];
  middle: Array<[SeparableConv, SeparableConv, SeparableConv]>;
  exitReduction: ReductionBlock;
  exitSep: SeparableConv;
  gender: Dense;
}

export interface FaceapiNets {
  ssd: SsdParams;
  landmarks: LandmarkParams;
  ageGender: AgeGenderParams;
  /** The three manifests, then their shards. */
  files: string[];
  weightsHash: string;
}

// ---- reading the weights -------------------------------------------------------------------

class WeightReader {
  constructor(
    private readonly map: tf.NamedTensorMap,
    private readonly file: string,
  ) {}

  take(name: string, rank: number): tf.Tensor {
    const t = this.map[name];
    if (!t || t.rank !== rank) throw new WeightsError(`has no rank-${rank} weight '${name}'`, this.file);
    return tf.clone(t);
  }

  conv(filterName: string, biasName: string): Conv {
    return { filter: this.take(filterName, 4) as tf.Tensor4D, bias: this.take(biasName, 1) as tf.Tensor1D };
  }

  separable(prefix: string): SeparableConv {
    return {
      depthwise: this.take(`${prefix}/depthwise_filter`, 4) as tf.Tensor4D,
      pointwise: this.take(`${prefix}/pointwise_filter`, 4) as tf.Tensor4D,
      bias: this.take(`${prefix}/bias`, 1) as tf.Tensor1D,
    };
  }

  dense(prefix: string): Dense {
    return { weights: this.take(`${prefix}/weights`, 2) as tf.Tensor2D, bias: this.take(`${prefix}/bias`, 1) as tf.Tensor1D };
  }

  /** A depthwise conv followed by batch norm becomes one depthwise conv with a bias. */
  foldedDepthwise(prefix: string): Conv {
    const [filter, gamma, beta, mean, variance] = [
      this.take(`${prefix}/depthwise_weights`, 4),
      this.take(`${prefix}/BatchNorm/gamma`, 1),
      this.take(`${prefix}/BatchNorm/beta`, 1),
      this.take(`${prefix}/BatchNorm/moving_mean`, 1),
      this.take(`${prefix}/BatchNorm/moving_variance`, 1),
    ];
    const folded = tf.tidy(() => {
      const scale = tf.div(gamma, tf.sqrt(tf.add(variance, BN_EPSILON)));
      return { filter: tf.mul(filter, tf.reshape(scale, [1, 1, -1, 1])) as tf.Tensor4D, bias: tf.sub(beta, tf.mul(mean, scale)) as tf.Tensor1D };
    });
    tf.dispose([filter, gamma, beta, mean, variance]);
    return folded;
  }
}

function ssdParams(w: WeightReader): SsdParams {
  const pointwise = (scope: string, i: number) => w.conv(`${scope}/Conv2d_${i}_pointwise/weights`, `${scope}/Conv2d_${i}_pointwise/convolution_bn_offset`);
  const predictor = (i: number, kind: string) => w.conv(`Prediction/BoxPredictor_${i}/${kind}/weights`, `Prediction/BoxPredictor_${i}/${kind}/biases`);
  const anchors = w.take('Output/extra_dim', 3);
  const flat = tf.reshape(anchors, [-1, 4]) as tf.Tensor2D;
  anchors.dispose();
  return {
    stem: pointwise('MobilenetV1', 0),
    pairs: Array.from({ length: 13 }, (_, k) => ({ depthwise: w.foldedDepthwise(`MobilenetV1/Conv2d_${k + 1}_depthwise`), pointwise: pointwise('MobilenetV1', k + 1) })),
    extra: Array.from({ length: 8 }, (_, i) => pointwise('Prediction', i)),
    boxPredictors: Array.from({ length: 6 }, (_, i) => ({ box: predictor(i, 'BoxEncodingPredictor'), cls: predictor(i, 'ClassPredictor') })),
    anchors: flat,
  };
}

function landmarkParams(w: WeightReader): LandmarkParams {
  const block = (i: number): DenseBlock => ({
    conv0: i === 0 ? w.conv('dense0/conv0/filters', 'dense0/conv0/bias') : w.separable(`dense${i}/conv0`),
    rest: [w.separable(`dense${i}/conv1`), w.separable(`dense${i}/conv2`), w.separable(`dense${i}/conv3`)],
  });
  return { blocks: [block(0), block(1), block(2), block(3)], fc: w.dense('fc') };
}

function ageGenderParams(w: WeightReader): AgeGenderParams {
  const reduction = (prefix: string): ReductionBlock => ({
    sep0: w.separable(`${prefix}/separable_conv0`),
    sep1: w.separable(`${prefix}/separable_conv1`),
    expansion: w.conv(`${prefix}/expansion_conv/filters`, `${prefix}/expansion_conv/bias`),
  });
  return {
    convIn: w.conv('entry_flow/conv_in/filters', 'entry_flow/conv_in/bias'),
    entry: [reduction('entry_flow/reduction_block_0'), reduction('entry_flow/reduction_block_1')],
    middle: [0, 1].map((i) => {
      const p = `middle_flow/main_block_${i}`;
      return [w.separable(`${p}/separable_conv0`), w.separable(`${p}/separable_conv1`), w.separable(`${p}/separable_conv2`)];
    }),
    exitReduction: reduction('exit_flow/reduction_block'),
    exitSep: w.separable('exit_flow/separable_conv'),
    gender: w.dense('fc/gender'),
  };
}

async function withWeights<T>(specifier: string, build: (w: WeightReader) => T): Promise<{ params: T; files: string[]; hash: string }> {
  const file = resolvePackageFile(specifier);
  const loaded = await loadWeightsManifestFile(file);
  try {
    return { params: build(new WeightReader(loaded.tensors, file)), files: loaded.files, hash: loaded.weightsHash };
  } finally {
    tf.dispose(Object.values(loaded.tensors));
  }
}

/** The detector's two nets: what face detection and alignment need, without the age/gender net. */
export interface DetectorNets {
  ssd: SsdParams;
  landmarks: LandmarkParams;
  /** The two manifests, then their shards. */
  files: string[];
  weightsHash: string;
}

/** Reads the SSD's and the landmark net's weights. The tfjs backend must already be set up. */
export async function loadDetectorNets(): Promise<DetectorNets> {
  const ssd = await withWeights(FACEAPI_SSD_MANIFEST, ssdParams);
  try {
    const landmarks = await withWeights(FACEAPI_LANDMARK_MANIFEST, landmarkParams);
    return {
      ssd: ssd.params,
      landmarks: landmarks.params,
      files: [...ssd.files, ...landmarks.files],
      weightsHash: sha256Buffers([ssd.hash, landmarks.hash].map((h) => Buffer.from(h, 'hex'))),
    };
  } catch (err) {
    disposeNetTensors(ssd.params);
    throw err;
  }
}

/** Reads the three nets' weights. The tfjs backend must already be set up (see runtime/tfjs/backend.ts). */
export async function loadFaceapiNets(): Promise<FaceapiNets> {
  const ssd = await withWeights(FACEAPI_SSD_MANIFEST, ssdParams);
  const landmarks = await withWeights(FACEAPI_LANDMARK_MANIFEST, landmarkParams);
  const ageGender = await withWeights(FACEAPI_AGE_GENDER_MANIFEST, ageGenderParams);
  const hashes = [ssd.hash, landmarks.hash, ageGender.hash].map((h) => Buffer.from(h, 'hex'));
  return {
    ssd: ssd.params,
    landmarks: landmarks.params,
    ageGender: ageGender.params,
    files: [...ssd.files, ...landmarks.files, ...ageGender.files],
    weightsHash: sha256Buffers(hashes),
  };
}

/** Disposes every tensor held anywhere inside `value` (nets' parameter objects). */
export function disposeNetTensors(value: unknown): void {
  const tensors: tf.Tensor[] = [];
  const collect = (v: unknown): void => {
    if (v instanceof tf.Tensor) tensors.push(v);
    else if (Array.isArray(v)) v.forEach(collect);
    else if (v && typeof v === 'object') Object.values(v).forEach(collect);
  };
  collect(value);
  tf.dispose(tensors);
}

export function disposeFaceapiNets(nets: FaceapiNets): void {
  disposeNetTensors([nets.ssd, nets.landmarks, nets.ageGender]);
}

// ---- layers --------------------------------------------------------------------------------

function conv(x: tf.Tensor4D, c: Conv, stride: 1 | 2, activation: 'linear' | 'relu' | 'relu6' = 'linear'): tf.Tensor4D {
  return tf.fused.conv2d({ x, filter: c.filter, strides: stride, pad: 'same', bias: c.bias, activation });
}

function sepConv(x: tf.Tensor4D, s: SeparableConv, stride: 1 | 2 = 1): tf.Tensor4D {
  return tf.add(tf.separableConv2d(x, s.depthwise, s.pointwise, stride, 'same'), s.bias);
}

function dense(x: tf.Tensor2D, d: Dense): tf.Tensor2D {
  return tf.add(tf.matMul(x, d.weights), d.bias);
}

/** face-api's face-net input: minus its RGB mean, divided by 255. */
function normaliseFaces(faces: tf.Tensor4D): tf.Tensor4D {
  return tf.div(tf.sub(faces, tf.tensor1d([...FACE_MEAN_RGB])), FACE_SCALE);
}

// ---- SSD MobileNet v1 ----------------------------------------------------------------------

/** Depthwise layers 2, 4, 6 and 12 halve the resolution. */
const SSD_STRIDE_2 = new Set([2, 4, 6, 12]);

/**
 * [N, 512, 512, 3] images in 0..255 to boxes [N, 5118, 4] as (ymin, xmin, ymax, xmax), fractions
 * of the input, and face scores [N, 5118].
 */
export function ssdForward(p: SsdParams, images: tf.Tensor4D): { boxes: tf.Tensor3D; scores: tf.Tensor2D } {
  return tf.tidy(() => {
    const n = images.shape[0];
    let out = conv(tf.sub(tf.mul(images, 0.007843137718737125), 1) as tf.Tensor4D, p.stem, 2, 'relu6');
    let conv11: tf.Tensor4D | undefined;
    p.pairs.forEach((pair, k) => {
      const layer = k + 1;
      const stride = SSD_STRIDE_2.has(layer) ? 2 : 1;
      out = tf.fused.depthwiseConv2d({ x: out, filter: pair.depthwise.filter, strides: stride, pad: 'same', bias: pair.depthwise.bias, activation: 'relu6' });
      out = conv(out, pair.pointwise, 1, 'relu6');
      if (layer === 11) conv11 = out;
    });
    if (!conv11) throw new Error('SSD: no output at layer 11');
    const e = p.extra as [Conv, Conv, Conv, Conv, Conv, Conv, Conv, Conv];
    const c1 = conv(conv(out, e[0], 1, 'relu6'), e[1], 2, 'relu6');
    const c3 = conv(conv(c1, e[2], 1, 'relu6'), e[3], 2, 'relu6');
    const c5 = conv(conv(c3, e[4], 1, 'relu6'), e[5], 2, 'relu6');
    const c7 = conv(conv(c5, e[6], 1, 'relu6'), e[7], 2, 'relu6');
    const maps = [conv11, out, c1, c3, c5, c7];
    const predictors = p.boxPredictors;
    const enc = tf.concat(maps.map((m, i) => tf.reshape(conv(m, (predictors[i] as { box: Conv }).box, 1), [n, -1, 4])), 1) as tf.Tensor3D;
    const classes = tf.concat(maps.map((m, i) => tf.reshape(conv(m, (predictors[i] as { cls: Conv }).cls, 1), [n, -1, 3])), 1);
    // Class 0 is the background, class 1 a face.
    const scores = tf.reshape(tf.sigmoid(tf.slice(classes, [0, 0, 1], [-1, -1, 1])), [n, -1]) as tf.Tensor2D;

    // SSD's box decoding with variances 0.1 (centre) and 0.2 (size).
    const [aYmin, aXmin, aYmax, aXmax] = tf.unstack(p.anchors, 1) as [tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
    const aH = tf.sub(aYmax, aYmin);
    const aW = tf.sub(aXmax, aXmin);
    const aCy = tf.add(aYmin, tf.div(aH, 2));
    const aCx = tf.add(aXmin, tf.div(aW, 2));
    const [ty, tx, th, tw] = tf.unstack(enc, 2) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    const halfH = tf.div(tf.mul(tf.exp(tf.div(th, 5)), aH), 2);
    const halfW = tf.div(tf.mul(tf.exp(tf.div(tw, 5)), aW), 2);
    const cy = tf.add(tf.mul(tf.div(ty, 10), aH), aCy);
    const cx = tf.add(tf.mul(tf.div(tx, 10), aW), aCx);
    const boxes = tf.stack([tf.sub(cy, halfH), tf.sub(cx, halfW), tf.add(cy, halfH), tf.add(cx, halfW)], 2) as tf.Tensor3D;
    return { boxes, scores };
  });
}

// ---- 68-point landmarks --------------------------------------------------------------------

function denseBlock(x: tf.Tensor4D, b: DenseBlock): tf.Tensor4D {
  const out1 = tf.relu('pointwise' in b.conv0 ? sepConv(x, b.conv0, 2) : conv(x, b.conv0, 2));
  const [s1, s2, s3] = b.rest;
  const out2 = sepConv(out1, s1);
  const out3 = sepConv(tf.relu(tf.add(out1, out2)), s2);
  const out4 = sepConv(tf.relu(tf.add(out1, tf.add(out2, out3))), s3);
  return tf.relu(tf.add(out1, tf.add(out2, tf.add(out3, out4))));
}

/** [N, 112, 112, 3] faces in 0..255 to [N, 136] interleaved (x, y) fractions of the 112 square. */
export function landmarkForward(p: LandmarkParams, faces: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => {
    let out = normaliseFaces(faces);
    for (const b of p.blocks) out = denseBlock(out, b);
    // A 7x7 pool with stride 2 on the 7x7 map: a global average.
    const pooled = tf.reshape(tf.avgPool(out, 7, 2, 'valid'), [faces.shape[0], -1]) as tf.Tensor2D;
    return dense(pooled, p.fc);
  });
}

// ---- age and gender ------------------------------------------------------------------------

function reduction(x: tf.Tensor4D, b: ReductionBlock, activateInput: boolean): tf.Tensor4D {
  let out = activateInput ? tf.relu(x) : x;
  out = sepConv(out, b.sep0);
  out = sepConv(tf.relu(out), b.sep1);
  out = tf.maxPool(out, 3, 2, 'same');
  return tf.add(out, conv(x, b.expansion, 2));
}

/** [N, 112, 112, 3] faces in 0..255 to P(Male) [N]: the gender softmax's first output. */
export function ageGenderForward(p: AgeGenderParams, faces: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() => {
    let out = conv(normaliseFaces(faces), p.convIn, 2, 'relu');
    out = reduction(out, p.entry[0], false);
    out = reduction(out, p.entry[1], true);
    for (const [s0, s1, s2] of p.middle) {
      let y = sepConv(tf.relu(out), s0);
      y = sepConv(tf.relu(y), s1);
      y = sepConv(tf.relu(y), s2);
      out = tf.add(y, out);
    }
    out = reduction(out, p.exitReduction, true);
    out = tf.relu(sepConv(out, p.exitSep));
    const pooled = tf.reshape(tf.avgPool(out, 7, 2, 'valid'), [faces.shape[0], -1]) as tf.Tensor2D;
    return tf.reshape(tf.slice(tf.softmax(dense(pooled, p.gender)), [0, 0], [-1, 1]), [-1]) as tf.Tensor1D;
  });
}
