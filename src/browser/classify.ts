import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { loadLayersModel, type LayersModel } from '@tensorflow/tfjs-layers';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { getPreprocessing } from '../bases/preprocess.js';
import { cropPixels } from '../data/crop-pixels.js';
import type { DecodedImage, Rgb8Image } from '../data/image.js';
import { findFaces, type FoundFace } from '../detect/find-faces.js';
import { iou } from '../detect/nms.js';
import type { PixelBox } from '../detect/box.js';
import { certainty, predictedLabel } from '../evaluate/certainty.js';
import { capitalise, predictionText, type PhotoFace } from '../predict/prediction-text.js';
import { graphFeatures } from './base-features.js';
import { BaseWorker } from './base-worker-client.js';
import { WebBlazeFaceDetector } from './detector.js';
import { photoLetterboxes } from './letterbox.js';
import { readPixels, type ImageInput } from './pixels.js';
import { extractRgb, resizeRgb } from '../data/resample.js';
import { WEB_MODEL_FILE, type WebModelManifest } from './web-model.js';

/**
 * The model in the page: `loadWebModel(url)` loads what `facegender export --web` wrote, and
 * `classifyImage` runs the Node photo path on it (classify-photo.ts): every face found, aligned
 * to CelebA's framing at 89x109, cut to the base's crop and size, through the base and the head,
 * labelled by the bundle's threshold. Engine: tfjs on its wasm backend (SIMD; threads where the
 * page is cross-origin isolated), chosen by measurement (the README's "In the browser").
 */

/** One face: box, detection score, label, certainty, P(class 1) and the study's text, as `predict` reports it. */
export type WebFace = PhotoFace;

export interface WebResult {
  width: number;
  height: number;
  detect: boolean;
  faces: WebFace[];
  /** Milliseconds the classification took. */
  ms: number;
}

export interface ClassifyImageOptions {
  /** Default true. False: the image is already a face crop framed like CelebA's and is classified whole. */
  detect?: boolean;
}

export interface ClassifyVideoOptions {
  /**
   * How long a face's probability is reused, in milliseconds (default 500): faces are found on
   * every frame, and a face that overlaps one classified less than this long ago keeps that
   * answer instead of running the base again.
   */
  refreshMs?: number;
}

/** A face of the previous video frame and the answer it was last classified with. */
interface Track {
  box: PixelBox;
  probability: number;
  classifiedAt: number;
}

/** Boxes of one face in consecutive frames overlap by far more than this; neighbours' boxes do not. */
const SAME_FACE_IOU = 0.4;

export interface WebModel {
  readonly manifest: WebModelManifest;
  readonly classNames: readonly string[];
  readonly threshold: number;
  /** tfjs' backend, e.g. `wasm`. */
  readonly backend: string;
  /** Whether a worker runs the base beside this thread (LoadWebModelOptions.baseWorker). */
  readonly baseWorker: boolean;
  classifyImage(source: ImageInput, options?: ClassifyImageOptions): Promise<WebResult>;
  /**
   * One frame of a video (a webcam): every face is found and boxed on every frame, but the base,
   * which costs most of a frame, runs only for a face that is new or whose answer is older than
   * `refreshMs`. The model keeps the faces of the last frame, so use one model per video.
   */
  classifyVideoFrame(source: ImageInput, options?: ClassifyVideoOptions): Promise<WebResult & { classified: number }>;
  dispose(): void;
}

/** Loads a model exported with `facegender export --web`: `url` is its folder or its web-model.json. */
export interface LoadWebModelOptions {
  backend?: 'wasm' | 'webgl' | 'cpu';
  /**
   * Run the base in a worker too, and share each photo's faces between it and this thread
   * (measured 1.4x on a photo of 3 faces on 2 cores: the README). Default: on the wasm backend
   * where the browser has workers and at least 2 cores.
   */
  baseWorker?: boolean;
}

export async function loadWebModel(url: string | URL, options: LoadWebModelOptions = {}): Promise<WebModel> {
  const page = globalThis as unknown as { document?: { baseURI: string }; location?: { href: string } };
  const base = page.document?.baseURI ?? page.location?.href;
  let manifestUrl = new URL(String(url), base);
  if (!manifestUrl.pathname.endsWith('.json')) manifestUrl = new URL(WEB_MODEL_FILE, manifestUrl.href.endsWith('/') ? manifestUrl : `${manifestUrl.href}/`);
  const response = await fetch(manifestUrl);
  if (!response.ok) throw new Error(`${manifestUrl.href}: ${response.status} ${response.statusText}`);
  const manifest = (await response.json()) as WebModelManifest;
  if (manifest?.format !== 'facegender-web-model' || manifest.version !== 1) throw new Error(`${manifestUrl.href}: not a facegender web model (format "facegender-web-model", version 1)`);
  const at = (file: string) => new URL(file, manifestUrl).href;

  const backend = options.backend ?? 'wasm';
  if (backend === 'wasm') setWasmPaths(at(manifest.wasm));
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs could not start its ${backend} backend in this browser`);
  await tf.ready();

  const cores = (globalThis as unknown as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  const hasWorkers = typeof (globalThis as unknown as { Worker?: unknown }).Worker === 'function';
  const wantWorker = manifest.baseWorker !== undefined && (options.baseWorker ?? (backend === 'wasm' && hasWorkers && cores >= 2));
  const [front, back, baseModel, head, worker] = await Promise.all([
    loadGraphModel(at(manifest.detector.front)),
    loadGraphModel(at(manifest.detector.back)),
    loadGraphModel(at(manifest.base.model)),
    loadLayersModel(at(manifest.head.model)),
    // A page whose policy forbids workers still classifies, on its own thread alone.
    wantWorker ? BaseWorker.start(at(manifest.baseWorker as string), { wasm: at(manifest.wasm), model: at(manifest.base.model), featureNode: manifest.base.featureNode, pooling: manifest.base.pooling }).catch(() => undefined) : undefined,
  ]);
  const detector = new WebBlazeFaceDetector(front, back, { minConfidence: manifest.detector.minConfidence, maxFaces: manifest.detector.maxFaces }, manifest.detector.description);
  return createWebModel(manifest, detector, baseModel, head, tf.getBackend(), worker);
}

function toBytes(image: DecodedImage): Rgb8Image {
  const data = new Uint8Array(image.data.length);
  // What resize-image.ts does before sharp: decoded values are whole already, so rounding is lossless.
  for (let i = 0; i < data.length; i++) data[i] = Math.min(255, Math.max(0, Math.round(image.data[i] as number)));
  return { width: image.width, height: image.height, data };
}

function createWebModel(manifest: WebModelManifest, detector: WebBlazeFaceDetector, baseModel: GraphModel, head: LayersModel, backend: string, worker: BaseWorker | undefined): WebModel {
  const { inputSize, crop, featureNode, pooling } = manifest.base;
  const preprocessing = getPreprocessing(manifest.base.preprocess);
  const threshold = manifest.model.threshold;
  const classNames = manifest.model.classNames.map(capitalise);

  const baseInput = (face: Rgb8Image): Rgb8Image => {
    const cut = crop ? extractRgb(face, cropPixels(crop, face)) : face;
    return resizeRgb(cut, inputSize.width, inputSize.height);
  };

  /** Features of n preprocessed faces on this thread. */
  const featuresHere = (pixels: Float32Array, n: number): Promise<Float32Array> => graphFeatures(baseModel, pixels, n, inputSize, featureNode, pooling);

  /**
   * Features of n preprocessed faces: with a worker, its share (the last half) is sent first and
   * runs on the other core while this thread computes the rest.
   */
  const baseFeatures = async (pixels: Float32Array, n: number): Promise<Float32Array> => {
    const away = worker && n >= 2 ? Math.floor(n / 2) : 0;
    if (away === 0 || !worker) return featuresHere(pixels, n);
    const per = inputSize.width * inputSize.height * 3;
    const here = n - away;
    const remote = worker.features(pixels.slice(here * per), away, inputSize.height, inputSize.width);
    const local = await featuresHere(pixels.subarray(0, here * per), here);
    const far = await remote;
    const out = new Float32Array(local.length + far.length);
    out.set(local);
    out.set(far, local.length);
    return out;
  };

  /** P(class 1) of each base-sized face. */
  const probabilities = async (faces: readonly Rgb8Image[]): Promise<Float32Array> => {
    if (faces.length === 0) return new Float32Array(0);
    const per = inputSize.width * inputSize.height * 3;
    const pixels = new Float32Array(faces.length * per);
    faces.forEach((f, i) => pixels.set(f.data, i * per));
    const features = await baseFeatures(preprocessing.apply(pixels), faces.length);
    const f = tf.tensor2d(features, [faces.length, features.length / faces.length]);
    const p = head.predict(f) as tf.Tensor;
    try {
      return Float32Array.from(await p.data());
    } finally {
      tf.dispose([f, p]);
    }
  };

  const face = (probability: number, box: PixelBox, detectionScore: number | null, rotation: number): WebFace => {
    const classIndex = predictedLabel(probability, threshold);
    const label = classNames[classIndex] ?? String(classIndex);
    const c = certainty(probability, threshold);
    return { box, detectionScore, label, certainty: c, probability, text: predictionText(label, c), rotation };
  };

  const detectFaces = async (image: Rgb8Image): Promise<FoundFace[]> => {
    const input = { width: image.width, height: image.height, pixels: async () => image, letterbox: photoLetterboxes(image) };
    const [found = []] = await findFaces(detector, [input], { frame: manifest.alignedSize });
    return found;
  };

  const photoFaces = (found: readonly FoundFace[], probs: ArrayLike<number>, scale: number): WebFace[] => {
    const round = (v: number) => Math.round(v * 10) / 10;
    return found.map((f, i) =>
      face(
        probs[i] as number,
        { x: round(f.box.x * scale), y: round(f.box.y * scale), width: round(f.box.width * scale), height: round(f.box.height * scale) },
        Math.round(f.box.score * 1e4) / 1e4,
        Math.round(f.aligned.degrees * 10) / 10,
      ),
    );
  };

  let tracks: Track[] = [];

  return {
    manifest,
    classNames,
    threshold,
    backend,
    baseWorker: worker !== undefined,
    async classifyImage(source, options = {}) {
      const started = performance.now();
      const { image, scale, size } = readPixels(source);
      if (options.detect === false) {
        const [p = NaN] = await probabilities([baseInput(image)]);
        return { width: size.width, height: size.height, detect: false, faces: [face(p, { x: 0, y: 0, ...size }, null, 0)], ms: performance.now() - started };
      }
      const found = await detectFaces(image);
      const probs = await probabilities(found.map((f) => baseInput(toBytes(f.aligned.image))));
      return { width: size.width, height: size.height, detect: true, faces: photoFaces(found, probs, scale), ms: performance.now() - started };
    },
    async classifyVideoFrame(source, options = {}) {
      const refreshMs = options.refreshMs ?? 500;
      const started = performance.now();
      const { image, scale, size } = readPixels(source);
      const found = await detectFaces(image);
      // Each previous face is claimed by at most one face of this frame, the one it overlaps most.
      const unclaimed = new Set(tracks);
      const reused = found.map((f) => {
        let best: Track | undefined;
        let bestIou = SAME_FACE_IOU;
        for (const t of unclaimed) {
          const overlap = iou(t.box, f.box);
          if (overlap >= bestIou && started - t.classifiedAt < refreshMs) [best, bestIou] = [t, overlap];
        }
        if (best) unclaimed.delete(best);
        return best;
      });
      const fresh = found.flatMap((f, i) => (reused[i] ? [] : [baseInput(toBytes(f.aligned.image))]));
      const freshProbs = await probabilities(fresh);
      let next = 0;
      tracks = found.map((f, i) => {
        const kept = reused[i];
        return kept ? { box: f.box, probability: kept.probability, classifiedAt: kept.classifiedAt } : { box: f.box, probability: freshProbs[next++] as number, classifiedAt: started };
      });
      const faces = photoFaces(found, tracks.map((t) => t.probability), scale);
      return { width: size.width, height: size.height, detect: true, faces, ms: performance.now() - started, classified: fresh.length };
    },
    dispose() {
      tracks = [];
      void detector.dispose();
      worker?.terminate();
      baseModel.dispose();
      head.dispose();
    },
  };
}
