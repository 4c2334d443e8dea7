import { open, readFile, mkdir, unlink, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import path from 'node:path';
import { FacegenderError } from '../errors.js';
import { writeFileAtomically } from '../util/atomic-write.js';

export class CacheError extends FacegenderError {}

/**
 * An append-only file of fixed-size records, one feature vector each, with an index file.
 *
 * Record: magic "FGF1" | 32-byte key | crc32 of key and vector | dim float32s.
 * The index (key → offset) covers the data file up to a recorded length; records appended after
 * it (e.g. by a run killed before it could rewrite the index) are found by scanning the tail, and
 * a torn last record is cut off. Every vector is checked against its crc when read, so a damaged
 * record reads as missing and gets recomputed, never returned.
 */
const MAGIC = 0x31464746; // "FGF1" little-endian
const INDEX_MAGIC = 0x31494746; // "FGI1"
const KEY_BYTES = 32;
const HEADER_BYTES = 4 + KEY_BYTES + 4;

export interface FeatureStoreStats {
  records: number;
  /** Records dropped because their checksum or framing was wrong. */
  damaged: number;
  /** Bytes cut from a torn tail when opening. */
  truncatedBytes: number;
}

export class FeatureStore {
  private readonly offsets = new Map<string, number>();
  readonly stats: FeatureStoreStats = { records: 0, damaged: 0, truncatedBytes: 0 };
  private dirtyIndex = false;

  private constructor(
    readonly dir: string,
    readonly dim: number,
    private readonly data: FileHandle,
    private length: number,
    private readonly lockFile: string,
  ) {}

  get recordBytes(): number {
    return HEADER_BYTES + 4 * this.dim;
  }

  private get dataFile(): string {
    return path.join(this.dir, 'features.bin');
  }

  private get indexFile(): string {
    return path.join(this.dir, 'index.bin');
  }

  static async open(dir: string, dim: number): Promise<FeatureStore> {
    await mkdir(dir, { recursive: true });
    const lockFile = path.join(dir, 'lock');
    await acquireLock(lockFile);
    let data: FileHandle | undefined;
    try {
      data = await open(path.join(dir, 'features.bin'), 'a+');
      const { size } = await data.stat();
      const store = new FeatureStore(dir, dim, data, size, lockFile);
      await store.load();
      return store;
    } catch (e) {
      await data?.close().catch(() => undefined);
      await unlink(lockFile).catch(() => undefined);
      throw e;
    }
  }

  private async load(): Promise<void> {
    const covered = await this.readIndex();
    const R = this.recordBytes;
    let offset = covered;
    // Scan what the index does not cover, in chunks, stopping at the first torn or damaged record:
    // appends are sequential, so nothing valid can follow a torn one.
    const chunkRecords = Math.max(1, Math.floor((8 << 20) / R));
    while (offset + R <= this.length) {
      const n = Math.min(chunkRecords, Math.floor((this.length - offset) / R));
      const buf = Buffer.alloc(n * R);
      await this.data.read(buf, 0, buf.length, offset);
      let ok = 0;
      for (; ok < n; ok++) {
        const rec = buf.subarray(ok * R, (ok + 1) * R);
        if (!this.validRecord(rec)) break;
        this.offsets.set(rec.subarray(4, 4 + KEY_BYTES).toString('hex'), offset + ok * R);
      }
      offset += ok * R;
      if (ok < n) break;
    }
    if (offset !== covered) this.dirtyIndex = true;
    if (offset < this.length) {
      this.stats.truncatedBytes = this.length - offset;
      await this.data.truncate(offset);
      this.length = offset;
      this.dirtyIndex = true;
    }
    this.stats.records = this.offsets.size;
  }

  /** Loads the index; returns how many bytes of the data file it covers (0 if absent or bad). */
  private async readIndex(): Promise<number> {
    let buf: Buffer;
    try {
      buf = await readFile(this.indexFile);
    } catch {
      return 0;
    }
    const entry = KEY_BYTES + 8;
    if (buf.length < 24 || buf.readUInt32LE(0) !== INDEX_MAGIC || buf.readUInt32LE(4) !== this.dim) return 0;
    const covered = Number(buf.readBigUInt64LE(8));
    const count = buf.readUInt32LE(16);
    if (buf.length !== 24 + count * entry || crc32(buf.subarray(24)) !== buf.readUInt32LE(20) || covered > this.length) return 0;
    for (let i = 0; i < count; i++) {
      const at = 24 + i * entry;
      this.offsets.set(buf.subarray(at, at + KEY_BYTES).toString('hex'), Number(buf.readBigUInt64LE(at + KEY_BYTES)));
    }
    return covered;
  }

  private validRecord(rec: Buffer): boolean {
    return rec.length === this.recordBytes && rec.readUInt32LE(0) === MAGIC && recordCrc(rec) === rec.readUInt32LE(4 + KEY_BYTES);
  }

  has(key: string): boolean {
    return this.offsets.has(key);
  }

  get size(): number {
    return this.offsets.size;
  }

  /**
   * Reads vectors for `keys` into `out` (row i at i * dim). Returns the keys that were missing or
   * damaged; damaged ones are forgotten so that they get recomputed.
   */
  async readInto(keys: readonly string[], out: Float32Array): Promise<Set<number>> {
    const missing = new Set<number>();
    const R = this.recordBytes;
    const wanted = keys.map((k, i) => ({ i, offset: this.offsets.get(k) })).filter((w) => {
      if (w.offset === undefined) missing.add(w.i);
      return w.offset !== undefined;
    }) as Array<{ i: number; offset: number }>;
    wanted.sort((a, b) => a.offset - b.offset);
    // Read in runs of adjacent records: the common case (a whole split, written in order) is one
    // sequential read instead of thousands of small ones.
    let start = 0;
    while (start < wanted.length) {
      let end = start + 1;
      while (end < wanted.length && (wanted[end] as { offset: number }).offset === (wanted[end - 1] as { offset: number }).offset + R && end - start < 4096) end++;
      const first = wanted[start] as { offset: number };
      const buf = Buffer.alloc((end - start) * R);
      await this.data.read(buf, 0, buf.length, first.offset);
      for (let j = start; j < end; j++) {
        const w = wanted[j] as { i: number; offset: number };
        const rec = buf.subarray((j - start) * R, (j - start + 1) * R);
        if (!this.validRecord(rec) || rec.subarray(4, 4 + KEY_BYTES).toString('hex') !== keys[w.i]) {
          this.offsets.delete(keys[w.i] as string);
          this.stats.damaged++;
          this.dirtyIndex = true;
          missing.add(w.i);
          continue;
        }
        const vec = new Float32Array(rec.buffer, rec.byteOffset + HEADER_BYTES, this.dim);
        out.set(vec, w.i * this.dim);
      }
      start = end;
    }
    return missing;
  }

  /** Appends records and flushes them to disk, so a later crash cannot lose them. */
  async append(entries: ReadonlyArray<{ key: string; vector: Float32Array }>): Promise<void> {
    if (entries.length === 0) return;
    const R = this.recordBytes;
    const buf = Buffer.alloc(entries.length * R);
    entries.forEach(({ key, vector }, i) => {
      if (vector.length !== this.dim) throw new CacheError(`vector of length ${vector.length}, expected ${this.dim}`, this.dataFile);
      const rec = buf.subarray(i * R, (i + 1) * R);
      rec.writeUInt32LE(MAGIC, 0);
      if (rec.write(key, 4, KEY_BYTES, 'hex') !== KEY_BYTES) throw new CacheError(`bad cache key "${key}"`, this.dataFile);
      Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).copy(rec, HEADER_BYTES);
      rec.writeUInt32LE(recordCrc(rec), 4 + KEY_BYTES);
    });
    await this.data.write(buf, 0, buf.length, this.length);
    await this.data.datasync();
    entries.forEach(({ key }, i) => this.offsets.set(key, this.length + i * R));
    this.length += buf.length;
    this.stats.records = this.offsets.size;
    this.dirtyIndex = true;
  }

  /** Writes the index (atomically) and releases the store. */
  async close(): Promise<void> {
    try {
      if (this.dirtyIndex) await this.writeIndex();
    } finally {
      await this.data.close();
      await unlink(this.lockFile).catch(() => undefined);
    }
  }

  private async writeIndex(): Promise<void> {
    const entry = KEY_BYTES + 8;
    const body = Buffer.alloc(this.offsets.size * entry);
    let i = 0;
    for (const [key, offset] of this.offsets) {
      body.write(key, i * entry, KEY_BYTES, 'hex');
      body.writeBigUInt64LE(BigInt(offset), i * entry + KEY_BYTES);
      i++;
    }
    const head = Buffer.alloc(24);
    head.writeUInt32LE(INDEX_MAGIC, 0);
    head.writeUInt32LE(this.dim, 4);
    head.writeBigUInt64LE(BigInt(this.length), 8);
    head.writeUInt32LE(this.offsets.size, 16);
    head.writeUInt32LE(crc32(body), 20);
    await writeFileAtomically(this.indexFile, Buffer.concat([head, body]));
    this.dirtyIndex = false;
  }
}

/** crc32 of the key continued over the vector. */
function recordCrc(rec: Buffer): number {
  return crc32(rec.subarray(HEADER_BYTES), crc32(rec.subarray(4, 4 + KEY_BYTES)));
}

/** One writer per store: a second process would interleave appends. A lock whose process died is taken over. */
async function acquireLock(file: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx');
      try {
        await handle.writeFile(String(process.pid));
      } finally {
        await handle.close();
      }
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (pid && pid !== process.pid && processAlive(pid)) {
        throw new CacheError(`the feature cache is in use by process ${pid}`, path.dirname(file));
      }
      await unlink(file).catch(() => undefined);
    }
  }
  throw new CacheError('could not lock the feature cache', path.dirname(file));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
