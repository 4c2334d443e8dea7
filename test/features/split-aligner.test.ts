import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Base } from '../../src/bases/base.js';
import { scanDataset } from '../../src/data/dataset.js';
import { makeSplit, splitImageFile, type Split } from '../../src/data/split.js';
import { UsageError } from '../../src/errors.js';
import { extractFeatures } from '../../src/features/extract-features.js';
import { filesToAlign, splitAligner, type SplitAligner } from '../../src/features/split-aligner.js';
import { trainModel } from '../../src/train/train-model.js';
import { loadBase } from '../../src/zoo/index.js';
import { CELEBA, CELEBA_IDENTITIES, MEBEAUTY } from '../helpers/shared.js';
import { facegender } from '../helpers/cli.js';

/**
 * A split of CelebA and a small MEBeauty folder marked `align`: its photos (crops framed unlike
 * CelebA, one of them a crop with no face at all) are found and aligned before the base sees them.
 */
const NO_FACE = 'female/hispanic/steven-aguilar-9kmy3mYHo6Y-unsplash.jpg';

let dir: string;
let split: Split;
let base: Base;
let aligner: SplitAligner;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-align-'));
  const me = path.join(dir, 'me');
  for (const cls of ['female', 'male']) {
    const names = (await readdir(path.join(MEBEAUTY, cls, 'hispanic'))).sort().slice(0, 7);
    if (cls === 'female' && !names.includes(path.basename(NO_FACE))) names[0] = path.basename(NO_FACE);
    await mkdir(path.join(me, cls), { recursive: true });
    for (const n of names) await copyFile(path.join(MEBEAUTY, cls, 'hispanic', n), path.join(me, cls, n));
  }
  const dataset = await scanDataset([{ root: CELEBA, identities: CELEBA_IDENTITIES }, { root: me, name: 'me', align: true, groups: false }]);
  split = makeSplit(dataset, { train: 20, val: 10, test: 10, balanced: true, seed: 3, sources: { me: { train: 10, val: 2, test: 2, balanced: true } } });
  base = await loadBase('mobileface');
  aligner = (await splitAligner(split)) as SplitAligner;
}, 120_000);

afterAll(async () => {
  await aligner?.dispose();
  await base?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('a source marked align', () => {
  it('is recorded in the split, and only its used photos are aligned', () => {
    expect(split.sources?.map((s) => [s.name, s.align ?? false])).toEqual([
      ['celeba-10k', false],
      ['me', true],
    ]);
    const files = filesToAlign(split);
    const expected = split.images.filter((im) => im.source === 'me' && im.part !== 'unused').map((im) => splitImageFile(split, im));
    expect([...files].sort()).toEqual(expected.sort());
    expect(expected).toHaveLength(14);
    expect(aligner.files).toEqual(files);
  });

  it('gives the base the aligned face, not the crop as it is, cached under its own key; a photo with no face is embedded whole and counted', async () => {
    const files = [...aligner.files];
    const cacheDir = path.join(dir, 'cache');
    const plain = await extractFeatures(base, files, { cacheDir });
    const aligned = await extractFeatures(base, files, { cacheDir, aligned: aligner });
    expect(aligned.computed).toBe(files.length);
    const cosine = (i: number) => {
      const a = plain.views[0]?.subarray(i * base.dim, (i + 1) * base.dim) as Float32Array;
      const b = aligned.views[0]?.subarray(i * base.dim, (i + 1) * base.dim) as Float32Array;
      let ab = 0, aa = 0, bb = 0;
      for (let k = 0; k < a.length; k++) [ab, aa, bb] = [ab + (a[k] as number) * (b[k] as number), aa + (a[k] as number) ** 2, bb + (b[k] as number) ** 2];
      return ab / Math.sqrt(aa * bb);
    };
    const noFaceAt = files.findIndex((f) => f.endsWith(path.basename(NO_FACE)));
    const found = files.map((_, i) => i).filter((i) => i !== noFaceAt);
    expect(found.filter((i) => cosine(i) < 0.98).length).toBeGreaterThanOrEqual(found.length - 1);
    expect(aligner.noFace.map((f) => path.basename(f))).toContain(path.basename(NO_FACE));
    const again = await extractFeatures(base, files, { cacheDir, aligned: aligner });
    expect(again.computed).toBe(0);
    expect(Array.from(again.views[0] as Float32Array)).toEqual(Array.from(aligned.views[0] as Float32Array));
  });

  it('trains a head only: fine-tuning and the custom CNN refuse it with the reason', async () => {
    await expect(trainModel(split, base, { fineTuneEpochs: 1 })).rejects.toThrow(UsageError);
    const custom = await loadBase('custom');
    try {
      await expect(trainModel(split, custom, { epochs: 1 })).rejects.toThrow(/source to align \(align=true\) trains a head on a frozen base/);
    } finally {
      await custom.dispose();
    }
  });

  it('is read from the command line as align, bare or with a value', async () => {
    const out = path.join(dir, 'split.json');
    const r = await facegender(['split', '--data', `${CELEBA},identities=${CELEBA_IDENTITIES},train=20,val=10,test=10`, '--data', `${path.join(dir, 'me')},groups=none,train=10,val=2,test=2,align`, '--balanced', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const written = JSON.parse(await readFile(out, 'utf8')) as Split;
    expect(written.sources?.map((s) => s.align ?? false)).toEqual([false, true]);
    const bad = await facegender(['split', '--data', `${path.join(dir, 'me')},align=maybe`, '--out', out]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/align= expects true or false, got "maybe"/);
  });
});
