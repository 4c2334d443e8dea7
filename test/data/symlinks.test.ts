import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanDataset } from '../../src/data/dataset.js';
import { listImageInputs } from '../../src/data/list-images.js';
import { CELEBA } from '../helpers/shared.js';

/**
 * A dataset assembled from links: `female/` holds links to 4 CelebA files, `male` is a link to a
 * folder of 3 links, and links that loop back or point nowhere sit among them.
 */
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-links-'));
  const root = path.join(dir, 'data');
  await mkdir(path.join(root, 'female'), { recursive: true });
  for (const n of ['000001', '000002', '000004', '000005']) await symlink(path.join(CELEBA, 'female', `${n}.jpg`), path.join(root, 'female', `${n}.jpg`));
  const males = path.join(dir, 'elsewhere', 'men');
  await mkdir(males, { recursive: true });
  for (const n of ['000003', '000007', '000008']) await symlink(path.join(CELEBA, 'male', `${n}.jpg`), path.join(males, `${n}.jpg`));
  await symlink(males, path.join(root, 'male'));
  await symlink(root, path.join(root, 'female', 'loop'));
  await symlink(path.join(dir, 'missing.jpg'), path.join(root, 'female', 'gone.jpg'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a dataset made of symbolic links', () => {
  it('scans every linked image once, a linked class folder included, past a loop and a dangling link', async () => {
    const dataset = await scanDataset(path.join(dir, 'data'));
    expect(dataset.classNames).toEqual(['female', 'male']);
    expect(dataset.images.map((im) => `${im.path}:${im.label}`)).toEqual([
      'female/000001.jpg:0',
      'female/000002.jpg:0',
      'female/000004.jpg:0',
      'female/000005.jpg:0',
      'male/000003.jpg:1',
      'male/000007.jpg:1',
      'male/000008.jpg:1',
    ]);
  });

  it('lists the linked images of a folder given to predict', async () => {
    const files = await listImageInputs([path.join(dir, 'data')]);
    expect(files.map((f) => path.relative(path.join(dir, 'data'), f))).toEqual(['female/000001.jpg', 'female/000002.jpg', 'female/000004.jpg', 'female/000005.jpg', 'male/000003.jpg', 'male/000007.jpg', 'male/000008.jpg']);
  });
});
