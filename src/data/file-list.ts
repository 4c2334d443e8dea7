import { readFile } from 'node:fs/promises';
import { DatasetError } from '../errors.js';

/**
 * The paths of a `--files-from` list: one per line, or NUL-separated as `find -print0` writes
 * them (then a name may hold a newline). Blank lines are skipped; each path is kept exactly,
 * spaces included, and a relative one is relative to the working folder, as `tar -T` reads it.
 * `-` reads standard input.
 */
export async function readFileList(file: string): Promise<string[]> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (e) {
    throw new DatasetError(`cannot read the file list (${(e as NodeJS.ErrnoException).code ?? String(e)})`, file);
  }
  const entries = text.includes('\0') ? text.split('\0') : text.split(/\r?\n/);
  const paths = entries.filter((p) => p.length > 0);
  if (paths.length === 0) throw new DatasetError('the file list names no file', file === '-' ? 'standard input' : file);
  return paths;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
