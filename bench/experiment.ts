/**
 * The study's method against ours, for one frozen base and split, in one run:
 *  - study: every epoch the base embeds a fresh augmentation of every training image, and the
 *    validation images again (Keras runs the frozen base inside model.fit), 10 epochs;
 *  - ours: the base embeds the plain image and K augmented views once (feature cache), then the
 *    head trains 10 epochs on cached vectors.
 * The study's sizes (5000 training, 750 validation images) fit in about ten minutes on 2 cores
 * now that the frozen bases run on ONNX Runtime; --train and --val scale it down.
 *
 *   npm run bench:experiment -- [--base face] [--train 5000] [--val 750] [--views K (default: train's)] [--epochs 10]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadBase } from '../src/zoo/index.js';
import { augmentImage, STUDY_AUGMENTATION } from '../src/data/augment.js';
import { imageBatches } from '../src/data/batches.js';
import { scanDataset } from '../src/data/dataset.js';
import { makeSplit } from '../src/data/split.js';
import { extractFeatures } from '../src/features/extract-features.js';
import { trainHead } from '../src/train/fit-head.js';
import { DEFAULT_AUGMENT_VIEWS, partFiles } from '../src/train/train-model.js';

const { values } = parseArgs({
  options: {
    base: { type: 'string', default: 'face' },
    train: { type: 'string', default: '5000' },
    val: { type: 'string', default: '750' },
    views: { type: 'string', default: String(DEFAULT_AUGMENT_VIEWS) },
    epochs: { type: 'string', default: '10' },
    data: { type: 'string', default: path.resolve('../shared/datasets/celeba-10k') },
  },
});
const epochs = Number(values.epochs);
const views = Number(values.views);
const data = values.data as string;

const dataset = await scanDataset(data, { identities: path.join(data, 'identity_CelebA_000001-010000.txt') });
const split = makeSplit(dataset, { train: Number(values.train), val: Number(values.val), test: 0, balanced: true, seed: 1 });
const train = partFiles(split, 'train');
const val = partFiles(split, 'val');
const base = await loadBase(values.base as string);
console.log(`base ${base.id} (${base.engine}), ${train.files.length} train / ${val.files.length} val images, ${epochs} epochs, ${os.cpus().length} cores`);

/** Embeds files, each image transformed by `view(i)` first; returns vectors in file order. */
async function embedAll(files: string[], view: (pixels: { height: number; width: number; data: Float32Array }, i: number) => Float32Array): Promise<Float32Array> {
  const out = new Float32Array(files.length * base.dim);
  const per = base.inputSize.height * base.inputSize.width * 3;
  for await (const { batch, indices } of imageBatches(files, { batchSize: 16, size: base.inputSize, ...(base.crop ? { crop: base.crop } : {}) })) {
    const data = new Float32Array(batch.n * per);
    indices.forEach((i, j) => data.set(view({ ...base.inputSize, data: batch.data.subarray(j * per, (j + 1) * per) }, i), j * per));
    const vectors = await base.embed({ ...batch, data });
    indices.forEach((i, j) => out.set(vectors.subarray(j * base.dim, (j + 1) * base.dim), i * base.dim));
  }
  return out;
}

// The study's way: the frozen base recomputed on augmented images every epoch.
let t0 = performance.now();
let baseSeconds = 0;
for (let epoch = 1; epoch <= epochs; epoch++) {
  const e0 = performance.now();
  const trainVectors = await embedAll(train.files, (img, i) => augmentImage(img, STUDY_AUGMENTATION, 1, train.files[i] as string, epoch).data);
  const valVectors = await embedAll(val.files, (img) => img.data);
  baseSeconds += (performance.now() - e0) / 1000;
  // One epoch of head training on this epoch's vectors, as model.fit would do.
  await trainHead({ dim: base.dim, views: [trainVectors], labels: train.labels }, { dim: base.dim, views: [valVectors], labels: val.labels }, { epochs: 1, patience: 0, seed: epoch });
  const line = `study's method: epoch ${epoch}/${epochs}, ${((performance.now() - t0) / 1000).toFixed(0)} s`;
  // Overwrite the line on a terminal; a log gets one line per epoch.
  process.stdout.write(process.stdout.isTTY ? `\r${line}` : `${line}\n`);
}
const studySeconds = (performance.now() - t0) / 1000;
console.log();

// Ours: views embedded once into the cache, then the head on cached vectors.
const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'fg-bench-experiment-'));
t0 = performance.now();
const tr = await extractFeatures(base, train.files, { cacheDir, views });
const va = await extractFeatures(base, val.files, { cacheDir });
const embedSeconds = (performance.now() - t0) / 1000;
const h0 = performance.now();
const run = await trainHead({ dim: base.dim, views: tr.views, labels: train.labels }, { dim: base.dim, views: va.views, labels: val.labels }, { epochs, patience: 0 });
const headSeconds = (performance.now() - h0) / 1000;
const oursSeconds = (performance.now() - t0) / 1000;
await rm(cacheDir, { recursive: true, force: true });

console.log('');
console.log('| method | base runs (images) | base seconds | total seconds | final val accuracy |');
console.log('|---|---|---|---|---|');
console.log(`| study: base on augmented images every epoch | ${epochs * (train.files.length + val.files.length)} | ${baseSeconds.toFixed(1)} | ${studySeconds.toFixed(1)} | — |`);
console.log(`| ours: ${views} cached views + plain, head on vectors | ${tr.computed + va.computed} | ${embedSeconds.toFixed(1)} | ${oursSeconds.toFixed(1)} (head ${headSeconds.toFixed(1)}) | ${(run.history.at(-1)?.val_accuracy ?? 0).toFixed(4)} |`);
console.log(`speed-up: ${(studySeconds / oursSeconds).toFixed(1)}x; a second run of ours, from the cache, costs only the head (${headSeconds.toFixed(1)} s): ${(studySeconds / headSeconds).toFixed(0)}x`);
await base.dispose();
