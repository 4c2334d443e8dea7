import { alignFace, CELEBA_FRAME, type AlignedFace, type Point } from '../data/face-align.js';
import type { ImageSize, PixelSource } from '../data/image.js';
import { padImage } from '../data/pad-image.js';
import { UsageError } from '../errors.js';
import { unpadBox, type FaceBox } from './box.js';
import { detectorInput, type DetectedFace, type DetectorInput, type FaceDetector } from './face-detector.js';

/**
 * The crop step shared by `predict`, the server and any evaluation on uncropped photos: find
 * every face, then cut each one out in CelebA's framing.
 */

/**
 * Border added, as a fraction of the longest side, when a first look finds no face. The detector
 * misses faces that fill the image (a CelebA crop, a selfie), and a border of repeated edge
 * pixels brings them back; it is not added up front because it shrinks every face in a group
 * photo by the same factor.
 */
export const DEFAULT_RETRY_PADDING = 0.3;

export interface FindFacesOptions {
  /** Size of each aligned crop. Default 178x218, CelebA's frame; any size keeps the framing. */
  frame?: ImageSize;
  /** See {@link DEFAULT_RETRY_PADDING}; 0 turns the second look off. */
  retryPadding?: number;
  /**
   * Whether an image still without a face gets the detector's fine look (FaceDetector.detectFine),
   * where it has one. Default true.
   */
  fine?: boolean;
}

export interface FoundFace {
  /** In pixels of the image searched, clipped to it. */
  box: FaceBox;
  landmarks: Point[];
  aligned: AlignedFace;
}

/** Faces of each image, left to right, each with its 68 landmarks and its aligned crop. */
export async function findFaces(detector: FaceDetector, sources: ReadonlyArray<PixelSource | DetectorInput>, options: FindFacesOptions = {}): Promise<FoundFace[][]> {
  const frame = options.frame ?? CELEBA_FRAME;
  const retry = options.retryPadding ?? DEFAULT_RETRY_PADDING;
  if (!(retry >= 0 && retry <= 2)) throw new UsageError(`retryPadding must be between 0 and 2, got ${retry}`);
  const inputs = sources.map(detectorInput);
  const first = await detector.detect(inputs);
  const images = await Promise.all(inputs.map((im) => im.pixels()));
  const located = (f: DetectedFace) => ({ box: f.box, landmarks: f.landmarks, ...(f.template ? { template: f.template } : {}) });
  const results: Array<Array<{ box: FaceBox; landmarks: Point[]; template?: readonly Point[] }>> = first.map((faces) => faces.map(located));

  const again = retry > 0 ? images.map((_, i) => i).filter((i) => (first[i] as unknown[]).length === 0) : [];
  if (again.length > 0) {
    const pads = again.map((i) => Math.round(retry * Math.max((images[i] as PixelSource).width, (images[i] as PixelSource).height)));
    const padded = again.map((i, k) => detectorInput(padImage(images[i] as PixelSource, pads[k] as number, 'edge')));
    const second = await detector.detect(padded);
    again.forEach((i, k) => {
      const pad = pads[k] as number;
      const size = images[i] as PixelSource;
      results[i] = (second[k] ?? []).flatMap((f) => {
        const box = unpadBox(f.box, pad, size);
        return box ? [{ box, landmarks: f.landmarks.map((p) => ({ x: p.x - pad, y: p.y - pad })), ...(f.template ? { template: f.template } : {}) }] : [];
      });
    });
  }
  // Last, the fine look (the detector's input at twice its size) where nothing was found yet: a
  // face too small for the usual input in a scene. It costs a photo with no face 30–110 ms more.
  const fine = options.fine ?? true;
  const still = results.map((faces, i) => (faces.length === 0 ? i : -1)).filter((i) => i >= 0);
  if (fine && detector.detectFine && still.length > 0) {
    const third = await detector.detectFine(still.map((i) => inputs[i] as DetectorInput));
    still.forEach((i, k) => (results[i] = (third[k] ?? []).map(located)));
  }
  return results.map((faces, i) =>
    faces
      .sort((a, b) => a.box.x + a.box.width / 2 - (b.box.x + b.box.width / 2))
      .map(({ template, ...f }) => ({ ...f, aligned: alignFace(images[i] as PixelSource, f.landmarks, frame, template) })),
  );
}
