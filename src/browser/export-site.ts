import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeGraphWeightBytes } from '../graph/weight-bytes.js';
import { fuseConvChains } from '../graph/fuse-conv-chains.js';
import { pruneGraph } from '../graph/prune-graph.js';
import { readGraphModel } from '../graph/read-graph.js';
import { encodeGraphModel } from '../graph/write-graph.js';
import { BLAZE_SPECS } from '../detect/blazeface-decode.js';
import { BLAZEFACE_DETECTOR_DESCRIPTION } from '../detect/blazeface-detector.js';
import { DEFAULT_MAX_FACES, DEFAULT_MIN_CONFIDENCE } from '../detect/face-detector.js';
import { DEFAULT_ALIGNED_SIZE } from '../detect/photo-input.js';
import { BundleError, UsageError } from '../errors.js';
import { MODEL_CARD_FILE, readModelCard } from '../experiments/model-card.js';
import { freeInputDimensions, readGraphModelFiles, resolvePackageFile } from '../runtime/tfjs/graph-loader.js';
import { readBundleBaseWeights, readBundleManifest, type BundleManifest } from '../train/bundle.js';
import { writeFileAtomically } from '../util/atomic-write.js';
import type { ProgressFn } from '../util/progress.js';
import { ZOO } from '../zoo/index.js';
import { renderWebPage } from './page-html.js';
import { serviceWorker } from './service-worker.js';
import { webScript, WEB_LIBRARY_FILE, WEB_SCRIPT_FILE, WEB_WORKER_FILE } from './web-script.js';
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

/** A file of the site: its path under the site's folder, its bytes and its media type. */
export interface WebAsset {
  path: string;
  body: Uint8Array;
  type: string;
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm', '.bin': 'application/octet-stream' };

function asset(file: string, body: string | Uint8Array): WebAsset {
  const ext = file.slice(file.lastIndexOf('.'));
  return { path: file, body: typeof body === 'string' ? new TextEncoder().encode(body) : body, type: TYPES[ext] ?? 'application/octet-stream' };
}

export interface WebAssetsOptions extends ExportWebOptions {
  /** `page`: the exported site's own page and script; `library`: the library script alone, for a page of your own (serve's). */
  script?: 'page' | 'library';
}

/** The files of the site for the bundle in `bundleDir`, in memory; refuses a base that cannot run in a browser. */
export async function webAssets(bundleDir: string, options: WebAssetsOptions = {}): Promise<{ assets: WebAsset[]; manifest: WebModelManifest }> {
  const manifest = await readBundleManifest(bundleDir);
  const why = whyNotExportable(manifest);
  if (why) throw new UsageError(`cannot export this model to the browser: ${why}. Bases that export: ${exportableBasesText()}`, bundleDir);
  const entry = ZOO.find((e) => e.id === manifest.base.id);
  const spec = entry?.spec;
  if (!spec) throw new UsageError(`base ${manifest.base.id} has no graph spec`, bundleDir);

  const assets: WebAsset[] = [];
  const steps = 7;
  let done = 0;
  const step = () => options.onProgress?.({ stage: 'export', done: ++done, total: steps });
  options.onProgress?.({ stage: 'export', done: 0, total: steps });
  const put = (file: string, data: string | Uint8Array) => void assets.push(asset(file, data));

  // The detector: the back model runs at 256 and, on large photos, 384 px, so its input size is freed.
  for (const variant of ['front', 'back'] as const) {
    const file = resolvePackageFile(BLAZE_SPECS[variant].model);
    const { json, shards } = await readGraphModelFiles(file);
    freeInputDimensions(json, variant === 'back');
    const shard = `blazeface-${variant}.bin`;
    put(`detector/blazeface-${variant}.json`, JSON.stringify({ ...json, weightsManifest: [{ paths: [shard], weights: shards.specs }] }));
    put(`detector/${shard}`, new Uint8Array(shards.data));
  }
  step();

  // The base, with the bundle's fine-tuned weights in place of the package's where it has them,
  // cut at its feature node and with each convolution's batch norm and clip folded into it
  // (graph/fuse-conv-chains.ts: 2.5x faster on tfjs' wasm backend, same features to 1e-5).
  const baseJsonPath = resolvePackageFile(spec.model);
  const { json: baseJson } = await readGraphModelFiles(baseJsonPath);
  const graph = await readGraphModel(baseJsonPath);
  let baseWeights = graph.weights;
  if (manifest.base.fineTuned) {
    if (graph.weightsHash !== manifest.base.fineTuned.originalWeightsHash) {
      throw new BundleError(`was fine-tuned from ${spec.id} weights with sha256 ${manifest.base.fineTuned.originalWeightsHash.slice(0, 12)}…, but the installed package's hash to ${graph.weightsHash.slice(0, 12)}…`, bundleDir);
    }
    const tuned = decodeGraphWeightBytes(await readBundleBaseWeights(bundleDir, manifest), graph.weights, path.join(bundleDir, manifest.base.fineTuned.weightsFile));
    baseWeights = new Map([...graph.weights, ...tuned]);
  }
  const pruned = pruneGraph(graph.nodes, baseWeights, [spec.featureNode], baseJsonPath);
  const fused = fuseConvChains(pruned.nodes, pruned.weights, { keep: [spec.featureNode] });
  const { json: baseOut, bin: baseBin } = encodeGraphModel(baseJson, fused.nodes, fused.weights, 'base.bin');
  put('base/model.json', JSON.stringify(baseOut));
  put('base/base.bin', baseBin);
  step();

  // The head, as the bundle stores it (tfjs-layers' own format).
  for (const file of ['model.json', 'weights.bin']) put(`head/${file}`, await readFile(path.join(bundleDir, file)));
  step();

  for (const file of WASM_FILES) put(`wasm/${file}`, await readFile(resolvePackageFile(`@tensorflow/tfjs-backend-wasm/dist/${file}`)));
  step();

  const card = await readModelCard(bundleDir).catch(async (err: unknown) => {
    // A bundle whose card cannot be rebuilt may still carry the one written with it.
    try {
      return JSON.parse(await readFile(path.join(bundleDir, MODEL_CARD_FILE), 'utf8')) as unknown;
    } catch {
      throw err;
    }
  });
  put(MODEL_CARD_FILE, JSON.stringify(card, null, 2) + '\n');
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
    baseWorker: WEB_WORKER_FILE,
    modelCard: MODEL_CARD_FILE,
  };
  put(WEB_MODEL_FILE, JSON.stringify(web, null, 2) + '\n');
  step();

  put(WEB_WORKER_FILE, await webScript('worker'));
  if (options.script === 'library') {
    put(WEB_LIBRARY_FILE, await webScript('library'));
  } else {
    put(WEB_SCRIPT_FILE, await webScript('page'));
    put('index.html', renderWebPage({ modelId: id, classNames: manifest.classNames }));
    put('sw.js', serviceWorker(['./', ...assets.map((a) => a.path)], `${id}-${manifest.createdAt}`));
  }
  step();
  return { assets, manifest: web };
}

/** Writes the site for the bundle in `bundleDir` into `outDir` (created; our files in it replaced). */
export async function exportWebSite(bundleDir: string, outDir: string, options: ExportWebOptions = {}): Promise<ExportedSite> {
  const { assets, manifest } = await webAssets(bundleDir, options);
  for (const a of assets) await writeFileAtomically(path.join(outDir, a.path), a.body);
  const files = assets.map((a) => ({ file: a.path, bytes: a.body.byteLength }));
  return { dir: outDir, files, totalBytes: files.reduce((s, f) => s + f.bytes, 0), manifest };
}
