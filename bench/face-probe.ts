/**
 * Linear probe of the offline bases on celeba-10k: which base, and which crop of the CelebA
 * aligned image, gives features that separate the sexes best.
 *
 * Run (it is a vitest file; the other benchmarks run with tsx):
 *   npx vitest run --config bench/vitest.config.ts face-probe
 * Environment:
 *   PROBE_BASES  comma list of candidate names (default: all, see CANDIDATES)
 *   PROBE_CROPS  comma list of crop names (default: each candidate's own list; `none`: speeds only)
 *   PROBE_CACHE  folder for extracted features (default: $TMPDIR/facegender-face-probe)
 *   PROBE_OUT    markdown file to write the table to (default: print only)
 *
 * Split: identity-disjoint, class-balanced, 2,000 train / 1,000 test, seed 1 (scanDataset +
 * makeSplit). Features: L2-normalised. Classifier: L2-regularised logistic regression fitted with
 * L-BFGS; its C is picked from {0.1, 1, 10, 100, 1000} by 5-fold identity-grouped CV on train only.
 * A base's default crop is the one with the best CV accuracy (ties: the mildest square crop).
 * Speed: median images/s of `embed` alone on a batch of 16 (decoding excluded) over 5 runs, on
 * whatever share of the CPU the machine gives it (PROBE_SPEED=0 skips it).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { it } from 'vitest';
import type { Base, CropBox } from '../src/bases/base.js';
import { loadCenternetBase } from '../src/zoo/centernet.js';
import { centreSquareCrop } from '../src/bases/crops.js';
import { cropPixels } from '../src/data/decode.js';
import { loadFaceapiRecognitionBase } from '../src/zoo/faceapi-resnet.js';
import { loadFaceresBase } from '../src/zoo/faceres.js';
import { loadMobilefaceBase } from '../src/zoo/mobileface.js';
import type { GraphBaseOverrides } from '../src/bases/spec.js';
import { tfjsRuntimeInfo } from '../src/runtime/tfjs/backend.js';
import { scanDataset } from '../src/data/dataset.js';
import { makeSplit, splitPart, type SplitImage } from '../src/data/split.js';

const SHARED = path.resolve(fileURLToPath(new URL('../../shared', import.meta.url)));
const CELEBA = path.join(SHARED, 'datasets', 'celeba-10k');
const IDENTITIES = path.join(CELEBA, 'identity_CelebA_000001-010000.txt');
const BATCH = 16;

const CROPS: Record<string, CropBox | null> = {
  whole: null,
  'centre-90': centreSquareCrop(0.9),
  'centre-75': centreSquareCrop(0.75),
  'centre-60': centreSquareCrop(0.6),
  'centre-50': centreSquareCrop(0.5),
};

interface Candidate {
  name: string;
  crops: string[];
  load: (crop: CropBox | null) => Promise<Base>;
}

const graph = (o: GraphBaseOverrides, crop: CropBox | null): GraphBaseOverrides => ({ ...o, crop, maxBatch: BATCH });
const ALL_CROPS = ['whole', 'centre-90', 'centre-75', 'centre-60'];
const SMALL_CROPS = [...ALL_CROPS, 'centre-50'];
const CANDIDATES: Candidate[] = [
  { name: 'faceres', crops: ALL_CROPS, load: (c) => loadFaceresBase('faceres', graph({}, c)) },
  // human feeds faceres raw RGB; HSE's own inference code feeds BGR minus the ImageNet mean.
  { name: 'faceres raw', crops: ['whole', 'centre-75'], load: (c) => loadFaceresBase('faceres', graph({ preprocess: 'raw' }, c)) },
  { name: 'faceres-deep', crops: ALL_CROPS, load: (c) => loadFaceresBase('faceres-deep', graph({}, c)) },
  { name: 'faceres-deep raw', crops: ['centre-75'], load: (c) => loadFaceresBase('faceres-deep', graph({ preprocess: 'raw' }, c)) },
  { name: 'faceapi-resnet', crops: SMALL_CROPS, load: (c) => loadFaceapiRecognitionBase({ crop: c, maxBatch: BATCH }) },
  { name: 'mobileface', crops: SMALL_CROPS, load: (c) => loadMobilefaceBase(graph({}, c)) },
  { name: 'centernet', crops: ['whole', 'centre-90', 'centre-75'], load: (c) => loadCenternetBase(graph({}, c)) },
  { name: 'centernet /255', crops: ['whole'], load: (c) => loadCenternetBase(graph({ preprocess: 'study' }, c)) },
  { name: 'centernet 320px', crops: ['whole', 'centre-75'], load: (c) => loadCenternetBase(graph({ inputSize: { height: 320, width: 320 } }, c)) },
];

async function decodeCropped(file: string, crop: CropBox | null, size: { height: number; width: number }): Promise<Float32Array> {
  let img = sharp(file);
  if (crop) {
    const meta = await sharp(file).metadata();
    img = img.extract(cropPixels(crop, { width: meta.width ?? 0, height: meta.height ?? 0 }));
  }
  // Bilinear, the data pipeline's default interpolation.
  const buf = await img.resize(size.width, size.height, { fit: 'fill', kernel: 'linear' }).removeAlpha().raw().toBuffer();
  return Float32Array.from(buf);
}

interface Extracted {
  features: Float32Array;
  dim: number;
}

async function decodeBatch(images: SplitImage[], root: string, crop: CropBox | null, size: { height: number; width: number }): Promise<Float32Array> {
  const per = size.height * size.width * 3;
  const data = new Float32Array(images.length * per);
  const decoded = await Promise.all(images.map((im) => decodeCropped(path.join(root, im.path), crop, size)));
  decoded.forEach((d, i) => data.set(d, i * per));
  return data;
}

async function extract(base: Base, crop: CropBox | null, images: SplitImage[], root: string): Promise<Extracted> {
  const { height, width } = base.inputSize;
  const features = new Float32Array(images.length * base.dim);
  for (let start = 0; start < images.length; start += BATCH) {
    const chunk = images.slice(start, start + BATCH);
    const data = await decodeBatch(chunk, root, crop, base.inputSize);
    features.set(await base.embed({ n: chunk.length, height, width, data }), start * base.dim);
  }
  return { features, dim: base.dim };
}

/** Median images/s of `embed` alone over `runs` batches of 16 decoded images, after one warm-up batch. */
async function measureSpeed(base: Base, images: SplitImage[], root: string, runs = 5): Promise<number> {
  const { height, width } = base.inputSize;
  const data = await decodeBatch(images.slice(0, BATCH), root, base.crop ?? null, base.inputSize);
  const batch = { n: BATCH, height, width, data };
  await base.embed(batch);
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await base.embed(batch);
    rates.push((BATCH * 1000) / (performance.now() - t0));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(runs / 2)] as number;
}

function l2Normalise(x: Float32Array, dim: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length / dim; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += (x[i * dim + j] as number) ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) out[i * dim + j] = (x[i * dim + j] as number) * inv;
  }
  return out;
}

/** Mean logistic loss + ||w||²/(2Cn) (sklearn's objective divided by Cn) and its gradient; w[dim] is the bias. */
function objective(w: Float64Array, x: Float64Array, y: Int8Array, dim: number, c: number, grad: Float64Array): number {
  const n = y.length;
  grad.fill(0);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    let z = w[dim] as number;
    const row = i * dim;
    for (let j = 0; j < dim; j++) z += (w[j] as number) * (x[row + j] as number);
    const m = (y[i] as number) * z;
    loss += m > 0 ? Math.log1p(Math.exp(-m)) : -m + Math.log1p(Math.exp(m));
    const g = (-(y[i] as number) / (1 + Math.exp(m))) / n;
    for (let j = 0; j < dim; j++) grad[j] = (grad[j] as number) + g * (x[row + j] as number);
    grad[dim] = (grad[dim] as number) + g;
  }
  loss /= n;
  const lambda = 1 / (c * n);
  for (let j = 0; j < dim; j++) {
    loss += 0.5 * lambda * (w[j] as number) ** 2;
    grad[j] = (grad[j] as number) + lambda * (w[j] as number);
  }
  return loss;
}

/** L-BFGS (memory 10) with a backtracking Armijo line search. */
function fitLogistic(x: Float64Array, y: Int8Array, dim: number, c: number, maxIter = 300): Float64Array {
  const p = dim + 1;
  let w = new Float64Array(p);
  let g = new Float64Array(p);
  let f = objective(w, x, y, dim, c, g);
  const s: Float64Array[] = [];
  const t: Float64Array[] = [];
  const dot = (a: Float64Array, b: Float64Array) => a.reduce((acc, v, i) => acc + v * (b[i] as number), 0);
  for (let iter = 0; iter < maxIter; iter++) {
    const q = Float64Array.from(g);
    const alpha: number[] = [];
    for (let k = s.length - 1; k >= 0; k--) {
      const a = dot(s[k] as Float64Array, q) / dot(t[k] as Float64Array, s[k] as Float64Array);
      alpha[k] = a;
      for (let i = 0; i < p; i++) q[i] = (q[i] as number) - a * ((t[k] as Float64Array)[i] as number);
    }
    const last = s.length - 1;
    const gamma = last >= 0 ? dot(s[last] as Float64Array, t[last] as Float64Array) / dot(t[last] as Float64Array, t[last] as Float64Array) : 1 / Math.max(1, Math.sqrt(dot(g, g)));
    for (let i = 0; i < p; i++) q[i] = (q[i] as number) * gamma;
    for (let k = 0; k < s.length; k++) {
      const b = dot(t[k] as Float64Array, q) / dot(t[k] as Float64Array, s[k] as Float64Array);
      for (let i = 0; i < p; i++) q[i] = (q[i] as number) + ((s[k] as Float64Array)[i] as number) * ((alpha[k] as number) - b);
    }
    const slope = -dot(g, q);
    if (slope >= 0) break;
    let step = 1;
    const wNew = new Float64Array(p);
    const gNew = new Float64Array(p);
    let fNew = Infinity;
    for (let ls = 0; ls < 30; ls++) {
      for (let i = 0; i < p; i++) wNew[i] = (w[i] as number) - step * (q[i] as number);
      fNew = objective(wNew, x, y, dim, c, gNew);
      if (fNew <= f + 1e-4 * step * slope) break;
      step /= 2;
    }
    const sk = wNew.map((v, i) => v - (w[i] as number));
    const tk = gNew.map((v, i) => v - (g[i] as number));
    if (dot(sk, tk) > 1e-12) {
      s.push(sk);
      t.push(tk);
      if (s.length > 10) {
        s.shift();
        t.shift();
      }
    }
    const done = Math.abs(f - fNew) < 1e-10 * Math.max(1, Math.abs(f));
    w = wNew;
    g = gNew;
    f = fNew;
    if (done || Math.sqrt(dot(g, g)) < 1e-7) break;
  }
  return w;
}

function accuracy(w: Float64Array, x: Float64Array, y: Int8Array, dim: number): number {
  let correct = 0;
  for (let i = 0; i < y.length; i++) {
    let z = w[dim] as number;
    for (let j = 0; j < dim; j++) z += (w[j] as number) * (x[i * dim + j] as number);
    if ((z > 0 ? 1 : -1) === y[i]) correct++;
  }
  return correct / y.length;
}

function rows(x: Float64Array, dim: number, idx: number[]): Float64Array {
  const out = new Float64Array(idx.length * dim);
  idx.forEach((r, i) => out.set(x.subarray(r * dim, (r + 1) * dim), i * dim));
  return out;
}

/** Picks C by 5-fold cross-validation on train, folds grouped by identity. */
function chooseC(x: Float64Array, y: Int8Array, groups: string[], dim: number): { c: number; cvAccuracy: number } {
  const ids = [...new Set(groups)].sort();
  const foldOf = new Map(ids.map((id) => [id, parseInt(createHash('sha256').update(id).digest('hex').slice(0, 8), 16) % 5]));
  let best = { c: 1, cvAccuracy: -1 };
  for (const c of [0.1, 1, 10, 100, 1000]) {
    let correct = 0;
    for (let f = 0; f < 5; f++) {
      const tr: number[] = [];
      const va: number[] = [];
      groups.forEach((g, i) => (foldOf.get(g) === f ? va : tr).push(i));
      const w = fitLogistic(rows(x, dim, tr), Int8Array.from(tr.map((i) => y[i] as number)), dim, c);
      correct += accuracy(w, rows(x, dim, va), Int8Array.from(va.map((i) => y[i] as number)), dim) * va.length;
    }
    const acc = correct / y.length;
    if (acc > best.cvAccuracy) best = { c, cvAccuracy: acc };
  }
  return best;
}

interface ProbeRow {
  candidate: string;
  crop: string;
  dim: number;
  c: number;
  cvAccuracy: number;
  testAccuracy: number;
  imagesPerSecond: number;
}

async function cached(file: string, make: () => Promise<Extracted>): Promise<Extracted> {
  try {
    const meta = JSON.parse(await readFile(`${file}.json`, 'utf8')) as { dim: number };
    const buf = await readFile(`${file}.f32`);
    return { ...meta, features: new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4) };
  } catch {
    const made = await make();
    await writeFile(`${file}.f32`, Buffer.from(made.features.buffer, made.features.byteOffset, made.features.byteLength));
    await writeFile(`${file}.json`, JSON.stringify({ dim: made.dim }));
    return made;
  }
}

it('linear probe of the offline bases on celeba-10k', async () => {
  const dataset = await scanDataset(CELEBA, { identities: IDENTITIES });
  const split = makeSplit(dataset, { train: 2000, val: 0, test: 1000, balanced: true, seed: 1 });
  const train = splitPart(split, 'train');
  const test = splitPart(split, 'test');
  const images = [...train, ...test];
  const listHash = createHash('sha256').update(images.map((im) => im.path).join('\n')).digest('hex').slice(0, 12);
  const cacheDir = process.env.PROBE_CACHE ?? path.join(os.tmpdir(), 'facegender-face-probe');
  await mkdir(cacheDir, { recursive: true });
  const wantBases = process.env.PROBE_BASES?.split(',').map((s) => s.trim());
  const wantCrops = process.env.PROBE_CROPS?.split(',').map((s) => s.trim());
  const yTrain = Int8Array.from(train.map((im) => (im.label === 1 ? 1 : -1)));
  const yTest = Int8Array.from(test.map((im) => (im.label === 1 ? 1 : -1)));
  const results: ProbeRow[] = [];

  const speed = process.env.PROBE_SPEED !== '0';
  const speeds: Array<{ candidate: string; input: string; imagesPerSecond: number }> = [];
  for (const cand of CANDIDATES) {
    if (wantBases && !wantBases.includes(cand.name)) continue;
    let imagesPerSecond = NaN;
    if (speed) {
      const base = await cand.load(null);
      try {
        imagesPerSecond = await measureSpeed(base, test, split.dataset.root);
        speeds.push({ candidate: cand.name, input: `${base.inputSize.width}x${base.inputSize.height}`, imagesPerSecond });
        console.log(JSON.stringify(speeds[speeds.length - 1]));
      } finally {
        await base.dispose();
      }
    }
    for (const cropName of cand.crops) {
      if (wantCrops && !wantCrops.includes(cropName)) continue;
      const crop = CROPS[cropName] ?? null;
      const key = `${cand.name.replace(/[^a-z0-9-]+/gi, '_')}--${cropName}--${listHash}`;
      const ex = await cached(path.join(cacheDir, key), async () => {
        const base = await cand.load(crop);
        try {
          return await extract(base, crop, images, split.dataset.root);
        } finally {
          await base.dispose();
        }
      });
      const all = l2Normalise(ex.features, ex.dim);
      const xTrain = all.subarray(0, train.length * ex.dim);
      const xTest = all.subarray(train.length * ex.dim);
      const { c, cvAccuracy } = chooseC(xTrain, yTrain, train.map((im) => im.identity ?? im.path), ex.dim);
      const w = fitLogistic(xTrain, yTrain, ex.dim, c);
      const row: ProbeRow = {
        candidate: cand.name,
        crop: cropName,
        dim: ex.dim,
        c,
        cvAccuracy,
        testAccuracy: accuracy(w, xTest, yTest, ex.dim),
        imagesPerSecond,
      };
      results.push(row);
      console.log(JSON.stringify(row));
    }
  }

  // Default crop per candidate: best CV accuracy; ties go to the mildest square crop, then whole.
  const tieOrder = ['centre-90', 'centre-75', 'centre-60', 'centre-50', 'whole'];
  const chosen = new Set<ProbeRow>();
  for (const name of new Set(results.map((r) => r.candidate))) {
    const rowsOf = results.filter((r) => r.candidate === name);
    const best = rowsOf.reduce((a, b) =>
      b.cvAccuracy > a.cvAccuracy || (b.cvAccuracy === a.cvAccuracy && tieOrder.indexOf(b.crop) < tieOrder.indexOf(a.crop)) ? b : a,
    );
    chosen.add(best);
  }
  const runtime = await tfjsRuntimeInfo();
  const cropText = (name: string) => {
    const c = CROPS[name];
    return c ? `${name} (top ${c.top}, left ${c.left}, ${c.width}×${c.height})` : 'whole image';
  };
  const lines = [
    `Linear probe, celeba-10k, ${train.length} train / ${test.length} test (identity-disjoint, balanced, seed 1); ` +
      `tfjs ${runtime.backend}${runtime.simd ? ' SIMD' : ''}, ${runtime.threads} thread, ${os.cpus().length} shared cores.`,
    '',
    '| base | crop | dim | C (5-fold CV) | CV acc | test acc | images/s (batch 16) |',
    '|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.candidate} | ${cropText(r.crop)}${chosen.has(r) ? ' **←**' : ''} | ${r.dim} | ${r.c} | ${(r.cvAccuracy * 100).toFixed(1)}% | ` +
        `${(r.testAccuracy * 100).toFixed(1)}% | ${Number.isNaN(r.imagesPerSecond) ? '—' : r.imagesPerSecond.toFixed(1)} |`,
    ),
    '',
    '**←**: the crop with the best CV accuracy (ties: the mildest square crop), the base\'s default.',
    '',
    '| base | input | images/s, model only, batch 16 (median of 5) |',
    '|---|---|---|',
    ...speeds.map((r) => `| ${r.candidate} | ${r.input} | ${r.imagesPerSecond.toFixed(1)} |`),
  ];
  console.log(lines.join('\n'));
  if (process.env.PROBE_OUT) await writeFile(process.env.PROBE_OUT, lines.join('\n') + '\n');
});
