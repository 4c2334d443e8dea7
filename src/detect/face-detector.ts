import type { Point } from '../data/face-align.js';
import type { ImageSize, PixelSource } from '../data/image.js';
import { UsageError } from '../errors.js';
import type { OnnxThread } from '../runtime/onnx/open-session.js';
import type { TfjsBackendName } from '../runtime/tfjs/backend.js';
import type { FaceBox } from './box.js';
import type { Letterbox } from './letterbox-geometry.js';

/** A face found in an image: its box and the landmarks the alignment fits. */
export interface DetectedFace {
  box: FaceBox;
  /** Pixels of the image: five points (eye centres, nose tip, mouth corners, image-left first), 68 in iBUG order, or points that `template` places. */
  landmarks: Point[];
  /** Where `landmarks` sit in CelebA's frame (fractions), when not the five-point template. */
  template?: readonly Point[];
}

/**
 * An image to search, as the photo path hands it over: `letterbox`, when given, makes the
 * detector's square input straight from the compressed bytes (a JPEG decoded at a fraction of its
 * size costs a fraction of the time), and `pixels` may still be decoding while the detector runs;
 * they are awaited only to place the landmarks and cut the faces, at full resolution.
 */
export interface DetectorInput extends ImageSize {
  pixels(): Promise<PixelSource>;
  letterbox?: (size: number) => Promise<Letterbox>;
}

/** An image already in memory as a detector input. */
export function detectorInput(image: PixelSource | DetectorInput): DetectorInput {
  if ('pixels' in image) return image;
  return { width: image.width, height: image.height, pixels: async () => image };
}

/** Finds every face in each image. */
export interface FaceDetector {
  readonly description: string;
  detect(images: ReadonlyArray<PixelSource | DetectorInput>): Promise<DetectedFace[][]>;
  /**
   * A slower, finer look for images in which `detect` found nothing (findFaces calls it last):
   * small faces that the detector's usual input size shrinks below what it can see.
   */
  detectFine?(images: ReadonlyArray<PixelSource | DetectorInput>): Promise<DetectedFace[][]>;
  dispose(): Promise<void>;
}

export const DETECTOR_KINDS = ['blazeface', 'ssd'] as const;
export type DetectorKind = (typeof DETECTOR_KINDS)[number];

export interface FaceDetectorOptions {
  /** `blazeface` (default): BlazeFace front and back with FaceMesh landmarks on ONNX Runtime. `ssd`: face-api's SSD and 68-point net on tfjs. */
  kind?: DetectorKind;
  /** Lowest detection score kept. Default 0.5. */
  minConfidence?: number;
  /** Most faces per image. Default 100. */
  maxFaces?: number;
  /** ONNX Runtime threads per model (blazeface). Default 1: the models are small, and a second thread costs more than it gives on a busy machine. */
  threads?: number;
  /** Where ONNX Runtime runs the models (blazeface): the main thread (default), a worker thread each, or one shared OnnxWorker. */
  onnxThread?: OnnxThread;
  /** tfjs backend (ssd). */
  backend?: TfjsBackendName;
  /** Where the alignment's points come from (blazeface): BlazeFace's own eye keypoints, with its nose and mouth for a turned face (default), or FaceMesh on an upright patch. */
  landmarks?: LandmarkSource;
}

export const LANDMARK_SOURCES = ['keypoints', 'mesh'] as const;
export type LandmarkSource = (typeof LANDMARK_SOURCES)[number];

export const DEFAULT_MIN_CONFIDENCE = 0.5;
export const DEFAULT_MAX_FACES = 100;

export function checkDetectorOptions(options: FaceDetectorOptions): void {
  const kind = options.kind ?? 'blazeface';
  if (!DETECTOR_KINDS.includes(kind)) throw new UsageError(`unknown face detector '${String(kind)}'; known: ${DETECTOR_KINDS.join(', ')}`);
  const min = options.minConfidence ?? DEFAULT_MIN_CONFIDENCE;
  if (!(min > 0 && min < 1)) throw new UsageError(`face detector: minConfidence must be between 0 and 1, got ${min}`);
  const max = options.maxFaces ?? DEFAULT_MAX_FACES;
  if (!(Number.isInteger(max) && max >= 1)) throw new UsageError(`face detector: maxFaces must be a whole number ≥ 1, got ${max}`);
  const landmarks = options.landmarks ?? 'keypoints';
  if (!LANDMARK_SOURCES.includes(landmarks)) throw new UsageError(`unknown landmark source '${String(landmarks)}'; known: ${LANDMARK_SOURCES.join(', ')}`);
  const threads = options.threads ?? 1;
  if (!(Number.isInteger(threads) && threads >= 1)) throw new UsageError(`face detector: threads must be a whole number ≥ 1, got ${threads}`);
}
