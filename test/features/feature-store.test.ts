import { mkdtemp, open, readFile, stat, writeFile, unlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FeatureStore } from '../../src/features/feature-store.js';

const key = (s: string) => createHash('sha256').update(s).digest('hex');
const vec = (dim: number, seed: number) => Float32Array.from({ length: dim }, (_, i) => Math.sin(seed * 31 + i));

async function readAll(store: FeatureStore, keys: string[]) {
  const out = new Float32Array(keys.length * store.dim);
  const missing = await store.readInto(keys, out);
  return { out, missing };
}

describe('FeatureStore', () => {
  it('round-trips vectors through close and reopen, with the index', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-store-'));
    const s = await FeatureStore.open(dir, 5);
    await s.append([0, 1, 2].map((i) => ({ key: key(`k${i}`), vector: vec(5, i) })));
    await s.close();
    expect((await stat(path.join(dir, 'features.bin'))).size).toBe(3 * s.recordBytes);
    expect((await stat(path.join(dir, 'index.bin'))).size).toBe(24 + 3 * 40);
    const r = await FeatureStore.open(dir, 5);
    expect(r.size).toBe(3);
    const { out, missing } = await readAll(r, [key('k2'), key('nope'), key('k0')]);
    expect([...missing]).toEqual([1]);
    expect(out.subarray(0, 5)).toEqual(vec(5, 2));
    expect(out.subarray(10, 15)).toEqual(vec(5, 0));
    await r.close();
  });

  it('finds records the index does not cover, and cuts a torn tail', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-store-'));
    const s = await FeatureStore.open(dir, 4);
    await s.append([{ key: key('a'), vector: vec(4, 1) }]);
    await s.close();
    // A later run appended two records, then died mid-way through a third, before writing its index.
    const t = await FeatureStore.open(dir, 4);
    await t.append([{ key: key('b'), vector: vec(4, 2) }, { key: key('c'), vector: vec(4, 3) }]);
    const full = await readFile(path.join(dir, 'features.bin'));
    await unlink(path.join(dir, 'lock'));
    const fh = await open(path.join(dir, 'features.bin'), 'a');
    await fh.write(full.subarray(0, 20));
    await fh.close();
    const u = await FeatureStore.open(dir, 4);
    expect(u.stats.truncatedBytes).toBe(20);
    expect(u.size).toBe(3);
    const { out, missing } = await readAll(u, [key('a'), key('b'), key('c')]);
    expect(missing.size).toBe(0);
    expect(out.subarray(8, 12)).toEqual(vec(4, 3));
    await u.close();
    expect((await stat(path.join(dir, 'features.bin'))).size).toBe(3 * u.recordBytes);
    // `t` stands for the run that died: free its file handle without the index it would write.
    await (t as unknown as { data: { close(): Promise<void> } }).data.close();
  });

  it('never returns a damaged record: it reads as missing and can be written again', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-store-'));
    const s = await FeatureStore.open(dir, 8);
    await s.append([{ key: key('x'), vector: vec(8, 1) }, { key: key('y'), vector: vec(8, 2) }]);
    await s.close();
    const file = path.join(dir, 'features.bin');
    const bytes = await readFile(file);
    bytes[s.recordBytes + 50] = (bytes[s.recordBytes + 50] as number) ^ 0xff; // flip bits in y's vector
    await writeFile(file, bytes);
    const r = await FeatureStore.open(dir, 8);
    const first = await readAll(r, [key('x'), key('y')]);
    expect([...first.missing]).toEqual([1]);
    expect(r.stats.damaged).toBe(1);
    await r.append([{ key: key('y'), vector: vec(8, 2) }]);
    const again = await readAll(r, [key('y')]);
    expect(again.missing.size).toBe(0);
    expect(again.out).toEqual(vec(8, 2));
    await r.close();
  });

  it('refuses a second writer while the first is alive', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fg-store-'));
    await writeFile(path.join(dir, 'lock'), String(process.ppid));
    await expect(FeatureStore.open(dir, 4)).rejects.toThrow(`the feature cache is in use by process ${process.ppid}`);
    await writeFile(path.join(dir, 'lock'), '999999999'); // a process that does not exist
    const s = await FeatureStore.open(dir, 4);
    await s.close();
  });
});
