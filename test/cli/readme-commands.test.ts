import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/shared.js';

const run = promisify(execFile);

/** The shell lines of the README's first code block: the setup and the main job. */
async function readmeMainJob(): Promise<string[]> {
  const readme = await readFile(path.join(REPO, 'README.md'), 'utf8');
  const block = /## The two commands[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README.md has no sh block under "The two commands"');
  // A command continued with a trailing backslash is one line to the shell.
  return block.replace(/\\\n\s*/g, '').split('\n').filter((l) => l.trim() !== '');
}

let folder: string;

beforeAll(async () => {
  // A fresh folder beside the clone, so the README's ../shared path means what it means in a clone:
  // no runs/, no cache; the build and dependencies come from this checkout (npm ci is not rerun).
  folder = await mkdtemp(path.join(path.dirname(REPO), 'fg-readme-'));
  await copyFile(path.join(REPO, 'package.json'), path.join(folder, 'package.json'));
  await symlink(path.join(REPO, 'node_modules'), path.join(folder, 'node_modules'));
  await symlink(path.join(REPO, 'dist'), path.join(folder, 'dist'));
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe("the README's commands in a fresh folder", () => {
  it('sets up with npm ci and a build, then splits into a runs/ folder that does not exist yet', async () => {
    const lines = await readmeMainJob();
    expect(lines[0]).toBe('npm ci && npm run build');
    const split = lines.findIndex((l) => l.startsWith('npx facegender split'));
    expect(split).toBeGreaterThan(0);
    expect(lines.slice(split + 1).some((l) => l.startsWith('npx facegender compare --split runs/split.json'))).toBe(true);
    await expect(stat(path.join(folder, 'runs'))).rejects.toThrow(/ENOENT/);
    // Every line up to the split, verbatim, except npm ci (this checkout's install stands in for it).
    const script = lines.slice(1, split + 1).join('\n');
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], { cwd: folder, maxBuffer: 16 << 20 });
    const written = JSON.parse(await readFile(path.join(folder, 'runs', 'split.json'), 'utf8')) as { params: { balanced: boolean; seed: number }; images: unknown[] };
    expect(written.params).toMatchObject({ balanced: true, seed: 1 });
    expect(written.images.length).toBeGreaterThan(5000);
    expect(stdout).toMatch(/runs\/split\.json/);
  }, 300_000);
});
