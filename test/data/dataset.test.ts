import { mkdtemp, mkdir, writeFile, copyFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readAttributeFile } from '../../src/data/attributes.js';
import { readIdentityFile } from '../../src/data/identities.js';
import { scanDataset, classCounts } from '../../src/data/dataset.js';
import { DatasetError } from '../../src/errors.js';
import { CELEBA, CELEBA_ATTRIBUTES, CELEBA_IDENTITIES } from '../helpers/shared.js';

describe('CelebA files', () => {
  it('reads the attribute file: 40 names, 20,000 rows of ±1', async () => {
    const table = await readAttributeFile(CELEBA_ATTRIBUTES);
    expect(table.names).toHaveLength(40);
    expect(table.names[20]).toBe('Male');
    expect(table.rows.size).toBe(20000);
    // 000001 is a known female, 000007 a known male (SOURCE.txt).
    expect(table.rows.get('000001.jpg')?.[20]).toBe(-1);
    expect(table.rows.get('000007.jpg')?.[20]).toBe(1);
  });

  it('reads the identity file and skips its header line', async () => {
    const ids = await readIdentityFile(CELEBA_IDENTITIES);
    expect(ids.size).toBe(10000);
    expect(ids.get('000001.jpg')).toBe('2880');
    expect(new Set(ids.values()).size).toBe(5429);
  });

  it('names the file and line of a malformed attribute row', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-attr-'));
    const file = path.join(dir, 'attrs.txt');
    await writeFile(file, '2\nA B\n1.jpg 1 -1\n2.jpg 1 0\n');
    await expect(readAttributeFile(file)).rejects.toThrow(`${file}: line 4: value "0" for B is not 1 or -1`);
  });
});

describe('scanDataset on celeba-10k', () => {
  it('finds 4,217 male and 5,783 female with Keras class order, attributes and identities', async () => {
    const ds = await scanDataset(CELEBA, { attributes: CELEBA_ATTRIBUTES, identities: CELEBA_IDENTITIES });
    expect(ds.layout).toBe('class-folders');
    expect(ds.classNames).toEqual(['female', 'male']);
    expect(classCounts(ds)).toEqual([5783, 4217]);
    expect(ds.nonImageFiles).toBe(4); // the text files at the root
    expect(ds.badImages).toEqual([]);
    expect(ds.labelConflicts).toBe(0);
    const first = ds.images.find((im) => im.path === 'female/000001.jpg');
    expect(first?.identity).toBe('2880');
    expect(first?.attributes?.[20]).toBe(-1);
    expect(new Set(ds.images.map((im) => im.identity)).size).toBe(5429);
  });

  it('labels a flat folder by an attribute and counts unlisted and non-image files', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-flat-'));
    for (const f of ['male/000007.jpg', 'female/000001.jpg', 'female/000002.jpg']) {
      await copyFile(path.join(CELEBA, f), path.join(dir, path.basename(f)));
    }
    await copyFile(path.join(CELEBA, 'male/000008.jpg'), path.join(dir, 'not-in-table.jpg'));
    await writeFile(path.join(dir, 'notes.md'), '# hi');
    const ds = await scanDataset(dir, { attributes: CELEBA_ATTRIBUTES });
    expect(ds.layout).toBe('attribute');
    expect(ds.classNames).toEqual(['female', 'male']);
    expect(ds.images.map((im) => [im.path, im.label])).toEqual([
      ['000001.jpg', 0],
      ['000002.jpg', 0],
      ['000007.jpg', 1],
    ]);
    expect(ds.unlabelled).toBe(1);
    expect(ds.nonImageFiles).toBe(1);
    const smiling = await scanDataset(dir, { attributes: CELEBA_ATTRIBUTES, attribute: 'Smiling' });
    expect(smiling.classNames).toEqual(['not_Smiling', 'Smiling']);
    const table = await readAttributeFile(CELEBA_ATTRIBUTES);
    const col = table.names.indexOf('Smiling');
    expect(smiling.images.map((im) => im.label)).toEqual(
      ['000001.jpg', '000002.jpg', '000007.jpg'].map((f) => (table.rows.get(f)?.[col] === 1 ? 1 : 0)),
    );
  });

  it('reports an unreadable image with its path and reason, or skips it with skipBad', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-bad-'));
    await mkdir(path.join(dir, 'a'));
    await mkdir(path.join(dir, 'b'));
    await copyFile(path.join(CELEBA, 'female/000001.jpg'), path.join(dir, 'a', 'ok.jpg'));
    await copyFile(path.join(CELEBA, 'male/000007.jpg'), path.join(dir, 'b', 'ok.jpg'));
    await writeFile(path.join(dir, 'b', 'fake.jpg'), 'hello, I am text');
    await writeFile(path.join(dir, 'b', 'empty.png'), '');
    await expect(scanDataset(dir)).rejects.toThrow(DatasetError);
    await expect(scanDataset(dir)).rejects.toThrow(/b\/(empty\.png: empty file|fake\.jpg: not an image)/);
    const ds = await scanDataset(dir, { skipBad: true });
    expect(ds.images.map((im) => im.path)).toEqual(['a/ok.jpg', 'b/ok.jpg']);
    expect(ds.badImages).toEqual([
      { path: 'b/empty.png', reason: 'empty file (0 bytes)' },
      { path: 'b/fake.jpg', reason: 'not an image (looks like text)' },
    ]);
  });

  it('fails clearly on a missing folder, a single class and a missing attribute', async () => {
    await expect(scanDataset('/nonexistent/data')).rejects.toThrow('/nonexistent/data: cannot read dataset folder (ENOENT)');
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-one-'));
    await mkdir(path.join(dir, 'only'));
    await expect(scanDataset(dir)).rejects.toThrow('found 1 class folder (only); a binary classifier needs two');
    await expect(scanDataset(CELEBA, { attributes: CELEBA_ATTRIBUTES, attribute: 'Moustache' })).rejects.toThrow(
      'attribute "Moustache" is not in the header',
    );
    const text = await readFile(CELEBA_IDENTITIES, 'utf8');
    const partial = path.join(dir, 'ids.txt');
    await writeFile(partial, text.split('\n').slice(0, 100).join('\n'));
    await expect(scanDataset(CELEBA, { identities: partial })).rejects.toThrow(/ids\.txt: 9901 images have no identity/);
  });
});
