import writeFileAtomic from 'write-file-atomic';

/** Writes through a temp file and a rename, so a reader never sees a half-written file. */
export async function writeFileAtomically(path: string, data: string | Uint8Array): Promise<void> {
  await writeFileAtomic(path, typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

export async function writeJsonAtomically(path: string, value: unknown): Promise<void> {
  await writeFileAtomically(path, JSON.stringify(value, null, 2) + '\n');
}
