import path from 'node:path';
import { scanDataset } from '../../src/data/dataset.js';
import { makeSplit, type Split } from '../../src/data/split.js';
import { writeSplit } from '../../src/data/split-file.js';
import { runExperiment, type ExperimentResult } from '../../src/experiments/experiment.js';
import { CELEBA, CELEBA_ATTRIBUTES, CELEBA_IDENTITIES } from './shared.js';

/**
 * A real, small model folder: the mobileface base with a head trained on 120/60/60
 * identity-disjoint CelebA images, as `facegender train` writes it.
 */
export async function trainSmallBundle(dir: string, seed = 3, options: { exclude?: string } = {}): Promise<{ bundle: string; split: Split; run: ExperimentResult }> {
  const dataset = await scanDataset(CELEBA, { attributes: CELEBA_ATTRIBUTES, identities: CELEBA_IDENTITIES, ...(options.exclude ? { exclude: options.exclude } : {}) });
  const split = makeSplit(dataset, { train: 120, val: 60, test: 60, balanced: true, seed });
  const splitFile = path.join(dir, 'split.json');
  await writeSplit(split, splitFile);
  const bundle = path.join(dir, 'face-1');
  const run = await runExperiment(split, 'mobileface', bundle, { augmentViews: 0, cacheDir: path.join(dir, 'cache'), splitFile, resamples: 100 });
  return { bundle, split, run };
}
