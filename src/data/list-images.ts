import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError } from '../errors.js';
import { IMAGE_EXTENSIONS } from './sniff.js';

/**
 * Expands command-line inputs: files are kept as given (so a bad one is reported, not silently
 * dropped), folders become their image files, recursively, sorted.
 */
export async function listImageInputs(inputs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const input of inputs) {
    let info;
    try {
      info = await stat(input);
    } catch (e) {
      throw new DatasetError(`cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`, input);
    }
    if (!info.isDirectory()) {
      out.push(input);
      continue;
    }
    const entries = await readdir(input, { recursive: true, withFileTypes: true });
    const files = entries
      .filter((e) => e.isFile() && IMAGE_EXTENSIONS.has(path.extname(e.name).toLowerCase()))
      .map((e) => path.join(e.parentPath, e.name))
      .sort();
    if (files.length === 0) throw new DatasetError('holds no image files', input);
    out.push(...files);
  }
  return out;
}
