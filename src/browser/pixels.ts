import type { Rgb8Image } from '../data/image.js';

/**
 * The few DOM shapes this file needs, declared here: the project compiles without the DOM
 * library, whose types would change Node's fetch and Buffer types for every other file.
 */
interface Context2D {
  drawImage(source: unknown, x: number, y: number, width: number, height: number): void;
  getImageData(x: number, y: number, width: number, height: number): { data: Uint8ClampedArray };
}
interface CanvasLike {
  width: number;
  height: number;
  getContext(kind: '2d', options?: { willReadFrequently?: boolean }): unknown;
}
interface Dom {
  OffscreenCanvas?: new (width: number, height: number) => CanvasLike;
  document?: { createElement(tag: 'canvas'): CanvasLike };
}

/** Pixels already read, as a canvas' getImageData gives them (RGBA). */
export interface ImageDataLike {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/**
 * What the page can classify: anything a canvas can draw (an <img>, a <video> frame, a canvas,
 * an ImageBitmap) or an ImageData.
 */
export type ImageInput = { width: number; height: number } | { videoWidth: number; videoHeight: number } | { naturalWidth: number; naturalHeight: number } | ImageDataLike;

/**
 * Longest side a photo is classified at, as in Node (read-photo.ts' DEFAULT_PHOTO_BYTES_MAX_SIDE):
 * a larger one is drawn smaller first, and boxes are reported in its own pixels.
 */
export const MAX_SIDE = 4096;

function sizeOf(source: ImageInput): { width: number; height: number } {
  if ('videoWidth' in source) return { width: source.videoWidth, height: source.videoHeight };
  if ('naturalWidth' in source) return { width: source.naturalWidth, height: source.naturalHeight };
  return { width: source.width, height: source.height };
}

function rgbOf(data: Uint8ClampedArray, width: number, height: number): Rgb8Image {
  const out = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; j < out.length; i += 4, j += 3) {
    out[j] = data[i] as number;
    out[j + 1] = data[i + 1] as number;
    out[j + 2] = data[i + 2] as number;
  }
  return { width, height, data: out };
}

function isImageData(source: ImageInput): source is ImageDataLike {
  return 'data' in source && source.data instanceof Uint8ClampedArray;
}

/** A 2D canvas of this size: an OffscreenCanvas where there is one, else a detached <canvas>. */
export function makeCanvas(width: number, height: number): { canvas: CanvasLike; ctx: Context2D } {
  const dom = globalThis as unknown as Dom;
  let canvas: CanvasLike;
  if (dom.OffscreenCanvas) canvas = new dom.OffscreenCanvas(width, height);
  else if (dom.document) canvas = Object.assign(dom.document.createElement('canvas'), { width, height });
  else throw new Error('no canvas here to read pixels with (not a browser?)');
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as Context2D | null;
  if (!ctx) throw new Error('this browser gives no 2D canvas to read pixels from');
  return { canvas, ctx };
}

/** The source's RGB pixels (at most MAX_SIDE long), its size, and how many source pixels each read pixel stands for. */
export function readPixels(source: ImageInput): { image: Rgb8Image; scale: number; size: { width: number; height: number } } {
  if (isImageData(source)) return { image: rgbOf(source.data, source.width, source.height), scale: 1, size: { width: source.width, height: source.height } };
  const size = sizeOf(source);
  if (!(size.width > 0 && size.height > 0)) throw new Error('the image has no pixels yet (not loaded, or a video without frames)');
  const scale = Math.max(1, Math.max(size.width, size.height) / MAX_SIDE);
  const width = Math.max(1, Math.round(size.width / scale));
  const height = Math.max(1, Math.round(size.height / scale));
  const { ctx } = makeCanvas(width, height);
  ctx.drawImage(source, 0, 0, width, height);
  return { image: rgbOf(ctx.getImageData(0, 0, width, height).data, width, height), scale: size.width / width, size };
}
