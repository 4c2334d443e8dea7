import type { CropBox, ImageSize } from '../data/image.js';

/**
 * What `facegender export --web` writes beside the weights, and all the page's library needs to
 * rebuild the Node photo path: where each model's files are (relative to this file), the base's
 * crop, size and preprocessing, the feature node, and the bundle's classes and threshold.
 */
export const WEB_MODEL_FILE = 'web-model.json';
/** The page's one script, bundled with tfjs (web-script.ts). */
export const WEB_SCRIPT_FILE = 'facegender-web.js';
/** The base worker's script, bundled with tfjs (web-script.ts). */
export const WEB_WORKER_FILE = 'facegender-worker.js';

export interface WebModelManifest {
  format: 'facegender-web-model';
  version: 1;
  model: {
    /** The bundle folder's name. */
    id: string;
    classNames: string[];
    threshold: number;
    thresholdRule: string;
  };
  base: {
    id: string;
    /** tfjs graph model (model.json beside its shards), with any fine-tuned weights already in it. */
    model: string;
    featureNode: string;
    pooling: 'none' | 'global-average';
    inputSize: ImageSize;
    crop: CropBox | null;
    preprocess: string;
    /** Whether the stored weights came out of fine-tuning in the bundle. */
    fineTuned: boolean;
    trainedOn: string;
  };
  /** The bundle's tfjs-layers head, applied to the base's features. */
  head: { model: string };
  detector: {
    front: string;
    back: string;
    minConfidence: number;
    maxFaces: number;
    description: string;
  };
  /** The aligned face's size before the base's crop: the Node photo path's 89x109. */
  alignedSize: ImageSize;
  /** Folder of tfjs' .wasm binaries. */
  wasm: string;
  /**
   * Script of a worker that runs the base beside the page's thread (base-worker.ts): a photo's
   * faces are shared between the two. Absent in exports made before it existed.
   */
  baseWorker?: string;
  /** The model card, when the bundle has one. */
  modelCard?: string;
}
