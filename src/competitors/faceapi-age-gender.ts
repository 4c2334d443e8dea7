import * as tf from '@tensorflow/tfjs-core';
import { decodeImage } from '../data/decode.js';
import type { DecodedImage } from '../data/image.js';
import { padImage, type BorderFill } from '../data/pad-image.js';
import { UsageError } from '../errors.js';
import type { GenderModel, GenderModelOptions, GenderScores } from './gender-model.js';
import { clipToImage, type PixelBox } from '../detect/box.js';
import { detectionBox, squareResized } from '../detect/ssd-detector.js';
import {
  ageGenderForward,
  disposeFaceapiNets,
  FACE_NET_SIZE,
  landmarkForward,
  loadFaceapiNets,
  SSD_SIZE,
  ssdForward,
  type FaceapiNets,
} from '../detect/faceapi-nets.js';
import { initTfjs } from '../runtime/tfjs/backend.js';

/**
 * face-api's age and gender prediction as `detectAllFaces(image).withFaceLandmarks().withAgeAndGender()`
 * runs it on a tensor, on face-api's nets rebuilt on our tfjs (faceapi-nets.ts):
 *
 * 1. SSD MobileNet v1 finds the face: the image is padded to a square at the bottom or right with
 *    zeros and resized bilinearly to 512x512; the best box scoring above 0.5 is kept (the first
 *    that face-api's non-maximum suppression keeps).
 * 2. The 68-point landmark net runs on that box, cut out of the image, and face-api's "aligned
 *    rectangle" is the landmarks' bounding box grown by 20%. (With `align: false` the detection
 *    box is used, as `detectAllFaces(image).withAgeAndGender()` does.)
 * 3. The age/gender net runs on that rectangle, padded to a square evenly on both sides with
 *    zeros and resized to 112x112; P(Male) is its softmax's first output, male above 0.5.
 *
 * CelebA's aligned images are cropped so tightly that the detector misses many faces, so each
 * image is first padded by `padding` pixels (its edge pixels repeated, or black). An image with
 * no face above the threshold is scored whole and unpadded, as `ageGenderNet.predictAgeAndGender(image)`
 * would score it; `score` counts these fallbacks.
 *
 * The defaults (aligned rectangle, 60 px of repeated edge pixels) scored best on the validation
 * part of the seed-1 split; the README's Competitors section has the measurements.
 */

/** SsdMobilenetv1Options' default minConfidence. */
export const FACEAPI_MIN_CONFIDENCE = 0.5;
/** Pixels added on every side before detection. */
export const FACEAPI_DEFAULT_PADDING = 60;
// The image geometry is shared with `predict` and `serve`; re-exported for this model's callers.
export { padImage };
export const FACEAPI_DEFAULT_BORDER: BorderFill = 'edge';
/** face-api's `FaceLandmarks.align()` default: the landmarks' box grown by this fraction. */
const ALIGN_BOX_PADDING = 0.2;
/**
 * Images per detector pass. Its activations at 512 px take about 80 MB an image, all held until
 * the pass ends, and the wasm heap stops at 4 GB.
 */
const SSD_MAX_BATCH = 8;

export const FACEAPI_AGE_GENDER_ARCHITECTURE =
  "face-api's SSD MobileNet v1 face detector (512 px) and 68-point landmark net (112 px) to find the face, then its age/gender net: " +
  'a tiny Xception (entry flow, 2 middle blocks, exit flow, 112 px), global average pooling, 512→2 softmax gender head';
export const FACEAPI_AGE_GENDER_WEIGHTS =
  "face-api.js's age and gender model, trained per face-api.js's README on UTK, FGNET, Chalearn, Wiki, IMDB, CACD, MegaAge and " +
  'MegaAge-Asian (80/20 splits, IMDB and CACD cleaned up; 95% gender accuracy on their test parts), shipped in @vladmandic/face-api/model; ' +
  "its face detector is face-api's SSD MobileNet v1, trained on WIDER FACE";

/** A face as face-api's own pipeline finds it (not detect/'s aligned FoundFace). */
export interface FaceapiFace {
  /** The detector's score. */
  score: number;
  /** face-api's `detection.box`, in pixels of the image searched (the padded one). */
  detection: PixelBox;
  /** The whole-pixel rectangle the age/gender net saw: the aligned one, or the detection's. */
  crop: PixelBox;
}

/**
 * face-api's aligned rectangle from 68 landmarks (interleaved x, y in image pixels): their
 * bounding box, grown by 20% of its size, centred. face-api starts the running maxima at 0.
 */
export function alignedBox(points: ArrayLike<number>): PixelBox {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = 0;
  let maxY = 0;
  for (let i = 0; i + 1 < points.length; i += 2) {
    const x = points[i] as number;
    const y = points[i + 1] as number;
    if (x < minX) minX = x;
    if (y < minY) minY = y;
    if (x > maxX) maxX = x;
    if (y > maxY) maxY = y;
  }
  const w = maxX - minX;
  const h = maxY - minY;
  const padX = w * ALIGN_BOX_PADDING;
  const padY = h * ALIGN_BOX_PADDING;
  return { x: minX - padX / 2, y: minY - padY / 2, width: w + padX, height: h + padY };
}

/**
 * face-api stores a detection as fractions of the image and multiplies back whenever it needs
 * pixels; each such round trip can move a later floor by one pixel, so it is repeated here.
 */
export function roundTrip(box: PixelBox, width: number, height: number): PixelBox {
  return { x: box.x * (1 / width) * width, y: box.y * (1 / height) * height, width: box.width * (1 / width) * width, height: box.height * (1 / height) * height };
}

function cutFaces(images: DecodedImage[], boxes: Array<PixelBox | null>, size: number): tf.Tensor4D {
  return tf.tidy(() => {
    const faces = images.map((im, i) => {
      const full = tf.tensor3d(im.data, [im.height, im.width, 3]);
      const b = boxes[i];
      return squareResized(b ? tf.slice(full, [b.y, b.x, 0], [b.height, b.width, 3]) : full, size, true);
    });
    return tf.stack(faces) as tf.Tensor4D;
  });
}

export interface FaceapiAgeGenderOptions extends GenderModelOptions {
  /** Pixels added on every side before detection. Default 60; 0 searches the image as it is. */
  padding?: number;
  /** How the added border is filled. Default `edge`. */
  border?: BorderFill;
  /** Crop the face by its landmarks (face-api's aligned rectangle) rather than the detection box. Default true. */
  align?: boolean;
  /** Skip the detector and score each whole image. */
  noDetection?: boolean;
  /** Detector threshold. Default 0.5, face-api's. */
  minConfidence?: number;
}

export interface FaceapiScores extends GenderScores {
  /** Per image, the face found; null where the whole image was scored. */
  faces: Array<FaceapiFace | null>;
  /** Images scored whole because the detector found no face. */
  fallbacks: number;
}

export class FaceapiAgeGenderModel implements GenderModel {
  readonly id: string;
  readonly architecture = FACEAPI_AGE_GENDER_ARCHITECTURE;
  readonly weights = FACEAPI_AGE_GENDER_WEIGHTS;
  /** face-api calls a face male when P(Male) > 0.5. */
  readonly threshold = 0.5;
  readonly weightsHash: string;
  private readonly padding: number;
  private readonly border: BorderFill;
  private readonly align: boolean;
  private readonly detects: boolean;
  private readonly minConfidence: number;
  private readonly batchSize: number;

  constructor(
    private readonly nets: FaceapiNets,
    private readonly options: FaceapiAgeGenderOptions,
  ) {
    this.weightsHash = nets.weightsHash;
    this.padding = options.padding ?? FACEAPI_DEFAULT_PADDING;
    this.border = options.border ?? FACEAPI_DEFAULT_BORDER;
    this.align = options.align ?? true;
    this.detects = !options.noDetection;
    this.minConfidence = options.minConfidence ?? FACEAPI_MIN_CONFIDENCE;
    this.batchSize = options.batchSize ?? 16;
    this.id = this.detects ? 'faceapi-age-gender' : 'faceapi-age-gender-whole';
  }

  /** The best face in each image and the rectangle the age/gender net sees; null where none scores above the threshold. */
  async findFaces(images: DecodedImage[]): Promise<Array<FaceapiFace | null>> {
    const found: Array<FaceapiFace | null> = [];
    for (let start = 0; start < images.length; start += SSD_MAX_BATCH) {
      found.push(...(await this.detect(images.slice(start, start + SSD_MAX_BATCH))));
    }
    if (this.align) await this.alignFaces(images, found);
    return found;
  }

  private async detect(images: DecodedImage[]): Promise<Array<FaceapiFace | null>> {
    const { boxes, scores } = tf.tidy(() => {
      const input = tf.stack(images.map((im) => squareResized(tf.tensor3d(im.data, [im.height, im.width, 3]), SSD_SIZE, false))) as tf.Tensor4D;
      return ssdForward(this.nets.ssd, input);
    });
    const [b, s] = await Promise.all([boxes.data(), scores.data()]);
    tf.dispose([boxes, scores]);
    const anchors = this.nets.ssd.anchors.shape[0];
    return images.map((im, i) => {
      let best = -1;
      let bestScore = this.minConfidence;
      for (let a = 0; a < anchors; a++) {
        const v = s[i * anchors + a] as number;
        if (v > bestScore) {
          bestScore = v;
          best = a;
        }
      }
      if (best < 0) return null;
      const detection = detectionBox(b.subarray((i * anchors + best) * 4, (i * anchors + best + 1) * 4), im.width, im.height);
      // extractFaceTensors rescales the detection to the image once more before clipping.
      const crop = clipToImage(roundTrip(detection, im.width, im.height), im.width, im.height);
      return crop.width > 0 && crop.height > 0 ? { score: bestScore, detection, crop } : null;
    });
  }

  /** Replaces each face's crop by face-api's aligned rectangle from the landmark net. */
  private async alignFaces(images: DecodedImage[], found: Array<FaceapiFace | null>): Promise<void> {
    const idx = found.flatMap((f, i) => (f ? [i] : []));
    if (idx.length === 0) return;
    const crops = idx.map((i) => (found[i] as FaceapiFace).crop);
    const out = tf.tidy(() => landmarkForward(this.nets.landmarks, cutFaces(idx.map((i) => images[i] as DecodedImage), crops, FACE_NET_SIZE)));
    const values = await out.data();
    out.dispose();
    idx.forEach((i, k) => {
      const face = found[i] as FaceapiFace;
      const image = images[i] as DecodedImage;
      const { width: cw, height: ch } = face.crop;
      // Undo the net's centred square padding, then place the points in the image. face-api
      // shifts by the unfloored detection box, though it cut the floored one.
      const scale = FACE_NET_SIZE / Math.max(cw, ch);
      const sw = cw * scale;
      const sh = ch * scale;
      const padX = sw < sh ? Math.abs(sw - sh) / 2 : 0;
      const padY = sh < sw ? Math.abs(sw - sh) / 2 : 0;
      const points = new Float64Array(136);
      for (let p = 0; p < 68; p++) {
        const rx = ((values[k * 136 + 2 * p] as number) * FACE_NET_SIZE - padX) / sw;
        const ry = ((values[k * 136 + 2 * p + 1] as number) * FACE_NET_SIZE - padY) / sh;
        points[2 * p] = rx * cw + face.detection.x;
        points[2 * p + 1] = ry * ch + face.detection.y;
      }
      // Two round trips: into the aligned FaceDetection, then extractFaceTensors' rescale.
      const { width: iw, height: ih } = image;
      const crop = clipToImage(roundTrip(roundTrip(alignedBox(points), iw, ih), iw, ih), iw, ih);
      if (crop.width > 0 && crop.height > 0) face.crop = crop;
    });
  }

  /** P(Male) for each image's rectangle, or the whole image where `boxes[i]` is null. */
  async maleProbability(images: DecodedImage[], boxes: Array<PixelBox | null>): Promise<Float32Array> {
    const probs = tf.tidy(() => ageGenderForward(this.nets.ageGender, cutFaces(images, boxes, FACE_NET_SIZE)));
    const out = (await probs.data()) as Float32Array;
    probs.dispose();
    return out;
  }

  async score(files: string[]): Promise<FaceapiScores> {
    const probs = new Float32Array(files.length);
    const faces: Array<FaceapiFace | null> = [];
    let fallbacks = 0;
    for (let start = 0; start < files.length; start += this.batchSize) {
      const chunk = files.slice(start, start + this.batchSize);
      const decoded = await Promise.all(chunk.map((f) => decodeImage(f, this.options.decode ?? {})));
      let searched = decoded;
      let found: Array<FaceapiFace | null> = decoded.map(() => null);
      if (this.detects) {
        searched = decoded.map((im) => padImage(im, this.padding, this.border));
        found = await this.findFaces(searched);
      }
      const inputs = decoded.map((im, i) => (found[i] ? (searched[i] as DecodedImage) : im));
      probs.set(await this.maleProbability(inputs, found.map((f) => f?.crop ?? null)), start);
      for (const f of found) {
        faces.push(f);
        if (!f && this.detects) fallbacks++;
      }
      this.options.onProgress?.({ stage: this.id, done: start + chunk.length, total: files.length });
    }
    const how = this.align ? "face-api's aligned rectangle from its landmarks" : 'the detection box';
    const notes = this.detects
      ? `images padded by ${this.padding} px (${this.border}) for the detector, face cut by ${how}; ${fallbacks} of ${files.length} had no face above ${this.minConfidence} and were scored whole`
      : 'no detection: each whole image, padded to a square, scored';
    return { probs, threshold: this.threshold, notes, faces, fallbacks };
  }

  async dispose(): Promise<void> {
    disposeFaceapiNets(this.nets);
  }
}

export async function loadFaceapiAgeGender(options: FaceapiAgeGenderOptions = {}): Promise<FaceapiAgeGenderModel> {
  const padding = options.padding ?? FACEAPI_DEFAULT_PADDING;
  if (!Number.isInteger(padding) || padding < 0) throw new UsageError(`faceapi-age-gender: padding must be a whole number ≥ 0, got ${padding}`);
  const border = options.border ?? FACEAPI_DEFAULT_BORDER;
  if (border !== 'edge' && border !== 'black') throw new UsageError(`faceapi-age-gender: border must be edge or black, got '${String(border)}'`);
  const min = options.minConfidence ?? FACEAPI_MIN_CONFIDENCE;
  if (!(min > 0 && min < 1)) throw new UsageError(`faceapi-age-gender: minConfidence must be between 0 and 1, got ${min}`);
  if (options.batchSize !== undefined && !(Number.isInteger(options.batchSize) && options.batchSize > 0)) {
    throw new UsageError(`faceapi-age-gender: batchSize must be a whole number ≥ 1, got ${options.batchSize}`);
  }
  await initTfjs({ backend: options.backend });
  return new FaceapiAgeGenderModel(await loadFaceapiNets(), options);
}
