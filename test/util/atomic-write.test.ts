import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomically, writeJsonAtomically, WriteError } from '../../src/util/atomic-write.js';

describe('writeFileAtomically', () => {
  const dirs: string[] = [];
  const fresh = async () => {
    const d = await mkdtemp(path.join(tmpdir(), 'fg-write-'));
    dirs.push(d);
    return d;
  };
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('creates the folders on the way, as a fresh clone needs for --out runs/split.json', async () => {
    const root = await fresh();
    const file = path.join(root, 'runs', 'deeper', 'split.json');
    await writeJsonAtomically(file, { a: 1 });
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ a: 1 });
    expect(await readdir(path.join(root, 'runs', 'deeper'))).toEqual(['split.json']);
  });

  it('names the path in one line when it cannot write, and leaves no temp file behind', async () => {
    const root = await fresh();
    const blocker = path.join(root, 'runs');
    await writeFile(blocker, 'a file where a folder should be');
    const target = path.join(blocker, 'split.json');
    const err = await writeFileAtomically(target, 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WriteError);
    expect((err as Error).message).toMatch(new RegExp(`^${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot write here: a file stands where a folder on the way should be \\(E[A-Z]+\\)$`));
    expect((err as Error).message.split('\n')).toHaveLength(1);
    expect(await readdir(root)).toEqual(['runs']);
  });
});
