import type { Point } from '../data/face-align.js';
import type { DecodedImage } from '../data/image.js';
import { UsageError } from '../errors.js';
import type { TfjsBackendName } from '../runtime/tfjs/backend.js';
import type { FaceBox } from './box.js';

/** A face found in an image: its box and the landmarks the alignment fits (five points, or face-api's 68). */
export interface DetectedFace {
  box: FaceBox;
  /** Pixels of the image: five points (eye centres, nose tip, mouth corners, image-left first) or 68 in iBUG order. */
  landmarks: Point[];
}

/** Finds every face in each image. */
export interface FaceDetector {
  readonly description: string;
  detect(images: readonly DecodedImage[]): Promise<DetectedFace[][]>;
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
  /** tfjs backend (ssd). */
  backend?: TfjsBackendName;
}

export const DEFAULT_MIN_CONFIDENCE = 0.5;
export const DEFAULT_MAX_FACES = 100;

export function checkDetectorOptions(options: FaceDetectorOptions): void {
  const kind = options.kind ?? 'blazeface';
  if (!DETECTOR_KINDS.includes(kind)) throw new UsageError(`unknown face detector '${String(kind)}'; known: ${DETECTOR_KINDS.join(', ')}`);
  const min = options.minConfidence ?? DEFAULT_MIN_CONFIDENCE;
  if (!(min > 0 && min < 1)) throw new UsageError(`face detector: minConfidence must be between 0 and 1, got ${min}`);
  const max = options.maxFaces ?? DEFAULT_MAX_FACES;
  if (!(Number.isInteger(max) && max >= 1)) throw new UsageError(`face detector: maxFaces must be a whole number ≥ 1, got ${max}`);
  const threads = options.threads ?? 1;
  if (!(Number.isInteger(threads) && threads >= 1)) throw new UsageError(`face detector: threads must be a whole number ≥ 1, got ${threads}`);
}
