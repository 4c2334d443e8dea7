/**
 * Throughput of the frozen tfjs graph bases on tfjs-wasm (one thread, SIMD) against the same
 * graphs converted to ONNX and run by ONNX Runtime, in images per second, model only (pixels
 * already decoded and cropped; each base's own preprocessing included).
 *
 *   npx tsx bench/graph-onnx-speed.ts [--threads 2] [--runs 5] [--bases faceres-deep,faceres,centernet]
 *
 * Prints a markdown table; each cell is the median of `runs` timed passes after one warm-up.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Base } from '../src/bases/base.js';
import { CENTERNET_SPEC } from '../src/zoo/centernet.js';
import { FACERES_SPECS } from '../src/zoo/faceres.js';
import { MOBILEFACE_SPEC } from '../src/zoo/mobileface.js';
import { loadGraphBase } from '../src/bases/load-graph-base.js';
import { initTfjs, tfjsRuntimeInfo } from '../src/runtime/tfjs/backend.js';
import type { GraphBaseSpec } from '../src/bases/spec.js';
import { decodeImage } from '../src/data/decode.js';
import type { ImageBatch } from '../src/data/image.js';

const SPECS: Record<string, GraphBaseSpec> = {
  'faceres-deep': FACERES_SPECS['faceres-deep'],
  faceres: FACERES_SPECS.faceres,
  centernet: CENTERNET_SPEC,
  mobileface: MOBILEFACE_SPEC,
};

const { values: args } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    runs: { type: 'string', default: '5' },
    bases: { type: 'string', default: 'faceres-deep,faceres,centernet' },
  },
});
const threads = Number(args.threads);
const runs = Number(args.runs);
const ids = (args.bases ?? '').split(',').filter(Boolean);
for (const id of ids) if (!SPECS[id]) throw new Error(`unknown base ${id}; known: ${Object.keys(SPECS).join(', ')}`);

const CELEBA = path.resolve(fileURLToPath(new URL('../../shared/datasets/celeba-10k', import.meta.url)));

/** `n` real CelebA faces, women and men alternating, at the base's input size and crop. */
async function realBatch(spec: GraphBaseSpec, n: number): Promise<ImageBatch> {
  const folders = ['female', 'male'];
  const lists = await Promise.all(folders.map(async (f) => (await readdir(path.join(CELEBA, f))).filter((x) => x.endsWith('.jpg')).sort()));
  const per = spec.inputSize.height * spec.inputSize.width * 3;
  const data = new Float32Array(n * per);
  for (let i = 0; i < n; i++) {
    const file = path.join(CELEBA, folders[i % 2] as string, (lists[i % 2] as string[])[Math.floor(i / 2)] as string);
    const img = await decodeImage(file, { size: spec.inputSize, ...(spec.crop ? { crop: spec.crop } : {}) });
    data.set(img.data, i * per);
  }
  return { n, ...spec.inputSize, data };
}

function slice(batch: ImageBatch, n: number): ImageBatch {
  return { ...batch, n, data: batch.data.subarray(0, n * batch.height * batch.width * 3) };
}

async function imagesPerSecond(base: Base, batch: ImageBatch): Promise<number> {
  await base.embed(batch);
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    await base.embed(batch);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return batch.n / ((times[Math.floor(times.length / 2)] as number) / 1000);
}

await initTfjs();
const info = await tfjsRuntimeInfo();
console.log(`tfjs ${info.backend} (SIMD ${info.simd}, ${info.threads} thread); ONNX Runtime ${threads} intra-op threads; median of ${runs} runs\n`);
const rows: string[] = [];
for (const id of ids) {
  const spec = SPECS[id] as GraphBaseSpec;
  const tfjsBase = await loadGraphBase(spec, { engine: 'tfjs', maxBatch: 16 });
  const t0 = performance.now();
  const onnxBase = await loadGraphBase(spec, { engine: 'onnxruntime', threads, maxBatch: 16 });
  const convertMs = performance.now() - t0;
  const batch = await realBatch(spec, 16);
  const cells: number[] = [];
  for (const n of [1, 16]) {
    cells.push(await imagesPerSecond(tfjsBase, slice(batch, n)), await imagesPerSecond(onnxBase, slice(batch, n)));
  }
  const [t1, o1, t16, o16] = cells as [number, number, number, number];
  rows.push(`| ${id} | ${t1.toFixed(1)} | ${o1.toFixed(1)} | ${t16.toFixed(1)} | ${o16.toFixed(1)} | ${(o16 / t16).toFixed(1)}x | ${convertMs.toFixed(0)} |`);
  console.log(rows[rows.length - 1]);
  await tfjsBase.dispose();
  await onnxBase.dispose();
}
console.log('\n| base | tfjs-wasm, batch 1 | ORT, batch 1 | tfjs-wasm, batch 16 | ORT, batch 16 | speed-up at 16 | convert + load ORT (ms) |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
