/** Cell values of a row (CSV text, JSON values, Parquet values) as the builder takes them. */
import { preview } from '../row-errors.js';

export class BadValue extends Error {}

/** One value as a trimmed string ('' = absent); throws BadValue for objects and lists. */
export function scalar(v: unknown, col: string): string {
  if (typeof v === 'string') return v.trim();
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return v.toISOString();
  throw new BadValue(`expected "${col}" to be a single value, got ${preview(v)}`);
}

/** A sequence cell: a list, a `sep`-joined string ('' = empty), a single number, or null (empty). */
const HAS_SPACE = /\s/;

export function sequence(v: unknown, col: string, sep: string): string[] {
  if (typeof v === 'string') {
    const t = v.trim();
    if (t === '') return [];
    const parts = t.split(sep);
    if (HAS_SPACE.test(t)) for (let i = 0; i < parts.length; i++) parts[i] = parts[i].trim();
    return parts;
  }
  if (v === null || v === undefined) return [];
  if (Array.isArray(v)) {
    const out = new Array<string>(v.length);
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (x !== null && typeof x === 'object' && !(x instanceof Date)) {
        throw new BadValue(`expected "${col}" to be a list of single values, got ${preview(v)}`);
      }
      out[i] = scalar(x, col);
    }
    return out;
  }
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return [String(v)];
  throw new BadValue(`expected "${col}" to be a list or a ${JSON.stringify(sep)}-separated string, got ${preview(v)}`);
}

export function labelValue(v: unknown): number {
  if (v === 0 || v === 1) return v;
  if (v === true || v === false) return v ? 1 : 0;
  if (v === 0n || v === 1n) return Number(v);
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (t === '1' || t === 'true' || /^1\.0*$/.test(t)) return 1;
    if (t === '0' || t === 'false' || /^0\.0*$/.test(t)) return 0;
  }
  return -1;
}

/** A time as a number: numbers as they are, dates (ISO strings, Date) as Unix seconds; null if neither. */
export function timeValue(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return Number.isFinite(v.getTime()) ? v.getTime() / 1000 : null;
  if (typeof v === 'string') {
    const t = v.trim();
    if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return Number(t);
    if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
      const ms = Date.parse(t);
      if (Number.isFinite(ms)) return ms / 1000;
    }
  }
  return null;
}

export function describe(v: unknown): string {
  return v === undefined ? 'nothing (no such key)' : v === '' ? 'an empty value' : preview(v);
}
