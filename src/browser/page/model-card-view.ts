/**
 * Renders a model card (experiments/model-card.ts writes it) into the page. The card comes from a
 * file beside the page, perhaps from another version, so every section is optional: what is
 * present is shown, as text nodes only.
 */

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function el(tag: string, text?: string, parent?: HTMLElement): HTMLElement {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  parent?.appendChild(e);
  return e;
}

function pct(v: unknown): string {
  return typeof v === 'number' ? `${(v * 100).toFixed(1)}%` : '—';
}

function interval(lo: unknown, hi: unknown): string {
  return typeof lo === 'number' && typeof hi === 'number' ? `${pct(lo)} to ${pct(hi)}` : '';
}

function table(parent: HTMLElement, head: string[], rows: string[][]): void {
  if (rows.length === 0) return;
  const t = el('table', undefined, parent);
  const tr = el('tr', undefined, t);
  for (const h of head) el('th', h, tr);
  for (const r of rows) {
    const row = el('tr', undefined, t);
    for (const c of r) el('td', c, row);
  }
}

/** Fills `into` with the card's sections; false when `card` is not a model card. */
export function renderModelCard(into: HTMLElement, card: unknown): boolean {
  if (!isObject(card) || card.format !== 'facegender-model-card') return false;
  into.textContent = '';
  const base = card.base;
  if (isObject(base)) {
    el('h3', 'Base', into);
    el('p', `${String(base.id ?? '?')}: ${String(base.architecture ?? '')}${base.fineTuned ? ' (fine-tuned on this model\'s data)' : ''}.`, into);
    if (base.trainedOn) el('p', `Its weights were trained on: ${String(base.trainedOn)}.`, into);
  }
  const training = card.training;
  if (isObject(training)) {
    el('h3', 'Training data', into);
    table(into, ['data', 'train', 'validation', 'test', 'identities kept apart', 'left out'], list(training.data).filter(isObject).map((d) => [String(d.name ?? ''), String(d.train ?? '—'), String(d.val ?? '—'), String(d.test ?? '—'), d.identityDisjoint === null || d.identityDisjoint === undefined ? '—' : d.identityDisjoint ? 'yes' : 'no', typeof d.excluded === 'number' && d.excluded > 0 ? `${d.excluded}${d.excludedBy ? ` (${String(d.excludedBy)})` : ''}` : '—']));
    const facts = [training.mode && `mode: ${String(training.mode)}`, training.seed !== null && training.seed !== undefined && `seed ${String(training.seed)}`].filter(Boolean);
    if (facts.length) el('p', facts.join('; '), into);
  }
  const metrics = list(isObject(card.test) ? card.test.metrics : card.metrics).filter(isObject);
  if (metrics.length) {
    el('h3', `Test metrics${isObject(card.test) && typeof card.test.n === 'number' ? ` (${card.test.n} images)` : ''}`, into);
    table(into, ['metric', 'value', '95% interval'], metrics.map((m) => [String(m.name ?? ''), typeof m.value === 'number' && m.value <= 1 ? pct(m.value) : String(m.value ?? ''), interval(m.lo, m.hi)]));
  }
  const subgroups = list(card.subgroups).filter(isObject);
  if (subgroups.length) {
    el('h3', 'Accuracy by subgroup', into);
    for (const column of subgroups) {
      el('h4', `${String(column.column ?? '')}${typeof column.gap === 'number' ? ` (gap ${pct(column.gap)})` : ''}`, into);
      table(into, ['group', 'images', 'accuracy', '95% interval'], list(column.groups).filter(isObject).map((g) => [String(g.name ?? ''), String(g.n ?? ''), pct(g.accuracy), interval(g.lo, g.hi)]));
    }
  }
  const robustness = list(card.robustness).filter(isObject);
  if (robustness.length) {
    el('h3', 'Robustness', into);
    table(into, ['set', 'images', 'faces found', 'accuracy', '95% interval'], robustness.map((r) => [String(r.set ?? ''), String(r.n ?? ''), pct(r.recall), pct(r.accuracy), interval(r.lo, r.hi)]));
  }
  const threshold = card.threshold;
  if (isObject(threshold)) {
    el('h3', 'Threshold', into);
    el('p', `${String(threshold.value ?? '?')} (${String(threshold.rule ?? '')})${threshold.reason ? `: ${String(threshold.reason)}` : ''}`, into);
  }
  if (typeof card.intendedUse === 'string') {
    el('h3', 'Intended use', into);
    el('p', card.intendedUse, into);
  }
  const limits = list(card.limits).filter((l): l is string => typeof l === 'string');
  if (limits.length) {
    el('h3', 'Known limits', into);
    const ul = el('ul', undefined, into);
    for (const l of limits) el('li', l, ul);
  }
  return true;
}
