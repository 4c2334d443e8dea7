import { Command } from 'commander';
import { scanDataset, classCounts } from '../data/dataset.js';
import { makeSplit, PARTS, STUDY_SPLIT_SIZES } from '../data/split.js';
import { writeSplit } from '../data/split-file.js';
import { parseInteger } from './options.js';

export function splitCommand(): Command {
  return new Command('split')
    .description('Make a train/validation/test split of a dataset folder, stratified by class and identity-disjoint when identities are given')
    .requiredOption('--data <dir>', 'dataset folder: class sub-folders (alphabetical order = class index), or a flat folder labelled by --attributes')
    .option('--attributes <file>', 'CelebA list_attr_celeba.txt-format file: labels a flat folder, and adds attributes for subgroup analysis')
    .option('--attribute <name>', 'attribute that labels a flat folder (1 = positive class)', 'Male')
    .option('--identities <file>', 'CelebA identity_CelebA.txt-format file; makes the split identity-disjoint')
    .option('--train <n>', 'training images', parseInteger(0), STUDY_SPLIT_SIZES.train)
    .option('--val <n>', 'validation images', parseInteger(0), STUDY_SPLIT_SIZES.val)
    .option('--test <n>', 'test images', parseInteger(0), STUDY_SPLIT_SIZES.test)
    .option('--balanced', 'equal class counts in every part (the study\'s split was balanced); otherwise stratified', false)
    .option('--no-identity-disjoint', 'allow an identity in several parts even when identities are given')
    .option('--seed <n>', 'random seed', parseInteger(0), 1)
    .option('--skip-bad', 'skip unreadable images and list them, instead of stopping at the first', false)
    .requiredOption('--out <file>', 'split file to write (JSON)')
    .action(async (o) => {
      const dataset = await scanDataset(o.data, {
        attributes: o.attributes,
        attribute: o.attribute,
        identities: o.identities,
        skipBad: o.skipBad,
      });
      const counts = classCounts(dataset);
      console.log(`${dataset.root}: ${dataset.images.length} images, ${dataset.classNames.map((c, i) => `${counts[i]} ${c}`).join(', ')}; labels from ${dataset.labelSource}`);
      if (dataset.nonImageFiles) console.log(`skipped ${dataset.nonImageFiles} non-image files`);
      if (dataset.unlabelled) console.log(`skipped ${dataset.unlabelled} images the attribute file does not list`);
      if (dataset.labelConflicts) console.log(`note: ${dataset.labelConflicts} images are in a folder that disagrees with their ${o.attribute} attribute (the folder wins)`);
      const split = makeSplit(dataset, {
        train: o.train,
        val: o.val,
        test: o.test,
        balanced: o.balanced,
        seed: o.seed,
        ...(o.identities && o.identityDisjoint === false ? { identityDisjoint: false } : {}),
      });
      await writeSplit(split, o.out);
      console.log(`${split.params.identityDisjoint ? 'identity-disjoint' : 'not identity-disjoint'}, ${o.balanced ? 'balanced' : 'stratified'}, seed ${o.seed}`);
      console.log(['part', 'images', 'identities', ...dataset.classNames].join('\t'));
      for (const part of PARTS) {
        const s = split.summary[part];
        console.log([part, s.images, s.identities, ...s.perClass].join('\t'));
      }
      if (dataset.badImages.length) {
        console.log(`skipped ${dataset.badImages.length} unreadable images:`);
        for (const b of dataset.badImages) console.log(`  ${b.path}: ${b.reason}`);
      }
      console.log(`wrote ${o.out}`);
    });
}
