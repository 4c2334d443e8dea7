import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { facegender } from '../helpers/cli.js';
import { CELEBA, CELEBA_ATTRIBUTES, CELEBA_IDENTITIES, MEBEAUTY, REPO } from '../helpers/shared.js';

describe('facegender split', () => {
  it('writes an identity-disjoint, balanced 5000/750/750 split of celeba-10k', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-cli-'));
    const out = path.join(dir, 'split.json');
    const started = performance.now();
    const r = await facegender(['split', '--data', CELEBA, '--attributes', CELEBA_ATTRIBUTES, '--identities', CELEBA_IDENTITIES, '--balanced', '--seed', '1', '--out', out]);
    const seconds = (performance.now() - started) / 1000;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(seconds).toBeLessThan(10);
    expect(r.stdout).toContain('10000 images, 5783 female, 4217 male');
    expect(r.stdout).toMatch(/^train\t5000\t\d+\t2500\t2500$/m);
    expect(r.stdout).toMatch(/^val\t750\t\d+\t375\t375$/m);
    expect(r.stdout).toMatch(/^test\t750\t\d+\t375\t375$/m);
    const split = JSON.parse(await readFile(out, 'utf8'));
    expect(split.params).toEqual({ train: 5000, val: 750, test: 750, balanced: true, seed: 1, identityDisjoint: true });
    const parts = new Map<string, string>();
    for (const im of split.images) {
      if (im.part === 'unused') continue;
      expect(parts.get(im.identity) ?? im.part).toBe(im.part);
      parts.set(im.identity, im.part);
    }
  });

  it('fails with the numbers and writes nothing when the request cannot be met', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-cli-'));
    const r = await facegender(['split', '--data', CELEBA, '--identities', CELEBA_IDENTITIES, '--balanced', '--train', '8000', '--out', path.join(dir, 'split.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`error: ${CELEBA}: the split asks for 4750 male images (4000 train + 375 val + 375 test) but the dataset has 4217`);
    expect(await readdir(dir)).toEqual([]);
  });

  it('rejects a bad number and documents every option in --help', async () => {
    const bad = await facegender(['split', '--data', CELEBA, '--train', 'many', '--out', 'x.json']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('expected a whole number ≥ 0, got "many"');
    const help = await facegender(['split', '--help']);
    for (const flag of ['--data', '--attributes', '--attribute', '--identities', '--train', '--val', '--test', '--balanced', '--seed', '--skip-bad', '--out']) {
      expect(help.stdout).toContain(flag);
    }
    const top = await facegender(['--help']);
    expect(top.stdout).toMatch(/split \[options\]/);
  });

  it('splits two folders, each with its own settings: CelebA 5000/750/750 identity-disjoint, MEBeauty stratified by ethnicity', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-cli-'));
    const out = path.join(dir, 'new', 'split.json');
    const r = await facegender([
      'split',
      '--data', `${CELEBA},attributes=${CELEBA_ATTRIBUTES},identities=${CELEBA_IDENTITIES}`,
      '--data', `${MEBEAUTY},train=1500,val=200,test=300,stratify=ethnicity`,
      '--balanced', '--seed', '1', '--out', out,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`celeba-10k (${CELEBA}): 10000 images, 5783 female, 4217 male`);
    expect(r.stdout).toContain(`mebeauty-2k (${MEBEAUTY}): 2302 images, 1223 female, 1079 male`);
    expect(r.stdout).toContain(`groups from ${path.join(MEBEAUTY, 'groups.csv')} (ethnicity)`);
    expect(r.stdout).toMatch(/^test\t1050\t\d+\t525\t525$/m);
    // CelebA's parts are those of the single-folder split (the README's table: 2699, 420, 410 identities).
    expect(r.stdout).toMatch(/^celeba-10k\ttrain\t5000\t2699\t2500\t2500$/m);
    expect(r.stdout).toMatch(/^celeba-10k\ttest\t750\t410\t375\t375$/m);
    expect(r.stdout).toMatch(/^mebeauty-2k\ttest\t300\t300\t150\t150$/m);
    expect(r.stdout).toContain('mebeauty-2k: 1500/200/300, balanced by class and ethnicity, split by image');
    const split = JSON.parse(await readFile(out, 'utf8'));
    expect(split.version).toBe(2);
    expect(split.sources.map((s: { name: string; root: string }) => [s.name, s.root])).toEqual([['celeba-10k', CELEBA], ['mebeauty-2k', MEBEAUTY]]);
    const meTest = split.images.filter((im: { source: string; part: string }) => im.source === 'mebeauty-2k' && im.part === 'test');
    const ethnicities = new Set(meTest.map((im: { groups: { ethnicity: string } }) => im.groups.ethnicity));
    expect(ethnicities.size).toBe(6);
    for (const label of [0, 1]) expect(meTest.filter((im: { label: number }) => im.label === label).length).toBe(150);
  });

  it('leaves out the images a list names, and writes each part as a labels CSV for evaluate --data', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-cli-'));
    const notFaces = path.join(REPO, 'curation', 'mebeauty-2k-not-faces.csv');
    const r = await facegender([
      'split',
      '--data', `${CELEBA},attributes=${CELEBA_ATTRIBUTES},identities=${CELEBA_IDENTITIES}`,
      '--data', `${MEBEAUTY},train=1500,val=200,test=300,stratify=ethnicity,align,exclude=${notFaces}`,
      '--balanced', '--seed', '1', '--out', path.join(dir, 'split.json'), '--part-lists', path.join(dir, 'lists'),
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`mebeauty-2k (${MEBEAUTY}): 2283 images, 1213 female, 1070 male`);
    expect(r.stdout).toContain(`left out 19 images listed in ${notFaces} (mebeauty-2k)`);
    expect(r.stdout).toMatch(/^mebeauty-2k\ttest\t300\t300\t150\t150$/m);
    expect(r.stdout).toContain(`wrote ${path.join(dir, 'lists', 'mebeauty-2k.test.csv')}: 300 test images of ${MEBEAUTY}`);
    expect((await readdir(path.join(dir, 'lists'))).sort()).toEqual(['celeba-10k.test.csv', 'celeba-10k.train.csv', 'celeba-10k.val.csv', 'mebeauty-2k.test.csv', 'mebeauty-2k.train.csv', 'mebeauty-2k.val.csv']);
    const split = JSON.parse(await readFile(path.join(dir, 'split.json'), 'utf8'));
    const left = (await readFile(notFaces, 'utf8')).trim().split('\n').slice(1).map((l) => `mebeauty-2k/${l.split(',')[0]}`);
    const paths = new Set(split.images.map((im: { path: string }) => im.path));
    for (const p of left) expect(paths.has(p), p).toBe(false);
    expect(split.sources[1]).toMatchObject({ excludeFile: notFaces, excluded: 19, imageCount: 2283, align: true });
    const test = (await readFile(path.join(dir, 'lists', 'mebeauty-2k.test.csv'), 'utf8')).trim().split('\n');
    expect(test[0]).toBe('file,label,ethnicity');
    const want = split.images.filter((im: { source: string; part: string }) => im.source === 'mebeauty-2k' && im.part === 'test').map((im: { path: string; label: number; groups: { ethnicity: string } }) => `${im.path.slice(12)},${['female', 'male'][im.label]},${im.groups.ethnicity}`);
    expect(test.slice(1).sort()).toEqual(want.sort());
  });

  it('wants per-folder files with several folders, and names a bad setting', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-cli-'));
    const shared = await facegender(['split', '--data', CELEBA, '--data', MEBEAUTY, '--identities', CELEBA_IDENTITIES, '--out', path.join(dir, 's.json')]);
    expect(shared.code).toBe(1);
    expect(shared.stderr.trim()).toBe('error: with several --data folders, give --identities per folder, e.g. --data DIR,identities=FILE');
    const bad = await facegender(['split', '--data', `${MEBEAUTY},tests=3`, '--out', path.join(dir, 's.json')]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(`unknown setting "tests" in "${MEBEAUTY},tests=3"`);
    expect(await readdir(dir)).toEqual([]);
  });
});
