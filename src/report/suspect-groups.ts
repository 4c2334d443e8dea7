import type { SplitImage } from '../data/split.js';
import type { Evaluation } from '../evaluate/evaluate-predictions.js';
import { displayClassName } from './plot-specs.js';

/**
 * The report's "likely label errors": images the model got wrong with high certainty, and images
 * whose label disagrees with the rest of their identity, gathered per identity so that a person
 * sees one face's images side by side and can judge the label.
 */

export interface SuspectImage {
  path: string;
  label: number;
  identity?: string;
  /** Why the label is doubted, one sentence each. */
  reasons: string[];
  /** Highest certainty of a wrong prediction on it (0 when only its identity points at it). */
  certainty: number;
}

export interface ReferenceImage {
  path: string;
  label: number;
  part: SplitImage['part'];
}

export interface SuspectGroup {
  /** Null for images whose identity is unknown. */
  identity: string | null;
  /** [Female, Male] labels among the identity's images, when known. */
  counts: [number, number] | null;
  suspects: SuspectImage[];
  /** Other images of the same identity, to compare the face against. */
  references: ReferenceImage[];
}

/** Every image of each identity, from the split (all parts and the unused images). */
export type IdentityIndex = Map<string, ReferenceImage[]>;

export function identityIndex(images: readonly SplitImage[]): IdentityIndex {
  const index: IdentityIndex = new Map();
  for (const im of images) {
    if (im.identity === undefined) continue;
    let list = index.get(im.identity);
    if (!list) index.set(im.identity, (list = []));
    list.push({ path: im.path, label: im.label, part: im.part });
  }
  for (const list of index.values()) list.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return index;
}

export interface SuspectSource {
  /** The base's name in a comparison, to say which model doubted the label; null for a single run. */
  name: string | null;
  evaluation: Pick<Evaluation, 'classNames' | 'suspects'>;
}

/**
 * Groups sorted by the most certain wrong prediction in them, then by identity; images inside a
 * group by certainty, then path. Identity conflicts are the same for every source of one split,
 * so they are taken once.
 */
export function labelSuspectGroups(sources: readonly SuspectSource[], identities: IdentityIndex | null = null, maxReferences = 3): SuspectGroup[] {
  const byPath = new Map<string, SuspectImage>();
  const countsOf = new Map<string, [number, number]>();
  const add = (path: string, label: number, identity: string | undefined, reason: string, certainty: number) => {
    let s = byPath.get(path);
    if (!s) byPath.set(path, (s = { path, label, ...(identity !== undefined ? { identity } : {}), reasons: [], certainty: 0 }));
    if (!s.reasons.includes(reason)) s.reasons.push(reason);
    s.certainty = Math.max(s.certainty, certainty);
  };
  const conflictsSeen = new Set<string>();
  for (const { name, evaluation } of sources) {
    const cls = (k: number) => displayClassName(evaluation.classNames[k] ?? `class ${k}`);
    for (const m of evaluation.suspects.confidentlyWrong) {
      add(m.path, m.label, m.identity, `${name ? `${name}: ` : ''}predicted ${cls(m.predicted)} with ${(m.certainty * 100).toFixed(2)}% certainty (${m.part === 'val' ? 'validation' : 'test'})`, m.certainty);
    }
    const ic = evaluation.suspects.identityConflicts;
    if (!ic) continue;
    for (const c of [...ic.minority, ...ic.tie]) {
      countsOf.set(c.identity, c.identityCounts);
      if (conflictsSeen.has(c.path)) continue;
      conflictsSeen.add(c.path);
      const [f, m] = c.identityCounts;
      add(
        c.path,
        c.label,
        c.identity,
        c.kind === 'minority' ? `minority label: the same person has ${f} ${cls(0)} and ${m} ${cls(1)} labels` : `the same person's labels are split evenly (${f} ${cls(0)}, ${m} ${cls(1)})`,
        0,
      );
    }
  }
  const groups = new Map<string | null, SuspectImage[]>();
  for (const s of byPath.values()) {
    const key = s.identity ?? null;
    let list = groups.get(key);
    if (!list) groups.set(key, (list = []));
    list.push(s);
  }
  const out: SuspectGroup[] = [];
  for (const [identity, suspects] of groups) {
    suspects.sort((a, b) => b.certainty - a.certainty || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const members = identity !== null ? identities?.get(identity) : undefined;
    let counts = identity !== null ? (countsOf.get(identity) ?? null) : null;
    if (!counts && members) counts = [members.filter((r) => r.label === 0).length, members.filter((r) => r.label === 1).length];
    const shown = new Set(suspects.map((s) => s.path));
    const references = (members ?? []).filter((r) => !shown.has(r.path)).slice(0, maxReferences);
    out.push({ identity, counts, suspects, references });
  }
  const top = (g: SuspectGroup) => g.suspects[0]?.certainty ?? 0;
  return out.sort((a, b) => top(b) - top(a) || (a.identity === null ? 1 : b.identity === null ? -1 : a.identity.localeCompare(b.identity, 'en', { numeric: true })));
}

export function suspectCount(groups: readonly SuspectGroup[]): number {
  return groups.reduce((s, g) => s + g.suspects.length, 0);
}
