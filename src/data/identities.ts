import { readFile } from 'node:fs/promises';
import { DatasetError } from '../errors.js';

/**
 * Reads the `identity_CelebA.txt` format: `file identity` per line. A first line that is a
 * header (`image identity`, as some copies carry) is skipped.
 */
export async function readIdentityFile(file: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new DatasetError(`cannot read identity file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, file);
  }
  const identities = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]?.trim();
    if (!line) continue;
    const fields = line.split(/\s+/);
    if (fields.length !== 2) {
      throw new DatasetError(`line ${i + 1} should be "file identity", found ${fields.length} fields`, file);
    }
    const [name, identity] = fields as [string, string];
    if (i === 0 && !/\.[A-Za-z0-9]+$/.test(name)) continue;
    identities.set(name, identity);
  }
  if (identities.size === 0) throw new DatasetError('no "file identity" lines found', file);
  return identities;
}
