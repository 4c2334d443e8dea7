import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './helpers/shared.js';

/**
 * Data flows one way: a module imports its own room or lower ones. Rooms of one rank (braces in
 * the README's rule) do not import each other, except where SIBLING_IMPORTS allows it.
 */
const RANK: Record<string, number> = {
  'errors.ts': 0,
  util: 0,
  data: 1,
  'runtime/tfjs': 2,
  'runtime/onnx': 2,
  graph: 3,
  bases: 4,
  zoo: 5,
  detect: 5,
  competitors: 5,
  features: 6,
  train: 7,
  evaluate: 8,
  predict: 9,
  experiments: 10,
  report: 11,
  serve: 11,
  browser: 11,
  cli: 12,
  'index.ts': 13,
};

/** The sanctioned imports between rooms of one rank: a competitor may find faces first; every room, util included, throws the typed errors. */
const SIBLING_IMPORTS = new Set(['competitors->detect', 'util->errors.ts']);

function roomOf(rel: string): string {
  const parts = rel.split('/');
  return parts[0] === 'runtime' ? `runtime/${parts[1]}` : (parts[0] as string);
}

export interface ImportEdge {
  from: string;
  to: string;
}

/** Every relative import between files of src, as paths relative to src with a .ts ending. */
async function sourceImports(): Promise<{ files: string[]; edges: ImportEdge[] }> {
  const src = path.join(REPO, 'src');
  const files = (await readdir(src, { recursive: true })).filter((f) => f.endsWith('.ts')).map((f) => f.split(path.sep).join('/'));
  const edges: ImportEdge[] = [];
  for (const file of files) {
    const text = await readFile(path.join(src, file), 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.[^'"]+)['"]/g)) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1] as string));
      if (target.startsWith('..')) continue;
      edges.push({ from: file, to: target.replace(/\.js$/, '.ts') });
    }
  }
  return { files, edges };
}

/** The rule's breaches among `edges`, in words. */
export function layerViolations(edges: readonly ImportEdge[]): string[] {
  const out: string[] = [];
  for (const { from, to } of edges) {
    const a = roomOf(from);
    const b = roomOf(to);
    if (a === b) continue;
    const ra = RANK[a];
    const rb = RANK[b];
    if (ra === undefined || rb === undefined) out.push(`${from} imports ${to}: ${ra === undefined ? a : b} is in no known room`);
    else if (rb > ra) out.push(`${from} imports ${to}: ${b} is above ${a}`);
    else if (rb === ra && !SIBLING_IMPORTS.has(`${a}->${b}`)) out.push(`${from} imports ${to}: ${a} and ${b} are rooms of one rank`);
    if (b === 'zoo' && to !== 'zoo/index.ts') out.push(`${from} imports ${to}: outside zoo/, only zoo/index.ts is imported`);
  }
  return out;
}

/** Cycles among files, each as the files around it. */
export function importCycles(edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to]);
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const to of next.get(file) ?? []) {
      const s = state.get(to);
      if (s === 'open') cycles.push([...stack.slice(stack.indexOf(to)), to]);
      else if (s === undefined) visit(to);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of next.keys()) if (!state.has(file)) visit(file);
  return cycles;
}

describe('layering', () => {
  it('every file of src sits in a known room', async () => {
    const { files } = await sourceImports();
    expect(files.length).toBeGreaterThan(5);
    expect(files.filter((f) => RANK[roomOf(f)] === undefined)).toEqual([]);
  });

  it('no module in src imports a higher room, a sibling room, or a zoo file other than its index', async () => {
    const { edges } = await sourceImports();
    expect(edges.length).toBeGreaterThan(50);
    expect(layerViolations(edges)).toEqual([]);
  });

  it('no import cycle among the files of src', async () => {
    const { edges } = await sourceImports();
    expect(importCycles(edges).map((c) => c.join(' -> '))).toEqual([]);
  });

  it('the checks catch an upward import, a sibling import, a zoo internal and a cycle', () => {
    expect(layerViolations([{ from: 'data/split.ts', to: 'train/fit.ts' }])).toHaveLength(1);
    expect(layerViolations([{ from: 'runtime/onnx/session.ts', to: 'runtime/tfjs/backend.ts' }])).toHaveLength(1);
    expect(layerViolations([{ from: 'zoo/faceres.ts', to: 'detect/find-faces.ts' }])).toHaveLength(1);
    expect(layerViolations([{ from: 'competitors/faceapi-age-gender.ts', to: 'detect/find-faces.ts' }])).toEqual([]);
    expect(layerViolations([{ from: 'features/extract-features.ts', to: 'zoo/faceres.ts' }])).toHaveLength(1);
    expect(layerViolations([{ from: 'features/extract-features.ts', to: 'zoo/index.ts' }])).toEqual([]);
    expect(layerViolations([{ from: 'serve/server.ts', to: 'report/write-report.ts' }])).toHaveLength(1);
    expect(importCycles([
      { from: 'a.ts', to: 'b.ts' },
      { from: 'b.ts', to: 'c.ts' },
      { from: 'c.ts', to: 'a.ts' },
    ])).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
    expect(importCycles([{ from: 'a.ts', to: 'b.ts' }])).toEqual([]);
  });
});
