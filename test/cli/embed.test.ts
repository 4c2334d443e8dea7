import { spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, facegender } from '../helpers/cli.js';
import { CELEBA } from '../helpers/shared.js';
import { smallConvOnnx } from '../helpers/tiny-onnx.js';

let dir: string;
let images: string;
let model: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-embed-'));
  images = path.join(dir, 'images');
  // The 300-odd female images among 000001..000600.
  await cp(path.join(CELEBA, 'female'), images, { recursive: true, filter: (src) => !src.endsWith('.jpg') || /\/000[0-5]\d\d\.jpg$/.test(src) });
  model = path.join(dir, 'small.onnx');
  await writeFile(model, smallConvOnnx(48));
});

const baseArgs = () => ['--base', `onnx:${model}`, '--input-size', '48', '--preprocess', 'study'];

describe('facegender embed', () => {
  it('writes JSON and NPY features, and the second run comes from the cache', async () => {
    const cacheDir = path.join(dir, 'cache-1');
    const files = (await readdir(images)).slice(0, 5).map((f) => path.join(images, f));
    const a = await facegender(['embed', ...baseArgs(), ...files, '--out', path.join(dir, 'f.json'), '--cache-dir', cacheDir]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toContain('5 images x 16 features; embedded 5 views, 0 from the cache');
    const json = JSON.parse(await readFile(path.join(dir, 'f.json'), 'utf8'));
    expect(json.features.map((f: { file: string }) => f.file)).toEqual(files);
    expect(json.features[0].vector).toHaveLength(16);
    const b = await facegender(['embed', ...baseArgs(), ...files, '--out', path.join(dir, 'f.npy'), '--cache-dir', cacheDir]);
    expect(b.stdout).toContain('embedded 0 views, 5 from the cache');
    const npy = await readFile(path.join(dir, 'f.npy'));
    const headerLen = npy.readUInt16LE(8);
    expect(npy.subarray(10, 10 + headerLen).toString()).toContain("'shape': (5, 16)");
    const values = new Float32Array(npy.buffer.slice(npy.byteOffset + 10 + headerLen, npy.byteOffset + npy.length));
    expect(Array.from(values.subarray(16, 32))).toEqual(json.features[1].vector.map((v: number) => Math.fround(v)));
    expect((await readFile(path.join(dir, 'f.files.txt'), 'utf8')).trim().split('\n')).toEqual(files);
  });

  it('resumes after kill -9 without recomputing what was written', async () => {
    const cacheDir = path.join(dir, 'cache-kill');
    const total = (await readdir(images)).length * 4;
    const args = ['embed', ...baseArgs(), images, '--views', '3', '--batch-size', '1', '--out', path.join(dir, 'k.json'), '--cache-dir', cacheDir];
    const child = spawn(process.execPath, [CLI, ...args], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    // Wait until some records are on disk, then kill the process without warning.
    let killedAt = 0;
    for (let i = 0; i < 3000 && !killedAt; i++) {
      await new Promise((r) => setTimeout(r, 10));
      const sub = await readdir(cacheDir).catch(() => [] as string[]);
      const data = sub[0] ? await stat(path.join(cacheDir, sub[0], 'features.bin')).catch(() => undefined) : undefined;
      if (data && data.size > 100 * (40 + 16 * 4)) {
        child.kill('SIGKILL');
        killedAt = data.size;
      }
    }
    await exited;
    expect(killedAt).toBeGreaterThan(0);
    const resumed = await facegender(args);
    expect(resumed.code, resumed.stderr).toBe(0);
    const m = /embedded (\d+) views, (\d+) from the cache/.exec(resumed.stdout);
    const [computed, cached] = [Number(m?.[1]), Number(m?.[2])];
    expect(computed + cached).toBe(total);
    expect(cached).toBeGreaterThanOrEqual(100);
    expect(computed).toBeGreaterThan(0);
    // The resumed features equal a clean run's.
    const clean = await facegender(['embed', ...baseArgs(), images, '--views', '3', '--out', path.join(dir, 'clean.json'), '--no-cache']);
    expect(clean.code).toBe(0);
    const [x, y] = await Promise.all([readFile(path.join(dir, 'k.json'), 'utf8'), readFile(path.join(dir, 'clean.json'), 'utf8')]);
    expect(JSON.parse(x).features).toEqual(JSON.parse(y).features);
  });

  it('names a missing base weights file and an unknown base', async () => {
    const r = await facegender(['embed', '--base', 'vggface', '--weights', path.join(dir, 'nope.h5'), images, '--out', path.join(dir, 'x.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nope.h5');
    const u = await facegender(['embed', '--base', 'vgg19', images, '--out', path.join(dir, 'x.json')]);
    expect(u.stderr).toContain("unknown base 'vgg19'");
  });
});
