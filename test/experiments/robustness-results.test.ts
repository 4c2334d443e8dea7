import { describe, expect, it } from 'vitest';
import type { Reframing } from '../../src/data/reframe.js';
import type { RobustnessRow } from '../../src/experiments/robustness.js';
import { mergeRobustnessRows, robustnessComparisonMarkdown, storedRobustnessRows } from '../../src/experiments/robustness-results.js';

function row(set: Reframing, model: string, accuracy: number, recall: number | null = 1, n = 750): RobustnessRow {
  return { set, model, n, recall, accuracy: { value: accuracy, lo: accuracy - 0.01, hi: accuracy + 0.01, valid: 1000 }, perClass: [], seconds: 1 };
}

describe('the robustness results file', () => {
  const first = [row('plain', 'ours (runs/a: face, blazeface)', 0.99), row('tight', 'ours (runs/a: face, blazeface)', 0.97), row('tight', 'faceres-gender', 0.96, null)];

  it('keeps a second model beside the first, and replaces only the same split, set and model', () => {
    const stored = mergeRobustnessRows([], 's1.json', first);
    const second = mergeRobustnessRows(stored, 's1.json', [row('tight', 'ours (runs/b: face, blazeface)', 0.98)]);
    expect(second.map((r) => [r.set, r.model, r.accuracy.value])).toEqual([
      ['plain', 'ours (runs/a: face, blazeface)', 0.99],
      ['tight', 'ours (runs/a: face, blazeface)', 0.97],
      ['tight', 'faceres-gender', 0.96],
      ['tight', 'ours (runs/b: face, blazeface)', 0.98],
    ]);
    const rerun = mergeRobustnessRows(second, 's1.json', [row('tight', 'ours (runs/a: face, blazeface)', 0.975)]);
    expect(rerun.filter((r) => r.model === 'ours (runs/a: face, blazeface)').map((r) => r.accuracy.value)).toEqual([0.99, 0.975]);
    expect(rerun).toHaveLength(4);
    const otherSplit = mergeRobustnessRows(rerun, 's2.json', [row('tight', 'ours (runs/a: face, blazeface)', 0.5)]);
    expect(otherSplit).toHaveLength(5);
    expect(otherSplit.filter((r) => r.split === 's1.json')).toEqual(rerun);
  });

  it('reads the earlier one-split form and ignores a file of neither form', () => {
    const old = { model: 'runs/a', split: 's1.json', rows: first };
    expect(storedRobustnessRows(old).map((r) => [r.split, r.set, r.model])).toEqual(first.map((r) => ['s1.json', r.set, r.model]));
    const current = { rows: mergeRobustnessRows([], 's2.json', first) };
    expect(storedRobustnessRows(JSON.parse(JSON.stringify(current)))).toEqual(current.rows);
    for (const junk of [undefined, null, 3, 'rows', { rows: 'x' }, { rows: [{ set: 1 }] }, { rows: first }]) {
      expect(storedRobustnessRows(junk)).toEqual([]);
    }
  });

  it('puts the models side by side, with recall where faces were missed', () => {
    const rows = [...first, row('plain', 'faceres-gender', 0.992, null), row('tight', 'ours (runs/b: face, blazeface)', 0.976, 0.999)];
    const md = robustnessComparisonMarkdown(rows);
    expect(md.trim().split('\n')).toEqual([
      '| set | ours (runs/a: face, blazeface) | faceres-gender | ours (runs/b: face, blazeface) |',
      '|---|---|---|---|',
      '| plain (750) | 99.0% | 99.2% | – |',
      '| tight (750) | 97.0% | 96.0% | 97.6% (recall 99.9%) |',
    ]);
    const mixed = robustnessComparisonMarkdown([row('dark', 'x', 0.9, 1, 100), row('dark', 'y', 0.8, 1, 750)]);
    expect(mixed).toContain('| dark | 90.0%, n 100 | 80.0%, n 750 |');
  });
});
