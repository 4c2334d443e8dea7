import { DatasetError } from '../errors.js';

export interface CsvRow {
  /** 1-based line of the file where the row starts. */
  line: number;
  cells: string[];
}

/**
 * Parses CSV text (RFC 4180: comma-separated, fields in double quotes may hold commas, quotes
 * doubled, and line breaks; CRLF or LF). A leading byte-order mark is dropped and blank lines are
 * skipped. Cells are kept as written, spaces included, so file names with spaces survive.
 */
export function parseCsv(text: string, file: string): CsvRow[] {
  const rows: CsvRow[] = [];
  const s = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let line = 1;
  let rowLine = 1;
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let wasQuoted = false;
  const endRow = () => {
    cells.push(cell);
    if (!(cells.length === 1 && cells[0] === '' && !wasQuoted)) rows.push({ line: rowLine, cells });
    cells = [];
    cell = '';
    wasQuoted = false;
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (quoted) {
      if (c === '"') {
        if (s[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        cell += c;
      }
      continue;
    }
    if (c === '"') {
      if (cell !== '') throw new DatasetError(`line ${line}: a quote inside an unquoted field (quote the whole field and double the quote)`, file);
      quoted = true;
      wasQuoted = true;
    } else if (c === ',') {
      cells.push(cell);
      cell = '';
      wasQuoted = false;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && s[i + 1] === '\n') i++;
      endRow();
      line++;
      rowLine = line;
    } else {
      if (wasQuoted) throw new DatasetError(`line ${line}: text after a closing quote`, file);
      cell += c;
    }
  }
  if (quoted) throw new DatasetError(`line ${rowLine}: a quoted field is never closed`, file);
  if (cell !== '' || cells.length > 0 || wasQuoted) endRow();
  return rows;
}

/** One CSV line of these cells, each quoted where parseCsv needs it to read the cell back as written. */
export function csvLine(cells: readonly string[]): string {
  return cells.map((v) => (/[",\r\n]/.test(v) || v !== v.trim() ? `"${v.replace(/"/g, '""')}"` : v)).join(',');
}
