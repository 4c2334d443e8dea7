import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanDataset } from '../../src/data/dataset.js';
import { partLists } from '../../src/data/part-lists.js';
import { makeSplit } from '../../src/data/split.js';
import { CELEBA, CELEBA_ATTRIBUTES, CELEBA_IDENTITIES, MEBEAUTY } from '../helpers/shared.js';

describe('a split\'s parts as labels CSVs', () => {
  it('writes each source\'s part so that evaluate --data reads back the same images, labels and groups', async () => {
    const ds = await scanDataset([{ root: CELEBA, attributes: CELEBA_ATTRIBUTES, identities: CELEBA_IDENTITIES }, { root: MEBEAUTY }]);
    const split = makeSplit(ds, { train: 200, val: 50, test: 50, balanced: true, seed: 3, sources: { 'mebeauty-2k': { train: 300, val: 60, test: 120, stratify: 'ethnicity' } } });
    const lists = partLists(split);
    expect(lists.map((l) => [l.name, l.rows, l.root])).toEqual([
      ['celeba-10k.train.csv', 200, CELEBA],
      ['celeba-10k.val.csv', 50, CELEBA],
      ['celeba-10k.test.csv', 50, CELEBA],
      ['mebeauty-2k.train.csv', 300, MEBEAUTY],
      ['mebeauty-2k.val.csv', 60, MEBEAUTY],
      ['mebeauty-2k.test.csv', 120, MEBEAUTY],
    ]);
    // CelebA carries no ethnicity: its lists have no empty column for it.
    expect(lists[2]?.csv.split('\n')[0]).toBe('file,label');
    expect(lists[5]?.csv.split('\n')[0]).toBe('file,label,ethnicity');

    const dir = await mkdtemp(path.join(tmpdir(), 'fg-lists-'));
    const file = path.join(dir, 'me-test.csv');
    await writeFile(file, lists[5]?.csv as string);
    const back = await scanDataset(MEBEAUTY, { labels: file, classNames: split.dataset.classNames, groups: false });
    const want = split.images
      .filter((im) => im.source === 'mebeauty-2k' && im.part === 'test')
      .map((im) => [im.path.slice('mebeauty-2k/'.length), im.label, im.groups?.ethnicity])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    const got = back.images.map((im) => [im.path, im.label, im.groups?.ethnicity]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(got).toEqual(want);
    expect(new Set(got.map((g) => g[2])).size).toBe(6);
  });

  it('quotes a file name with a comma or a quote, and names a one-folder split\'s lists by part', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-lists-'));
    for (const cls of ['female', 'male']) {
      const { mkdir, copyFile } = await import('node:fs/promises');
      await mkdir(path.join(dir, cls));
      await copyFile(path.join(CELEBA, cls, cls === 'female' ? '000001.jpg' : '000003.jpg'), path.join(dir, cls, 'a, "b".jpg'));
      await copyFile(path.join(CELEBA, cls, cls === 'female' ? '000002.jpg' : '000007.jpg'), path.join(dir, cls, 'plain.jpg'));
    }
    const split = makeSplit(await scanDataset(dir), { train: 2, val: 0, test: 2, balanced: true, seed: 1 });
    const lists = partLists(split);
    expect(lists.map((l) => l.name)).toEqual(['train.csv', 'test.csv']);
    const rows = lists.flatMap((l) => l.csv.trim().split('\n').slice(1));
    expect(rows.filter((r) => r.startsWith('"'))).toHaveLength(2);
    for (const r of rows.filter((r) => r.startsWith('"'))) expect(r).toMatch(/^"(female|male)\/a, ""b""\.jpg",(female|male)$/);
  });
});
