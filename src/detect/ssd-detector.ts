import * as tf from '@tensorflow/tfjs-core';
import type { Point } from '../data/face-align.js';
import type { DecodedImage, PixelSource } from '../data/image.js';
import { UsageError } from '../errors.js';
import { clipToImage, type FaceBox, type PixelBox } from './box.js';
import { detectorInput, type DetectedFace, type DetectorInput, type FaceDetector } from './face-detector.js';
import { disposeNetTensors, FACE_NET_SIZE, landmarkForward, loadDetectorNets, SSD_SIZE, ssdForward, type LandmarkParams, type SsdParams } from './faceapi-nets.js';
import { initTfjs, type TfjsBackendName } from '../runtime/tfjs/backend.js';

/**
 * Every face in an image, with its 68 landmarks: face-api's SSD MobileNet v1 and 68-point
 * landmark net (rebuilt on our tfjs in faceapi-nets.ts), run the way face-api's
 * `detectAllFaces(tensor).withFaceLandmarks()` runs them:
 *
 * 1. SSD: the image padded with zeros at the bottom or right to a square, resized bilinearly to
 *    512x512; boxes above `minConfidence` kept after greedy non-maximum suppression at IoU 0.5,
 *    at most `maxFaces`.
 * 2. Each box cut from the image (clipped to it, floored to whole pixels), padded evenly to a
 *    square with zeros, resized to 112x112; the net gives 68 (x, y) relative to that square.
 *
 * One difference: face-api shifts the landmarks by the unfloored box although it cut the floored
 * one; here they are placed where the cut was, so they are up to a pixel off face-api's, and right.
 */

/** SsdMobilenetv1Options' default minConfidence. */
export const DETECTOR_MIN_CONFIDENCE = 0.5;
/** face-api's NMS overlap. */
export const DETECTOR_IOU_THRESHOLD = 0.5;
/** SsdMobilenetv1Options' default maxResults. */
export const DETECTOR_MAX_FACES = 100;

export const FACE_DETECTOR_DESCRIPTION =
  "face-api's SSD MobileNet v1 (512 px, trained on WIDER FACE) for boxes and its 68-point landmark net (dense blocks, 112 px) for eyes, nose and mouth";


export interface SsdDetectorOptions {
  backend?: TfjsBackendName;
  /** Default 0.5, face-api's. */
  minConfidence?: number;
  /** Default 100, face-api's. */
  maxFaces?: number;
}

/**
 * face-api's arithmetic from an SSD box (ymin, xmin, ymax, xmax as fractions of the padded 512
 * square) to `detection.box` in pixels of a `width` x `height` image.
 */
export function detectionBox(box: ArrayLike<number>, width: number, height: number): PixelBox {
  const scale = SSD_SIZE / Math.max(height, width);
  const padX = SSD_SIZE / Math.round(width * scale);
  const padY = SSD_SIZE / Math.round(height * scale);
  const top = Math.max(0, box[0] as number) * padY;
  const bottom = Math.min(1, box[2] as number) * padY;
  const left = Math.max(0, box[1] as number) * padX;
  const right = Math.min(1, box[3] as number) * padX;
  return { x: left * width, y: top * height, width: (right - left) * width, height: (bottom - top) * height };
}

/** face-api's padToSquare: zeros after the image (detector) or split evenly (face nets). */
function padToSquare(x: tf.Tensor3D, centred: boolean): tf.Tensor3D {
  const [h, w] = x.shape;
  if (h === w) return x;
  const diff = Math.abs(h - w);
  const after = Math.round(diff * (centred ? 0.5 : 1));
  const before = centred ? diff - after : 0;
  return h > w ? tf.pad(x, [[0, 0], [before, after], [0, 0]]) : tf.pad(x, [[before, after], [0, 0], [0, 0]]);
}

/** An image padded to a square (after it, or evenly when `centred`) and resized bilinearly to `size`. */
export function squareResized(x: tf.Tensor3D, size: number, centred: boolean): tf.Tensor3D {
  const sq = padToSquare(x, centred);
  return sq.shape[0] === size ? sq : tf.image.resizeBilinear(sq, [size, size]);
}

// ---- the detector --------------------------------------------------------------------------

export class SsdFaceDetector implements FaceDetector {
  readonly description = FACE_DETECTOR_DESCRIPTION;
  readonly minConfidence: number;
  readonly maxFaces: number;

  constructor(
    private readonly ssd: SsdParams,
    private readonly marks: LandmarkParams,
    /** sha256 over the SSD's and the landmark net's weight files. */
    readonly weightsHash: string,
    options: SsdDetectorOptions = {},
  ) {
    this.minConfidence = options.minConfidence ?? DETECTOR_MIN_CONFIDENCE;
    this.maxFaces = options.maxFaces ?? DETECTOR_MAX_FACES;
  }

  /** Face boxes per image, best score first, in whole pixels of each image. */
  async detectBoxes(images: readonly DecodedImage[]): Promise<FaceBox[][]> {
    if (images.length === 0) return [];
    const { boxes, scores } = tf.tidy(() => {
      const input = tf.stack(images.map((im) => squareResized(tf.tensor3d(im.data, [im.height, im.width, 3]), SSD_SIZE, false))) as tf.Tensor4D;
      return ssdForward(this.ssd, input);
    });
    try {
      const out: FaceBox[][] = [];
      const [boxData, scoreData] = (await Promise.all([boxes.data(), scores.data()])) as [Float32Array, Float32Array];
      for (let i = 0; i < images.length; i++) {
        const im = images[i] as DecodedImage;
        const [b, s] = tf.tidy(() => [tf.reshape(tf.slice(boxes, [i, 0, 0], [1, -1, 4]), [-1, 4]) as tf.Tensor2D, tf.reshape(tf.slice(scores, [i, 0], [1, -1]), [-1]) as tf.Tensor1D]);
        const selected = await tf.image.nonMaxSuppressionAsync(b, s, this.maxFaces, DETECTOR_IOU_THRESHOLD, this.minConfidence);
        const idx = await selected.data();
        tf.dispose([b, s, selected]);
        const anchors = this.ssd.anchors.shape[0];
        const found: FaceBox[] = [];
        idx.forEach((a) => {
          const at = (i * anchors + a) * 4;
          const box = clipToImage(detectionBox(boxData.subarray(at, at + 4), im.width, im.height), im.width, im.height);
          if (box.width > 0 && box.height > 0) found.push({ score: scoreData[i * anchors + a] as number, ...box });
        });
        out.push(found);
      }
      return out;
    } finally {
      tf.dispose([boxes, scores]);
    }
  }

  /**
   * The 68 landmarks of each face, in pixels of its image. `faces[k]` is a box of
   * `images[imageOf[k]]`; all faces run through the net as one batch.
   */
  async landmarks(images: readonly DecodedImage[], faces: readonly FaceBox[], imageOf: readonly number[]): Promise<Point[][]> {
    if (faces.length === 0) return [];
    const full = images.map((im) => tf.tensor3d(im.data, [im.height, im.width, 3]));
    const raw = tf.tidy(() => {
      const crops = faces.map((f, k) => {
        const src = full[imageOf[k] as number];
        if (!src) throw new UsageError(`landmarks: face ${k} refers to image ${imageOf[k]}, but only ${images.length} were given`);
        return squareResized(tf.slice(src, [f.y, f.x, 0], [f.height, f.width, 3]), FACE_NET_SIZE, true);
      });
      return landmarkForward(this.marks, tf.stack(crops) as tf.Tensor4D);
    });
    tf.dispose(full);
    const values = (await raw.data()) as Float32Array;
    raw.dispose();
    return faces.map((f, k) => {
      // The net's coordinates are relative to the face padded evenly to a square.
      const side = Math.max(f.width, f.height);
      const padX = (side - f.width) / 2;
      const padY = (side - f.height) / 2;
      return Array.from({ length: 68 }, (_, j) => ({
        x: f.x + (values[k * 136 + 2 * j] as number) * side - padX,
        y: f.y + (values[k * 136 + 2 * j + 1] as number) * side - padY,
      }));
    });
  }

  /** Boxes and landmarks of every face in each image. */
  async detect(inputs: ReadonlyArray<PixelSource | DetectorInput>): Promise<DetectedFace[][]> {
    const pixels = await Promise.all(inputs.map((im) => detectorInput(im).pixels()));
    const images = pixels.map((im): DecodedImage => (im.data instanceof Float32Array ? (im as DecodedImage) : { width: im.width, height: im.height, data: Float32Array.from(im.data) }));
    const boxes = await this.detectBoxes(images);
    const flat = boxes.flat();
    const imageOf = boxes.flatMap((b, i) => b.map(() => i));
    const points = await this.landmarks(images, flat, imageOf);
    let k = 0;
    return boxes.map((list) => list.map((box) => ({ box, landmarks: points[k++] as Point[] })));
  }

  async dispose(): Promise<void> {
    disposeNetTensors([this.ssd, this.marks]);
  }
}

export function checkDetectorOptions(options: SsdDetectorOptions): void {
  const min = options.minConfidence ?? DETECTOR_MIN_CONFIDENCE;
  if (!(min > 0 && min < 1)) throw new UsageError(`face detector: minConfidence must be between 0 and 1, got ${min}`);
  const max = options.maxFaces ?? DETECTOR_MAX_FACES;
  if (!(Number.isInteger(max) && max >= 1)) throw new UsageError(`face detector: maxFaces must be a whole number ≥ 1, got ${max}`);
}

export async function loadSsdDetector(options: SsdDetectorOptions = {}): Promise<SsdFaceDetector> {
  checkDetectorOptions(options);
  await initTfjs({ backend: options.backend });
  const nets = await loadDetectorNets();
  return new SsdFaceDetector(nets.ssd, nets.landmarks, nets.weightsHash, options);
}
