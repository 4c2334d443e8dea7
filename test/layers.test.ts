import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './helpers/shared.js';

// Data flows one way; a module may import its own layer or lower ones only.
const RANK: Record<string, number> = {
  'errors.ts': 0,
  util: 0,
  data: 1,
  bases: 2,
  features: 3,
  train: 4,
  evaluate: 5,
  report: 6,
  serve: 6,
  cli: 7,
  'index.ts': 8,
};

function layerOf(rel: string): string {
  return rel.split('/')[0] as string;
}

describe('layering', () => {
  it('no module in src imports a higher layer', async () => {
    const src = path.join(REPO, 'src');
    const files = (await readdir(src, { recursive: true })).filter((f) => f.endsWith('.ts')).map((f) => f.split(path.sep).join('/'));
    expect(files.length).toBeGreaterThan(5);
    const violations: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      expect(RANK[from], `${file} is in no known layer`).toBeDefined();
      const text = await readFile(path.join(src, file), 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.[^'"]+)['"]/g)) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1] as string));
        if (target.startsWith('..')) continue;
        const to = layerOf(target.replace(/\.js$/, '.ts'));
        if ((RANK[to] ?? 99) > (RANK[from] ?? 0) && to !== from) violations.push(`${file} imports ${target}`);
      }
    }
    expect(violations).toEqual([]);
  });
});
