import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { scanDataset } from '../../src/data/dataset.js';
import { makeSplit, splitPart, type Split } from '../../src/data/split.js';
import { writeSplit } from '../../src/data/split-file.js';
import { writeModelReport } from '../../src/report/write-report.js';
import { facegender } from '../helpers/cli.js';
import { CELEBA, CELEBA_IDENTITIES, MEBEAUTY } from '../helpers/shared.js';

/**
 * `facegender train` on a split of two folders: CelebA (identity-disjoint) and a small MEBeauty
 * folder that holds every MEBeauty file whose name has a space or a non-ASCII letter, all of them
 * used by the split, so they go through decoding and the feature cache.
 */
let dir: string;
let split: Split;
let splitFile: string;
let odd: string[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-multi-'));
  const me = path.join(dir, 'me beauty');
  const rows = (await readFile(path.join(MEBEAUTY, 'groups.csv'), 'utf8')).trim().split('\n');
  odd = rows.slice(1).map((r) => r.split(',')[0] as string).filter((f) => /[^\x20-\x7e]| /.test(f));
  // The odd names, and ordinary ones of both classes until there are 30 of each.
  const picked = new Set(odd);
  for (const cls of ['female', 'male']) {
    for (const r of rows.slice(1)) {
      const [file] = r.split(',') as [string];
      if ([...picked].filter((f) => f.startsWith(`${cls}/`)).length >= 30) break;
      if (file.startsWith(`${cls}/`) && !file.includes('asian')) picked.add(file);
    }
  }
  for (const file of picked) {
    await mkdir(path.dirname(path.join(me, file)), { recursive: true });
    await copyFile(path.join(MEBEAUTY, file), path.join(me, file));
  }
  await writeFile(path.join(me, 'groups.csv'), [rows[0], ...rows.slice(1).filter((r) => picked.has(r.split(',')[0] as string))].join('\n') + '\n');
  const dataset = await scanDataset([{ root: CELEBA, identities: CELEBA_IDENTITIES }, { root: me, name: 'me' }]);
  split = makeSplit(dataset, { train: 60, val: 30, test: 30, balanced: true, seed: 5, sources: { me: { train: 30, val: 10, test: 20, balanced: false } } });
  splitFile = path.join(dir, 'split.json');
  await writeSplit(split, splitFile);
}, 120_000);

describe('training on a split of two folders', () => {
  it('uses every odd file name, trains, and reports accuracy per source and per ethnicity that the predictions confirm', async () => {
    expect(odd.length).toBeGreaterThanOrEqual(11);
    const used = new Set(split.images.filter((im) => im.part !== 'unused').map((im) => im.path));
    for (const f of odd) expect(used.has(`me/${f}`)).toBe(true);

    const out = path.join(dir, 'runs', 'multi');
    const cache = path.join(dir, 'cache');
    const args = ['train', '--split', splitFile, '--base', 'mobileface', '--epochs', '2', '--augment-views', '1', '--resamples', '100', '--cache-dir', cache];
    const r = await facegender([...args, '--out', out]);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    const evaluation = JSON.parse(await readFile(path.join(out, 'evaluation.json'), 'utf8'));
    // Every image view embedded once: 90 train images x 2 views, 40 val, 50 test.
    expect(evaluation.features).toEqual({ computed: 90 * 2 + 40 + 50, cached: 0 });
    const test = splitPart(split, 'test');
    expect(evaluation.predictions.map((p: { path: string }) => p.path)).toEqual(test.map((im) => im.path));
    const [source, ethnicity] = evaluation.groups.columns;
    expect(source.column).toBe('source');
    expect(ethnicity.column).toBe('ethnicity');
    type P = { source: string; label: number; predicted: number; groups?: { ethnicity: string } };
    const preds: P[] = evaluation.predictions;
    for (const g of source.groups) {
      const mine = preds.filter((p) => p.source === g.value);
      expect(g.n).toBe(g.value === 'me' ? 20 : 30);
      expect(g.accuracy).toBeCloseTo(mine.filter((p) => p.predicted === p.label).length / mine.length, 12);
    }
    expect(ethnicity.n).toBe(20);
    for (const g of ethnicity.groups) {
      const mine = preds.filter((p) => p.groups?.ethnicity === g.value);
      expect(g.n).toBe(mine.length);
      expect(g.accuracy).toBeCloseTo(mine.filter((p) => p.predicted === p.label).length / mine.length, 12);
    }
    const md = await readFile(path.join(out, 'evaluation.md'), 'utf8');
    expect(md).toContain('# mobileface on celeba-10k + me');
    expect(md).toContain('## Per source and group (test)');
    expect(md).toMatch(/\| me \| 20 \| \d+\.\d\d% \[/);
    const manifest = JSON.parse(await readFile(path.join(out, 'facegender.json'), 'utf8'));
    expect(manifest.training.sources).toEqual([{ name: 'celeba-10k', root: CELEBA }, { name: 'me', root: path.join(dir, 'me beauty') }]);

    // The report finds every image in its own source's folder (the two share only the root folder).
    const report = await writeModelReport(out, { out: path.join(dir, 'report.html') });
    expect(report.missingImages).toEqual([]);
    expect(report.galleries.test).toBe(50);
    expect(await readFile(report.file, 'utf8')).toContain('<title>facegender report: mobileface on celeba-10k + me</title>');

    // A second run reads every view from the cache.
    const again = await facegender([...args, '--out', path.join(dir, 'runs', 'again')]);
    expect(again.code).toBe(0);
    expect(JSON.parse(await readFile(path.join(dir, 'runs', 'again', 'evaluation.json'), 'utf8')).features).toEqual({ computed: 0, cached: 90 * 2 + 40 + 50 });
  });
});
