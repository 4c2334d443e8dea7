import { readFile } from 'node:fs/promises';
import type { DetectorInput, FaceDetector, FaceDetectorOptions } from '../detect/face-detector.js';
import { DEFAULT_ALIGNED_SIZE, photoDetectorInput } from '../detect/photo-input.js';
import { loadFaceDetector } from '../detect/load-detector.js';
import type { PixelBox } from '../detect/box.js';
import { findFaces, type FoundFace } from '../detect/find-faces.js';
import { decodeImageBuffer, INTERPOLATIONS, type Interpolation } from '../data/decode.js';
import type { DecodedImage, ImageSize, Rgb8Image } from '../data/image.js';
import { probePhoto, type Photo, type ReadPhotoOptions } from '../data/read-photo.js';
import { resizeImage } from '../data/resize-image.js';
import { ImageDecodeError, UsageError } from '../errors.js';
import type { Classification, Classifier } from './classifier.js';
import { microBatcher, type MicroBatcher } from './micro-batcher.js';
import { mapLimited } from '../util/map-limited.js';
import type { ProgressFn } from '../util/progress.js';
import { capitalise, predictionText, type PhotoFace } from './prediction-text.js';

export { capitalise, predictionText, type PhotoFace };

/**
 * Classifies ordinary photos: find each face, cut it out in CelebA's framing, then run the
 * classifier's usual path (its base's crop and resize) on it. One instance holds the detector
 * and batches model calls across concurrent photos, so the CLI and the server share it.
 */

/**
 * Photos per detector call. Neither detector gains from larger batches (the README's Serve section
 * has the figures: the SSD on tfjs' one wasm thread, BlazeFace 16.8 against 15.7 requests/s at 8
 * and 2, within the noise), and small batches keep a busy server reading new requests.
 */
export const DEFAULT_DETECT_BATCH = 2;

export interface PhotoClassifierOptions extends ReadPhotoOptions {
  /** Largest batch per classifier call. Default 32. */
  maxBatch?: number;
  /** Largest batch per detector call. Default 2 ({@link DEFAULT_DETECT_BATCH}). */
  detectBatch?: number;
  /** Default 89x109 ({@link DEFAULT_ALIGNED_SIZE}). */
  alignedSize?: ImageSize;
  /** Detector options (backend, minConfidence, maxFaces). */
  detector?: FaceDetectorOptions;
  /** An already loaded detector to share; it is then not disposed with this classifier. */
  faceDetector?: FaceDetector;
}

export interface PhotoResult {
  name: string;
  width: number;
  height: number;
  detect: boolean;
  faces: PhotoFace[];
}

export interface ClassifyPhotoOptions {
  /** Default true. False: the image is already a CelebA-style crop and is classified whole. */
  detect?: boolean;
  /** Overrides the classifier's pixel limit for this photo. */
  maxPixels?: number;
}

export interface PhotoClassifier {
  readonly classifier: Classifier;
  readonly threshold: number;
  readonly detectorDescription: string;
  classify(bytes: Uint8Array, name: string, options?: ClassifyPhotoOptions): Promise<PhotoResult>;
  classifyFile(file: string, options?: ClassifyPhotoOptions): Promise<PhotoResult>;
  /** The aligned crops `classify` would use, in CelebA's framing (for inspection and tests). */
  alignedFaces(bytes: Uint8Array, name: string, maxPixels?: number): Promise<{ photo: Photo<Rgb8Image>; faces: FoundFace[] }>;
  /** Model-call statistics: the largest batch each stage has run. */
  stats(): { detectBatch: number; classifyBatch: number };
  /** Disposes the detector it loaded (not the classifier). */
  dispose(): Promise<void>;
}


function packBatch(images: DecodedImage[], size: ImageSize) {
  const per = size.width * size.height * 3;
  const data = new Float32Array(images.length * per);
  images.forEach((im, i) => {
    if (im.width !== size.width || im.height !== size.height) throw new UsageError(`image ${i} is ${im.width}x${im.height}, expected ${size.width}x${size.height}`);
    data.set(im.data, i * per);
  });
  return { n: images.length, height: size.height, width: size.width, data };
}

export async function createPhotoClassifier(classifier: Classifier, options: PhotoClassifierOptions = {}): Promise<PhotoClassifier> {
  const maxBatch = options.maxBatch ?? 32;
  const detectBatch = options.detectBatch ?? DEFAULT_DETECT_BATCH;
  for (const [name, v] of Object.entries({ maxBatch, detectBatch })) {
    if (!(Number.isInteger(v) && v >= 1)) throw new UsageError(`${name} must be a whole number ≥ 1, got ${v}`);
  }
  const alignedSize = options.alignedSize ?? DEFAULT_ALIGNED_SIZE;
  const readOptions: ReadPhotoOptions = { ...(options.maxPixels ? { maxPixels: options.maxPixels } : {}), ...(options.maxSide ? { maxSide: options.maxSide } : {}) };
  const ownDetector = !options.faceDetector;
  const detector = options.faceDetector ?? (await loadFaceDetector(options.detector));
  const { base } = classifier;
  const [name0 = 'class 0', name1 = 'class 1'] = classifier.manifest.classNames.map(capitalise);
  const recorded = classifier.manifest.base.interpolation as Interpolation;
  const interpolation: Interpolation = INTERPOLATIONS.includes(recorded) ? recorded : 'bilinear';

  // Detection is batched per photo, classification per face.
  const detectStage: MicroBatcher<DetectorInput, FoundFace[]> = microBatcher((images) => findFaces(detector, images, { frame: alignedSize }), detectBatch);
  const classifyStage: MicroBatcher<DecodedImage, Classification> = microBatcher((images) => classifier.classifyBatch(packBatch(images, base.inputSize)), maxBatch);

  const toBaseInput = (face: DecodedImage) =>
    resizeImage(face, { size: base.inputSize, interpolation, ...(base.crop ? { crop: base.crop } : {}) });

  const face = (c: Classification, box: PixelBox, detectionScore: number | null, rotation: number): PhotoFace => {
    const label = c.classIndex === 1 ? name1 : name0;
    return { box, detectionScore, label, certainty: c.certainty, probability: c.probability, text: predictionText(label, c.certainty), rotation };
  };

  const alignedFaces = async (bytes: Uint8Array, name: string, maxPixels?: number) => {
    const { opening, input } = await photoDetectorInput(bytes, name, { ...readOptions, ...(maxPixels ? { maxPixels } : {}) });
    const faces = await detectStage.run(input);
    const { decodedSize: _, srgbProfile: __, ...rest } = opening;
    return { photo: { ...rest, image: await opening.image }, faces };
  };

  const classify = async (bytes: Uint8Array, name: string, opts: ClassifyPhotoOptions = {}): Promise<PhotoResult> => {
    const maxPixels = opts.maxPixels ?? options.maxPixels;
    if (opts.detect === false) {
      const { size, srgbProfile } = await probePhoto(bytes, name, maxPixels);
      // Exactly the decode a dataset image gets in training and evaluation.
      const input = await decodeImageBuffer(bytes, name, {
        size: base.inputSize,
        interpolation,
        ...(base.crop ? { crop: base.crop } : {}),
        ...(maxPixels ? { maxPixels } : {}),
        srgbProfile,
      });
      const c = await classifyStage.run(input);
      return { name, width: size.width, height: size.height, detect: false, faces: [face(c, { x: 0, y: 0, ...size }, null, 0)] };
    }
    const { photo, faces } = await alignedFaces(bytes, name, maxPixels);
    const inputs = await Promise.all(faces.map((f) => toBaseInput(f.aligned.image)));
    const classes = await Promise.all(inputs.map((im) => classifyStage.run(im)));
    const s = photo.scale;
    const round = (v: number) => Math.round(v * 10) / 10;
    return {
      name,
      width: photo.size.width,
      height: photo.size.height,
      detect: true,
      faces: faces.map((f, i) =>
        face(
          classes[i] as Classification,
          { x: round(f.box.x * s), y: round(f.box.y * s), width: round(f.box.width * s), height: round(f.box.height * s) },
          Math.round(f.box.score * 1e4) / 1e4,
          Math.round(f.aligned.degrees * 10) / 10,
        ),
      ),
    };
  };

  return {
    classifier,
    threshold: classifier.threshold,
    detectorDescription: detector.description,
    classify,
    async classifyFile(file, opts) {
      let bytes: Buffer;
      try {
        bytes = await readFile(file);
      } catch (err) {
        throw new ImageDecodeError(`cannot read file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, file);
      }
      return classify(bytes, file, opts);
    },
    alignedFaces,
    stats: () => ({ detectBatch: detectStage.largestBatch, classifyBatch: classifyStage.largestBatch }),
    async dispose() {
      if (ownDetector) await detector.dispose();
    },
  };
}

export interface FileOutcome {
  file: string;
  result?: PhotoResult;
  /** Why the file could not be classified (unreadable, not an image, too large…). */
  error?: string;
}

export interface ClassifyFilesOptions extends ClassifyPhotoOptions {
  /** Files in flight at once (read, detected, classified), so the model runs on batches. Default 16. */
  batchSize?: number;
  onProgress?: ProgressFn;
}

/**
 * Classifies many photos, at most `batchSize` in flight. A file that cannot be read or decoded is
 * reported in its outcome rather than stopping the others; any other error stops the run.
 */
export async function classifyPhotoFiles(pc: PhotoClassifier, files: readonly string[], options: ClassifyFilesOptions = {}): Promise<FileOutcome[]> {
  const batchSize = options.batchSize ?? 16;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new UsageError(`batchSize must be a whole number ≥ 1, got ${batchSize}`);
  const detect = options.detect ?? true;
  const stage = detect ? 'predict' : 'predict (no detection)';
  // A first event starts the progress clock before the first photo, not after it.
  options.onProgress?.({ stage, done: 0, total: files.length });
  let done = 0;
  // A window, not chunks: a photo starts as soon as another ends, so one slow photo holds no chunk back.
  return mapLimited(files, batchSize, async (file): Promise<FileOutcome> => {
    let outcome: FileOutcome;
    try {
      outcome = { file, result: await pc.classifyFile(file, { detect }) };
    } catch (err) {
      if (!(err instanceof ImageDecodeError)) throw err;
      outcome = { file, error: err.message.startsWith(`${file}: `) ? err.message.slice(file.length + 2) : err.message };
    }
    options.onProgress?.({ stage, done: ++done, total: files.length });
    return outcome;
  });
}
