import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { facegender } from '../helpers/cli.js';
import { CELEBA } from '../helpers/shared.js';
import { trainSmallBundle } from '../helpers/small-bundle.js';

let dir: string;
let thousand: string[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-argv-'));
  const of = async (cls: string) => (await readdir(path.join(CELEBA, cls))).filter((f) => f.endsWith('.jpg')).sort().slice(0, 500).map((f) => path.join(CELEBA, cls, f));
  thousand = [...(await of('female')), ...(await of('male'))];
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function npyShape(npy: Buffer): string {
  const headerLen = npy.readUInt16LE(8);
  return /'shape': \(([^)]*)\)/.exec(npy.subarray(10, 10 + headerLen).toString())?.[1] ?? '';
}

describe('long lists of images', () => {
  it('embeds 1,000 real images given as arguments on an ONNX Runtime base (a command line ORT once crashed on)', async () => {
    expect(thousand).toHaveLength(1000);
    // ORT's telemetry crashed with SIGSEGV once the process's command line passed about 32 KB.
    expect(thousand.join(' ').length).toBeGreaterThan(40_000);
    const out = path.join(dir, 'many.npy');
    const r = await facegender(['embed', '--base', 'mobileface', '--no-cache', '--out', out, ...thousand]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('mobileface: 1000 images x 256 features');
    expect(npyShape(await readFile(out))).toBe('1000, 256');
    expect((await readFile(path.join(dir, 'many.files.txt'), 'utf8')).trim().split('\n')).toEqual(thousand);
  }, 300_000);

  it('reads --files-from lists, newline or NUL separated, with spaces and non-ASCII names', async () => {
    const odd = path.join(dir, 'Zoë at the beach (1).jpg');
    await copyFile(thousand[0] as string, odd);
    const files = [odd, thousand[1] as string, thousand[999] as string];
    const lines = path.join(dir, 'list.txt');
    await writeFile(lines, `${files.join('\n')}\n\n`);
    const a = await facegender(['embed', '--base', 'mobileface', '--no-cache', '--out', path.join(dir, 'a.json'), '--files-from', lines]);
    expect(a.code, a.stderr).toBe(0);
    const json = JSON.parse(await readFile(path.join(dir, 'a.json'), 'utf8')) as { features: Array<{ file: string; vector: number[] }> };
    expect(json.features.map((f) => f.file)).toEqual(files);
    const nul = path.join(dir, 'list.nul');
    await writeFile(nul, `${files.slice(1).join('\0')}\0`);
    const b = await facegender(['embed', '--base', 'mobileface', '--no-cache', '--out', path.join(dir, 'b.json'), odd, '--files-from', nul]);
    expect(b.code, b.stderr).toBe(0);
    const jsonB = JSON.parse(await readFile(path.join(dir, 'b.json'), 'utf8')) as typeof json;
    expect(jsonB.features.map((f) => f.file)).toEqual(files);
    expect(jsonB.features[0]?.vector).toEqual(json.features[0]?.vector);
  }, 120_000);

  it('predicts from a --files-from list', async () => {
    const { bundle } = await trainSmallBundle(path.join(dir, 'model'));
    const list = path.join(dir, 'predict.txt');
    await writeFile(list, thousand.slice(0, 40).join('\n'));
    const r = await facegender(['predict', '--model', bundle, '--no-detect', '--json', '--files-from', list]);
    expect(r.code, r.stderr).toBe(0);
    const results = (JSON.parse(r.stdout) as { results: Array<{ file: string; faces: unknown[] }> }).results;
    expect(results.map((x) => x.file)).toEqual(thousand.slice(0, 40));
    expect(results.every((x) => x.faces.length === 1)).toBe(true);
  }, 300_000);

  it('names a missing list, an empty list and a listed file that does not exist', async () => {
    const base = ['embed', '--base', 'mobileface', '--no-cache', '--out', path.join(dir, 'x.json')];
    const missing = await facegender([...base, '--files-from', path.join(dir, 'nope.txt')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(path.join(dir, 'nope.txt'));
    expect(missing.stderr).toMatch(/cannot read the file list \(ENOENT\)/);
    const empty = path.join(dir, 'empty.txt');
    await writeFile(empty, '\n\n');
    const e = await facegender([...base, '--files-from', empty]);
    expect(e.stderr).toContain('the file list names no file');
    const bad = path.join(dir, 'bad.txt');
    await writeFile(bad, `${thousand[0]}\n${path.join(dir, 'gone.jpg')}\n`);
    const g = await facegender([...base, '--files-from', bad]);
    expect(g.code).not.toBe(0);
    expect(g.stderr).toContain(path.join(dir, 'gone.jpg'));
    const none = await facegender(base);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('no input: give image files or folders, or --files-from FILE');
    expect((await readdir(dir)).filter((f) => f.startsWith('x.'))).toEqual([]);
  }, 120_000);
});
