/**
 * Field-level helpers of the Taobao layouts: digit checks, time stamps (the data's days are Beijing time, UTC+8),
 * and the comma-separated tables with a header line — read with the shared CSV reader in its line-oriented `none`
 * dialect: the Taobao files never quote, so a quote is data (as the loader always read them).
 */
import { CsvReader } from '../../parse/csv.js';
import { clip } from '../../parse/text.js';
import type { RowErrors } from '../row-errors.js';

export const NUMBER_RE = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;
export const DIGITS_RE = /^\d+$/;
export const BTAGS = new Set(['pv', 'cart', 'fav', 'buy']);
/** Largest time stamp accepted (seconds; int32). */
export const MAX_TIME = 2 ** 31 - 1;

export const HOUR = 3600;
export const DAY = 86400;
/** The data's days and hours are Beijing time (UTC+8). */
export const CST = 8 * HOUR;

/** A value quoted in a message, clipped. */
export const short = (s: string, max = 60): string => clip(s, max);

export const isDigits = (s: string): boolean => {
  if (s.length === 0 || s.length > 18) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
};

/** The value of a digit string without leading zeros (at most 15 digits), else −1. */
export const canonical = (s: string): number =>
  s.length <= 15 && isDigits(s) && !(s.length > 1 && s.charCodeAt(0) === 48) ? Number(s) : -1;

export const isNull = (s: string): boolean => s === '' || s === 'NULL' || s === 'null';

/** The hour of day (0–23, UTC+8) of Unix seconds `t`. */
export const hourOf = (t: number): number => Math.floor((((t + CST) % DAY) + DAY) % DAY / HOUR);

/** Unix seconds of 00:00 UTC+8 of a YYYY-MM-DD day; throws on anything else. */
export function taobaoDayStart(day: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  const ms = m === null ? NaN : Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (m === null || !Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 10) !== day) {
    throw new Error(`testDay must be a date YYYY-MM-DD, got ${String(day)}`);
  }
  return ms / 1000 - CST;
}

const DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/;

/** Unix seconds and hour (UTC+8) of a joined time_stamp ("YYYY-MM-DD HH:MM:SS" Beijing time, or Unix seconds). */
export function joinedTime(s: string): { t: number; hour: number } | null {
  if (isDigits(s)) {
    const t = Number(s);
    if (t > MAX_TIME) return null;
    return { t, hour: hourOf(t) };
  }
  const m = DATETIME_RE.exec(s);
  if (m === null) return null;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return null;
  return { t: Date.UTC(y, mo - 1, d, h, mi, se) / 1000 - CST, hour: h };
}

/** Column indices of `wanted` in a header line; throws naming the file and the missing columns. */
export function headerIndex(file: string, line: string, wanted: readonly string[]): { index: number[]; width: number } {
  const names = line.split(',').map((s) => s.trim());
  const missing = wanted.filter((w) => !names.includes(w));
  if (missing.length > 0) {
    throw new Error(
      `${file}: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ` +
        `(expected a header line with ${wanted.join(',')}; found "${short(line, 200)}")`,
    );
  }
  return { index: wanted.map((w) => names.indexOf(w)), width: names.length };
}

/**
 * Reads a comma-separated file with a header naming (at least) `columns`: calls `onRow(fields, col, lineNo)` for every
 * data line, where `col[k]` is the index of columns[k]. Blank lines are counted; a line with another field count than
 * the header is a row error `badFieldCountReason`. Returns the number of lines read.
 */
export async function readCsvTable(file: string, columns: readonly string[], errors: RowErrors, badFieldCountReason: string,
  onRow: (fields: string[], col: number[], lineNo: number) => void): Promise<number> {
  let col: number[] = [];
  let width = 0;
  const reader = new CsvReader(file, { quoting: 'none' }, (f, n, lineNo) => {
    if (lineNo === 1) {
      ({ index: col, width } = headerIndex(file, f.join(','), columns));
      return;
    }
    if (n === 1 && f[0].trim() === '') return errors.count('blankLines');
    if (n !== width) {
      return errors.row(badFieldCountReason, file, lineNo, `expected ${width} comma-separated fields (${columns.join(',')}), got ${n}`);
    }
    onRow(f, col, lineNo);
  });
  await reader.read();
  return reader.lines;
}
