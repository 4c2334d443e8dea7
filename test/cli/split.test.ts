import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { facegender } from '../helpers/cli.js';
import { CELEBA, CELEBA_ATTRIBUTES, CELEBA_IDENTITIES } from '../helpers/shared.js';

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
});
