import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { FacegenderError } from '../errors.js';

/** A file that cannot be written where it was asked to go (a read-only folder, a file in the way). */
export class WriteError extends FacegenderError {}

const WHY: Record<string, string> = {
  EEXIST: 'a file stands where a folder on the way should be',
  ENOTDIR: 'a file stands where a folder on the way should be',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EISDIR: 'a folder stands at this path',
};

/**
 * Writes through a temp file and a rename, so a reader never sees a half-written file. The
 * folders on the way are created first: every command may be pointed at a folder that does not
 * exist yet (`--out runs/split.json` in a fresh clone).
 */
export async function writeFileAtomically(file: string, data: string | Uint8Array): Promise<void> {
  try {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (!err.code) throw e;
    throw new WriteError(`cannot write here: ${WHY[err.code] ?? err.message} (${err.code})`, file);
  }
}

export async function writeJsonAtomically(file: string, value: unknown): Promise<void> {
  await writeFileAtomically(file, JSON.stringify(value, null, 2) + '\n');
}
