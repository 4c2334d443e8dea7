import type { ImageSize } from '../data/image.js';
import type { ImageFormat } from '../data/sniff.js';

/**
 * A photo's size from its header, before the browser decodes it, so the page can turn a
 * decompression bomb away unopened (as read-photo.ts does with sharp in Node). Null where the
 * header does not say (or the format is not one read here); the page then checks after decoding.
 */
export function headerSize(bytes: Uint8Array, format: ImageFormat): ImageSize | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fits = (at: number, n: number) => at + n <= bytes.byteLength;
  if (format === 'png' && fits(16, 8)) return { width: view.getUint32(16), height: view.getUint32(20) };
  if (format === 'gif' && fits(6, 4)) return { width: view.getUint16(6, true), height: view.getUint16(8, true) };
  if (format === 'jpeg') {
    let at = 2;
    while (fits(at, 4)) {
      if (bytes[at] !== 0xff) return null;
      const marker = bytes[at + 1] as number;
      if (marker === 0xff) {
        at++;
        continue;
      }
      const length = view.getUint16(at + 2);
      // Start-of-frame markers (baseline, progressive, …) hold the size; DHT, JPG and DAC share the range.
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return fits(at + 5, 4) ? { height: view.getUint16(at + 5), width: view.getUint16(at + 7) } : null;
      }
      at += 2 + length;
    }
  }
  return null;
}
