import sharp from 'sharp';
import { UsageError } from '../errors.js';
import type { SeededRandom } from '../util/random.js';
import type { DecodedImage } from './image.js';
import { alignedFaceBox, gammaLut, luma } from './reframe.js';

/**
 * What a training view may go through on top of the study's augmentation, so the model has seen
 * the photos users send: a face cut tight (the photo path then fills CelebA's frame with the
 * crop's repeated edges), a heavily compressed JPEG, a dark or bright exposure, no colour. Each is
 * applied to a view with its probability, on the aligned frame, before the base's crop and resize.
 */
export interface DegradeParams {
  /** Probability of keeping only a box around the face, 1 to 1.8 face boxes wide, the rest filled with its edge pixels. */
  tight: number;
  /** Probability of a JPEG re-encode at a quality from 10 to 40. */
  jpeg: number;
  /** Probability of a gamma from 1/2 to 2.8 (brighter to darker). */
  gamma: number;
  /** Probability of grey (luma in all three channels). */
  grey: number;
}

export const ROBUST_DEGRADATION: Readonly<DegradeParams> = Object.freeze({ tight: 0.4, jpeg: 0.3, gamma: 0.3, grey: 0.15 });

export function validateDegradeParams(p: DegradeParams): void {
  for (const [k, v] of Object.entries(p)) {
    if (!(typeof v === 'number' && v >= 0 && v <= 1)) throw new UsageError(`degradation ${k} must be a probability from 0 to 1, got ${String(v)}`);
  }
}

/** The frame with everything outside `box` replaced by the box's nearest edge pixel. */
function keepBox(image: DecodedImage, box: { x0: number; y0: number; x1: number; y1: number }): DecodedImage {
  const { width: W, height: H, data } = image;
  const out = new Float32Array(data.length);
  for (let y = 0; y < H; y++) {
    const sy = Math.min(box.y1, Math.max(box.y0, y));
    for (let x = 0; x < W; x++) {
      const sx = Math.min(box.x1, Math.max(box.x0, x));
      const s = (sy * W + sx) * 3;
      const d = (y * W + x) * 3;
      out[d] = data[s] as number;
      out[d + 1] = data[s + 1] as number;
      out[d + 2] = data[s + 2] as number;
    }
  }
  return { width: W, height: H, data: out };
}

/** One degraded copy of an aligned face frame, drawn from `rng`. */
export async function degradeFrame(image: DecodedImage, params: DegradeParams, rng: SeededRandom): Promise<DecodedImage> {
  let out = image;
  if (rng.next() < params.tight) {
    const { face } = alignedFaceBox(image.width, image.height);
    const s = rng.uniform(1, 1.8);
    const cx = face.x + face.width / 2 + rng.uniform(-0.05, 0.05) * face.width;
    const cy = face.y + face.height / 2 + rng.uniform(-0.05, 0.05) * face.height;
    const half = (s * face.width) / 2;
    const clamp = (v: number, hi: number) => Math.min(hi, Math.max(0, Math.round(v)));
    out = keepBox(out, { x0: clamp(cx - half, image.width - 1), x1: clamp(cx + half - 1, image.width - 1), y0: clamp(cy - half, image.height - 1), y1: clamp(cy + half - 1, image.height - 1) });
  }
  if (rng.next() < params.gamma) {
    const lut = gammaLut(rng.next() < 0.5 ? rng.uniform(0.5, 1) : rng.uniform(1, 2.8));
    out = { ...out, data: out.data.map((v) => lut[Math.min(255, Math.max(0, Math.round(v)))] as number) };
  }
  if (rng.next() < params.grey) out = { ...out, data: luma(out.data) };
  if (rng.next() < params.jpeg) {
    const quality = Math.round(rng.uniform(10, 40));
    const raw = Buffer.from(Uint8Array.from(out.data, (v) => Math.min(255, Math.max(0, Math.round(v)))));
    const jpeg = await sharp(raw, { raw: { width: out.width, height: out.height, channels: 3 } }).jpeg({ quality }).toBuffer();
    const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
    out = { width: info.width, height: info.height, data: new Float32Array(data) };
  }
  return out;
}
