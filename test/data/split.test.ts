import { mkdtemp, readFile, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { scanDataset, type Dataset } from '../../src/data/dataset.js';
import { makeSplit, PARTS, splitPart, type Split } from '../../src/data/split.js';
import { readSplit, writeSplit } from '../../src/data/split-file.js';
import { SplitError } from '../../src/errors.js';
import { CELEBA, CELEBA_ATTRIBUTES, CELEBA_IDENTITIES } from '../helpers/shared.js';

let dataset: Dataset;
beforeAll(async () => {
  dataset = await scanDataset(CELEBA, { attributes: CELEBA_ATTRIBUTES, identities: CELEBA_IDENTITIES });
});

const study = { train: 5000, val: 750, test: 750, balanced: true, seed: 1 };

function identitiesOf(split: Split) {
  return Object.fromEntries(PARTS.map((p) => [p, new Set(splitPart(split, p).map((im) => im.identity))])) as Record<
    (typeof PARTS)[number],
    Set<string | undefined>
  >;
}

describe('makeSplit on celeba-10k', () => {
  it('gives the study\'s balanced 5000/750/750 with zero shared identities', () => {
    const split = makeSplit(dataset, study);
    expect(split.params.identityDisjoint).toBe(true);
    expect(PARTS.map((p) => splitPart(split, p).length)).toEqual([5000, 750, 750]);
    for (const p of PARTS) {
      const labels = splitPart(split, p).map((im) => im.label);
      const males = labels.filter((l) => l === 1).length;
      expect([labels.length - males, males]).toEqual([labels.length / 2, labels.length / 2]);
      expect(split.summary[p].perClass).toEqual([labels.length / 2, labels.length / 2]);
      expect(split.summary[p].identities).toBe(identitiesOf(split)[p].size);
    }
    const ids = identitiesOf(split);
    const shared = [...ids.train].filter((id) => ids.val.has(id) || ids.test.has(id)).length + [...ids.val].filter((id) => ids.test.has(id)).length;
    expect(shared).toBe(0);
    // No identity is used in one part and also left over as unused images that another part took.
    const owner = new Map<string, string>();
    for (const im of split.images) {
      if (im.part === 'unused' || !im.identity) continue;
      expect(owner.get(im.identity) ?? im.part).toBe(im.part);
      owner.set(im.identity, im.part);
    }
    expect(split.images).toHaveLength(10000);
  });

  it('is deterministic by seed, and a different seed gives a different split', () => {
    const a = makeSplit(dataset, study);
    const b = makeSplit(dataset, study);
    const c = makeSplit(dataset, { ...study, seed: 2 });
    expect(b.images.map((im) => im.part)).toEqual(a.images.map((im) => im.part));
    const differ = a.images.filter((im, i) => im.part !== c.images[i]?.part).length;
    expect(differ).toBeGreaterThan(1000);
  });

  it('stratifies by class when not balanced', () => {
    const split = makeSplit(dataset, { ...study, balanced: false, train: 1000, val: 200, test: 200 });
    // 5783 : 4217 → 578.3 / 421.7 of 1000 and 115.66 / 84.34 of 200.
    expect(split.summary.train.perClass).toEqual([578, 422]);
    expect(split.summary.val.perClass).toEqual([116, 84]);
    expect(split.summary.test.perClass).toEqual([116, 84]);
  });

  it('can leak identities when asked, and then shares some', () => {
    const split = makeSplit(dataset, { ...study, identityDisjoint: false });
    const ids = identitiesOf(split);
    expect([...ids.test].filter((id) => ids.train.has(id)).length).toBeGreaterThan(0);
  });

  it('fails with the numbers, before writing, when the classes cannot fill the request', () => {
    expect(() => makeSplit(dataset, { ...study, train: 7000 })).toThrow(
      'the split asks for 4250 male images (3500 train + 375 val + 375 test) but the dataset has 4217',
    );
    expect(() => makeSplit(dataset, { ...study, train: 5001 })).toThrow(SplitError);
  });

  it('fails with the numbers when the identity constraint leaves too few images', () => {
    // The 48 identities labelled both male and female (142 real images): a balanced 70/70 needs
    // all 70 males, but every identity placed in one part takes its other images out of play.
    const labels = new Map<string, Set<number>>();
    for (const im of dataset.images) labels.set(im.identity as string, (labels.get(im.identity as string) ?? new Set()).add(im.label));
    const mixed = { ...dataset, images: dataset.images.filter((im) => labels.get(im.identity as string)?.size === 2) };
    expect(mixed.images).toHaveLength(142);
    expect(() => makeSplit(mixed, { train: 0, val: 70, test: 70, balanced: true, seed: 1 })).toThrow(
      /cannot fill the (val|test) part: it needs 35 male images and only \d+ could be found after keeping identities disjoint \(70 male images in all/,
    );
    // Without the identity constraint the same request is met.
    expect(makeSplit(mixed, { train: 0, val: 70, test: 70, balanced: true, seed: 1, identityDisjoint: false }).summary.test.perClass).toEqual([35, 35]);
  });
});

describe('split file', () => {
  it('round-trips, detects a changed folder, and rejects a non-split file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-split-'));
    const data = path.join(dir, 'data');
    // Images 000001 to 000999 only, to keep the copy small.
    for (const cls of ['female', 'male']) {
      await cp(path.join(CELEBA, cls), path.join(data, cls), { recursive: true, filter: (src) => !src.endsWith('.jpg') || /\/000\d{3}\.jpg$/.test(src) });
    }
    const small = await scanDataset(data, { identities: CELEBA_IDENTITIES });
    expect(small.images.length).toBe(999);
    const split = makeSplit(small, { train: 200, val: 50, test: 50, balanced: true, seed: 3 });
    const file = path.join(dir, 'split.json');
    await writeSplit(split, file);
    const back = await readSplit(file);
    expect(back).toEqual(JSON.parse(JSON.stringify(split)));
    expect((await readFile(file, 'utf8')).split('\n').length).toBeGreaterThan(small.images.length);

    await writeFile(path.join(data, 'male', 'extra.jpg'), await readFile(path.join(CELEBA, 'male', '000007.jpg')));
    await expect(readSplit(file)).rejects.toThrow('changed since this split was made');
    expect((await readSplit(file, { verify: false })).images).toHaveLength(small.images.length);

    await writeFile(path.join(dir, 'other.json'), '{"hello": 1}');
    await expect(readSplit(path.join(dir, 'other.json'))).rejects.toThrow('other.json: not a facegender split file');
    await writeFile(path.join(dir, 'broken.json'), '{"hello": ');
    await expect(readSplit(path.join(dir, 'broken.json'))).rejects.toThrow(/broken\.json: not valid JSON/);
  });
});
