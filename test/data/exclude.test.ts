import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanDataset } from '../../src/data/dataset.js';
import { readLabelTable } from '../../src/data/label-table.js';
import { makeSplit } from '../../src/data/split.js';
import { CELEBA, CELEBA_ATTRIBUTES, CELEBA_IDENTITIES, MEBEAUTY, REPO } from '../helpers/shared.js';

/** MEBeauty crops reviewed by eye and found to hold no whole face (Haar cascade false positives). */
const NOT_FACES = path.join(REPO, 'curation', 'mebeauty-2k-not-faces.csv');

describe('leaving images out of a dataset (exclude)', () => {
  it('drops the listed MEBeauty crops, records the list, and leaves the other source\'s parts as they were', async () => {
    const listed = (await readLabelTable(NOT_FACES)).rows.map((r) => r.path);
    expect(listed).toHaveLength(19);
    const ds = await scanDataset(MEBEAUTY, { exclude: NOT_FACES });
    expect(ds.images).toHaveLength(2302 - 19);
    expect(ds.excluded).toBe(19);
    expect(ds.excludeFile).toBe(NOT_FACES);
    const kept = new Set(ds.images.map((im) => im.path));
    for (const p of listed) expect(kept.has(p), p).toBe(false);
    // The listing hash still covers the whole folder, so a split notices the folder changing, not the list.
    expect(ds.listingHash).toBe((await scanDataset(MEBEAUTY)).listingHash);

    const celeba = { root: CELEBA, attributes: CELEBA_ATTRIBUTES, identities: CELEBA_IDENTITIES };
    const options = { train: 5000, val: 750, test: 750, balanced: true, seed: 1, sources: { 'mebeauty-2k': { train: 1500, val: 200, test: 300, stratify: 'ethnicity' } } };
    const before = makeSplit(await scanDataset([celeba, { root: MEBEAUTY }]), options);
    const after = makeSplit(await scanDataset([celeba, { root: MEBEAUTY, exclude: NOT_FACES }]), options);
    const celebaParts = (s: typeof before) => s.images.filter((im) => im.source === 'celeba-10k').map((im) => `${im.path}:${im.part}`);
    expect(celebaParts(after)).toEqual(celebaParts(before));
    const source = after.sources?.find((s) => s.name === 'mebeauty-2k');
    expect(source?.excluded).toBe(19);
    expect(source?.imageCount).toBe(2283);
    expect(after.images.filter((im) => im.source === 'mebeauty-2k' && im.part === 'test')).toHaveLength(300);
  });

  it('gives a reason for every crop it lists, each an image of the folder', async () => {
    const table = await readLabelTable(NOT_FACES);
    expect(table.columns).toEqual(['reason']);
    for (const row of table.rows) {
      expect(row.groups.reason, row.path).toMatch(/\w/);
      expect((await stat(path.join(MEBEAUTY, row.path))).isFile(), row.path).toBe(true);
    }
  });

  it('names the list and the line of a file that is not in the folder, or listed twice', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-exclude-'));
    const missing = path.join(dir, 'missing.csv');
    await writeFile(missing, 'file,reason\nfemale/asian/7.jpg,test\nfemale/asian/nope.jpg,typo\n');
    await expect(scanDataset(MEBEAUTY, { exclude: missing })).rejects.toThrow(`${missing}: line 3: "female/asian/nope.jpg" is not an image file in ${MEBEAUTY}`);
    const twice = path.join(dir, 'twice.csv');
    await writeFile(twice, 'file\nfemale/asian/7.jpg\nfemale/asian/7.jpg\n');
    await expect(scanDataset(MEBEAUTY, { exclude: twice })).rejects.toThrow(`${twice}: line 3: duplicate row for "female/asian/7.jpg" (first on line 2)`);
  });
});
