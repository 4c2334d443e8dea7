import { readFile } from 'node:fs/promises';
import { DatasetError } from '../errors.js';

/** CelebA-style attribute table: one ±1 value per attribute per image file name. */
export interface AttributeTable {
  file: string;
  names: string[];
  /** Keyed by the image's base file name (e.g. `000001.jpg`); values are 1 or -1 per name. */
  rows: Map<string, Int8Array>;
}

/**
 * Reads the `list_attr_celeba.txt` format: a count line, a header of attribute names, then
 * `file v1 v2 …` with 1/-1. The count line is not enforced, since subsets of the official file
 * (like ours) keep the original count.
 */
export async function readAttributeFile(file: string): Promise<AttributeTable> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new DatasetError(`cannot read attribute file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, file);
  }
  const lines = text.split(/\r?\n/);
  if (!/^\s*\d+\s*$/.test(lines[0] ?? '')) {
    throw new DatasetError('line 1 should be the image count of the list_attr_celeba.txt format', file);
  }
  const names = (lines[1] ?? '').trim().split(/\s+/).filter(Boolean);
  if (names.length === 0) throw new DatasetError('line 2 should list the attribute names', file);
  const rows = new Map<string, Int8Array>();
  for (let i = 2; i < lines.length; i++) {
    const line = lines[i]?.trim();
    if (!line) continue;
    const fields = line.split(/\s+/);
    if (fields.length !== names.length + 1) {
      throw new DatasetError(`line ${i + 1} has ${fields.length - 1} values, expected ${names.length}`, file);
    }
    const values = new Int8Array(names.length);
    for (let j = 0; j < names.length; j++) {
      const v = fields[j + 1];
      if (v !== '1' && v !== '-1') {
        throw new DatasetError(`line ${i + 1}: value "${v}" for ${names[j]} is not 1 or -1`, file);
      }
      values[j] = v === '1' ? 1 : -1;
    }
    rows.set(fields[0] as string, values);
  }
  return { file, names, rows };
}
