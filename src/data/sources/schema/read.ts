/**
 * The data files of a schema, row by row into the builder: CSV / TSV (the shared RFC-4180 reader of ../../parse/csv.ts,
 * streamed; `.gz` too), JSONL (one object per line), Parquet (hyparquet, one row group at a time). Each reader finds
 * the schema's columns (a missing one is an error listing the file's columns) and hands every row's values, in the
 * builder's column order, to `SchemaRows.row`.
 */
import { basename } from 'node:path';
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, parquetSchema } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { CsvReader } from '../../parse/csv.js';
import { readLines } from '../../parse/lines.js';
import { preview } from '../row-errors.js';
import type { SchemaRows } from './rows.js';
import { checkFilesExist } from './spec.js';
import type { DataSchema, SchemaDataFile, SchemaSpec } from './types.js';

async function readCsv(b: SchemaRows, f: SchemaDataFile, spec: SchemaSpec): Promise<number> {
  const sepChar = spec.separator ?? (f.path.toLowerCase().replace(/\.gz$/, '').endsWith('.tsv') ? '\t' : ',');
  const cols = b.cols;
  const values: unknown[] = new Array<unknown>(cols.length);
  let index: Int32Array | null = null;
  let width = 0;
  let records = 0;
  const setHeader = (names: string[], what: string): void => {
    width = names.length;
    index = new Int32Array(cols.length);
    cols.forEach((c, k) => {
      const at = names.indexOf(c.name);
      if (at < 0) throw b.missingColumn(k, what, names);
      if (names.indexOf(c.name, at + 1) >= 0) throw new Error(`${f.path}: column "${c.name}" appears twice in the header (columns ${at + 1} and ${names.indexOf(c.name, at + 1) + 1})`);
      index![k] = at;
    });
    const want = new Uint8Array(width);
    for (const k of index) want[k] = 1;
    parser.want = want;
  };
  const parser = new CsvReader(
    f.path,
    { delimiter: sepChar },
    (fields, nf, line, blank) => {
      if (index === null) {
        if (blank) {
          b.errors.count('blankLines');
          return;
        }
        setHeader(fields.slice(0, nf).map((s) => s.trim()), 'columns');
        return;
      }
      if (blank) {
        b.errors.count('blankLines');
        return;
      }
      records++;
      if (nf !== width) {
        b.rowError('wrongColumnCount', line, `expected ${width} columns (as in the ${spec.header === false ? 'schema\'s "columns"' : 'header'}), got ${nf}`);
        return;
      }
      for (let k = 0; k < values.length; k++) values[k] = fields[index[k]];
      b.row(values, line);
    },
    (line, what) => {
      if (index === null) throw new Error(`${f.path}:${line}: malformed header line: ${what}`);
      records++;
      b.rowError('malformedLines', line, what);
    },
  );
  if (spec.header === false) setHeader(spec.columns!, 'columns (schema "columns")');
  await parser.read();
  if (index === null) throw new Error(`${f.path}: empty file (expected a header line and rows)`);
  if (records === 0) throw new Error(`${f.path}: no data rows${spec.header === false ? '' : ' (only a header line)'}`);
  return records;
}

async function readJsonl(b: SchemaRows, f: SchemaDataFile): Promise<number> {
  const cols = b.cols;
  const values: unknown[] = new Array<unknown>(cols.length);
  const seen = new Uint8Array(cols.length);
  const keys = new Set<string>();
  let records = 0;
  await readLines(f.path, (line, lineNo) => {
    if (line.trim() === '') {
      b.errors.count('blankLines');
      return;
    }
    records++;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch (e) {
      b.rowError('malformedLines', lineNo, `expected a JSON object, got invalid JSON (${(e as Error).message})`);
      return;
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) {
      b.rowError('malformedLines', lineNo, `expected a JSON object, got ${Array.isArray(o) ? 'a list' : preview(o)}`);
      return;
    }
    const obj = o as Record<string, unknown>;
    if (records <= 1000) for (const k in obj) keys.add(k); // for the message of a missing column
    for (let k = 0; k < cols.length; k++) {
      const has = Object.hasOwn(obj, cols[k].name);
      if (has) seen[k] = 1;
      values[k] = has ? obj[cols[k].name] : undefined;
    }
    b.row(values, lineNo);
  });
  if (records === 0) throw new Error(`${f.path}: empty file (expected one JSON object per line)`);
  const missing = cols.findIndex((_, k) => seen[k] === 0);
  if (missing >= 0) throw b.missingColumn(missing, 'keys', [...keys]);
  return records;
}

async function readParquet(b: SchemaRows, f: SchemaDataFile): Promise<number> {
  let file;
  let metadata;
  try {
    file = await asyncBufferFromFile(f.path);
    metadata = await parquetMetadataAsync(file);
  } catch (e) {
    throw new Error(`${f.path}: not a readable Parquet file (${(e as Error).message})`);
  }
  const names = (parquetSchema(metadata).children ?? []).map((c) => c.element.name);
  const cols = b.cols;
  cols.forEach((c, k) => {
    if (!names.includes(c.name)) throw b.missingColumn(k, 'columns', names);
  });
  const total = Number(metadata.num_rows);
  if (total === 0) throw new Error(`${f.path}: empty file (no rows)`);
  let start = 0;
  for (const g of metadata.row_groups) {
    const end = start + Number(g.num_rows);
    let rows: unknown[][] = [];
    try {
      await parquetRead({ file, metadata, columns: cols.map((c) => c.name), rowStart: start, rowEnd: end, compressors, onComplete: (r: unknown[][]) => (rows = r) });
    } catch (e) {
      throw new Error(`${f.path}: cannot read rows ${start + 1}..${end} (${(e as Error).message})`);
    }
    for (let r = 0; r < rows.length; r++) b.row(rows[r], start + r + 1);
    start = end;
  }
  return total;
}

/** Feeds every data file of the schema to the builder, in order. */
export async function readAll(b: SchemaRows, schema: DataSchema, progress: (msg: string) => void): Promise<number> {
  checkFilesExist(schema);
  let total = 0;
  for (const f of schema.files) {
    b.beginFile(f);
    const t0 = performance.now();
    const lines = f.format === 'csv' ? await readCsv(b, f, schema.spec) : f.format === 'jsonl' ? await readJsonl(b, f) : await readParquet(b, f);
    const sec = (performance.now() - t0) / 1000;
    total += lines;
    progress(`schema: ${b.fileRows} rows read from ${basename(f.path)} in ${sec.toFixed(1)} s (${Math.round(lines / Math.max(sec, 1e-9))} rows/s)`);
  }
  return total;
}
