import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** sha256 of a file's content, streamed so that large weight files need no memory. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** sha256 of bytes held in memory, as hex. */
export function sha256Bytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
