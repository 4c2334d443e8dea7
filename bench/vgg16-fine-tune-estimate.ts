/**
 * What `--fine-tune-epochs` on a VGG16 base would cost here: the notice `train` prints before the
 * fine-tune phase, for all five conv blocks and for the last block only.
 *
 *   npx tsx bench/vgg16-fine-tune-estimate.ts [options]
 *
 * Options: --variant vgg16-imagenet|vggface  --weights FILE.h5  --size 224  --blocks 5,1
 *          --train 5000 --val 750 --epochs 10 --batch 64 --probe 4
 * Times one warm-up and two training steps and one inference pass on `--probe` real CelebA
 * images, then extrapolates to the study's split (5,000 train, 750 validation, 10 epochs). Speed
 * does not depend on the weights' values, so the synthetic fixture weights stand in for the real
 * ones by default.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initTfjs, tfjsRuntimeInfo } from '../src/runtime/tfjs/backend.js';
import { loadVgg16Base, type Vgg16Variant } from '../src/zoo/vgg16/base.js';
import { listImageInputs } from '../src/data/list-images.js';
import { assembleFineTuneModel, estimateFineTune, fineTuneMicroBatch } from '../src/train/fine-tune-base.js';

const shared = path.resolve(fileURLToPath(new URL('../../shared', import.meta.url)));
const fixtures: Record<Vgg16Variant, string> = {
  'vgg16-imagenet': path.join(shared, 'fixtures', 'keras-vgg16', 'vgg16_imagenet_layout_notop.h5'),
  vggface: path.join(shared, 'fixtures', 'keras-vgg16', 'vgg16_vggface_layout_notop.h5'),
};

const { values } = parseArgs({
  options: {
    variant: { type: 'string', default: 'vgg16-imagenet' },
    weights: { type: 'string' },
    size: { type: 'string', default: '224' },
    blocks: { type: 'string', default: '5,1' },
    train: { type: 'string', default: '5000' },
    val: { type: 'string', default: '750' },
    epochs: { type: 'string', default: '10' },
    batch: { type: 'string', default: '64' },
    probe: { type: 'string', default: '4' },
  },
});
const variant = values.variant as Vgg16Variant;
const size = Number(values.size);
const probe = Number(values.probe);
const batchSize = Number(values.batch);

const celeba = path.join(shared, 'datasets', 'celeba-10k');
const [males, females] = await Promise.all([listImageInputs([path.join(celeba, 'male')]), listImageInputs([path.join(celeba, 'female')])]);
const files: string[] = [];
const labels: number[] = [];
for (let i = 0; files.length < probe; i++) {
  const [file, label] = i % 2 === 0 ? [females[i >> 1], 0] : [males[i >> 1], 1];
  if (file === undefined) throw new Error('not enough CelebA images for the probe');
  files.push(file);
  labels.push(label);
}

await initTfjs();
const base = await loadVgg16Base({ variant, weights: values.weights ?? fixtures[variant], inputSize: size });
const runtime = await tfjsRuntimeInfo();
console.log(JSON.stringify({ ...runtime, variant, weights: base.weightsPath, size, microBatch: fineTuneMicroBatch(base.inputSize, batchSize) }));
const rows = [];
for (const blocks of values.blocks.split(',').map(Number)) {
  const { model, head } = await assembleFineTuneModel(base, { trainableBlocks: blocks, seed: 1 });
  try {
    const e = await estimateFineTune(base, model, { files, labels: Uint8Array.from(labels) }, {
      epochs: Number(values.epochs),
      lr: 1e-4,
      batchSize,
      trainableBlocks: blocks,
      trainImages: Number(values.train),
      valImages: Number(values.val),
    });
    console.log(e.message);
    rows.push({ blocks, trainSecondsPerImage: +e.trainSecondsPerImage.toFixed(3), valSecondsPerImage: +e.valSecondsPerImage.toFixed(3), expectedHours: +(e.expectedSeconds / 3600).toFixed(2) });
  } finally {
    model.dispose();
    head.dispose();
  }
}
console.table(rows);
await base.dispose();
