import { copyFile, mkdir, readFile, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { decodeGraphWeightBytes } from '../graph/weight-bytes.js';
import type { GraphWeight } from '../graph/nodes.js';
import { readGraphModel } from '../graph/read-graph.js';
import { BLAZE_SPECS } from '../detect/blazeface-decode.js';
import { BLAZEFACE_DETECTOR_DESCRIPTION } from '../detect/blazeface-detector.js';
import { DEFAULT_MAX_FACES, DEFAULT_MIN_CONFIDENCE } from '../detect/face-detector.js';
import { DEFAULT_ALIGNED_SIZE } from '../detect/photo-input.js';
import { BundleError, UsageError } from '../errors.js';
import { MODEL_CARD_FILE, readModelCard } from '../experiments/model-card.js';
import { freeInputDimensions, readGraphModelFiles, resolvePackageFile, type GraphModelJson } from '../runtime/tfjs/graph-loader.js';
import { readBundleBaseWeights, readBundleManifest, type BundleManifest } from '../train/bundle.js';
import { writeFileAtomically, writeJsonAtomically } from '../util/atomic-write.js';
import type { ProgressFn } from '../util/progress.js';
import { ZOO } from '../zoo/index.js';
import { renderWebPage } from './page-html.js';
import { serviceWorker } from './service-worker.js';
import { webScript, WEB_SCRIPT_FILE } from './web-script.js';
import { WEB_MODEL_FILE, type WebModelManifest } from './web-model.js';

/**
 * `facegender export --web`: a model folder as a static site that finds and classifies faces in
 * the visitor's browser. Everything the page needs is written beside index.html (the script, the
 * detector, base and head weights, tfjs' wasm binaries, the model card) and nothing is fetched
 * from anywhere else, so any static host serves it and a service worker keeps it working offline.
 */

const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'] as const;

/** Bases whose weights are tfjs graph models in an npm package: the page runs them as they are. */
function exportableEntries() {
  return ZOO.filter((e) => e.spec !== undefined && e.spec.model.endsWith('.json'));
}

/** The bases that export, aliases with their target: "faceres, face (faceres-deep), …". */
export function exportableBasesText(): string {
  return exportableEntries()
    .flatMap((e) => [...e.aliases.map((a) => `${a} (${e.id})`), e.id])
    .join(', ');
}

function whyNotExportable(manifest: BundleManifest): string | undefined {
  const id = manifest.base.id;
  if (manifest.modelKind !== 'head') return `its model is '${manifest.modelKind}' (a network trained end to end, such as the custom CNN); the page runs a base's features through a head`;
  if (id.startsWith('onnx:')) return 'its base is a user-supplied ONNX file, which the page cannot run';
  const entry = ZOO.find((e) => e.id === id);
  if (!entry) return `its base '${id}' is not one this version knows`;
  if (!exportableEntries().includes(entry)) return `its base ${id} (${entry.architecture}) has no tfjs graph model to run in a browser`;
  if (manifest.base.interpolation !== 'bilinear') return `it resizes with '${manifest.base.interpolation}'; the page resizes bilinearly only`;
  return undefined;
}

export interface ExportWebOptions {
  onProgress?: ProgressFn;
}

export interface ExportedSite {
  dir: string;
  /** Files written, relative to `dir`, with their sizes. */
  files: Array<{ file: string; bytes: number }>;
  totalBytes: number;
  manifest: WebModelManifest;
}

/** A graph model.json whose shards hold `weights` (float32 or int32 each, in the manifest's order). */
function graphWithWeights(json: GraphModelJson, weights: ReadonlyMap<string, GraphWeight>, shard: string): { json: GraphModelJson; bin: Uint8Array } {
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const parts: Uint8Array[] = [];
  const entries = specs.map((spec) => {
    const w = weights.get(spec.name);
    if (!w) throw new BundleError(`the graph's weight '${spec.name}' is missing`);
    const bytes = new Uint8Array(w.values.buffer, w.values.byteOffset, w.values.byteLength);
    parts.push(bytes.slice());
    return { name: spec.name, shape: w.shape, dtype: w.dtype };
  });
  const total = parts.reduce((s, p) => s + p.byteLength, 0);
  const bin = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    bin.set(p, at);
    at += p.byteLength;
  }
  return { json: { ...json, weightsManifest: [{ paths: [shard], weights: entries }] }, bin };
}

/** Writes the site for the bundle in `bundleDir` into `outDir` (created; our files in it replaced). */
export async function exportWebSite(bundleDir: string, outDir: string, options: ExportWebOptions = {}): Promise<ExportedSite> {
  const manifest = await readBundleManifest(bundleDir);
  const why = whyNotExportable(manifest);
  if (why) throw new UsageError(`cannot export this model to the browser: ${why}. Bases that export: ${exportableBasesText()}`, bundleDir);
  const entry = ZOO.find((e) => e.id === manifest.base.id);
  const spec = entry?.spec;
  if (!spec) throw new UsageError(`base ${manifest.base.id} has no graph spec`, bundleDir);

  const written: Array<{ file: string; bytes: number }> = [];
  const steps = 8;
  let done = 0;
  const step = () => options.onProgress?.({ stage: 'export', done: ++done, total: steps });
  options.onProgress?.({ stage: 'export', done: 0, total: steps });
  const put = async (file: string, data: string | Uint8Array) => {
    await writeFileAtomically(path.join(outDir, file), data);
    written.push({ file, bytes: typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength });
  };
  const copy = async (from: string, file: string) => {
    const to = path.join(outDir, file);
    await mkdir(path.dirname(to), { recursive: true });
    await copyFile(from, `${to}.tmp`);
    await rename(`${to}.tmp`, to);
    written.push({ file, bytes: (await stat(to)).size });
  };

  // The detector: the back model runs at 256 and, on large photos, 384 px, so its input size is freed.
  for (const variant of ['front', 'back'] as const) {
    const file = resolvePackageFile(BLAZE_SPECS[variant].model);
    const { json, shards } = await readGraphModelFiles(file);
    freeInputDimensions(json, variant === 'back');
    const shard = `blazeface-${variant}.bin`;
    await put(`detector/blazeface-${variant}.json`, JSON.stringify({ ...json, weightsManifest: [{ paths: [shard], weights: shards.specs }] }));
    await put(`detector/${shard}`, new Uint8Array(shards.data));
  }
  step();

  // The base, with the bundle's fine-tuned weights in place of the package's where it has them.
  const baseJsonPath = resolvePackageFile(spec.model);
  const { json: baseJson, shards: baseShards } = await readGraphModelFiles(baseJsonPath);
  freeInputDimensions(baseJson, false);
  if (manifest.base.fineTuned) {
    const graph = await readGraphModel(baseJsonPath);
    if (graph.weightsHash !== manifest.base.fineTuned.originalWeightsHash) {
      throw new BundleError(`was fine-tuned from ${spec.id} weights with sha256 ${manifest.base.fineTuned.originalWeightsHash.slice(0, 12)}…, but the installed package's hash to ${graph.weightsHash.slice(0, 12)}…`, bundleDir);
    }
    const tuned = decodeGraphWeightBytes(await readBundleBaseWeights(bundleDir, manifest), graph.weights, path.join(bundleDir, manifest.base.fineTuned.weightsFile));
    const { json, bin } = graphWithWeights(baseJson, new Map([...graph.weights, ...tuned]), 'base.bin');
    await put('base/model.json', JSON.stringify(json));
    await put('base/base.bin', bin);
  } else {
    await put('base/model.json', JSON.stringify({ ...baseJson, weightsManifest: [{ paths: ['base.bin'], weights: baseShards.specs }] }));
    await put('base/base.bin', new Uint8Array(baseShards.data));
  }
  step();

  // The head, as the bundle stores it (tfjs-layers' own format).
  for (const file of ['model.json', 'weights.bin']) await copy(path.join(bundleDir, file), `head/${file}`);
  step();

  for (const file of WASM_FILES) await copy(resolvePackageFile(`@tensorflow/tfjs-backend-wasm/dist/${file}`), `wasm/${file}`);
  step();

  const card = await readModelCard(bundleDir).catch(async (err: unknown) => {
    // A bundle whose card cannot be rebuilt may still carry the one written with it.
    try {
      return JSON.parse(await readFile(path.join(bundleDir, MODEL_CARD_FILE), 'utf8')) as unknown;
    } catch {
      throw err;
    }
  });
  await writeJsonAtomically(path.join(outDir, MODEL_CARD_FILE), card);
  written.push({ file: MODEL_CARD_FILE, bytes: (await stat(path.join(outDir, MODEL_CARD_FILE))).size });
  step();

  const id = path.basename(path.resolve(bundleDir));
  const web: WebModelManifest = {
    format: 'facegender-web-model',
    version: 1,
    model: { id, classNames: [...manifest.classNames], threshold: manifest.threshold, thresholdRule: manifest.thresholdRule },
    base: {
      id: manifest.base.id,
      model: 'base/model.json',
      featureNode: spec.featureNode,
      pooling: spec.pooling,
      inputSize: manifest.base.inputSize,
      crop: manifest.base.crop,
      preprocess: manifest.base.preprocess,
      fineTuned: manifest.base.fineTuned !== undefined,
      trainedOn: manifest.base.trainedOn,
    },
    head: { model: 'head/model.json' },
    detector: {
      front: 'detector/blazeface-front.json',
      back: 'detector/blazeface-back.json',
      minConfidence: DEFAULT_MIN_CONFIDENCE,
      maxFaces: DEFAULT_MAX_FACES,
      description: BLAZEFACE_DETECTOR_DESCRIPTION.replace('on ONNX Runtime', 'on tfjs in the browser'),
    },
    alignedSize: DEFAULT_ALIGNED_SIZE,
    wasm: 'wasm/',
    modelCard: MODEL_CARD_FILE,
  };
  await put(WEB_MODEL_FILE, JSON.stringify(web, null, 2) + '\n');
  step();

  await put(WEB_SCRIPT_FILE, await webScript());
  step();

  await put('index.html', renderWebPage({ modelId: id, classNames: manifest.classNames }));
  await put('sw.js', serviceWorker(['./', ...written.map((w) => w.file)], `${id}-${manifest.createdAt}`));
  step();
  return { dir: outDir, files: written, totalBytes: written.reduce((s, w) => s + w.bytes, 0), manifest: web };
}
