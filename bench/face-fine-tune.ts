/**
 * What fine-tuning the default `face` base (faceres-deep's MobileNet v1) after the head buys and
 * costs here: trains the head alone, then the same head followed by `--epochs` fine-tune epochs of
 * the last `--blocks` blocks, and prints the notice `train` shows, the measured time per image,
 * and validation and test accuracy (threshold 0.5) of both.
 *
 *   npx tsx bench/face-fine-tune.ts --split runs/split.json [options]
 *
 * Options: --train N (first N training images of the split; default all)  --epochs 1  --blocks 2
 *          --lr 1e-4 (fine-tune rate)  --views 2 (cached augmented views for the head)
 *          --cache-dir runs/cache  --batch 64  --seed 1 (the study's; the cache holds seed 1's views)
 * The head phase is the same in both runs (same seed, same cached features), so the difference
 * is the fine-tuning's.
 */
import { parseArgs } from 'node:util';
import { loadBase } from '../src/zoo/index.js';
import { isFineTunable } from '../src/bases/fine-tunable.js';
import { tfjsRuntimeInfo, initTfjs } from '../src/runtime/tfjs/backend.js';
import { readSplit } from '../src/data/split-file.js';
import type { Split } from '../src/data/split.js';
import { trainModel, type TrainedModel } from '../src/train/train-model.js';

const { values } = parseArgs({
  options: {
    split: { type: 'string' },
    train: { type: 'string' },
    epochs: { type: 'string', default: '1' },
    blocks: { type: 'string', default: '2' },
    lr: { type: 'string', default: '1e-4' },
    views: { type: 'string', default: '2' },
    'cache-dir': { type: 'string', default: 'runs/cache' },
    batch: { type: 'string', default: '64' },
    seed: { type: 'string', default: '1' },
  },
});
if (!values.split) throw new Error('give --split FILE (e.g. runs/split.json)');

const full = await readSplit(values.split);
const trainLimit = values.train ? Number(values.train) : Infinity;
let kept = 0;
const split: Split = {
  ...full,
  images: full.images.filter((im) => im.part !== 'train' || kept++ < trainLimit),
};
const counts: Record<string, number> = { train: 0, val: 0, test: 0 };
for (const im of split.images) counts[im.part] = (counts[im.part] ?? 0) + 1;

await initTfjs();
const base = await loadBase('face');
if (!isFineTunable(base)) throw new Error('the face base is not fine-tunable');
const common = {
  batchSize: Number(values.batch),
  seed: Number(values.seed),
  augmentViews: Number(values.views),
  cacheDir: values['cache-dir'],
};

function accuracy(trained: TrainedModel, part: 'val' | 'test'): number {
  const probs = trained.probs[part];
  const images = trained.images[part];
  let right = 0;
  images.forEach((im, i) => {
    if (((probs[i] as number) > 0.5 ? 1 : 0) === im.label) right++;
  });
  return right / images.length;
}

const t0 = performance.now();
const headOnly = await trainModel(split, base, common);
const headSeconds = (performance.now() - t0) / 1000;
const notices: string[] = [];
const t1 = performance.now();
const tuned = await trainModel(split, base, {
  ...common,
  fineTuneEpochs: Number(values.epochs),
  fineTuneLr: Number(values.lr),
  fineTuneBlocks: Number(values.blocks),
  onNotice: (n) => {
    notices.push(n);
    console.log(`notice: ${n}`);
  },
  onEpoch: (e) => {
    if (e.phase === 'fine-tune') console.log(`fine-tune epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, val_loss ${e.val_loss.toFixed(4)}, val_accuracy ${e.val_accuracy.toFixed(4)}`);
  },
});
const tunedSeconds = (performance.now() - t1) / 1000;
const fineTune = tuned.config.fineTune as { kept: boolean; estimate: { trainSecondsPerImage: number; valSecondsPerImage: number; expectedSeconds: number; microBatch: number } };
const stage = tuned.times.find((t) => t.stage === 'fine-tune')?.seconds ?? NaN;
const result = {
  runtime: await tfjsRuntimeInfo(),
  images: counts,
  blocks: Number(values.blocks),
  blockCount: base.blockCount,
  epochs: Number(values.epochs),
  fineTuneLr: Number(values.lr),
  notice: notices[0],
  measured: {
    probeTrainSecondsPerImage: fineTune.estimate.trainSecondsPerImage,
    probeValSecondsPerImage: fineTune.estimate.valSecondsPerImage,
    expectedSeconds: fineTune.estimate.expectedSeconds,
    microBatch: fineTune.estimate.microBatch,
    // The whole phase (decoding, training, validation) per training image and epoch.
    phaseSeconds: stage,
    phaseSecondsPerTrainImage: stage / ((counts.train ?? 0) * Number(values.epochs)),
  },
  kept: fineTune.kept,
  headOnly: { val: accuracy(headOnly, 'val'), test: accuracy(headOnly, 'test'), seconds: headSeconds },
  fineTuned: { val: accuracy(tuned, 'val'), test: accuracy(tuned, 'test'), seconds: tunedSeconds },
  history: tuned.history.map((h) => ({ epoch: h.epoch, phase: h.phase, val_loss: Number(h.val_loss.toFixed(5)), val_accuracy: Number(h.val_accuracy.toFixed(5)) })),
};
console.log(JSON.stringify(result, null, 2));
await tuned.fineTunedBase?.dispose();
await base.dispose();
