import type { Point } from '../data/face-align.js';
import type { ImageSize } from '../data/image.js';
import { clipToImage } from './box.js';
import type { DetectedFace } from './face-detector.js';
import { BLAZE_SPECS } from './blazeface-decode.js';
import { sameFace, type Detection } from './nms.js';

/**
 * How BlazeFace's two models are combined and aligned, with no engine attached, so the detector
 * in Node (blazeface-detector.ts) and the one in a browser (src/browser) merge the same way.
 */

/** MediaPipe's overlap for merging a model's own candidates. */
export const NMS_IOU = 0.3;
/** Long side above which the back model looks at 384 px instead of 256: 60-100 px faces in a 1600 px scene need it. */
export const LARGE_IMAGE_SIDE = 1000;
export const BACK_LARGE_SIZE = 384;
/** A face this large (box side over the image's long side) is the front model's, whose points are better there. */
const FRONT_PREFERRED = 0.25;
/**
 * Eye distance, in box widths, below which a face counts as turned aside: frontal CelebA faces
 * measure 0.41 (median; 1st percentile 0.26), a profile 0.03.
 */
const TURNED_FACE_EYES = 0.2;

export function detectionSide(d: Detection): number {
  return Math.max(d.box.width, d.box.height);
}

/** The back model's size for an image: 384 px on a large photo, else its own 256. */
export function isLargeImage(size: ImageSize): boolean {
  return Math.max(size.width, size.height) > LARGE_IMAGE_SIDE;
}

/**
 * The back model's size for the fine look at an image where nothing was found: twice its usual
 * one (512 px, 768 px on a large photo), fed from the full photo. Measured on the robustness
 * suite's scenes: it finds 4 of the 5 48-px faces missed in 640x480 scenes and all 6 missed
 * 60–100 px faces in 1600x1200 ones.
 */
export function fineBackSize(size: ImageSize): number {
  return 2 * (isLargeImage(size) ? BACK_LARGE_SIZE : BLAZE_SPECS.back.size);
}

/**
 * One image's faces from both models: a back-model face the front model missed joins, and a
 * face both found keeps the front model's points when it is large, the back model's otherwise.
 */
export function mergeFrontBack(fronts: readonly Detection[], backs: readonly Detection[], size: ImageSize, maxFaces: number): Detection[] {
  const longSide = Math.max(size.width, size.height);
  const merged = [...fronts];
  for (const b of backs) {
    const k = merged.findIndex((f) => sameFace(f.box, b.box, NMS_IOU));
    if (k < 0) merged.push(b);
    else if (detectionSide(merged[k] as Detection) < FRONT_PREFERRED * longSide) merged[k] = b;
  }
  return merged.sort((a, b) => b.score - a.score).slice(0, maxFaces);
}

/** Faces aligned on BlazeFace's own keypoints: the eyes, with the nose and mouth for a face turned aside. */
export function keypointFaces(list: readonly Detection[], size: ImageSize): DetectedFace[] {
  return list.flatMap((d) => {
    const box = clipToImage(d.box, size.width, size.height);
    if (box.width <= 0 || box.height <= 0 || !d.template) return [];
    const [eyeL, eyeR] = d.keypoints as [Point, Point];
    // The eyes place a frontal face best (the nose and mouth points shift it); on a face turned
    // aside they close up and the scale fitted to them explodes, so the nose and mouth join them.
    const points = Math.hypot(eyeR.x - eyeL.x, eyeR.y - eyeL.y) >= TURNED_FACE_EYES * d.box.width ? 2 : d.template.length;
    return [{ box: { score: d.score, ...box }, landmarks: d.keypoints.slice(0, points), template: d.template.slice(0, points) }];
  });
}
