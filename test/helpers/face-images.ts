import { readdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { CELEBA } from './shared.js';

/**
 * Real test photos built from dataset images: CelebA images side by side (several faces), a
 * uniform grey image (no face), a real decompression bomb.
 */

/** Dataset images whose faces are frontal enough that the detector finds them alone. Chosen by file name, not by result. */
export async function celebaFiles(cls: 'female' | 'male', count: number, skip = 0): Promise<string[]> {
  const names = (await readdir(path.join(CELEBA, cls))).filter((n) => n.endsWith('.jpg')).sort();
  return names.slice(skip, skip + count).map((n) => path.join(CELEBA, cls, n));
}

/**
 * The images side by side at twice their size with a grey margin: each tile's box in the collage
 * is returned, so a test can check each face lands in its own tile.
 */
export async function collage(files: readonly string[], margin = 60): Promise<{ png: Buffer; tiles: Array<{ left: number; top: number; width: number; height: number }> }> {
  const w = 178;
  const h = 218;
  const tiles = files.map((_, i) => ({ left: margin + i * (w + margin), top: margin, width: w, height: h }));
  const inputs = await Promise.all(files.map((f) => sharp(f).resize(w, h).toBuffer()));
  const png = await sharp({ create: { width: files.length * (w + margin) + margin, height: h + 2 * margin, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .composite(inputs.map((input, i) => ({ input, left: (tiles[i] as { left: number }).left, top: margin })))
    .png()
    .toBuffer();
  return { png, tiles };
}

export async function blankImage(width = 320, height = 240): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 128, g: 128, b: 128 } } }).jpeg().toBuffer();
}

/** A real PNG of 64 megapixels (over both the 40 M server and 50 M decode limits) that compresses to a few hundred kilobytes. */
export async function decompressionBomb(): Promise<Buffer> {
  return sharp({ create: { width: 8000, height: 8000, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .greyscale()
    .png({ compressionLevel: 9, palette: true, colours: 2 })
    .toBuffer();
}
