import { REFRAMINGS } from '../data/reframe.js';
import { pct, type RobustnessRow } from './robustness.js';

/**
 * The suite's results file keeps every model's rows, for every split scored so far, so that a
 * second model is compared with the first in one table instead of replacing it.
 */

/** A row as the results file keeps it: which split's test faces it was scored on. */
export interface StoredRobustnessRow extends RobustnessRow {
  split: string;
}

function isRowArray(value: unknown): value is RobustnessRow[] {
  return Array.isArray(value) && value.every((r) => typeof r === 'object' && r !== null && typeof (r as RobustnessRow).set === 'string' && typeof (r as RobustnessRow).model === 'string');
}

/**
 * The rows a results file holds. The earlier form (`{ split, rows }`, one split, rows without
 * their split) is read too; a file of neither form holds none.
 */
export function storedRobustnessRows(json: unknown): StoredRobustnessRow[] {
  if (typeof json !== 'object' || json === null) return [];
  const { split, rows } = json as { split?: unknown; rows?: unknown };
  if (!isRowArray(rows)) return [];
  return rows.flatMap((r) => {
    const own = (r as Partial<StoredRobustnessRow>).split;
    if (typeof own === 'string') return [r as StoredRobustnessRow];
    return typeof split === 'string' ? [{ ...r, split }] : [];
  });
}

function rowKey(r: StoredRobustnessRow): string {
  return `${r.split}\u0000${r.set}\u0000${r.model}`;
}

/** The stored rows, with `fresh` (scored on `split`) replacing those of the same split, set and model; sets in the suite's order. */
export function mergeRobustnessRows(stored: readonly StoredRobustnessRow[], split: string, fresh: readonly RobustnessRow[]): StoredRobustnessRow[] {
  const added = fresh.map((r) => ({ ...r, split }));
  const replaced = new Set(added.map(rowKey));
  const order = (r: StoredRobustnessRow) => REFRAMINGS.indexOf(r.set);
  // A stable sort keeps the models in the order they were first scored.
  return [...stored.filter((r) => !replaced.has(rowKey(r))), ...added].sort((a, b) => order(a) - order(b));
}

function cell(r: RobustnessRow | undefined): string {
  if (!r) return '–';
  // A model that detects and missed faces shows its recall beside the accuracy it cost.
  return r.recall !== null && r.recall < 1 ? `${pct(r.accuracy.value)} (recall ${pct(r.recall)})` : pct(r.accuracy.value);
}

/** Accuracy of every model (columns, in the order first scored) on every set (rows): the models side by side. */
export function robustnessComparisonMarkdown(rows: readonly RobustnessRow[]): string {
  const models = [...new Set(rows.map((r) => r.model))];
  const sets = REFRAMINGS.filter((s) => rows.some((r) => r.set === s));
  const lines = [`| set | ${models.join(' | ')} |`, `|---|${models.map(() => '---|').join('')}`];
  for (const set of sets) {
    const ofSet = rows.filter((r) => r.set === set);
    const counts = new Set(ofSet.map((r) => r.n));
    // Runs with another --per-class scored other faces: then each cell says how many.
    const same = counts.size === 1;
    const cells = models.map((m) => {
      const r = ofSet.find((x) => x.model === m);
      return r && !same ? `${cell(r)}, n ${r.n}` : cell(r);
    });
    lines.push(`| ${same ? `${set} (${[...counts][0]})` : set} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}
