import path from 'node:path';
import type { ImageSize } from '../data/image.js';
import { UsageError, WeightsError } from '../errors.js';
import type { Base } from '../bases/base.js';
import type { FineTunedBase, FineTunedInfo } from '../bases/fine-tunable.js';
import { loadFineTunedGraphBase } from '../bases/fine-tunable-graph-base.js';
import { loadOnnxFileBase } from '../bases/onnx-file-base.js';
import type { GraphBaseSpec, TfjsBaseOptions } from '../bases/spec.js';
import type { OnnxThread } from '../runtime/onnx/open-session.js';
import type { PixelLayout } from '../runtime/onnx/session.js';
import { resolvePackageFile } from '../runtime/tfjs/graph-loader.js';
import { CENTERNET_SPEC, loadCenternetBase } from './centernet.js';
import { loadCustomBase } from './custom-cnn/base.js';
import { DEFAULT_CUSTOM_CNN_INPUT_SIZE } from './custom-cnn/network.js';
import { FACEAPI_DIM, FACEAPI_INPUT_SIZE, FACEAPI_TRAINED_ON, loadFaceapiRecognitionBase } from './faceapi-resnet.js';
import { FACERES_SPECS, loadFaceresBase } from './faceres.js';
import { loadMobilefaceBase, MOBILEFACE_SPEC } from './mobileface.js';
import { loadVgg16Base, loadVgg16BaseFromBytes, resolveVgg16Weights, VGG16_BLOCK_UNIT, VGG16_DIM, VGG16_INPUT_SIZE, VGG16_VARIANTS, VGG16_WEIGHTS_FORMAT, type Vgg16Variant } from './vgg16/base.js';

/**
 * THE registry: every named base, what it is, what its weights were trained on, how to load it,
 * and what fine-tuning unfreezes. Code outside zoo/ reads models only through this file.
 */

export interface LoadBaseOptions {
  /** Weights file for `vgg16-imagenet` / `vggface` (Keras .h5). */
  weights?: string;
  /** Override the base's preprocessing (e.g. `study` for the study's rescale-only input). */
  preprocess?: string;
  /** ONNX Runtime threads. */
  threads?: number;
  /** Where ONNX Runtime runs the base (its own worker thread, a shared OnnxWorker); default the main thread. */
  onnxThread?: OnnxThread;
  /** Input side in pixels: the custom CNN's, a VGG16 base's (default 224), or a user ONNX model's (then also `layout`). */
  inputSize?: number;
  /** A user ONNX model's pixel layout. */
  layout?: PixelLayout;
  /** A user ONNX model's feature output. */
  output?: string;
  /** Seed of the custom CNN's initial weights. */
  seed?: number;
}

export type OfflineBaseId = 'faceres' | 'faceres-deep' | 'mobileface' | 'faceapi-resnet' | 'centernet';

export interface ZooEntry {
  id: string;
  /** Other names that load this entry (`face`, `generic`); the loaded base keeps the explicit id, so caches survive re-pointing. */
  aliases: readonly string[];
  architecture: string;
  trainedOn: string;
  /** The engine `load` picks by default; `engine: 'tfjs'` can choose tfjs for the graph bases. */
  engine: Base['engine'];
  /** The npm package its weights ship in; absent where you supply them (VGG16) or there are none (custom). */
  weightsPackage?: string;
  inputSize: ImageSize;
  dim: number;
  /** The graph spec of a tfjs graph model base. */
  spec?: GraphBaseSpec;
  /**
   * Logistic-regression probe on celeba-10k with the base's default crop (bench/face-probe.ts):
   * 5-fold CV accuracy on the 2,000 training images (what chose the crop and `face`), and
   * accuracy on the 1,000 held-out test images. Offline face bases only.
   */
  probe?: { cvAccuracy: number; testAccuracy: number };
  /** What one block of `--fine-tune-blocks` is for this base; absent where it does not fine-tune. */
  fineTuneBlocks?: string;
  load(options?: LoadBaseOptions & TfjsBaseOptions): Promise<Base>;
  /** Loads the base again from the fine-tuned weights a bundle carries. */
  loadFineTuned?(bytes: Uint8Array, fineTuned: FineTunedInfo, options: LoadBaseOptions & { file?: string }): Promise<FineTunedBase>;
  /** Why it cannot be used here (its weights are missing), checked without loading anything heavy. */
  unavailable?(): Promise<string | undefined>;
}

function onlyOwnPreprocess(name: string, base: Base, options: LoadBaseOptions): Base {
  if (options.preprocess && options.preprocess !== base.preprocess) {
    throw new UsageError(`base ${name} takes its own preprocessing (${base.preprocess}); --preprocess applies to VGG16 and ONNX bases`);
  }
  return base;
}

function runOptions(options: LoadBaseOptions & TfjsBaseOptions): TfjsBaseOptions {
  return {
    ...(options.threads ? { threads: options.threads } : {}),
    ...(options.onnxThread ? { onnxThread: options.onnxThread } : {}),
    ...(options.maxBatch !== undefined ? { maxBatch: options.maxBatch } : {}),
    ...(options.engine ? { engine: options.engine } : {}),
    ...(options.backend ? { backend: options.backend } : {}),
  };
}

/** An entry for a tfjs graph model base: what it is, its weights and input follow from the spec. */
function graphEntry(spec: GraphBaseSpec, aliases: readonly string[], probe: ZooEntry['probe'], load: (o: TfjsBaseOptions) => Promise<Base>): ZooEntry {
  const entry: ZooEntry = {
    id: spec.id,
    aliases,
    architecture: spec.architecture,
    trainedOn: spec.trainedOn,
    engine: 'onnxruntime',
    // `@scope/name/models/x.json` → `@scope/name`.
    weightsPackage: spec.model.split('/').slice(0, 2).join('/'),
    inputSize: spec.inputSize,
    dim: spec.dim,
    spec,
    ...(probe ? { probe } : {}),
    load: async (o = {}) => onlyOwnPreprocess(spec.id, await load(runOptions(o)), o),
  };
  if (spec.fineTune) {
    entry.fineTuneBlocks = spec.fineTune.blockUnit;
    entry.loadFineTuned = (bytes, fineTuned, options) => {
      const size = options.inputSize;
      if ((size !== undefined && (size !== spec.inputSize.height || size !== spec.inputSize.width)) || (options.preprocess !== undefined && options.preprocess !== spec.preprocess)) {
        throw new UsageError(`base ${spec.id} runs at ${spec.inputSize.width}x${spec.inputSize.height} with ${spec.preprocess} preprocessing; the bundle asks for ${size ?? '?'} px and ${options.preprocess ?? spec.preprocess}`, options.file);
      }
      return loadFineTunedGraphBase(spec, resolvePackageFile(spec.model), bytes, fineTuned, {
        ...(options.threads ? { threads: options.threads } : {}),
        ...(options.onnxThread ? { onnxThread: options.onnxThread } : {}),
        ...(options.file ? { label: options.file } : {}),
      });
    };
  }
  return entry;
}

function vgg16Entry(variant: Vgg16Variant): ZooEntry {
  const info = VGG16_VARIANTS[variant];
  return {
    id: variant,
    aliases: [],
    architecture: 'VGG16 conv base (13 conv + 5 pool), global average pool',
    trainedOn: info.trainedOn,
    engine: 'onnxruntime',
    inputSize: VGG16_INPUT_SIZE,
    dim: VGG16_DIM,
    fineTuneBlocks: VGG16_BLOCK_UNIT,
    load: (options = {}) =>
      loadVgg16Base({
        variant,
        ...(options.weights ? { weights: options.weights } : {}),
        ...(options.preprocess ? { preprocess: options.preprocess } : {}),
        ...(options.threads ? { threads: options.threads } : {}),
        ...(options.onnxThread ? { onnxThread: options.onnxThread } : {}),
        ...(options.inputSize ? { inputSize: options.inputSize } : {}),
      }),
    loadFineTuned: (bytes, fineTuned, options) => {
      if (fineTuned.format !== VGG16_WEIGHTS_FORMAT) {
        throw new WeightsError(`fine-tuned ${variant} weights are stored as '${fineTuned.format}'; this version reads '${VGG16_WEIGHTS_FORMAT}'`, options.file);
      }
      return loadVgg16BaseFromBytes(variant, bytes, {
        fineTuned,
        ...(options.preprocess ? { preprocess: options.preprocess } : {}),
        ...(options.threads ? { threads: options.threads } : {}),
        ...(options.onnxThread ? { onnxThread: options.onnxThread } : {}),
        ...(options.inputSize ? { inputSize: options.inputSize } : {}),
        ...(options.file ? { label: options.file } : {}),
      });
    },
    unavailable: async () => {
      try {
        await resolveVgg16Weights(variant);
        return undefined;
      } catch (e) {
        if (!(e instanceof WeightsError)) throw e;
        return e.message;
      }
    },
  };
}

/**
 * `face`: the face base with the best probe CV accuracy (faceres-deep 98.0% vs faceres 97.5%; both
 * 98.7% on the test images). Note that faceres-deep's backbone was itself fine-tuned for age and
 * gender, while faceres' is the frozen face-identification one. `generic`: a base that knows
 * nothing about faces, for comparison with the study's ImageNet VGG16.
 */
export const ZOO: readonly ZooEntry[] = [
  {
    id: 'custom',
    aliases: [],
    architecture: 'Custom CNN: 5 x (Conv2D 3x3 + MaxPool 2x2), 32-512 filters, global average pool',
    trainedOn: 'untrained; trained end to end on your split',
    engine: 'tfjs',
    inputSize: { height: DEFAULT_CUSTOM_CNN_INPUT_SIZE, width: DEFAULT_CUSTOM_CNN_INPUT_SIZE },
    dim: 512,
    fineTuneBlocks: 'the whole network (it trains end to end)',
    load: (options = {}) => loadCustomBase({ inputSize: options.inputSize ?? DEFAULT_CUSTOM_CNN_INPUT_SIZE, ...(options.seed !== undefined ? { seed: options.seed } : {}) }),
  },
  graphEntry(FACERES_SPECS.faceres, [], { cvAccuracy: 0.975, testAccuracy: 0.987 }, (o) => loadFaceresBase('faceres', o)),
  graphEntry(FACERES_SPECS['faceres-deep'], ['face'], { cvAccuracy: 0.98, testAccuracy: 0.987 }, (o) => loadFaceresBase('faceres-deep', o)),
  {
    id: 'faceapi-resnet',
    aliases: [],
    architecture: 'ResNet-34-like face recogniser, 128-d descriptor',
    trainedOn: FACEAPI_TRAINED_ON,
    engine: 'tfjs',
    weightsPackage: '@vladmandic/face-api',
    inputSize: FACEAPI_INPUT_SIZE,
    dim: FACEAPI_DIM,
    probe: { cvAccuracy: 0.9295, testAccuracy: 0.925 },
    load: async (o = {}) => onlyOwnPreprocess('faceapi-resnet', await loadFaceapiRecognitionBase(runOptions(o)), o),
  },
  graphEntry(MOBILEFACE_SPEC, [], { cvAccuracy: 0.9315, testAccuracy: 0.923 }, (o) => loadMobilefaceBase(o)),
  graphEntry(CENTERNET_SPEC, ['generic'], { cvAccuracy: 0.87, testAccuracy: 0.864 }, (o) => loadCenternetBase(o)),
  vgg16Entry('vgg16-imagenet'),
  vgg16Entry('vggface'),
];

/** The default base: the most accurate one that needs no download. */
export const DEFAULT_BASE = 'face';

/** Every base name the command line accepts, besides `onnx:PATH`: custom, the aliases, then the ids. */
export const BASE_NAMES: readonly string[] = ['custom', ...ZOO.flatMap((e) => e.aliases), ...ZOO.map((e) => e.id).filter((id) => id !== 'custom')];

function findEntry(name: string): ZooEntry | undefined {
  return ZOO.find((e) => e.id === name || e.aliases.includes(name));
}

/** The bases `--fine-tune-epochs` can unfreeze (graph bases on their default engine); aliases come with their target. */
export const FINE_TUNABLE_BASE_NAMES: readonly string[] = BASE_NAMES.filter((name) => findEntry(name)?.fineTuneBlocks !== undefined);

function withTarget(name: string): string {
  const entry = findEntry(name);
  return entry && entry.id !== name ? `${name} (${entry.id})` : name;
}

/** FINE_TUNABLE_BASE_NAMES in words, aliases with their target: "custom, face (faceres-deep), …". */
export function fineTunableBasesText(): string {
  return FINE_TUNABLE_BASE_NAMES.map(withTarget).join(', ');
}

/** What a block of `--fine-tune-blocks` is, base by base, for the option's help. */
export function fineTuneBlocksText(): string {
  const byUnit = new Map<string, string[]>();
  for (const name of FINE_TUNABLE_BASE_NAMES) {
    const entry = findEntry(name) as ZooEntry;
    if (entry.id === 'custom') continue;
    const unit = entry.fineTuneBlocks as string;
    byUnit.set(unit, [...(byUnit.get(unit) ?? []), name]);
  }
  return [...byUnit].map(([unit, names]) => `for ${names.join(', ')}: ${unit}`).join('; ');
}

/** The offline bases (weights in an npm package), in table order: a view of ZOO. */
export const OFFLINE_BASE_CANDIDATES: readonly (ZooEntry & { id: OfflineBaseId; probe: NonNullable<ZooEntry['probe']>; weightsPackage: string })[] = ZOO.filter(
  (e): e is ZooEntry & { id: OfflineBaseId; probe: NonNullable<ZooEntry['probe']>; weightsPackage: string } => e.weightsPackage !== undefined && e.probe !== undefined,
);

/** The offline aliases and their targets: a view of ZOO. */
export const OFFLINE_BASE_ALIASES = Object.fromEntries(OFFLINE_BASE_CANDIDATES.flatMap((c) => c.aliases.map((a) => [a, c.id]))) as Readonly<Record<'face' | 'generic', OfflineBaseId>>;

/** The offline candidate an id or alias names. */
export function resolveOfflineBase(name: string): (typeof OFFLINE_BASE_CANDIDATES)[number] {
  const found = OFFLINE_BASE_CANDIDATES.find((c) => c.id === name || c.aliases.includes(name));
  if (!found) {
    const names = [...Object.keys(OFFLINE_BASE_ALIASES), ...OFFLINE_BASE_CANDIDATES.map((c) => c.id)];
    throw new UsageError(`unknown offline base '${name}'; known: ${names.join(', ')}`);
  }
  return found;
}

/**
 * Loads an offline base by id or alias. An alias loads its target, whose `id` is the explicit one
 * (`face` gives a base with id `faceres-deep`), so caches stay valid if an alias is re-pointed.
 */
export async function loadOfflineBase(name: string, options: TfjsBaseOptions = {}): Promise<Base> {
  return resolveOfflineBase(name).load(options);
}

/**
 * Loads a base by name: `custom`, `face`, `generic`, an offline base id, `vgg16-imagenet`,
 * `vggface`, or `onnx:PATH` for any user ONNX model.
 */
export async function loadBase(name: string, options: LoadBaseOptions = {}): Promise<Base> {
  const entry = findEntry(name);
  if (entry) return entry.load(options);
  if (name.startsWith('onnx:')) {
    const file = path.resolve(name.slice('onnx:'.length));
    if (!options.inputSize) throw new UsageError(`an ONNX base needs its input size (--input-size), e.g. 112 for ArcFace`);
    const size: ImageSize = { height: options.inputSize, width: options.inputSize };
    return loadOnnxFileBase(file, {
      inputSize: size,
      preprocess: options.preprocess ?? 'raw',
      layout: options.layout ?? 'nchw',
      ...(options.output ? { outputName: options.output } : {}),
      ...(options.threads ? { threads: options.threads } : {}),
      ...(options.onnxThread ? { onnxThread: options.onnxThread } : {}),
    });
  }
  throw new UsageError(`unknown base '${name}'; known: ${BASE_NAMES.join(', ')}, onnx:PATH`);
}

/**
 * Loads a base from fine-tuned weights that a bundle carries (`file` names where `bytes` were
 * read, for errors): a VGG16 base, or a graph base (face, faceres, generic, …) whose other weights
 * come from its package. The custom CNN's end-to-end model holds its own weights.
 */
export async function loadFineTunedBase(name: string, bytes: Uint8Array, fineTuned: FineTunedInfo, options: LoadBaseOptions & { file?: string } = {}): Promise<FineTunedBase> {
  const load = findEntry(name)?.loadFineTuned;
  if (!load) throw new UsageError(`base ${name} has no stored fine-tuned form; only ${FINE_TUNABLE_BASE_NAMES.filter((n) => n !== 'custom').join(', ')} do`);
  return load(bytes, fineTuned, options);
}

export interface BaseDescription {
  id: string;
  aliasOf?: string;
  architecture: string;
  trainedOn: string;
  engine: 'onnxruntime' | 'tfjs';
  /** Whether `--fine-tune-epochs` can unfreeze it. */
  fineTunable: boolean;
  usable: boolean;
  /** Why not, when not usable (e.g. the weights file is missing). */
  reason?: string;
}

/** Every named base, whether it can be used here, and why not (weights from the environment or ~/.keras/models). Loads nothing heavy. */
export async function describeBases(): Promise<BaseDescription[]> {
  const out: BaseDescription[] = [];
  for (const name of BASE_NAMES) {
    const e = findEntry(name) as ZooEntry;
    const row: BaseDescription = {
      id: name,
      ...(e.id !== name ? { aliasOf: e.id } : {}),
      architecture: e.architecture,
      trainedOn: e.trainedOn,
      engine: e.engine,
      fineTunable: e.fineTuneBlocks !== undefined,
      usable: true,
    };
    const reason = await e.unavailable?.();
    if (reason !== undefined) {
      row.usable = false;
      row.reason = reason;
    }
    out.push(row);
  }
  return out;
}

export { loadVgg16Base, VGG16_VARIANTS, type Vgg16Variant } from './vgg16/base.js';
