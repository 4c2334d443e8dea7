import { readFile } from 'node:fs/promises';
import { DatasetError } from '../errors.js';
import { parseCsv } from './csv.js';

/**
 * A CSV that names image files of a folder, e.g. MEBeauty's groups.csv:
 *
 *     file,label,ethnicity
 *     female/asian/13.jpg,female,asian
 *
 * `file` is relative to the folder (forward or back slashes); `label`, when present, is a class
 * name or a class index; every other column is a categorical group column (ethnicity, age band…).
 */
export interface LabelRow {
  /** 1-based line in the CSV. */
  line: number;
  /** As written, with forward slashes and no leading `./`. */
  path: string;
  /** The label cell as written; undefined when the table has no label column. */
  label?: string;
  /** Group column → value; an empty cell is left out. */
  groups: Record<string, string>;
}

export interface LabelTable {
  file: string;
  hasLabel: boolean;
  /** The group columns (all but `file` and `label`), in header order. */
  columns: string[];
  rows: LabelRow[];
}

/** File names are compared in Unicode NFC, so a CSV and a file system that compose accents differently still match. */
export function pathKey(p: string): string {
  return p.normalize('NFC');
}

function cleanPath(raw: string, file: string, line: number): string {
  let p = raw.replace(/\\/g, '/');
  while (p.startsWith('./')) p = p.slice(2);
  if (p === '') throw new DatasetError(`line ${line}: the file cell is empty`, file);
  if (p.startsWith('/') || /^[A-Za-z]:\//.test(p)) throw new DatasetError(`line ${line}: "${raw}" is an absolute path; name files relative to the data folder`, file);
  if (p.split('/').includes('..')) throw new DatasetError(`line ${line}: "${raw}" leaves the data folder (..)`, file);
  return p;
}

/**
 * Reads and checks a label table: a header with a `file` column, one row per file, no file twice.
 * Errors name the CSV and the line.
 */
export async function readLabelTable(file: string): Promise<LabelTable> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new DatasetError(`cannot read the CSV (${(e as NodeJS.ErrnoException).code ?? String(e)})`, file);
  }
  const [head, ...body] = parseCsv(text, file);
  if (!head) throw new DatasetError('is empty; expected a header line such as "file,label"', file);
  const names = head.cells.map((c) => c.trim());
  const seen = new Set<string>();
  for (const name of names) {
    if (name === '') throw new DatasetError(`line ${head.line}: the header has an empty column name`, file);
    if (seen.has(name)) throw new DatasetError(`line ${head.line}: the header names column "${name}" twice`, file);
    seen.add(name);
  }
  const fileColumn = names.indexOf('file');
  if (fileColumn < 0) throw new DatasetError(`line ${head.line}: the header (${names.join(',')}) has no "file" column`, file);
  const labelColumn = names.indexOf('label');
  const columns = names.filter((_, j) => j !== fileColumn && j !== labelColumn);
  const rows: LabelRow[] = [];
  const firstLine = new Map<string, number>();
  for (const { line, cells } of body) {
    if (cells.length !== names.length) {
      throw new DatasetError(`line ${line} has ${cells.length} fields, the header ${names.length} (${names.join(',')})`, file);
    }
    const p = cleanPath(cells[fileColumn] as string, file, line);
    const key = pathKey(p);
    const earlier = firstLine.get(key);
    if (earlier !== undefined) throw new DatasetError(`line ${line}: duplicate row for "${p}" (first on line ${earlier})`, file);
    firstLine.set(key, line);
    const groups: Record<string, string> = {};
    names.forEach((name, j) => {
      const v = (cells[j] as string).trim();
      if (j !== fileColumn && j !== labelColumn && v !== '') groups[name] = v;
    });
    const row: LabelRow = { line, path: p, groups };
    if (labelColumn >= 0) {
      const label = (cells[labelColumn] as string).trim();
      if (label === '') throw new DatasetError(`line ${line}: the label of "${p}" is empty`, file);
      row.label = label;
    }
    rows.push(row);
  }
  if (rows.length === 0) throw new DatasetError('has a header but no rows', file);
  return { file, hasLabel: labelColumn >= 0, columns, rows };
}

/** A label cell as a class index: a class name (any case) or the index itself ("0", "1"). */
export function labelIndex(text: string, classNames: readonly string[]): number | undefined {
  const byName = classNames.findIndex((c) => c.toLowerCase() === text.toLowerCase());
  if (byName >= 0) return byName;
  if (/^\d+$/.test(text) && Number(text) < classNames.length) return Number(text);
  return undefined;
}

/** The label of a row as a class index, or an error naming the CSV, the line and the classes. */
export function rowLabel(row: LabelRow, classNames: readonly string[], file: string): number {
  const k = labelIndex(row.label as string, classNames);
  if (k === undefined) {
    throw new DatasetError(
      `line ${row.line}: unknown label "${row.label}" for "${row.path}" (expected ${classNames.map((c, i) => `${c} or ${i}`).join(', ')})`,
      file,
    );
  }
  return k;
}
