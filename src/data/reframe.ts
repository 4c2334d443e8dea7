import sharp, { type Sharp } from 'sharp';
import { UsageError } from '../errors.js';
import { SeededRandom } from '../util/random.js';
import { CELEBA_FACE_TEMPLATE, type Point } from './face-align.js';

/**
 * Re-framed copies of CelebA-aligned faces, for measuring a model off CelebA's framing: the same
 * face cut tight, lost small in a large scene, rolled, darkened, greyed, compressed or mirrored.
 * Every copy knows where its face is, because CelebA's alignment puts the eyes, nose and mouth on
 * CELEBA_FACE_TEMPLATE's spots, so the face box follows from the transform each framing applies.
 */

export const REFRAMINGS = ['plain', 'tight', 'wide', 'rolled', 'small', 'dark', 'grey', 'jpeg', 'mirrored'] as const;
export type Reframing = (typeof REFRAMINGS)[number];

/** A box in pixels. */
export interface FaceRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface ReframedFace {
  /** The encoded image: JPEG at quality 15 for `jpeg`, PNG (lossless) otherwise. */
  bytes: Uint8Array;
  format: 'png' | 'jpeg';
  width: number;
  height: number;
  /** Where the face is: a square of 2.5 eye distances, from the brows to below the mouth. */
  face: FaceRect;
  /** Degrees the face was turned (clockwise in the image), 0 when not rolled. */
  roll: number;
}

/** The settings of each framing, as the README states them. */
export const REFRAME_SETTINGS = Object.freeze({
  /** Side of a tight crop: the face box, upscaled. */
  tightSide: 200,
  wideScene: { width: 1600, height: 1200 },
  /** Face box side in a wide scene, drawn uniformly. */
  wideFace: [60, 100] as const,
  smallScene: { width: 640, height: 480 },
  /** Face box side of `small` (the face's width at eye level is about 0.85 of it). */
  smallFace: 48,
  rollDegrees: 30,
  gamma: 2.5,
  jpegQuality: 15,
});

interface Raw {
  width: number;
  height: number;
  data: Uint8Array;
}

async function toRaw(pipeline: Sharp): Promise<Raw> {
  const { data, info } = await pipeline.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function fromRaw(im: Raw): Sharp {
  return sharp(im.data, { raw: { width: im.width, height: im.height, channels: 3 } });
}

/** The true face box and eye centres of a CelebA-aligned image of this size. */
export function alignedFaceBox(width: number, height: number): { face: FaceRect; eyes: [Point, Point] } {
  const [le, re, , ml, mr] = CELEBA_FACE_TEMPLATE;
  const eyes: [Point, Point] = [
    { x: le.x * width, y: le.y * height },
    { x: re.x * width, y: re.y * height },
  ];
  const side = 2.5 * (eyes[1].x - eyes[0].x);
  const cx = ((le.x + re.x) / 2) * width;
  const cy = (((le.y + ml.y) / 2 + (re.y + mr.y) / 2) / 2) * height;
  return { face: { x: cx - side / 2, y: cy - side / 2, width: side, height: side }, eyes };
}

/**
 * Scenes of other content for `wide` and `small`: 32 px patches from the top corners of other
 * CelebA images (mostly background and hair, never eyes or mouths), shuffled into a photo-like
 * mosaic of colour, texture and edges in which a face detector has nothing to find.
 */
export class Scenery {
  private constructor(private readonly pool: Raw[]) {}

  static async load(files: readonly string[]): Promise<Scenery> {
    if (files.length === 0) throw new UsageError('scenery needs at least one image');
    return new Scenery(await Promise.all(files.map((f) => toRaw(sharp(f)))));
  }

  scene(width: number, height: number, rng: SeededRandom): Raw {
    const P = 16;
    const data = new Uint8Array(width * height * 3);
    for (let by = 0; by < height; by += 2 * P) {
      for (let bx = 0; bx < width; bx += 2 * P) {
        const src = this.pool[rng.int(this.pool.length)] as Raw;
        // A corner patch: top-left or top-right, 16x16 from the source, shown at 2x.
        const sx = rng.next() < 0.5 ? 0 : src.width - P;
        const sy = rng.int(Math.max(1, Math.floor(src.height * 0.15)));
        for (let y = 0; y < 2 * P && by + y < height; y++) {
          for (let x = 0; x < 2 * P && bx + x < width; x++) {
            const from = ((sy + (y >> 1)) * src.width + sx + (x >> 1)) * 3;
            const to = ((by + y) * width + bx + x) * 3;
            data[to] = src.data[from] as number;
            data[to + 1] = src.data[from + 1] as number;
            data[to + 2] = src.data[from + 2] as number;
          }
        }
      }
    }
    return { width, height, data };
  }
}

/** v → 255·(v/255)^gamma for every byte value: gamma above 1 darkens. */
export function gammaLut(gamma: number): Uint8Array {
  return Uint8Array.from({ length: 256 }, (_, v) => Math.round(255 * (v / 255) ** gamma));
}

/** RGB pixels with each pixel's luma (ITU-R 601) in all three channels. */
export function luma<T extends Uint8Array | Float32Array>(d: T): T {
  const g = new (d.constructor as new (n: number) => T)(d.length);
  for (let i = 0; i < d.length; i += 3) {
    g[i] = g[i + 1] = g[i + 2] = Math.round(0.299 * (d[i] as number) + 0.587 * (d[i + 1] as number) + 0.114 * (d[i + 2] as number));
  }
  return g;
}

async function encode(im: Raw, face: FaceRect, roll = 0, format: 'png' | 'jpeg' = 'png'): Promise<ReframedFace> {
  const p = fromRaw(im);
  const bytes = format === 'jpeg' ? await p.jpeg({ quality: REFRAME_SETTINGS.jpegQuality }).toBuffer() : await p.png({ compressionLevel: 3 }).toBuffer();
  return { bytes: new Uint8Array(bytes), format, width: im.width, height: im.height, face, roll };
}

/**
 * `kind` applied to a CelebA-aligned image (`bytes`); `key` (e.g. the file name) seeds its draws,
 * so a set is the same on every run. `scenery` is needed for `wide` and `small`.
 */
export async function reframeFace(bytes: Uint8Array, kind: Reframing, key: string, scenery?: Scenery): Promise<ReframedFace> {
  const rng = SeededRandom.keyed('reframe', kind, key);
  const src = await toRaw(sharp(bytes));
  const { face } = alignedFaceBox(src.width, src.height);
  switch (kind) {
    case 'plain':
      return encode(src, face);
    case 'mirrored':
      return encode(await toRaw(fromRaw(src).flop()), { ...face, x: src.width - face.x - face.width });
    case 'dark': {
      const lut = gammaLut(REFRAME_SETTINGS.gamma);
      return encode({ ...src, data: src.data.map((v) => lut[v] as number) }, face);
    }
    case 'grey':
      return encode({ ...src, data: luma(src.data) }, face);
    case 'jpeg':
      return encode(src, face, 0, 'jpeg');
    case 'tight': {
      const out = REFRAME_SETTINGS.tightSide;
      const s = out / face.width;
      const big = await toRaw(fromRaw(src).resize(Math.round(src.width * s), Math.round(src.height * s), { kernel: 'cubic' }));
      const left = Math.max(0, Math.min(big.width - out, Math.round(face.x * s)));
      const top = Math.max(0, Math.min(big.height - out, Math.round(face.y * s)));
      const cut = await toRaw(fromRaw(big).extract({ left, top, width: out, height: out }));
      return encode(cut, { x: face.x * s - left, y: face.y * s - top, width: out, height: out });
    }
    case 'wide':
    case 'small': {
      if (!scenery) throw new UsageError(`the ${kind} framing needs scenery to place the face in`);
      const { width: W, height: H } = kind === 'wide' ? REFRAME_SETTINGS.wideScene : REFRAME_SETTINGS.smallScene;
      const [lo, hi] = REFRAME_SETTINGS.wideFace;
      const boxSide = kind === 'wide' ? rng.uniform(lo, hi) : REFRAME_SETTINGS.smallFace;
      const s = boxSide / face.width;
      const fw = Math.max(1, Math.round(src.width * s));
      const fh = Math.max(1, Math.round(src.height * s));
      const left = rng.int(W - fw);
      const top = rng.int(H - fh);
      const small = await fromRaw(src).resize(fw, fh, { kernel: 'cubic' }).png().toBuffer();
      const scene = await toRaw(fromRaw(scenery.scene(W, H, rng)).composite([{ input: small, left, top }]));
      const sx = fw / src.width;
      const sy = fh / src.height;
      return encode(scene, { x: left + face.x * sx, y: top + face.y * sy, width: face.width * sx, height: face.height * sy });
    }
    case 'rolled': {
      const angle = REFRAME_SETTINGS.rollDegrees * (rng.next() < 0.5 ? 1 : -1);
      // At 2x with repeated edges around it, so the turned face keeps its surroundings.
      const pad = Math.round(src.width * 0.6);
      const pre = await toRaw(fromRaw(src).resize(src.width * 2, src.height * 2, { kernel: 'cubic' }).extend({ top: pad, bottom: pad, left: pad, right: pad, extendWith: 'copy' }));
      const turned = await toRaw(fromRaw(pre).rotate(angle, { background: { r: 128, g: 128, b: 128 } }));
      const r = (angle * Math.PI) / 180;
      const cx = face.x + face.width / 2;
      const cy = face.y + face.height / 2;
      // The face centre in `pre`, then turned about pre's centre into `turned`'s frame.
      const px = 2 * cx + pad - pre.width / 2;
      const py = 2 * cy + pad - pre.height / 2;
      const tx = px * Math.cos(r) - py * Math.sin(r) + turned.width / 2;
      const ty = px * Math.sin(r) + py * Math.cos(r) + turned.height / 2;
      const side = 2 * face.width;
      return encode(turned, { x: tx - side / 2, y: ty - side / 2, width: side, height: side }, angle);
    }
  }
}
