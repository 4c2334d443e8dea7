import type { Rgb8Image } from './image.js';
import { UsageError } from '../errors.js';

/**
 * Resizes 8-bit RGB the way sharp's `resize(..., { kernel: 'linear', fit: 'fill' })` does in
 * Node (libvips 8.18), so the page's detector inputs and base inputs carry the pixels the Node
 * path's do: a shrink first averages whole blocks (libvips' shrink, for factors of 4 and more),
 * then a triangle filter as wide as the remaining factor reduces each axis, vertical first,
 * rounding to bytes after each step, with the filter's centre on 1/64 of a pixel and its weights
 * in fixed point (1/4096, truncated); an enlargement is bilinear, sampling output pixel X at
 * X·(in/out) − 0.5. test/browser/resample.test.ts measures how many of sharp's bytes this
 * reproduces exactly (the rest differ by 1 or 2).
 */

/** libvips' resize leaves a factor below this to its reducing filter (its `gap`). */
const GAP = 2;
const CENTRE_STEPS = 64;
const WEIGHT_STEPS = 4096;

type Axis = 'x' | 'y';

/** A sum of bytes times weights in 1/4096, rounded back to a byte. */
function fixedToByte(v: number): number {
  const r = (v + WEIGHT_STEPS / 2) >> 12;
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

function clampByte(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/** Averages blocks of `k` pixels along one axis (libvips' shrinkh/shrinkv, without ceil). */
function boxShrink(im: Rgb8Image, axis: Axis, k: number): Rgb8Image {
  const W = axis === 'x' ? Math.floor(im.width / k) : im.width;
  const H = axis === 'y' ? Math.floor(im.height / k) : im.height;
  const out = new Uint8Array(W * H * 3);
  const src = im.data;
  const half = k >> 1;
  if (axis === 'y') {
    // Whole rows at a time: the sums run along memory.
    const sums = new Uint32Array(W * 3);
    for (let y = 0; y < H; y++) {
      sums.fill(0);
      for (let j = 0; j < k; j++) {
        const row = (y * k + j) * im.width * 3;
        for (let i = 0; i < sums.length; i++) sums[i] = (sums[i] as number) + (src[row + i] as number);
      }
      const o = y * W * 3;
      for (let i = 0; i < sums.length; i++) out[o + i] = Math.floor(((sums[i] as number) + half) / k);
    }
    return { width: W, height: H, data: out };
  }
  for (let y = 0; y < H; y++) {
    const row = y * im.width * 3;
    for (let x = 0; x < W; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let j = 0, p = row + x * k * 3; j < k; j++, p += 3) {
        r += src[p] as number;
        g += src[p + 1] as number;
        b += src[p + 2] as number;
      }
      const o = (y * W + x) * 3;
      out[o] = Math.floor((r + half) / k);
      out[o + 1] = Math.floor((g + half) / k);
      out[o + 2] = Math.floor((b + half) / k);
    }
  }
  return { width: W, height: H, data: out };
}

/** Round half to even, as C's rint. */
function rint(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Per output index along an axis: the input indices (edge-clamped) and their weights in 1/4096,
 * truncated. The filter spans 2·rint(s) + 1 taps; its centre sits on a 1/64 pixel grid.
 */
function reduceTaps(inLen: number, outLen: number): Array<{ index: Int32Array; weight: Int32Array }> {
  const s = inLen / outLen;
  const n = 2 * rint(s) + 1;
  const half = (n - 1) / 2;
  // Pixels the rounded output size invents (or drops), shared between both ends.
  const offset = (1 + (outLen * s - inLen)) / 2 - 1;
  const taps = [];
  for (let o = 0; o < outLen; o++) {
    const X = (o + 0.5) * s - 0.5 - offset;
    const ix = Math.trunc(X);
    const frac = ((Math.trunc(X * CENTRE_STEPS * 2) & (CENTRE_STEPS * 2 - 1)) + 1) >> 1;
    const w = Array.from({ length: n }, (_, i) => Math.max(0, 1 - Math.abs((i - half - frac / CENTRE_STEPS + 0.5) / s)));
    const sum = w.reduce((a, b) => a + b, 0);
    taps.push({
      index: Int32Array.from(w, (_, i) => Math.min(inLen - 1, Math.max(0, ix - half + i))),
      weight: Int32Array.from(w, (v) => Math.trunc((v / sum) * WEIGHT_STEPS)),
    });
  }
  return taps;
}

/** Per output index along an axis: the two bilinear neighbours and the second one's weight. */
function enlargeTaps(inLen: number, outLen: number): Array<{ i0: number; i1: number; f: number }> {
  const s = inLen / outLen;
  const taps = [];
  for (let o = 0; o < outLen; o++) {
    const x = o * s - 0.5;
    const i = Math.floor(x);
    taps.push({ i0: Math.min(inLen - 1, Math.max(0, i)), i1: Math.min(inLen - 1, Math.max(0, i + 1)), f: x - i });
  }
  return taps;
}

/**
 * The taps of reduceTaps flattened: output o reads index[o·n + k] with weight[o·n + k]. The loops
 * below are written flat (typed arrays, no per-pixel objects or branches on the axis) because
 * resizing a photo for the detector is a large share of a photo's time on the JavaScript thread.
 */
function flatTaps(inLen: number, outLen: number): { n: number; index: Int32Array; weight: Int32Array } {
  const taps = reduceTaps(inLen, outLen);
  const n = taps[0]?.index.length ?? 0;
  const index = new Int32Array(outLen * n);
  const weight = new Int32Array(outLen * n);
  taps.forEach((t, o) => {
    index.set(t.index, o * n);
    weight.set(t.weight, o * n);
  });
  return { n, index, weight };
}

function reduceAxis(im: Rgb8Image, axis: Axis, outLen: number): Rgb8Image {
  const W = axis === 'x' ? outLen : im.width;
  const H = axis === 'y' ? outLen : im.height;
  const { n, index, weight } = flatTaps(axis === 'x' ? im.width : im.height, outLen);
  const out = new Uint8Array(W * H * 3);
  const src = im.data;
  if (axis === 'y') {
    // Each output row is a weighted sum of whole input rows.
    const rowLen = W * 3;
    const sums = new Int32Array(rowLen);
    for (let y = 0; y < H; y++) {
      sums.fill(0);
      for (let k = 0; k < n; k++) {
        const w = weight[y * n + k] as number;
        if (w === 0) continue;
        const row = (index[y * n + k] as number) * rowLen;
        for (let i = 0; i < rowLen; i++) sums[i] = (sums[i] as number) + w * (src[row + i] as number);
      }
      const o = y * rowLen;
      for (let i = 0; i < rowLen; i++) out[o + i] = fixedToByte(sums[i] as number);
    }
    return { width: W, height: H, data: out };
  }
  for (let y = 0; y < H; y++) {
    const row = y * im.width * 3;
    for (let x = 0; x < W; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0, t = x * n; k < n; k++, t++) {
        const p = row + (index[t] as number) * 3;
        const w = weight[t] as number;
        r += w * (src[p] as number);
        g += w * (src[p + 1] as number);
        b += w * (src[p + 2] as number);
      }
      const o = (y * W + x) * 3;
      out[o] = fixedToByte(r);
      out[o + 1] = fixedToByte(g);
      out[o + 2] = fixedToByte(b);
    }
  }
  return { width: W, height: H, data: out };
}

/** Bilinear enlargement of the axes whose size grows (both at once, rounded once, as libvips' affine does). */
function enlarge(im: Rgb8Image, width: number, height: number): Rgb8Image {
  const tx = width > im.width ? enlargeTaps(im.width, width) : Array.from({ length: width }, (_, i) => ({ i0: i, i1: i, f: 0 }));
  const ty = height > im.height ? enlargeTaps(im.height, height) : Array.from({ length: height }, (_, i) => ({ i0: i, i1: i, f: 0 }));
  const out = new Uint8Array(width * height * 3);
  const src = im.data;
  const W = im.width;
  for (let y = 0; y < height; y++) {
    const { i0: y0, i1: y1, f: fy } = ty[y] as { i0: number; i1: number; f: number };
    for (let x = 0; x < width; x++) {
      const { i0: x0, i1: x1, f: fx } = tx[x] as { i0: number; i1: number; f: number };
      const w00 = (1 - fx) * (1 - fy);
      const w01 = fx * (1 - fy);
      const w10 = (1 - fx) * fy;
      const w11 = fx * fy;
      const p00 = (y0 * W + x0) * 3;
      const p01 = (y0 * W + x1) * 3;
      const p10 = (y1 * W + x0) * 3;
      const p11 = (y1 * W + x1) * 3;
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        out[o + c] = clampByte(w00 * (src[p00 + c] as number) + w01 * (src[p01 + c] as number) + w10 * (src[p10 + c] as number) + w11 * (src[p11 + c] as number));
      }
    }
  }
  return { width, height, data: out };
}

/** `image` resized to width x height (aspect ratio not kept), as sharp's linear kernel does it. */
export function resizeRgb(image: Rgb8Image, width: number, height: number): Rgb8Image {
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) throw new UsageError(`resize target must be positive whole numbers, got ${width}x${height}`);
  if (image.data.length !== image.width * image.height * 3) throw new UsageError(`image data holds ${image.data.length} bytes, expected ${image.width}x${image.height}x3`);
  let im = image;
  const ky = Math.floor(im.height / height / GAP);
  if (ky > 1) im = boxShrink(im, 'y', ky);
  const kx = Math.floor(im.width / width / GAP);
  if (kx > 1) im = boxShrink(im, 'x', kx);
  if (height < im.height) im = reduceAxis(im, 'y', height);
  if (width < im.width) im = reduceAxis(im, 'x', width);
  if (width > im.width || height > im.height) im = enlarge(im, width, height);
  return im;
}

/** Cuts the rectangle out of `image` (whole pixels inside it). */
export function extractRgb(image: Rgb8Image, box: { left: number; top: number; width: number; height: number }): Rgb8Image {
  const out = new Uint8Array(box.width * box.height * 3);
  for (let y = 0; y < box.height; y++) {
    const from = ((box.top + y) * image.width + box.left) * 3;
    out.set(image.data.subarray(from, from + box.width * 3), y * box.width * 3);
  }
  return { width: box.width, height: box.height, data: out };
}
