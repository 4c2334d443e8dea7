import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError } from '../errors.js';
import { IMAGE_EXTENSIONS } from './sniff.js';

/**
 * Every file under `root`, recursively, following symbolic links to files and folders (a dataset
 * assembled from links is common). Each folder is entered once, by its real path, so a link that
 * loops back is harmless; a dangling link is passed over.
 */
export async function walkFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const entered = new Set<string>();
  const visit = async (dir: string): Promise<void> => {
    const real = await realpath(dir);
    if (entered.has(real)) return;
    entered.add(real);
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      let kind: 'dir' | 'file' | undefined = entry.isDirectory() ? 'dir' : entry.isFile() ? 'file' : undefined;
      if (entry.isSymbolicLink()) {
        const target = await stat(p).catch(() => undefined);
        kind = target?.isDirectory() ? 'dir' : target?.isFile() ? 'file' : undefined;
      }
      if (kind === 'dir') await visit(p);
      else if (kind === 'file') out.push(p);
    }
  };
  await visit(root);
  return out;
}

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
    const files = (await walkFiles(input)).filter((f) => IMAGE_EXTENSIONS.has(path.extname(f).toLowerCase())).sort();
    if (files.length === 0) throw new DatasetError('holds no image files', input);
    out.push(...files);
  }
  return out;
}
