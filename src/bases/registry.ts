import path from 'node:path';
import type { ImageSize } from '../data/image.js';
import { UsageError, WeightsError } from '../errors.js';
import type { Base } from './base.js';
import { loadCustomBase } from './custom-base.js';
import { DEFAULT_CUSTOM_CNN_INPUT_SIZE } from './custom-cnn.js';
import { isOfflineBaseName, loadOfflineBase, OFFLINE_BASE_ALIASES, OFFLINE_BASE_CANDIDATES, resolveOfflineBase } from './offline-bases.js';
import { loadOnnxFileBase } from './onnx-file-base.js';
import type { PixelLayout } from './onnx-session.js';
import type { FineTunedBase, FineTunedInfo } from './fine-tunable-base.js';
import { loadFineTunedGraphBase } from './fine-tunable-graph-base.js';
import { resolvePackageFile } from './tfjs-graph-loader.js';
import { loadVgg16Base, loadVgg16BaseFromBytes, resolveVgg16Weights, VGG16_VARIANTS, VGG16_WEIGHTS_FORMAT, type Vgg16Variant } from './vgg16-base.js';

export interface LoadBaseOptions {
  /** Weights file for `vgg16-imagenet` / `vggface` (Keras .h5). */
  weights?: string;
  /** Override the base's preprocessing (e.g. `study` for the study's rescale-only input). */
  preprocess?: string;
  /** ONNX Runtime threads. */
  threads?: number;
  /** Input side in pixels: the custom CNN's, a VGG16 base's (default 224), or a user ONNX model's (then also `layout`). */
  inputSize?: number;
  /** A user ONNX model's pixel layout. */
  layout?: PixelLayout;
  /** A user ONNX model's feature output. */
  output?: string;
  /** Seed of the custom CNN's initial weights. */
  seed?: number;
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

const VGG_IDS = Object.keys(VGG16_VARIANTS) as Vgg16Variant[];

/** Every base name the command line accepts, besides `onnx:PATH`. */
export const BASE_NAMES: readonly string[] = ['custom', ...Object.keys(OFFLINE_BASE_ALIASES), ...OFFLINE_BASE_CANDIDATES.map((c) => c.id), ...VGG_IDS];

/**
 * The bases `--fine-tune-epochs` can unfreeze: the custom CNN, the graph bases whose spec names
 * fine-tuning blocks (on ONNX Runtime, their default engine), and VGG16. Aliases come with their target.
 */
export const FINE_TUNABLE_BASE_NAMES: readonly string[] = BASE_NAMES.filter(
  (name) => name === 'custom' || (VGG_IDS as string[]).includes(name) || (isOfflineBaseName(name) && resolveOfflineBase(name).spec?.fineTune !== undefined),
);

/** FINE_TUNABLE_BASE_NAMES in words, aliases with their target: "custom, face (faceres-deep), …". */
export function fineTunableBasesText(): string {
  return FINE_TUNABLE_BASE_NAMES.map((name) => {
    const target = (OFFLINE_BASE_ALIASES as Record<string, string>)[name];
    return target ? `${name} (${target})` : name;
  }).join(', ');
}

/** The default base: the most accurate one that needs no download. */
export const DEFAULT_BASE = 'face';

/**
 * Loads a base by name: `custom`, `face`, `generic`, an offline base id, `vgg16-imagenet`,
 * `vggface`, or `onnx:PATH` for any user ONNX model.
 */
export async function loadBase(name: string, options: LoadBaseOptions = {}): Promise<Base> {
  if (name === 'custom') {
    return loadCustomBase({ inputSize: options.inputSize ?? DEFAULT_CUSTOM_CNN_INPUT_SIZE, ...(options.seed !== undefined ? { seed: options.seed } : {}) });
  }
  if (isOfflineBaseName(name)) {
    const base = await loadOfflineBase(name, options.threads ? { threads: options.threads } : {});
    if (options.preprocess && options.preprocess !== base.preprocess) {
      throw new UsageError(`base ${name} takes its own preprocessing (${base.preprocess}); --preprocess applies to VGG16 and ONNX bases`);
    }
    return base;
  }
  if ((VGG_IDS as string[]).includes(name)) {
    return loadVgg16Base({
      variant: name as Vgg16Variant,
      ...(options.weights ? { weights: options.weights } : {}),
      ...(options.preprocess ? { preprocess: options.preprocess } : {}),
      ...(options.threads ? { threads: options.threads } : {}),
      ...(options.inputSize ? { inputSize: options.inputSize } : {}),
    });
  }
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
  const spec = isOfflineBaseName(name) ? resolveOfflineBase(name).spec : undefined;
  if (spec?.fineTune) {
    const size = options.inputSize;
    if ((size !== undefined && (size !== spec.inputSize.height || size !== spec.inputSize.width)) || (options.preprocess !== undefined && options.preprocess !== spec.preprocess)) {
      throw new UsageError(`base ${name} runs at ${spec.inputSize.width}x${spec.inputSize.height} with ${spec.preprocess} preprocessing; the bundle asks for ${size ?? '?'} px and ${options.preprocess ?? spec.preprocess}`, options.file);
    }
    return loadFineTunedGraphBase(spec, resolvePackageFile(spec.model), bytes, fineTuned, {
      ...(options.threads ? { threads: options.threads } : {}),
      ...(options.file ? { label: options.file } : {}),
    });
  }
  if (!(VGG_IDS as string[]).includes(name)) throw new UsageError(`base ${name} has no stored fine-tuned form; only ${FINE_TUNABLE_BASE_NAMES.filter((n) => n !== 'custom').join(', ')} do`);
  if (fineTuned.format !== VGG16_WEIGHTS_FORMAT) {
    throw new WeightsError(`fine-tuned ${name} weights are stored as '${fineTuned.format}'; this version reads '${VGG16_WEIGHTS_FORMAT}'`, options.file);
  }
  return loadVgg16BaseFromBytes(name as Vgg16Variant, bytes, {
    fineTuned,
    ...(options.preprocess ? { preprocess: options.preprocess } : {}),
    ...(options.threads ? { threads: options.threads } : {}),
    ...(options.inputSize ? { inputSize: options.inputSize } : {}),
    ...(options.file ? { label: options.file } : {}),
  });
}

/** Every named base, whether it can be used here, and why not (weights from the environment or ~/.keras/models). Loads nothing heavy. */
export async function describeBases(): Promise<BaseDescription[]> {
  const out: BaseDescription[] = [
    {
      id: 'custom',
      architecture: 'Custom CNN: 5 x (Conv2D 3x3 + MaxPool 2x2), 32-512 filters, global average pool',
      trainedOn: 'untrained; trained end to end on your split',
      engine: 'tfjs',
      fineTunable: true,
      usable: true,
    },
  ];
  for (const [alias, target] of Object.entries(OFFLINE_BASE_ALIASES)) {
    const c = resolveOfflineBase(target);
    out.push({ id: alias, aliasOf: target, architecture: c.architecture, trainedOn: c.trainedOn, engine: c.engine, fineTunable: FINE_TUNABLE_BASE_NAMES.includes(alias), usable: true });
  }
  for (const c of OFFLINE_BASE_CANDIDATES) {
    out.push({ id: c.id, architecture: c.architecture, trainedOn: c.trainedOn, engine: c.engine, fineTunable: FINE_TUNABLE_BASE_NAMES.includes(c.id), usable: true });
  }
  for (const variant of VGG_IDS) {
    const info = VGG16_VARIANTS[variant];
    const row: BaseDescription = { id: variant, architecture: 'VGG16 conv base (13 conv + 5 pool), global average pool', trainedOn: info.trainedOn, engine: 'onnxruntime', fineTunable: true, usable: true };
    try {
      await resolveVgg16Weights(variant);
    } catch (e) {
      if (!(e instanceof WeightsError)) throw e;
      row.usable = false;
      row.reason = e.message;
    }
    out.push(row);
  }
  return out;
}
