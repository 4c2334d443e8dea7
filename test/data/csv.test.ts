import { describe, expect, it } from 'vitest';
import { csvLine, parseCsv } from '../../src/data/csv.js';

describe('csvLine', () => {
  it('writes cells that parseCsv reads back exactly: commas, quotes, line breaks, edge spaces, accents', () => {
    const rows = [
      ['file', 'label', 'note'],
      ['female/a, "b".jpg', 'female', ''],
      ['male/two\nlines.png', 'male', ' padded '],
      ['female/José Ñ.jpg', '0', 'plain'],
    ];
    const text = rows.map(csvLine).join('\n') + '\n';
    expect(parseCsv(text, 'x.csv').map((r) => r.cells)).toEqual(rows);
    // Plain cells stay unquoted, so the common file reads as people write it.
    expect(csvLine(['female/José Ñ.jpg', '0', 'plain'])).toBe('female/José Ñ.jpg,0,plain');
  });
});
