import { Command } from 'commander';
import { loadBase } from '../zoo/index.js';
import { listImageInputs } from '../data/list-images.js';
import { extractFeatures, DEFAULT_CACHE_DIR } from '../features/extract-features.js';
import { writeFeatures } from '../features/feature-export.js';
import { addBaseOptions, baseOptionsFrom } from './base-options.js';
import { addFilesFromOption, inputsFrom, parseInteger } from './options.js';
import { terminalProgress } from './progress-bar.js';

export function embedCommand(): Command {
  return addBaseOptions(
    addFilesFromOption(new Command('embed'))
      .description('Write the feature vectors of images under a base, for use in other tools')
      .argument('[inputs...]', 'image files and/or folders (searched recursively)')
      .requiredOption('--base <id>', 'base: custom, face, generic, faceres, faceres-deep, mobileface, faceapi-resnet, centernet, vgg16-imagenet, vggface, onnx:PATH')
      .requiredOption('--out <file>', 'output: .json (file names with vectors) or .npy ([files, dim] float32, order in .files.txt)'),
  )
    .option('--views <k>', 'also embed K augmented views per image (the study\'s augmentation); the output holds view 0', parseInteger(0), 0)
    .option('--seed <n>', 'augmentation seed', parseInteger(0), 1)
    .option('--batch-size <n>', 'images per base call', parseInteger(1), 16)
    .option('--cache-dir <dir>', 'feature cache folder', DEFAULT_CACHE_DIR)
    .option('--no-cache', 'do not read or write the feature cache')
    .option('--skip-bad', 'skip unreadable images and list them at the end', false)
    .action(async (inputs: string[], o) => {
      const files = await listImageInputs(await inputsFrom(inputs, o));
      const base = await loadBase(o.base, baseOptionsFrom(o));
      const progress = terminalProgress();
      try {
        const feats = await extractFeatures(base, files, {
          views: o.views,
          seed: o.seed,
          batchSize: o.batchSize,
          cacheDir: o.cache === false ? false : o.cacheDir,
          skipBad: o.skipBad,
          onProgress: progress,
        });
        const written = await writeFeatures(o.out, feats.files, feats.views[0] as Float32Array, feats.dim);
        console.log(`${base.id}: ${feats.files.length} images x ${feats.dim} features; embedded ${feats.computed} views, ${feats.cached} from the cache`);
        for (const s of feats.skipped) console.log(`skipped ${s.file}: ${s.reason}`);
        console.log(`wrote ${written.join(', ')}`);
      } finally {
        progress.stop();
        await base.dispose();
      }
    });
}
