import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { datasetImageFile, scanDataset, type Dataset } from '../../src/data/dataset.js';
import { makeSplit, PARTS, splitImageFile, splitPart } from '../../src/data/split.js';
import { readSplit, writeSplit } from '../../src/data/split-file.js';
import { decodeImage } from '../../src/data/decode.js';
import { CELEBA, CELEBA_ATTRIBUTES, CELEBA_IDENTITIES, MEBEAUTY } from '../helpers/shared.js';

/** MEBeauty's SOURCE.txt table. */
const MEBEAUTY_COUNTS: Record<string, [number, number]> = {
  asian: [179, 132],
  black: [133, 131],
  caucasian: [505, 407],
  hispanic: [138, 138],
  indian: [135, 137],
  mideastern: [133, 134],
};

let both: Dataset;
beforeAll(async () => {
  both = await scanDataset([{ root: CELEBA, attributes: CELEBA_ATTRIBUTES, identities: CELEBA_IDENTITIES }, { root: MEBEAUTY }]);
});

describe('MEBeauty with its groups.csv', () => {
  it('reads every image with its ethnicity from groups.csv, as SOURCE.txt counts them', async () => {
    const ds = await scanDataset(MEBEAUTY);
    expect(ds.groupsFile).toBe(path.join(MEBEAUTY, 'groups.csv'));
    expect(ds.groupColumns).toEqual(['ethnicity']);
    expect(ds.images).toHaveLength(2302);
    expect(ds.ungrouped).toBe(0);
    expect(ds.labelConflicts).toBe(0);
    const counts: Record<string, [number, number]> = {};
    for (const im of ds.images) {
      const e = im.groups?.ethnicity as string;
      // The sub-folder is the ethnicity too.
      expect(im.path.split('/')[1]).toBe(e);
      const c = (counts[e] ??= [0, 0]);
      c[im.label as 0 | 1] += 1;
    }
    expect(counts).toEqual(MEBEAUTY_COUNTS);
    // groups.csv can be turned off.
    expect((await scanDataset(MEBEAUTY, { groups: false })).groupColumns).toEqual([]);
  });
});

describe('a dataset of two sources', () => {
  it('keeps each image\'s source, prefixes its path with it, and finds every file, non-ASCII and spaces included', async () => {
    expect(both.layout).toBe('sources');
    expect(both.sources?.map((s) => s.name)).toEqual(['celeba-10k', 'mebeauty-2k']);
    expect(both.images).toHaveLength(12302);
    expect(both.root).toBe(path.dirname(CELEBA));
    const odd = both.images.filter((im) => /[^\x20-\x7e]| /.test(im.path));
    expect(odd.length).toBeGreaterThanOrEqual(11);
    expect(odd.every((im) => im.source === 'mebeauty-2k')).toBe(true);
    for (const im of both.images) expect(im.path.startsWith(`${im.source}/`)).toBe(true);
    const nguyen = both.images.find((im) => im.path.includes('nguyễn-lâm')) as (typeof both.images)[number];
    expect(datasetImageFile(both, nguyen)).toBe(path.join(MEBEAUTY, 'female/asian/pexels-nguyễn-lâm-886477.jpg'));
    expect(both.images.every((im) => existsSync(datasetImageFile(both, im)))).toBe(true);
    // CelebA keeps its identities and attributes, MEBeauty its groups.
    expect(both.images.filter((im) => im.source === 'celeba-10k').every((im) => im.identity && im.attributes && !im.groups)).toBe(true);
    expect(both.images.filter((im) => im.source === 'mebeauty-2k').every((im) => im.identity === undefined && im.groups?.ethnicity)).toBe(true);
  });

  it('refuses two sources with one name and tells how to rename', async () => {
    await expect(scanDataset([{ root: MEBEAUTY }, { root: MEBEAUTY }])).rejects.toThrow(/two sources are named "mebeauty-2k".*name=/);
    const renamed = await scanDataset([{ root: MEBEAUTY, name: 'a' }, { root: MEBEAUTY, name: 'b' }]);
    expect(renamed.images).toHaveLength(2 * 2302);
  });

  it('splits CelebA identity-disjoint 5000/750/750 and MEBeauty by image, stratified by class and ethnicity', () => {
    const split = makeSplit(both, {
      train: 5000, val: 750, test: 750, balanced: true, seed: 1,
      sources: { 'mebeauty-2k': { train: 1500, val: 200, test: 300, stratify: 'ethnicity' } },
    });
    expect(split.version).toBe(2);
    expect(split.params).toMatchObject({ train: 6500, val: 950, test: 1050, identityDisjoint: false });
    const [celeba, me] = split.sources ?? [];
    expect(celeba?.params).toEqual({ train: 5000, val: 750, test: 750, balanced: true, identityDisjoint: true });
    expect(me?.params).toEqual({ train: 1500, val: 200, test: 300, balanced: true, identityDisjoint: false, stratify: 'ethnicity' });

    // CelebA's parts are exactly those of a split of the folder alone with the same seed.
    const alone = makeSplit(
      { ...both, sources: undefined, root: CELEBA, images: both.images.filter((im) => im.source === 'celeba-10k').map((im) => ({ ...im, path: im.path.slice('celeba-10k/'.length), source: undefined })) } as Dataset,
      { train: 5000, val: 750, test: 750, balanced: true, seed: 1 },
    );
    const alonePart = new Map(alone.images.map((im) => [`celeba-10k/${im.path}`, im.part]));
    const celebaImages = split.images.filter((im) => im.source === 'celeba-10k');
    expect(celebaImages.every((im) => alonePart.get(im.path) === im.part)).toBe(true);
    const owner = new Map<string, string>();
    for (const im of celebaImages) {
      if (im.part === 'unused') continue;
      expect(owner.get(im.identity as string) ?? im.part).toBe(im.part);
      owner.set(im.identity as string, im.part);
    }

    // MEBeauty: every part holds its size, half per class, each class shared among the six
    // ethnicities in its own proportions (within one image of exact).
    for (const part of PARTS) {
      const size = { train: 1500, val: 200, test: 300 }[part];
      const images = splitPart(split, part).filter((im) => im.source === 'mebeauty-2k');
      expect(images).toHaveLength(size);
      for (const label of [0, 1]) {
        const ofClass = images.filter((im) => im.label === label);
        expect(ofClass).toHaveLength(size / 2);
        const classTotal = Object.values(MEBEAUTY_COUNTS).reduce((s, c) => s + c[label]!, 0);
        for (const [ethnicity, counts] of Object.entries(MEBEAUTY_COUNTS)) {
          const n = ofClass.filter((im) => im.groups?.ethnicity === ethnicity).length;
          expect(Math.abs(n - (size / 2) * (counts[label]! / classTotal))).toBeLessThan(1);
          expect(me?.summary[part].perGroup?.[ethnicity]?.[label]).toBe(n);
        }
      }
    }
    expect(splitPart(split, 'test').filter((im) => im.source === 'mebeauty-2k' && im.label === 1).length).toBeGreaterThanOrEqual(100);
  });

  it('fails naming the source folder and the numbers when a source cannot fill its parts', () => {
    expect(() => makeSplit(both, { train: 5000, val: 750, test: 750, balanced: true, seed: 1, sources: { 'mebeauty-2k': { train: 2000, val: 100, test: 100, stratify: 'ethnicity' } } })).toThrow(
      `${MEBEAUTY}: the split asks for 1100 male images (1000 train + 50 val + 50 test) but the dataset has 1079`,
    );
    expect(() => makeSplit(both, { train: 100, val: 10, test: 10, balanced: true, seed: 1, stratify: 'ethnicity' })).toThrow(
      `${CELEBA}: cannot stratify by ethnicity: 10000 of 10000 images have no ethnicity value`,
    );
    expect(() => makeSplit(both, { train: 100, val: 10, test: 10, balanced: true, seed: 1, sources: { nope: { train: 1 } } })).toThrow(/source "nope", which the dataset does not have/);
  });
});

describe('stratifying by a group column', () => {
  it('names the class and group when rounding asks a stratum for more images than it has', () => {
    // Per class 3 images of group a and 1 of b; parts of 2 + 1 + 1 per class each round b's share (0.5, 0.25, 0.25) down.
    const images = [0, 1].flatMap((label) => ['a', 'a', 'a', 'b'].map((g, i) => ({ path: `${label}-${i}.jpg`, label, groups: { g }, bytes: 1 })));
    const ds = { ...both, sources: undefined, root: '/data', images } as Dataset;
    expect(() => makeSplit(ds, { train: 4, val: 2, test: 2, balanced: true, seed: 1, stratify: 'g' })).toThrow(
      '/data: the split asks for 4 female g=a images (2 train + 1 val + 1 test) but the dataset has 3',
    );
    const ok = makeSplit(ds, { train: 2, val: 2, test: 2, balanced: true, seed: 1, stratify: 'g' });
    expect(ok.summary.test.perGroup).toEqual({ a: [1, 1] });
    expect(ok.params.stratify).toBe('g');
  });
});

describe('a split file of two sources', () => {
  it('round-trips, finds images with spaces and accents, moves with --data and notices a changed source', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-sources-'));
    const data = path.join(dir, 'data');
    // Small copies: CelebA 000001-000199, and MEBeauty's asian and mideastern folders (accents and a space).
    await cp(CELEBA, path.join(data, 'celeb a'), { recursive: true, filter: (src) => !src.endsWith('.jpg') || /\/000(0\d\d|1\d\d)\.jpg$/.test(src) });
    for (const sub of ['female/asian', 'male/asian', 'female/mideastern', 'male/mideastern']) {
      await cp(path.join(MEBEAUTY, sub), path.join(data, 'me', sub), { recursive: true });
    }
    const groups = (await readFile(path.join(MEBEAUTY, 'groups.csv'), 'utf8')).split('\n').filter((l, i) => i === 0 || /,(asian|mideastern)$/.test(l));
    await writeFile(path.join(data, 'me', 'groups.csv'), groups.join('\n') + '\n');
    const ds = await scanDataset([
      { root: path.join(data, 'celeb a'), identities: path.join(data, 'celeb a', path.basename(CELEBA_IDENTITIES)) },
      { root: path.join(data, 'me') },
    ]);
    expect(ds.images.filter((im) => im.source === 'me')).toHaveLength(179 + 132 + 133 + 134);
    const split = makeSplit(ds, { train: 60, val: 20, test: 20, balanced: true, seed: 2, sources: { me: { train: 100, val: 40, test: 60, stratify: 'ethnicity' } } });
    const file = path.join(dir, 'out', 'split.json');
    await writeSplit(split, file);
    const back = await readSplit(file);
    expect(back).toEqual(JSON.parse(JSON.stringify(split)));
    const spaced = back.images.find((im) => im.path.includes('unsplash (1)')) as (typeof back.images)[number];
    const accented = back.images.find((im) => im.path.includes('nguyễn')) as (typeof back.images)[number];
    for (const im of [spaced, accented]) {
      const decoded = await decodeImage(splitImageFile(back, im), { size: { width: 32, height: 32 } });
      expect(decoded.width).toBe(32);
    }

    const moved = path.join(dir, 'moved');
    await rename(data, moved);
    await expect(readSplit(file)).rejects.toThrow(`${path.join(data, 'celeb a')} cannot be listed`);
    const relocated = await readSplit(file, { dataRoot: moved });
    expect(splitImageFile(relocated, accented)).toBe(path.join(moved, 'me', accented.path.slice(3)));
    expect(existsSync(splitImageFile(relocated, accented))).toBe(true);

    await writeFile(path.join(moved, 'me', 'female', 'asian', 'extra.jpg'), await readFile(path.join(CELEBA, 'male', '000007.jpg')));
    await expect(readSplit(file, { dataRoot: moved })).rejects.toThrow(`the dataset folder ${path.join(moved, 'me')} changed since this split was made`);
  });
});
