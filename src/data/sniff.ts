/** Image formats recognised by their first bytes, so a text file named .jpg is caught early. */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif' | 'heif';

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heic', '.heif']);

export function sniffImageFormat(head: Uint8Array): ImageFormat | undefined {
  const at = (i: number) => head[i] ?? -1;
  const ascii = (from: number, to: number) => String.fromCharCode(...head.subarray(from, to));
  if (at(0) === 0xff && at(1) === 0xd8 && at(2) === 0xff) return 'jpeg';
  if (at(0) === 0x89 && ascii(1, 4) === 'PNG') return 'png';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (ascii(0, 4) === 'GIF8') return 'gif';
  if ((at(0) === 0x49 && at(1) === 0x49 && at(2) === 0x2a) || (at(0) === 0x4d && at(1) === 0x4d && at(3) === 0x2a)) return 'tiff';
  if (ascii(4, 8) === 'ftyp') {
    const brand = ascii(8, 12);
    if (brand === 'avif' || brand === 'avis') return 'avif';
    if (['heic', 'heix', 'mif1', 'msf1', 'hevc'].includes(brand)) return 'heif';
  }
  return undefined;
}

/** Describes why bytes are not an image, for error messages. */
export function describeNonImage(head: Uint8Array, size: number): string {
  if (size === 0) return 'empty file (0 bytes)';
  const printable = Array.from(head.subarray(0, 8)).every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127));
  return printable ? 'not an image (looks like text)' : 'not an image (unknown format)';
}
