import type { Point } from '../data/face-align.js';
import type { PixelBox } from './box.js';

/** A face a detector proposes: its box, score and keypoints, in pixels of the image it searched. */
export interface Detection {
  box: PixelBox;
  score: number;
  /** BlazeFace's six: image-left eye, image-right eye, nose tip, mouth centre, image-left ear, image-right ear. */
  keypoints: Point[];
  /** Where the detector's first keypoints sit in CelebA's frame (fractions), for aligning on them. */
  template?: readonly Point[];
}

export function iou(a: PixelBox, b: PixelBox): number {
  const x0 = Math.max(a.x, b.x);
  const y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.width, b.x + b.width);
  const y1 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/** Whether two boxes are one face: they overlap by `threshold`, or one's centre lies in the other. */
export function sameFace(a: PixelBox, b: PixelBox, threshold: number): boolean {
  const inside = (box: PixelBox, p: Point) => p.x >= box.x && p.x <= box.x + box.width && p.y >= box.y && p.y <= box.y + box.height;
  const centre = (box: PixelBox): Point => ({ x: box.x + box.width / 2, y: box.y + box.height / 2 });
  return iou(a, b) > threshold || inside(a, centre(b)) || inside(b, centre(a));
}

/**
 * Weighted non-maximum suppression, as MediaPipe's BlazeFace graphs do it: each kept detection's
 * box and keypoints are the score-weighted mean of the candidates it suppresses. Averaging the
 * overlapping anchors steadies the box and the eye points, which the alignment rests on.
 */
export function weightedNms(candidates: readonly Detection[], iouThreshold: number, maxOut: number): Detection[] {
  const sorted = [...candidates].sort((a, b) => b.score - a.score);
  const used = new Uint8Array(sorted.length);
  const out: Detection[] = [];
  for (let i = 0; i < sorted.length && out.length < maxOut; i++) {
    if (used[i]) continue;
    const best = sorted[i] as Detection;
    const group = [best];
    for (let j = i + 1; j < sorted.length; j++) {
      if (!used[j] && iou(best.box, (sorted[j] as Detection).box) > iouThreshold) {
        used[j] = 1;
        group.push(sorted[j] as Detection);
      }
    }
    const total = group.reduce((s, g) => s + g.score, 0);
    const mean = (pick: (d: Detection) => number) => group.reduce((s, g) => s + pick(g) * g.score, 0) / total;
    out.push({
      ...best,
      box: { x: mean((d) => d.box.x), y: mean((d) => d.box.y), width: mean((d) => d.box.width), height: mean((d) => d.box.height) },
      keypoints: best.keypoints.map((_, k) => ({ x: mean((d) => (d.keypoints[k] as Point).x), y: mean((d) => (d.keypoints[k] as Point).y) })),
    });
  }
  return out;
}
