import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCsv } from '../../src/data/csv.js';
import { scanDataset } from '../../src/data/dataset.js';
import { labelIndex, readLabelTable } from '../../src/data/label-table.js';
import { DatasetError } from '../../src/errors.js';
import { CELEBA } from '../helpers/shared.js';

describe('parseCsv', () => {
  it('reads quoted commas, doubled quotes, CRLF, a byte-order mark and line numbers', () => {
    const text = '\ufefffile,label,note\r\n"a, b.jpg",female,"say ""hi"""\r\n\r\nc d/é.jpg,male,"two\nlines"\nlast.jpg,0,';
    expect(parseCsv(text, 'x.csv')).toEqual([
      { line: 1, cells: ['file', 'label', 'note'] },
      { line: 2, cells: ['a, b.jpg', 'female', 'say "hi"'] },
      { line: 4, cells: ['c d/é.jpg', 'male', 'two\nlines'] },
      { line: 6, cells: ['last.jpg', '0', ''] },
    ]);
  });

  it('names the line of a broken quote', () => {
    expect(() => parseCsv('file\n"a.jpg\n', 'x.csv')).toThrow('x.csv: line 2: a quoted field is never closed');
    expect(() => parseCsv('file\nab"c.jpg\n', 'x.csv')).toThrow('x.csv: line 2: a quote inside an unquoted field');
  });
});

describe('readLabelTable', () => {
  const write = async (text: string) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-labels-'));
    const file = path.join(dir, 'labels.csv');
    await writeFile(file, text);
    return file;
  };

  it('reads files, labels and group columns, normalising ./ and backslashes', async () => {
    const file = await write('file,label,ethnicity,age\n./a/1.jpg,female,asian,30s\na\\2 x.jpg,male,,20s\n');
    const t = await readLabelTable(file);
    expect(t.hasLabel).toBe(true);
    expect(t.columns).toEqual(['ethnicity', 'age']);
    expect(t.rows).toEqual([
      { line: 2, path: 'a/1.jpg', label: 'female', groups: { ethnicity: 'asian', age: '30s' } },
      { line: 3, path: 'a/2 x.jpg', label: 'male', groups: { age: '20s' } },
    ]);
    expect(labelIndex('Male', ['female', 'male'])).toBe(1);
    expect(labelIndex('0', ['female', 'male'])).toBe(0);
    expect(labelIndex('2', ['female', 'male'])).toBeUndefined();
  });

  it('refuses duplicate rows, a missing file column, ragged rows and paths outside the folder, naming the line', async () => {
    await expect(readLabelTable(await write('file,label\na.jpg,male\nb.jpg,male\n./a.jpg,female\n'))).rejects.toThrow(/labels\.csv: line 4: duplicate row for "a\.jpg" \(first on line 2\)/);
    await expect(readLabelTable(await write('name,label\na.jpg,male\n'))).rejects.toThrow(/line 1: the header \(name,label\) has no "file" column/);
    await expect(readLabelTable(await write('file,label\na.jpg,male,extra\n'))).rejects.toThrow(/line 2 has 3 fields, the header 2/);
    await expect(readLabelTable(await write('file,label\n../a.jpg,male\n'))).rejects.toThrow(/line 2: "\.\.\/a\.jpg" leaves the data folder/);
    await expect(readLabelTable(await write('file,label\na.jpg,\n'))).rejects.toThrow(/line 2: the label of "a\.jpg" is empty/);
    await expect(readLabelTable(await write('file,label\n'))).rejects.toThrow(/has a header but no rows/);
  });
});

describe('a folder labelled by a CSV', () => {
  /** 10 CelebA images (5 per class) in a flat folder, one with a space and accents in its name. */
  async function flatFolder() {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-csvdata-'));
    const data = path.join(dir, 'photos');
    await mkdir(path.join(data, 'sub'), { recursive: true });
    const rows = ['file,label,site'];
    for (let i = 1; i <= 10; i++) {
      const src = `${String(i).padStart(6, '0')}.jpg`;
      const cls = existsSync(path.join(CELEBA, 'male', src)) ? 'male' : 'female';
      const name = i === 3 ? 'sub/café au lait.jpg' : `p${i}.jpg`;
      await copyFile(path.join(CELEBA, cls, src), path.join(data, name));
      rows.push(`${name.includes(' ') ? `"${name}"` : name},${cls},${i % 2 ? 'odd' : 'even'}`);
    }
    await copyFile(path.join(CELEBA, 'female', '000001.jpg'), path.join(data, 'unlisted.jpg'));
    const csv = path.join(dir, 'labels.csv');
    await writeFile(csv, rows.join('\n') + '\n');
    return { dir, data, csv, rows };
  }

  it('takes labels and groups from the CSV and uses only the files it lists', async () => {
    const { data, csv, rows } = await flatFolder();
    const ds = await scanDataset(data, { labels: csv });
    expect(ds.layout).toBe('csv');
    expect(ds.classNames).toEqual(['female', 'male']);
    expect(ds.images).toHaveLength(10);
    expect(ds.unlabelled).toBe(1);
    expect(ds.groupColumns).toEqual(['site']);
    const byPath = new Map(ds.images.map((im) => [im.path, im]));
    for (const row of rows.slice(1)) {
      const [file, label, site] = row.startsWith('"') ? [row.slice(1, row.indexOf('"', 1)), ...row.slice(row.indexOf('"', 1) + 2).split(',')] : row.split(',');
      const im = byPath.get(file as string);
      expect(im?.label).toBe(label === 'male' ? 1 : 0);
      expect(im?.groups).toEqual({ site });
    }
    expect(byPath.get('sub/café au lait.jpg')).toBeDefined();
  });

  it('names the CSV and the line of a missing file, an unknown label, and refuses one class only', async () => {
    const { dir, data, rows } = await flatFolder();
    const bad = async (lines: string[]) => {
      const file = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.csv`);
      await writeFile(file, lines.join('\n'));
      return file;
    };
    const missing = await bad([...rows.slice(0, 4), 'gone.jpg,male,odd', ...rows.slice(4)]);
    await expect(scanDataset(data, { labels: missing })).rejects.toThrow(`${missing}: line 5: "gone.jpg" is not an image file in ${data}`);
    const unknown = await bad([rows[0] as string, rows[1] as string, 'p2.jpg,man,even']);
    await expect(scanDataset(data, { labels: unknown, classNames: ['female', 'male'] })).rejects.toThrow(`${unknown}: line 3: unknown label "man" for "p2.jpg" (expected female or 0, male or 1)`);
    const oneClass = await bad(['file,label', 'p1.jpg,female', 'p2.jpg,female']);
    await expect(scanDataset(data, { labels: oneClass })).rejects.toThrow(`${oneClass}: the label column holds one class only (female)`);
    await expect(scanDataset(data, { labels: oneClass })).rejects.toBeInstanceOf(DatasetError);
  });
});
