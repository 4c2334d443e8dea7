import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Base } from '../bases/base.js';
import { augmentImage, STUDY_AUGMENTATION, validateAugmentParams, type AugmentParams } from '../data/augment.js';
import { decodeImageBuffer, type Interpolation } from '../data/decode.js';
import { resizeImage } from '../data/resize-image.js';
import { degradeFrame, validateDegradeParams, type DegradeParams } from '../data/degrade.js';
import { SeededRandom } from '../util/random.js';
import type { DecodedImage } from '../data/image.js';
import { ImageDecodeError, UsageError } from '../errors.js';
import { writeJsonAtomically } from '../util/atomic-write.js';
import type { ProgressFn } from '../util/progress.js';
import { FeatureStore } from './feature-store.js';
import { mapLimited } from '../util/map-limited.js';

export const DEFAULT_CACHE_DIR = '.facegender-cache';

export interface ExtractOptions {
  /** Folder of the feature cache. Default `.facegender-cache`; `false` turns caching off. */
  cacheDir?: string | false;
  /** Augmented views per image besides the plain image (view 0). Default 0. */
  views?: number;
  /** Augmentation of views 1..K. Default: the study's. */
  augment?: AugmentParams;
  /** Degradations views 1..K may also go through, on the aligned frame before the base's crop (data/degrade.ts). Default none. */
  degrade?: DegradeParams;
  /** Seed of the augmentation draws. Default 1. */
  seed?: number;
  /** Images per call to the base. Default 16. */
  batchSize?: number;
  /** Resize interpolation. Default bilinear. */
  interpolation?: Interpolation;
  /** Skip undecodable images instead of failing on the first one. */
  skipBad?: boolean;
  /** Images whose face is found and aligned first (a source framed unlike CelebA): see FaceAligner. */
  aligned?: FaceAligner;
  onProgress?: ProgressFn;
}

/**
 * Finds and aligns the face of a photo, as the photo path does, so a base sees a training photo
 * the way it will see a user's. `key` names the detector and frame in cache keys.
 */
export interface FaceAligner {
  key: string;
  files: ReadonlySet<string>;
  face(bytes: Uint8Array, file: string): Promise<DecodedImage>;
}

export interface FeatureSet {
  dim: number;
  /** The files that have features, in input order (all of them unless `skipBad` dropped some). */
  files: string[];
  /** Position of each entry of `files` in the input list. */
  indices: number[];
  /** One block per view (0 = plain image), each `files.length * dim` floats. */
  views: Float32Array[];
  skipped: Array<{ file: string; reason: string }>;
  /** Image views the base had to embed (the rest came from the cache). */
  computed: number;
  cached: number;
}

function sha256(...parts: Array<string | Uint8Array>): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\u0000');
  return h.digest('hex');
}

/** Everything about a base that changes its output for the same image. */
export function baseCacheKey(base: Base, interpolation: Interpolation): string {
  return sha256(
    JSON.stringify({
      id: base.id,
      weights: base.weightsHash,
      preprocess: base.preprocess,
      inputSize: base.inputSize,
      crop: base.crop ?? null,
      interpolation,
      dim: base.dim,
    }),
  );
}

function viewKey(contentHash: string, view: number, augmentKey: string): string {
  return sha256(contentHash, String(view), view === 0 ? '' : augmentKey);
}

/**
 * Feature vectors of `files` under `base`, for the plain image and `views` augmented views each.
 *
 * A frozen base is the expensive part of training, so every (image content, view) it embeds is
 * kept in an on-disk cache keyed by the base, its weights, preprocessing, input size, crop and
 * interpolation: a second run with the same inputs calls the base not at all, and a changed image
 * or changed weights recompute only what changed. Records are flushed as they are made, so an
 * interrupted run resumes where it stopped.
 */
export async function extractFeatures(base: Base, files: readonly string[], options: ExtractOptions = {}): Promise<FeatureSet> {
  const views = options.views ?? 0;
  if (!Number.isInteger(views) || views < 0) throw new UsageError(`views must be a whole number ≥ 0, got ${views}`);
  const batchSize = options.batchSize ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`batch size must be a positive whole number, got ${batchSize}`);
  const augment = options.augment ?? STUDY_AUGMENTATION;
  validateAugmentParams(augment);
  const seed = options.seed ?? 1;
  const interpolation = options.interpolation ?? 'bilinear';
  const degrade = options.degrade;
  if (degrade) validateDegradeParams(degrade);
  const augmentKey = JSON.stringify(degrade ? { augment, seed, degrade } : { augment, seed });
  const dim = base.dim;

  // Content hashes: the cache follows the bytes, not the path, so a renamed file still hits and an
  // edited one misses.
  const skipped: FeatureSet['skipped'] = [];
  const hashes = await mapLimited(files, 32, async (file) => {
    try {
      return sha256(await readFile(file));
    } catch (e) {
      const reason = `cannot read file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
      if (!options.skipBad) throw new ImageDecodeError(reason, file);
      skipped.push({ file, reason });
      return undefined;
    }
  });
  // An aligned image is a different input to the base than the file as it is.
  const aligned = options.aligned;
  if (aligned) files.forEach((f, i) => aligned.files.has(f) && hashes[i] !== undefined && (hashes[i] = sha256(hashes[i] as string, 'aligned', aligned.key)));
  let kept = files.map((_, i) => i).filter((i) => hashes[i] !== undefined);

  let store: FeatureStore | undefined;
  if (options.cacheDir !== false) {
    const key = baseCacheKey(base, interpolation);
    const dir = path.join(options.cacheDir ?? DEFAULT_CACHE_DIR, `${base.id.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 40)}-${key.slice(0, 16)}`);
    store = await FeatureStore.open(dir, dim);
    await writeJsonAtomically(path.join(dir, 'meta.json'), {
      base: base.id,
      weightsHash: base.weightsHash,
      preprocess: base.preprocess,
      inputSize: base.inputSize,
      crop: base.crop ?? null,
      interpolation,
      dim,
    });
  }
  try {
    const out = Array.from({ length: views + 1 }, () => new Float32Array(files.length * dim));
    // Per image, the views still to compute.
    const todo = new Map<number, number[]>();
    for (let v = 0; v <= views; v++) {
      const keys = kept.map((i) => viewKey(hashes[i] as string, v, augmentKey));
      const block = new Float32Array(kept.length * dim);
      const missing = store ? await store.readInto(keys, block) : new Set(keys.keys());
      kept.forEach((i, j) => {
        if (missing.has(j)) todo.set(i, [...(todo.get(i) ?? []), v]);
        else (out[v] as Float32Array).set(block.subarray(j * dim, (j + 1) * dim), i * dim);
      });
    }
    const total = [...todo.values()].reduce((s, v) => s + v.length, 0);
    const cached = kept.length * (views + 1) - total;
    let done = 0;
    options.onProgress?.({ stage: `embed ${base.id}`, done, total });

    const images = [...todo.keys()];
    const bad = new Set<number>();
    const fit = { size: base.inputSize, interpolation, ...(base.crop ? { crop: base.crop } : {}) };
    /** The base's input, and the whole frame when views are degraded there first. */
    const decode = async (i: number): Promise<{ input: DecodedImage; frame?: DecodedImage } | undefined> => {
      const file = files[i] as string;
      try {
        const bytes = await readFile(file);
        if (aligned?.files.has(file)) {
          const frame = await aligned.face(bytes, file);
          return { input: await resizeImage(frame, fit), ...(degrade ? { frame } : {}) };
        }
        if (!degrade) return { input: await decodeImageBuffer(bytes, file, fit) };
        // One decode: resizeImage gives the pixels decodeImageBuffer would give with the same fit.
        const frame = await decodeImageBuffer(bytes, file, { interpolation });
        return { input: await resizeImage(frame, fit), frame };
      } catch (e) {
        if (!options.skipBad || !(e instanceof ImageDecodeError)) throw e;
        const file = files[i] as string;
        skipped.push({ file, reason: e.message.startsWith(`${file}: `) ? e.message.slice(file.length + 2) : e.message });
        bad.add(i);
        return undefined;
      }
    };
    // Decoding runs on libuv's threads, the base on its own; keeping a few batches of decodes in
    // flight lets both work at once.
    const ahead = Math.max(2 * batchSize, 8);
    const pending: Array<Promise<{ input: DecodedImage; frame?: DecodedImage } | undefined>> = [];
    let nextDecode = 0;
    const fill = () => {
      while (nextDecode < images.length && pending.length < ahead) {
        const p = decode(images[nextDecode++] as number);
        // Awaited in order below; this only keeps a failure of a later image from being reported
        // as unhandled when an earlier one stops the run first.
        p.catch(() => undefined);
        pending.push(p);
      }
    };
    let queue: Array<{ image: number; view: number; pixels: Float32Array }> = [];
    const flush = async () => {
      if (queue.length === 0) return;
      const { height, width } = base.inputSize;
      const per = height * width * 3;
      const data = new Float32Array(queue.length * per);
      queue.forEach((q, j) => data.set(q.pixels, j * per));
      const vectors = await base.embed({ n: queue.length, height, width, data });
      if (vectors.length !== queue.length * dim) {
        throw new UsageError(`base ${base.id} returned ${vectors.length} values for ${queue.length} images of dimension ${dim}`);
      }
      const records = queue.map((q, j) => {
        const vector = vectors.slice(j * dim, (j + 1) * dim);
        (out[q.view] as Float32Array).set(vector, q.image * dim);
        return { key: viewKey(hashes[q.image] as string, q.view, augmentKey), vector };
      });
      await store?.append(records);
      done += queue.length;
      queue = [];
      options.onProgress?.({ stage: `embed ${base.id}`, done, total });
    };
    fill();
    for (let k = 0; k < images.length; k++) {
      const decoded = await (pending.shift() as Promise<{ input: DecodedImage; frame?: DecodedImage } | undefined>);
      fill();
      const i = images[k] as number;
      if (!decoded) {
        done += (todo.get(i) as number[]).length;
        continue;
      }
      for (const v of todo.get(i) as number[]) {
        const hash = hashes[i] as string;
        const frame = decoded.frame;
        const source = v > 0 && frame && degrade ? await resizeImage(await degradeFrame(frame, degrade, SeededRandom.keyed(seed, hash, v, 'degrade')), fit) : decoded.input;
        queue.push({ image: i, view: v, pixels: augmentImage(source, augment, seed, hash, v).data });
        if (queue.length === batchSize) await flush();
      }
    }
    await flush();

    if (bad.size > 0) kept = kept.filter((i) => !bad.has(i));
    const compact = (block: Float32Array) => {
      if (kept.length === files.length) return block;
      const c = new Float32Array(kept.length * dim);
      kept.forEach((i, j) => c.set(block.subarray(i * dim, (i + 1) * dim), j * dim));
      return c;
    };
    return {
      dim,
      files: kept.map((i) => files[i] as string),
      indices: kept,
      views: out.map(compact),
      skipped,
      computed: total - [...bad].reduce((s, i) => s + (todo.get(i)?.length ?? 0), 0),
      cached,
    };
  } finally {
    await store?.close();
  }
}
