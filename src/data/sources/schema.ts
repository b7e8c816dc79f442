/**
 * Users' own click logs, described by a declarative schema file (JSON) next to CSV / JSONL / Parquet data files — the
 * paper's Table 1 (user profile, behaviours, candidate ad, context) for any data:
 *
 *   {
 *     "format": "csv",                                  csv | jsonl | parquet; default: each file's extension
 *     "files": { "train": "train.csv", "test": "test.csv" },     or { "all": "log.csv" } with "split" (below);
 *                                                       each entry a path or a list of paths, relative to the schema
 *     "split": { "by": "time", "column": "ts", "testFraction": 0.2 },   only with "all", see below
 *     "separator": ",", "header": true,                 CSV only; "columns": [...] names the columns when header=false
 *     "sequenceSeparator": "|",                         splits sequence cells (CSV, and strings in JSONL/Parquet)
 *     "label": "clk",                                   0/1, true/false (also "1.0"/"0.0")
 *     "user": "user_id",                                groups samples for GAUC (not a feature: add it to userFields)
 *     "candidate": { "goods": "item_id", "category": "cate_id", "fields": ["shop_id", "brand_id"] },
 *     "behaviors": { "goods": "hist_item_ids", "category": "hist_cate_ids",
 *                    "fields": { "shop_id": "hist_shop_ids" }, "order": "oldest-first" },
 *     "userFields": ["gender", "age"], "contextFields": ["pid", "hour"],
 *     "maxHistory": 50,
 *     "vocab": { "minCount": 1, "topK": null, "hashBuckets": null, "perField": { "item_id": { "hashBuckets": 1000000 } } }
 *   }
 * Only "files", "label", "user" and "candidate" (with at least one key) are required. Every group takes any number
 * of fields. `readSchema` validates the file against SCHEMA_JSON_SCHEMA (ajv), then checks what JSON Schema cannot say
 * (combinations, names); both report `<schema file>: invalid schema: $.json.path: message`.
 *
 * Splits: {"train", "test"} files are used as they are. With {"all"}, "split" is required:
 *  - {"by": "time", "column": c, "testFraction": f}: the last round(f·rows) rows by time (ties: file order) are test;
 *    {"by": "time", "column": c, "testFrom": t}: rows with time >= t are test. Times are numbers (used as they are),
 *    or dates (ISO strings, Parquet timestamps) taken as Unix seconds.
 *  - {"by": "user", "testFraction": f}: round(f·users) users (at least 1, at most all but 1), drawn by a seeded
 *    shuffle (`seed`), give all their rows to test.
 *  - {"by": "column", "column": c, "testValues": ["test"]}: rows whose c is one of testValues are test, others train.
 *
 * Items (the catalog) are (goods, category, fields…) tuples shared by candidates and behaviours:
 *  - A candidate or behaviour position with a goods id is the item of that goods id (`itemKeys` = the goods id). Its
 *    category and item fields take the values seen with it: a value from a candidate row beats one from a behaviour
 *    sequence; otherwise the first seen wins. Behaviour positions only fill values the item does not have yet; every
 *    candidate occurrence whose value differs from the one kept (the first candidate value, or a behaviour value it
 *    then replaces) is counted in `skipped.itemValueConflicts` (a count: no row is skipped). Behaviour values are not
 *    compared (that would cost a string comparison per position and field). An empty value (or null) is absent:
 *    item field −1, no category in the attribute bag.
 *  - A candidate or behaviour position without a goods id (no goods column, or an empty value) is a goods-less item
 *    keyed by its (category, fields…) values: `itemKeys` = JSON of the present values, e.g. {"cate_id":"7","shop_id":"3"};
 *    its goods row is −1 (no goods feature). A candidate or position with no value at all is a row error.
 *  - Item ids are dense in first-seen order over the files (train files first, then test files; or file order).
 *  - A behaviour field column shares the table of the candidate field it is keyed by (behaviors.fields:
 *    {"<candidate field>": "<sequence column>"}); behaviors.goods / .category share the goods / category tables.
 *  - Sequences: the columns of one row must have equal lengths (row error otherwise); an empty cell is an empty
 *    history. Histories are kept oldest first ("order": "newest-first" reverses them), truncated to the most recent
 *    `maxHistory` (default: all; counted in stats.truncatedHistories; truncated positions create no items). A row whose
 *    history equals the previous row's shares its storage (stats.sharedHistories).
 *
 * Vocabularies (FieldVocabBuilder, from the TRAINING rows only; ./field-vocab.ts): goods, category, each item field,
 * each user and context field. Item tables count every occurrence of an item in a training row — as candidate or
 * as a kept behaviour position — with the item's (resolved) value; sample fields count training rows. Ids 1.. go in
 * first-seen order; id 0 is OOV: values seen only in test, or cut by minCount / topK, map to it — and a goods id
 * outside the goods vocabulary keeps its own item (category, fields) but shares goods row 0 (`goodsRows`; the
 * paper's "rare goods" row). With hashBuckets a field has no vocabulary and no OOV row: ids are hash buckets (for
 * the goods field: its goods rows). The vocab options of a field: the global ones (`vocab`), replaced by the
 * loader's `vocab` option (CLI flags) when given, then by `vocab.perField[<field name>]` (null unsets a key). A
 * field's name is its candidate column (goods / category: the behaviour column when the candidate has none).
 * Sample field values are single values; the empty string is a value of its own ("unknown" in the log).
 * All values are trimmed; numbers and booleans are taken as their JSON text (1 → "1"), bigints (Parquet INT64) as
 * digits, dates as ISO strings. (JSON numbers beyond 2^53 lose digits in JSON.parse: write such ids as strings.)
 *
 * Formats: CSV (RFC 4180: quotes, doubled quotes, quoted newlines, CRLF, BOM; a small streaming byte parser —
 * csv-parse measured 5× slower on the 1M-row benchmark), `.csv.gz` / `.tsv` (tab default) too; JSONL (one object
 * per line, `.jsonl`, `.ndjson`, `.json`, `.gz`; sequences as arrays or separator-joined strings); Parquet (hyparquet,
 * with hyparquet-compressors for gzip/zstd/brotli/lz4 pages; sequences as LIST columns or strings).
 *
 * Errors vs. counts (`onError`, the policy of ./row-errors.ts):
 *  - Structural problems always throw, naming the file: an unreadable or invalid schema; a missing data file; an
 *    empty data file (no data row); a schema column missing from a data file — `<schema>: column "c" (its role) is
 *    not in <file>; its columns are: …` (for JSONL: a key no object of the file has, listing the keys of its first 1000 objects); a
 *    duplicated header column the schema uses; no training rows or no test rows left; a CSV quoted field running
 *    past 64 MiB.
 *  - Row errors are skipped and counted by reason (onError 'skip', default) or throw `<file>:<line>: <what was
 *    expected>, got …` ('fail'; Parquet: `<file>: row <n>: …`): `malformedLines` (CSV quote errors; JSONL lines that
 *    are not a JSON object), `wrongColumnCount` (CSV), `badLabels`, `missingUsers` (empty user), `badValues` (an
 *    object/list where one value is expected, or a sequence that is neither a list nor a string), `badTimes`
 *    (split by time: not a number or date), `unequalSequenceLengths`, `emptyItems` (a candidate or behaviour with
 *    no goods id and no field value). Counted, never errors: `blankLines`, `itemValueConflicts`.
 *
 * Memory (`loadSchemaDataset`, the whole Dataset in memory): rows are streamed (CSV/JSONL in 1 MiB chunks; Parquet
 * one row group at a time). Logs larger than memory go through `convertSchemaToShards` instead (`din data convert`):
 * the same rows, ids and vocabularies, written as SampleSet shards with only one chunk of rows in memory (see its
 * comment for the bound). Held until the Dataset
 * is built: per row a label byte, user / candidate / history start / length / split (Int32 or byte) and one Int32 per
 * sample field (plus a Float64 time for a time split); 4 bytes per kept behaviour position (repeated histories
 * shared); per item its key string, one Int32 for the category and per item field; the distinct raw strings of
 * every non-hashed field (hashed fields keep no strings) and of the users. Vocabulary counts are typed arrays
 * indexed by those temporary ids.
 *
 * Speed (1M generated rows: 13 columns, 3 behaviour columns of 14.5 positions on average, 200k goods, 100k users; a
 * shared 2-core machine where the process got 50–70% of a core): CSV (300 MB) 21–24k rows/s with every row's history
 * drawn at random, 48–55k rows/s when rows come in page views of 1–4 ads sharing a history (their cells are reused,
 * not re-parsed); JSONL (545 MB, random histories) 27k rows/s; Parquet (200k rows) 18k rows/s. Peak RSS 280–375 MB.
 * The cost is dominated by the goods-id lookup of every behaviour position (a Map of 200k strings; memory-bound).
 */
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Ajv, type ErrorObject } from 'ajv';
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, parquetSchema } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import type { Dataset, ItemCatalog, SampleSet } from '../types.js';
import type { ItemField, SampleField, SampleFieldGroup } from '../fields.js';
import { FieldVocab, FieldVocabBuilder, validateVocabOptions, type VocabOptions } from '../field-vocab.js';
import { allocSampleSet } from '../sample-set.js';
import { readTypedJson, writeTypedJson } from '../cache.js';
import { ShardWriter, type ShardManifest } from '../shards.js';
import { Float64Column, IntColumn, Uint8Column, Vocab } from '../vocab.js';
import { Rng } from '../../util/rng.js';
import { readLines } from './amazon-raw.js';
import { preview, RowErrors, rowErrorPolicy, type RowErrorPolicy } from './row-errors.js';

/** The format of a data file: from the schema's `format`, else the file's extension (see the file header). */
export type DataFileFormat = 'csv' | 'jsonl' | 'parquet';

/** Vocabulary options as written in a schema (null = not set). */
export interface SchemaVocabOptions {
  /** Values seen fewer times than this in training share the OOV row; an integer ≥ 1 (default 1: keep all). */
  minCount?: number;
  /** Keep only the K most frequent training values, the rest go to OOV; an integer ≥ 0, null: no cut. */
  topK?: number | null;
  /** Hash raw values into this many buckets instead of a vocabulary (no OOV row); 1..2^30, null: no hashing. */
  hashBuckets?: number | null;
}

/**
 * How the rows of `files.all` are split into train and test (only used with `files.all`; see the file header): by a
 * time column, by user, or by the value of a column.
 */
export type SchemaSplit =
  | {
      /** Split by time: the latest rows are test. */
      by: 'time';
      /** The time column: numbers (used as they are) or dates (ISO strings, Parquet timestamps; as Unix seconds). */
      column: string;
      /**
       * The last round(f·rows) rows by time (ties: file order) are test, at least 1 and at most all but 1. In (0, 1);
       * give this or `testFrom`. Not usable when converting to shards (it needs every row's time at once).
       */
      testFraction?: number;
      /** Rows whose time is ≥ this (a number, or a date as Unix seconds) are test; give this or `testFraction`. */
      testFrom?: number | string;
    }
  | {
      /** Split by user: the test users give all their rows to test, so they are unseen in training. */
      by: 'user';
      /**
       * Fraction of users, in (0, 1), drawn by a seeded shuffle as test users: round(f·users), at least 1 and at most
       * all but 1.
       */
      testFraction: number;
    }
  | {
      /** Split by the value of a column (e.g. an existing "split" column). */
      by: 'column';
      /** The column whose value decides the split. */
      column: string;
      /** Values of `column` that mark test rows (compared as trimmed text: 1 matches "1"); all other rows are train. */
      testValues: Array<string | number | boolean>;
    };

/** The schema file as written (after validation). */
export interface SchemaSpec {
  /** URL or path of a JSON Schema for editors; accepted and ignored by the loader. */
  $schema?: string;
  /** Free text about the data; accepted and ignored by the loader. */
  description?: string;
  /** Dataset name (`Dataset.name`); default: the schema file's name without its extension. */
  name?: string;
  /**
   * Format of every data file; default: each file's extension (.csv / .tsv / .txt, .jsonl / .ndjson / .json,
   * .parquet / .pq; each optionally + .gz).
   */
  format?: DataFileFormat;
  /**
   * The data files, each entry a path or a list of paths relative to the schema file: `train` and `test` (used as the
   * split), or `all` (split by `split`).
   */
  files: {
    /** Training file(s); requires `test`. */
    train?: string | string[];
    /** Test file(s); requires `train`. */
    test?: string | string[];
    /** File(s) holding every row; requires `split`, excludes `train` / `test`. */
    all?: string | string[];
  };
  /** How the rows of `files.all` are split; required with `files.all`, not allowed otherwise. */
  split?: SchemaSplit;
  /** CSV field separator, one ASCII character other than a quote or newline; default `,` (tab for `.tsv`). */
  separator?: string;
  /** CSV: whether the first line names the columns. Default true; with false, `columns` names them. */
  header?: boolean;
  /** CSV without a header: the column names, in file order; only allowed with `header: false`. */
  columns?: string[];
  /** Separator inside sequence cells (CSV cells, and string cells of JSONL / Parquet). Default `|`. */
  sequenceSeparator?: string;
  /** The label column: 0/1, true/false, or "1.0"/"0.0"; any other value is a row error (`badLabels`). */
  label: string;
  /**
   * The user-id column: groups samples for GAUC and for the split by user. Not a feature: list it in `userFields` to
   * embed it.
   */
  user: string;
  /** Columns of the candidate ad; at least one key. */
  candidate: {
    /** The candidate's goods-id column (the goods table). */
    goods?: string;
    /** The candidate's category column (the category table; an item's category is its attribute). */
    category?: string;
    /** Further single-valued item-field columns (shop, brand …), each with its own table shared with behaviours. */
    fields?: string[];
  };
  /** Sequence columns of the user's behaviours, position-aligned with each other; at least one key when present. */
  behaviors?: {
    /** Sequence column of behaviour goods ids; shares the goods table with the candidate. */
    goods?: string;
    /** Sequence column of behaviour categories; shares the category table with the candidate. */
    category?: string;
    /** Behaviour field columns keyed by the candidate field whose table they share: `{"shop_id": "hist_shop_ids"}`. */
    fields?: Record<string, string>;
    /** Order of the sequences in the data; they are stored oldest first either way. Default `oldest-first`. */
    order?: 'oldest-first' | 'newest-first';
  };
  /** User-profile columns (gender, age …): sample fields of group `user`, one vocabulary each. */
  userFields?: string[];
  /** Context columns (pid, hour …): sample fields of group `context`, one vocabulary each. */
  contextFields?: string[];
  /** Keep at most this many most recent behaviours per row (an integer ≥ 1); default: all. */
  maxHistory?: number;
  /** Vocabulary options of every field (the loader's `vocab` option overrides them key by key), then `perField`. */
  vocab?: SchemaVocabOptions & {
    /** Options of single fields, keyed by field name (its candidate column; see the file header); null unsets a key. */
    perField?: Record<string, SchemaVocabOptions>;
  };
}

/** One data file of a schema, resolved. */
export interface SchemaDataFile {
  /** Absolute path. */
  path: string;
  /** How the file is read: the schema's `format`, else from its extension. */
  format: DataFileFormat;
  /** Which `files` entry listed it: `train` / `test` rows as given, or `all` rows split by the schema's `split`. */
  role: 'train' | 'test' | 'all';
}

/** A validated schema with its data files resolved. */
export interface DataSchema {
  /** Absolute path of the schema file. */
  path: string;
  /** Dataset name: the schema's `name`, else the schema file's name without its extension. */
  name: string;
  /** The schema as written. */
  spec: SchemaSpec;
  /** The data files, absolute: train files, then test files, then `all` files, each in the order listed. */
  files: SchemaDataFile[];
}

const MAX_SCHEMA_BYTES = 1 << 20;
const MAX_QUOTED_BYTES = 64 << 20;

// ---------------------------------------------------------------------------------------------------------------------
// The schema of the schema file.

const name = { type: 'string', minLength: 1 } as const;
const names = { type: 'array', items: name } as const;
const fileList = { type: ['string', 'array'], minLength: 1, minItems: 1, items: name } as const;
const vocabOptions = {
  minCount: { type: 'integer', minimum: 1 },
  topK: { type: ['integer', 'null'], minimum: 0 },
  hashBuckets: { type: ['integer', 'null'], minimum: 1, maximum: 2 ** 30 },
} as const;

/** JSON Schema (draft-07) of a schema file: types, keys and ranges; combinations are checked in code. */
export const SCHEMA_JSON_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['files', 'label', 'user', 'candidate'],
  properties: {
    $schema: { type: 'string' },
    description: { type: 'string' },
    name,
    format: { enum: ['csv', 'jsonl', 'parquet'] },
    files: {
      type: 'object',
      additionalProperties: false,
      properties: { train: fileList, test: fileList, all: fileList },
    },
    split: {
      type: 'object',
      additionalProperties: false,
      required: ['by'],
      properties: {
        by: { enum: ['time', 'user', 'column'] },
        column: name,
        testFraction: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
        testFrom: { type: ['number', 'string'] },
        testValues: { type: 'array', minItems: 1, items: { type: ['string', 'number', 'boolean'] } },
      },
    },
    separator: { type: 'string', minLength: 1, maxLength: 1 },
    header: { type: 'boolean' },
    columns: { ...names, minItems: 1 },
    sequenceSeparator: { type: 'string', minLength: 1 },
    label: name,
    user: name,
    candidate: {
      type: 'object',
      additionalProperties: false,
      properties: { goods: name, category: name, fields: names },
    },
    behaviors: {
      type: 'object',
      additionalProperties: false,
      properties: {
        goods: name,
        category: name,
        fields: { type: 'object', additionalProperties: name },
        order: { enum: ['oldest-first', 'newest-first'] },
      },
    },
    userFields: names,
    contextFields: names,
    maxHistory: { type: 'integer', minimum: 1 },
    vocab: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ...vocabOptions,
        perField: {
          type: 'object',
          additionalProperties: { type: 'object', additionalProperties: false, properties: vocabOptions },
        },
      },
    },
  },
} as const;

let validator: ReturnType<Ajv['compile']> | null = null;

/** `$.a.b[0]` from ajv's JSON Pointer `/a/b/0`. */
function jsonPath(pointer: string, extraKey?: string): string {
  let p = '$';
  const parts = pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (extraKey !== undefined) parts.push(extraKey);
  for (const s of parts) p += /^\d+$/.test(s) ? `[${s}]` : /^[A-Za-z_$][\w$]*$/.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`;
  return p;
}

function ajvMessage(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  if (e.keyword === 'additionalProperties') return `${jsonPath(e.instancePath)}: unknown key "${String(params.additionalProperty)}"`;
  if (e.keyword === 'required') return `${jsonPath(e.instancePath)}: missing key "${String(params.missingProperty)}"`;
  if (e.keyword === 'enum') {
    return `${jsonPath(e.instancePath)}: ${e.message} (${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')})`;
  }
  if (e.keyword === 'type') return `${jsonPath(e.instancePath)}: must be ${String(params.type).replace(/,/g, ' or ')}`;
  return `${jsonPath(e.instancePath)}: ${e.message ?? e.keyword}`;
}

function invalid(path: string, msg: string): Error {
  return new Error(`${path}: invalid schema: ${msg}`);
}

function asList(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : typeof v === 'string' ? [v] : v;
}

function formatOf(file: string, declared: DataFileFormat | undefined, schemaPath: string): DataFileFormat {
  if (declared !== undefined) return declared;
  const f = file.toLowerCase().replace(/\.gz$/, '');
  if (f.endsWith('.csv') || f.endsWith('.tsv') || f.endsWith('.txt')) return 'csv';
  if (f.endsWith('.jsonl') || f.endsWith('.ndjson') || f.endsWith('.json')) return 'jsonl';
  if (f.endsWith('.parquet') || f.endsWith('.pq')) return 'parquet';
  throw invalid(schemaPath, `$.format: cannot tell the format of "${file}" from its extension; set "format" (csv, jsonl or parquet)`);
}

/** The checks JSON Schema does not express (combinations, names). */
function checkSpec(path: string, s: SchemaSpec): void {
  const bad = (p: string, msg: string) => invalid(path, `${p}: ${msg}`);
  const f = s.files;
  if (f.all !== undefined) {
    if (f.train !== undefined || f.test !== undefined) throw bad('$.files', 'give either "train" and "test", or "all" (with "split"), not both');
    if (s.split === undefined) throw bad('$', 'missing key "split" (required with files.all: how to split the rows into train and test)');
  } else {
    if (f.train === undefined || f.test === undefined) throw bad('$.files', 'give either "train" and "test", or "all" (with "split")');
    if (s.split !== undefined) throw bad('$.split', 'only used with files.all (the train and test files are the split)');
  }
  const sp = s.split;
  if (sp !== undefined) {
    const keys = Object.keys(sp).filter((k) => k !== 'by');
    const allowed = { time: ['column', 'testFraction', 'testFrom'], user: ['testFraction'], column: ['column', 'testValues'] }[sp.by];
    for (const k of keys) if (!allowed.includes(k)) throw bad(`$.split.${k}`, `not used with "by": "${sp.by}" (its keys: ${allowed.join(', ')})`);
    if (sp.by === 'time') {
      if (sp.column === undefined) throw bad('$.split', 'missing key "column" (the time column)');
      if ((sp.testFraction === undefined) === (sp.testFrom === undefined)) throw bad('$.split', 'give exactly one of "testFraction" and "testFrom"');
      if (sp.testFrom !== undefined && timeValue(sp.testFrom) === null) {
        throw bad('$.split.testFrom', `expected a number or a date, got ${JSON.stringify(sp.testFrom)}`);
      }
    } else if (sp.by === 'user') {
      if (sp.testFraction === undefined) throw bad('$.split', 'missing key "testFraction"');
    } else {
      if (sp.column === undefined) throw bad('$.split', 'missing key "column"');
      if (sp.testValues === undefined) throw bad('$.split', 'missing key "testValues" (the values of test rows)');
    }
  }
  if (s.header === false && s.columns === undefined) throw bad('$', 'missing key "columns" (required with "header": false)');
  if (s.header !== false && s.columns !== undefined) throw bad('$.columns', 'only used with "header": false (the header names the columns)');
  if (s.separator !== undefined && (s.separator.charCodeAt(0) > 127 || '"\r\n'.includes(s.separator))) {
    throw bad('$.separator', `must be one ASCII character other than a quote or newline, got ${JSON.stringify(s.separator)}`);
  }
  const c = s.candidate;
  if (c.goods === undefined && c.category === undefined && (c.fields ?? []).length === 0) {
    throw bad('$.candidate', 'give at least one of "goods", "category", "fields"');
  }
  const unique = (p: string, list: string[]) => {
    const seen = new Set<string>();
    list.forEach((v, i) => {
      if (seen.has(v)) throw bad(`${p}[${i}]`, `"${v}" appears twice`);
      seen.add(v);
    });
  };
  const candCols = [c.goods, c.category, ...(c.fields ?? [])].filter((v): v is string => v !== undefined);
  unique('$.candidate', candCols);
  unique('$.userFields', s.userFields ?? []);
  unique('$.contextFields', s.contextFields ?? []);
  unique('$.columns', s.columns ?? []);
  const b = s.behaviors;
  if (b !== undefined) {
    const fields = b.fields ?? {};
    if (b.goods === undefined && b.category === undefined && Object.keys(fields).length === 0) {
      throw bad('$.behaviors', 'give at least one of "goods", "category", "fields"');
    }
    for (const k of Object.keys(fields)) {
      if (!(c.fields ?? []).includes(k)) {
        throw bad(`$.behaviors.fields.${k}`, `"${k}" is not a candidate field (candidate.fields: ${(c.fields ?? []).join(', ') || 'none'}); a behaviour field shares the table of a candidate field`);
      }
    }
    unique('$.behaviors', [b.goods, b.category, ...Object.values(fields)].filter((v): v is string => v !== undefined));
  }
  const known = fieldNames(s);
  const per = s.vocab?.perField ?? {};
  for (const k of Object.keys(per)) {
    if (!known.includes(k)) throw bad(`$.vocab.perField.${k}`, `"${k}" is not a field (fields: ${known.join(', ')})`);
  }
}

/** Names of every table: goods, category, item fields, user fields, context fields (duplicates kept once). */
function fieldNames(s: SchemaSpec): string[] {
  const out = [
    s.candidate.goods ?? s.behaviors?.goods,
    s.candidate.category ?? s.behaviors?.category,
    ...(s.candidate.fields ?? []),
    ...(s.userFields ?? []),
    ...(s.contextFields ?? []),
  ].filter((v): v is string => v !== undefined);
  return [...new Set(out)];
}

/** Reads and validates a schema file; throws `<path>: invalid schema: $.path: message` (or why it cannot be read). */
export function readSchema(path: string): DataSchema {
  const abs = resolve(path);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    throw new Error(`${abs}: cannot read the schema (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    throw new Error(`${abs}: the schema is not valid JSON (${(e as Error).message})`);
  }
  validator ??= new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(SCHEMA_JSON_SCHEMA as object);
  if (!validator(json)) {
    const errs = validator.errors ?? [];
    const shown = errs.slice(0, 3).map(ajvMessage);
    if (errs.length > 3) shown.push(`… ${errs.length - 3} more`);
    throw invalid(abs, shown.join('; '));
  }
  const spec = json as SchemaSpec;
  checkSpec(abs, spec);
  const dir = dirname(abs);
  const files: SchemaDataFile[] = [];
  for (const role of ['train', 'test', 'all'] as const) {
    for (const f of asList(spec.files[role])) files.push({ path: resolve(dir, f), format: formatOf(f, spec.format, abs), role });
  }
  return { path: abs, name: spec.name ?? basename(abs, extname(abs)), spec, files };
}

function checkFilesExist(s: DataSchema): void {
  for (const f of s.files) if (!existsSync(f.path)) throw new Error(`${s.path}: data file ${f.path} does not exist`);
}

/** The schema file and its data files (absolute), for the cache key. Throws if the schema is invalid or a file is missing. */
export function schemaSourceFiles(schemaPath: string): string[] {
  const s = readSchema(schemaPath);
  checkFilesExist(s);
  return [s.path, ...s.files.map((f) => f.path)];
}

/** True for a `.json` file holding an object with "label" and "candidate" keys (a schema, for `--data x.json`). */
export function isSchemaFile(path: string): boolean {
  try {
    if (!path.toLowerCase().endsWith('.json')) return false;
    const st = statSync(path);
    if (!st.isFile() || st.size > MAX_SCHEMA_BYTES) return false;
    const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, 'label') && Object.hasOwn(v, 'candidate');
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Values.

class BadValue extends Error {}

/** One value as a trimmed string ('' = absent); throws BadValue for objects and lists. */
function scalar(v: unknown, col: string): string {
  if (typeof v === 'string') return v.trim();
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return v.toISOString();
  throw new BadValue(`expected "${col}" to be a single value, got ${preview(v)}`);
}

/** A sequence cell: a list, a `sep`-joined string ('' = empty), a single number, or null (empty). */
const HAS_SPACE = /\s/;

function sequence(v: unknown, col: string, sep: string): string[] {
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

function labelValue(v: unknown): number {
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
function timeValue(v: unknown): number | null {
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

function describe(v: unknown): string {
  return v === undefined ? 'nothing (no such key)' : v === '' ? 'an empty value' : preview(v);
}

// ---------------------------------------------------------------------------------------------------------------------

/** Raw value → temporary id: first-seen ids of a Vocab, or the final hash bucket for hashed fields. */
class TempField {
  readonly vocab = new Vocab();
  constructor(readonly name: string, readonly opts: VocabOptions, readonly hashed: FieldVocab | null) {}
  id(raw: string): number {
    return this.hashed !== null ? this.hashed.id(raw) : this.vocab.id(raw);
  }
  /** Builds the vocabulary from per-temp-id training counts and first occurrences; returns it and temp → final ids. */
  finish(counts: Float64Array, first: Float64Array): { vocab: FieldVocab; map: Int32Array | null } {
    if (this.hashed !== null) return { vocab: this.hashed, map: null };
    const vocab = buildVocab(this.name, this.opts, this.vocab.keys, counts, first);
    const map = new Int32Array(this.vocab.size);
    for (let t = 0; t < map.length; t++) map[t] = vocab.id(this.vocab.keys[t]);
    return { vocab, map };
  }
}

/**
 * A FieldVocabBuilder fed with values in order of first training occurrence, each as often as its count matters:
 * once (no cut), min(count, minCount) times (min-count cut), or count times (top-K ranks by count). That is exactly
 * the vocabulary the builder gives when fed every occurrence in file order, at a fraction of the map operations.
 */
function buildVocab(name: string, opts: VocabOptions, keys: string[], counts: Float64Array, first: Float64Array): FieldVocab {
  const b = new FieldVocabBuilder(name, opts);
  const order: number[] = [];
  for (let t = 0; t < keys.length; t++) if (counts[t] > 0) order.push(t);
  order.sort((x, y) => first[x] - first[y]);
  const minCount = opts.minCount ?? 1;
  for (const t of order) {
    const reps = opts.topK !== undefined ? counts[t] : Math.min(counts[t], minCount);
    for (let k = 0; k < reps; k++) b.add(keys[t]);
  }
  return b.build();
}

// ---------------------------------------------------------------------------------------------------------------------
// Readers: each delivers rows as `values` aligned with the builder's column list.

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/**
 * A streaming RFC-4180 CSV parser on bytes (one-byte delimiter). Records are delivered complete; a record cut by
 * a chunk boundary is carried over. Only the columns in `want` are decoded (others are '').
 */
class CsvStream {
  private carry: Buffer | null = null;
  private line = 1;
  private started = false;
  want: Uint8Array | null = null;
  private readonly fields: string[] = [];

  constructor(
    private readonly file: string,
    private readonly delim: number,
    private readonly onRecord: (fields: string[], n: number, line: number, blank: boolean) => void,
    private readonly onBad: (line: number, what: string) => void,
  ) {}

  push(chunk: Buffer): void {
    let b = this.carry === null ? chunk : Buffer.concat([this.carry, chunk]);
    if (!this.started) {
      if (b.length < 3) {
        this.carry = Buffer.from(b);
        return;
      }
      this.started = true;
      if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) b = b.subarray(3);
    }
    const used = this.parse(b, false);
    this.carry = used < b.length ? Buffer.from(b.subarray(used)) : null;
    if (this.carry !== null && this.carry.length > MAX_QUOTED_BYTES) {
      throw new Error(`${this.file}:${this.line}: a record runs past 64 MiB (an unterminated quoted field?)`);
    }
  }

  end(): void {
    let b = this.carry;
    this.carry = null;
    if (b === null) return;
    if (!this.started && b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) b = b.subarray(3);
    this.started = true;
    if (b.length > 0) this.parse(b, true);
  }

  /** Parses complete records of b; returns the bytes consumed. */
  private parse(b: Buffer, eof: boolean): number {
    const n = b.length;
    const d = this.delim;
    const fields = this.fields;
    let i = 0;
    while (i < n) {
      const rs = i;
      let lines = 0;
      let nf = 0;
      let bad: string | null = null;
      for (;;) {
        const want = this.want === null || this.want[nf] === 1;
        if (i < n && b[i] === QUOTE) {
          let j = i + 1;
          let esc = false;
          for (;;) {
            if (j >= n) break;
            const c = b[j];
            if (c === QUOTE) {
              if (j + 1 < n && b[j + 1] === QUOTE) {
                esc = true;
                j += 2;
                continue;
              }
              if (j + 1 >= n && !eof) {
                j = n; // a doubled quote may straddle the chunk boundary: wait for more
              }
              break;
            }
            if (c === LF) lines++;
            j++;
          }
          if (j >= n) {
            if (!eof) return rs;
            bad = 'unterminated quoted field (expected a closing ")';
            i = n;
            break;
          }
          if (want) {
            const s = b.toString('utf8', i + 1, j);
            fields[nf] = esc ? s.replace(/""/g, '"') : s;
          } else fields[nf] = '';
          nf++;
          i = j + 1;
          if (i >= n && !eof) return rs;
          if (i < n && b[i] !== d && b[i] !== LF && b[i] !== CR) {
            bad = `unexpected character after a closing quote (expected ${JSON.stringify(String.fromCharCode(d))} or end of line)`;
            const nl = b.indexOf(LF, i);
            if (nl < 0) {
              if (!eof) return rs;
              i = n;
            } else i = nl; // the LF ends the record below
            break;
          }
        } else {
          let j = i;
          while (j < n) {
            const c = b[j];
            if (c === d || c === LF || c === CR) break;
            j++;
          }
          if (j >= n && !eof) return rs;
          fields[nf++] = want ? b.toString('utf8', i, j) : '';
          i = j;
        }
        if (i < n && b[i] === d) {
          i++;
          continue;
        }
        break;
      }
      if (i < n && b[i] === CR) {
        if (i + 1 >= n && !eof) return rs;
        i++;
      }
      if (i < n && b[i] === LF) i++;
      const line = this.line;
      this.line += 1 + lines;
      if (bad !== null) this.onBad(line, bad);
      else this.onRecord(fields, nf, line, nf === 1 && fields[0] === '' && (b[rs] === LF || b[rs] === CR || rs >= n));
    }
    return n;
  }
}

/** Calls onChunk with the bytes of a plain or `.gz` file, streaming. */
async function readChunks(file: string, onChunk: (b: Buffer) => void): Promise<void> {
  let chunkError: unknown;
  const src = createReadStream(file, { highWaterMark: 1 << 20 });
  let stream: NodeJS.ReadableStream = src;
  const gz = file.toLowerCase().endsWith('.gz');
  if (gz) {
    const gunzip = createGunzip();
    pipeline(src, gunzip, () => {
      /* errors surface through the iteration below */
    });
    stream = gunzip;
  }
  try {
    for await (const chunk of stream) {
      try {
        onChunk(chunk as Buffer);
      } catch (e) {
        chunkError = e;
        throw e;
      }
    }
  } catch (e) {
    if (e === chunkError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.syscall !== undefined) throw new Error(`${file}: cannot read (${err.message})`);
    if (gz) throw new Error(`${file}: corrupt or truncated gzip data (${err.message})`);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// The builder.

/** Options of `loadSchemaDataset`. */
export interface SchemaLoadOptions {
  /** Seed of the user split (`"split": {"by": "user"}`). Default 1. */
  seed?: number;
  /** Row errors (see the file header): 'skip' counts them in `skipped` (default), 'fail' throws at the first. */
  onError?: RowErrorPolicy;
  /** Replaces the schema's global vocab options (e.g. from CLI flags); `vocab.perField` still applies. */
  vocab?: VocabOptions;
  /** Receives human-readable progress lines (rows read per file, the first skipped row of each kind, totals). */
  onProgress?: (msg: string) => void;
}

interface ColumnUse {
  name: string;
  /** Where the schema names it, for messages: `candidate.fields[1]`. */
  role: string;
}

/** Split state of a row. */
const TRAIN = 0;
const TEST = 1;

class SchemaBuilder {
  /** The loader's vocabulary options (CLI flags), recorded in buildOptions so a run can rebuild the same data. */
  private readonly loaderVocab: VocabOptions | null;
  readonly errors: RowErrors;
  readonly policy: RowErrorPolicy;
  private readonly progress: (msg: string) => void;
  readonly cols: ColumnUse[] = [];
  private readonly colIndex = new Map<string, number>();
  // column indices (into cols) of each role; −1: none
  private readonly cLabel: number;
  private readonly cUser: number;
  private readonly cSplit: number;
  private readonly cGoods: number;
  private readonly cCat: number;
  private readonly cFields: number[];
  private readonly bGoods: number;
  private readonly bCat: number;
  /** Per item field: its behaviour column, −1 if none. */
  private readonly bFields: number[];
  private readonly bCols: number[];
  /** Slots in bCols of the behaviour goods / category / each field column (−1: none). */
  private readonly gSlot: number;
  private readonly cSlot: number;
  private readonly fSlots: number[];
  private readonly cSample: number[];
  private readonly seqSep: string;
  private readonly maxHistory: number;
  private readonly newestFirst: boolean;
  private readonly split: SchemaSplit | undefined;
  private readonly testValues: Set<string>;
  private readonly testFrom: number | null;
  // names
  readonly goodsName: string | null;
  readonly catName: string | null;
  readonly fieldNames: string[];
  readonly sampleNames: string[];
  readonly sampleGroups: SampleFieldGroup[];
  // vocab options and temp fields
  readonly goodsOpts: VocabOptions;
  private readonly cat: TempField | null;
  private readonly fields: TempField[];
  private readonly samples: TempField[];
  // users and items
  readonly users = new Vocab();
  private readonly goodsItems = new Map<string, number>();
  private readonly tupleItems = new Map<string, number>();
  readonly itemKeys: string[] = [];
  private readonly itemHasGoods = new Uint8Column();
  private readonly itemCat = new IntColumn(1 << 12);
  private readonly itemCatCand = new Uint8Column();
  private readonly itemField: IntColumn[];
  private readonly itemFieldCand: Uint8Column[];
  // rows
  // rows of the current chunk (all rows when not streaming; see takeChunk)
  labels = new Uint8Column();
  rowUser = new IntColumn(1 << 16);
  rowItem = new IntColumn(1 << 16);
  histStart = new IntColumn(1 << 16);
  histLen = new IntColumn(1 << 16);
  rowSplit = new Uint8Column();
  rowTime = new Float64Column();
  rowSample: IntColumn[];
  hist = new IntColumn(1 << 16);
  /** Rows committed before the current chunk. */
  rowsBefore = 0;
  /** Streaming: hand the rows to `onChunk` whenever the current chunk reaches this many (see convertSchemaToShards). */
  chunkRows = Infinity;
  onChunk: ((chunk: RowChunk) => void) | null = null;
  private prevStart = -1;
  private prevLen = -1;
  truncated = 0;
  shared = 0;
  // scratch of the row being read
  private readonly seqs: string[][] = [];
  private readonly posItems: number[] = [];
  /** The sequence cells, and their length, of the last committed row, while `seqs` / `posItems` still hold them. */
  private readonly prevCells: unknown[] = [];
  private prevL = 0;
  private prevValid = false;
  private readonly fieldVals: string[];
  private readonly sampleVals: string[];
  // current file
  file = '';
  private role: SchemaDataFile['role'] = 'all';
  private parquet = false;
  fileRows = 0;

  constructor(readonly schema: DataSchema, opts: SchemaLoadOptions) {
    const s = schema.spec;
    this.policy = rowErrorPolicy(opts.onError);
    const lv = Object.fromEntries(Object.entries(opts.vocab ?? {}).filter(([, v]) => v !== undefined));
    this.loaderVocab = Object.keys(lv).length ? (lv as VocabOptions) : null;
    this.errors = new RowErrors(this.policy);
    this.progress = opts.onProgress ?? (() => {});
    const col = (n: string | undefined, role: string): number => {
      if (n === undefined) return -1;
      let k = this.colIndex.get(n);
      if (k === undefined) {
        k = this.cols.length;
        this.cols.push({ name: n, role });
        this.colIndex.set(n, k);
      }
      return k;
    };
    this.cLabel = col(s.label, 'label');
    this.cUser = col(s.user, 'user');
    this.split = s.split;
    this.cSplit = s.split !== undefined && s.split.by !== 'user' ? col(s.split.column, 'split.column') : -1;
    this.testValues = new Set(s.split?.by === 'column' ? s.split.testValues.map(String) : []);
    this.testFrom = s.split?.by === 'time' && s.split.testFrom !== undefined ? timeValue(s.split.testFrom) : null;
    const c = s.candidate;
    this.cGoods = col(c.goods, 'candidate.goods');
    this.cCat = col(c.category, 'candidate.category');
    this.fieldNames = c.fields ?? [];
    this.cFields = this.fieldNames.map((f, i) => col(f, `candidate.fields[${i}]`));
    const b = s.behaviors;
    this.bGoods = col(b?.goods, 'behaviors.goods');
    this.bCat = col(b?.category, 'behaviors.category');
    this.bFields = this.fieldNames.map((f) => col(b?.fields?.[f], `behaviors.fields.${f}`));
    this.bCols = [this.bGoods, this.bCat, ...this.bFields].filter((k) => k >= 0);
    const slot = (k: number) => (k < 0 ? -1 : this.bCols.indexOf(k));
    this.gSlot = slot(this.bGoods);
    this.cSlot = slot(this.bCat);
    this.fSlots = this.bFields.map(slot);
    this.sampleNames = [...(s.userFields ?? []), ...(s.contextFields ?? [])];
    this.sampleGroups = [...(s.userFields ?? []).map(() => 'user' as const), ...(s.contextFields ?? []).map(() => 'context' as const)];
    this.cSample = [
      ...(s.userFields ?? []).map((f, i) => col(f, `userFields[${i}]`)),
      ...(s.contextFields ?? []).map((f, i) => col(f, `contextFields[${i}]`)),
    ];
    this.seqSep = s.sequenceSeparator ?? '|';
    this.maxHistory = s.maxHistory ?? Infinity;
    this.newestFirst = b?.order === 'newest-first';

    // The loader's options (CLI flags) override the schema's global ones key by key; undefined keys do not override.
    const given = Object.fromEntries(Object.entries(opts.vocab ?? {}).filter(([, v]) => v !== undefined)) as SchemaVocabOptions;
    const global: SchemaVocabOptions = { minCount: s.vocab?.minCount, topK: s.vocab?.topK, hashBuckets: s.vocab?.hashBuckets, ...given };
    const optsOf = (field: string): VocabOptions => {
      const merged: SchemaVocabOptions = { ...global, ...(s.vocab?.perField?.[field] ?? {}) };
      const out: VocabOptions = {};
      if (merged.minCount !== undefined && merged.minCount !== null) out.minCount = merged.minCount;
      if (merged.topK !== undefined && merged.topK !== null) out.topK = merged.topK;
      if (merged.hashBuckets !== undefined && merged.hashBuckets !== null) out.hashBuckets = merged.hashBuckets;
      validateVocabOptions(out, `${schema.path}: field "${field}"`);
      return out;
    };
    const temp = (field: string): TempField => {
      const o = optsOf(field);
      return new TempField(field, o, o.hashBuckets ? new FieldVocabBuilder(field, o).build() : null);
    };
    this.goodsName = c.goods ?? b?.goods ?? null;
    this.catName = c.category ?? b?.category ?? null;
    this.goodsOpts = this.goodsName !== null ? optsOf(this.goodsName) : {};
    this.cat = this.catName !== null ? temp(this.catName) : null;
    this.fields = this.fieldNames.map(temp);
    this.samples = this.sampleNames.map(temp);
    this.itemField = this.fieldNames.map(() => new IntColumn(1 << 12));
    this.itemFieldCand = this.fieldNames.map(() => new Uint8Column());
    this.rowSample = this.sampleNames.map(() => new IntColumn(1 << 16));
    this.fieldVals = this.fieldNames.map(() => '');
    this.sampleVals = this.sampleNames.map(() => '');
  }

  rowError(reason: string, lineNo: number, what: string): void {
    this.errors.row(reason, this.file, this.parquet ? `row ${lineNo}` : lineNo, what);
  }

  beginFile(f: SchemaDataFile): void {
    this.file = f.path;
    this.role = f.role;
    this.parquet = f.format === 'parquet';
    this.fileRows = 0;
  }

  /** The error for a schema column missing from a data file. */
  missingColumn(k: number, what: string, available: string[]): Error {
    const c = this.cols[k];
    const list = available.length > 50 ? [...available.slice(0, 50), `… ${available.length - 50} more`] : available;
    return new Error(`${this.schema.path}: column "${c.name}" (${c.role}) is not in ${this.file}; its ${what} are: ${list.join(', ') || '(none)'}`);
  }

  // ---- one row ----

  row(v: unknown[], lineNo: number): void {
    try {
      this.rowInner(v, lineNo);
    } catch (e) {
      if (e instanceof BadValue) this.rowError('badValues', lineNo, e.message);
      else throw e;
    }
  }

  private rowInner(v: unknown[], lineNo: number): void {
    const cols = this.cols;
    const label = labelValue(v[this.cLabel]);
    if (label < 0) {
      this.rowError('badLabels', lineNo, `expected label "${cols[this.cLabel].name}" to be 0/1 (or true/false), got ${describe(v[this.cLabel])}`);
      return;
    }
    const user = scalar(v[this.cUser], cols[this.cUser].name);
    if (user === '') {
      this.rowError('missingUsers', lineNo, `expected a user id in "${cols[this.cUser].name}", got ${describe(v[this.cUser])}`);
      return;
    }
    let split: number = this.role === 'test' ? TEST : TRAIN;
    let time = 0;
    const sp = this.split;
    if (sp !== undefined && sp.by === 'time') {
      const t = timeValue(v[this.cSplit]);
      if (t === null) {
        this.rowError('badTimes', lineNo, `expected time "${sp.column}" to be a number or a date, got ${describe(v[this.cSplit])}`);
        return;
      }
      time = t;
      if (this.testFrom !== null) split = t >= this.testFrom ? TEST : TRAIN;
    } else if (sp !== undefined && sp.by === 'column') {
      split = this.testValues.has(scalar(v[this.cSplit], sp.column)) ? TEST : TRAIN;
    }
    // candidate
    const goods = this.cGoods >= 0 ? scalar(v[this.cGoods], cols[this.cGoods].name) : '';
    const cat = this.cCat >= 0 ? scalar(v[this.cCat], cols[this.cCat].name) : '';
    let any = goods !== '' || cat !== '';
    const fv = this.fieldVals;
    for (let f = 0; f < fv.length; f++) {
      fv[f] = scalar(v[this.cFields[f]], cols[this.cFields[f]].name);
      if (fv[f] !== '') any = true;
    }
    if (!any) {
      const named = [this.cGoods, this.cCat, ...this.cFields].filter((k) => k >= 0).map((k) => cols[k].name);
      this.rowError('emptyItems', lineNo, `expected the candidate (${named.join(', ')}) to have a goods id or a field value, got none`);
      return;
    }
    // behaviours
    const bc = this.bCols;
    // the same sequence cells (text) as the last committed row — common in logs, one row per shown ad: reuse its
    // parsed sequences and items instead of splitting and looking them up again
    let reuse = this.prevValid;
    for (let k = 0; reuse && k < bc.length; k++) reuse = typeof v[bc[k]] === 'string' && v[bc[k]] === this.prevCells[k];
    this.prevValid = false;
    let L = reuse ? this.prevL : 0;
    for (let k = 0; !reuse && k < bc.length; k++) {
      this.seqs[k] = sequence(v[bc[k]], cols[bc[k]].name, this.seqSep);
      if (k === 0) L = this.seqs[k].length;
      else if (this.seqs[k].length !== L) {
        const lens = bc.map((_, j) => (j <= k ? String(this.seqs[j].length) : '…')).join(', ');
        this.rowError('unequalSequenceLengths', lineNo, `expected the behaviour sequences ${bc.map((j) => cols[j].name).join(', ')} to have equal lengths, got ${lens}`);
        return;
      }
    }
    const kept = Math.min(L, this.maxHistory);
    // positions kept: the most recent `kept`; in stored (oldest-first) order, position p ↦ sequence index
    const seqIndex = (p: number): number => (this.newestFirst ? kept - 1 - p : L - kept + p);
    for (let p = 0; !reuse && p < kept; p++) {
      const q = seqIndex(p);
      let has = false;
      for (let k = 0; k < bc.length; k++) if (this.seqs[k][q] !== '') has = true;
      if (!has) {
        this.rowError('emptyItems', lineNo, `expected behaviour ${q + 1} of ${bc.map((j) => cols[j].name).join(', ')} to have a goods id or a field value, got none`);
        return;
      }
    }
    const sampleVals = this.sampleVals;
    for (let k = 0; k < sampleVals.length; k++) sampleVals[k] = scalar(v[this.cSample[k]], cols[this.cSample[k]].name);

    // ---- valid: commit ----
    this.fileRows++;
    this.labels.push(label);
    this.rowUser.push(this.users.id(user));
    this.rowSplit.push(split);
    if (sp !== undefined && sp.by === 'time') this.rowTime.push(time);
    this.rowItem.push(this.item(goods, cat, fv, true));
    if (kept < L) this.truncated++;
    const pos = this.posItems;
    pos.length = kept;
    const { gSlot, cSlot, fSlots, seqs } = this;
    for (let p = 0; p < kept; p++) {
      const q = seqIndex(p);
      for (let f = 0; f < fv.length; f++) fv[f] = fSlots[f] >= 0 ? seqs[fSlots[f]][q] : '';
      const cat = cSlot >= 0 ? seqs[cSlot][q] : '';
      if (!reuse) pos[p] = this.item(gSlot >= 0 ? seqs[gSlot][q] : '', cat, fv, false);
      else if (this.itemHasGoods.data[pos[p]] === 1) this.mergeValues(pos[p], cat, fv, false);
    }
    for (let k = 0; k < bc.length; k++) this.prevCells[k] = v[bc[k]];
    this.prevL = L;
    this.prevValid = true;
    // share the previous row's history when equal
    let same = kept === this.prevLen;
    for (let p = 0; same && p < kept; p++) if (this.hist.data[this.prevStart + p] !== pos[p]) same = false;
    if (same && kept > 0) {
      this.shared++;
      this.histStart.push(this.prevStart);
    } else {
      this.prevStart = this.hist.length;
      for (let p = 0; p < kept; p++) this.hist.push(pos[p]);
      this.histStart.push(this.prevStart);
    }
    this.prevLen = kept;
    this.histLen.push(kept);
    for (let k = 0; k < sampleVals.length; k++) this.rowSample[k].push(this.samples[k].id(sampleVals[k]));
    if (this.labels.length >= this.chunkRows && this.onChunk !== null) this.onChunk(this.takeChunk());
  }

  /** The rows of the current chunk (temporary sample-field ids, split as known so far); starts a new chunk. */
  takeChunk(): RowChunk {
    const timed = this.split !== undefined && this.split.by === 'time';
    const chunk: RowChunk = {
      first: this.rowsBefore,
      labels: this.labels.data.slice(0, this.labels.length),
      users: this.rowUser.toArray(),
      items: this.rowItem.toArray(),
      histStart: this.histStart.toArray(),
      histLen: this.histLen.toArray(),
      hist: this.hist.toArray(),
      split: this.rowSplit.data.slice(0, this.rowSplit.length),
      time: timed ? this.rowTime.data.slice(0, this.rowTime.length) : null,
      samples: this.rowSample.map((c) => c.toArray()),
    };
    this.rowsBefore += chunk.labels.length;
    this.labels = new Uint8Column();
    this.rowUser = new IntColumn(1 << 16);
    this.rowItem = new IntColumn(1 << 16);
    this.histStart = new IntColumn(1 << 16);
    this.histLen = new IntColumn(1 << 16);
    this.rowSplit = new Uint8Column();
    this.rowTime = new Float64Column();
    this.rowSample = this.sampleNames.map(() => new IntColumn(1 << 16));
    this.hist = new IntColumn(1 << 16);
    this.prevStart = -1; // histories are shared within a chunk only
    this.prevLen = -1;
    return chunk;
  }

  /** The item of a candidate or behaviour position (creating it), merging its category and field values. */
  private item(goods: string, cat: string, fv: string[], fromCand: boolean): number {
    if (goods !== '') {
      let id = this.goodsItems.get(goods);
      if (id === undefined) {
        id = this.newItem(goods, 1);
        this.goodsItems.set(goods, id);
      }
      this.mergeValues(id, cat, fv, fromCand);
      return id;
    }
    const o: Record<string, string> = {};
    if (cat !== '' && this.catName !== null) o[this.catName] = cat;
    for (let f = 0; f < fv.length; f++) if (fv[f] !== '') o[this.fieldNames[f]] = fv[f];
    const key = JSON.stringify(o);
    let id = this.tupleItems.get(key);
    if (id === undefined) {
      id = this.newItem(key, 0);
      this.tupleItems.set(key, id);
      if (cat !== '' && this.cat !== null) this.itemCat.data[id] = this.cat.id(cat);
      for (let f = 0; f < fv.length; f++) if (fv[f] !== '') this.itemField[f].data[id] = this.fields[f].id(fv[f]);
    }
    return id;
  }

  /** Merges the category and field values of an occurrence into a goods item. */
  private mergeValues(id: number, cat: string, fv: string[], fromCand: boolean): void {
    if (cat !== '' && this.cat !== null) this.merge(this.cat, this.itemCat, this.itemCatCand, id, cat, fromCand);
    for (let f = 0; f < fv.length; f++) {
      if (fv[f] !== '') this.merge(this.fields[f], this.itemField[f], this.itemFieldCand[f], id, fv[f], fromCand);
    }
  }

  private newItem(key: string, hasGoods: number): number {
    const id = this.itemKeys.length;
    this.itemKeys.push(key);
    this.itemHasGoods.push(hasGoods);
    this.itemCat.push(-1);
    this.itemCatCand.push(0);
    for (let f = 0; f < this.itemField.length; f++) {
      this.itemField[f].push(-1);
      this.itemFieldCand[f].push(0);
    }
    return id;
  }

  /**
   * Candidate values beat behaviour values; otherwise the first seen wins. Behaviour values only fill a missing
   * value (no comparison: the per-position cost stays one array read); a candidate value differing from the kept one
   * is counted.
   */
  private merge(tf: TempField, col: IntColumn, cand: Uint8Column, id: number, raw: string, fromCand: boolean): void {
    const cur = col.data[id];
    if (cur === -1) {
      col.data[id] = tf.id(raw);
      cand.data[id] = fromCand ? 1 : 0;
      return;
    }
    if (!fromCand) return;
    // the common case — the value already kept — costs a string comparison, not a map lookup
    const t = tf.hashed === null && tf.vocab.keys[cur] === raw ? cur : tf.id(raw);
    if (cur === t) {
      cand.data[id] = 1;
      return;
    }
    this.errors.count('itemValueConflicts');
    if (cand.data[id] === 0) {
      col.data[id] = t;
      cand.data[id] = 1;
    }
  }

  // ---- the Dataset ----

  /**
   * The test-user flags of a split by user (null for other splits): round(f·users) users drawn by a seeded shuffle.
   * Needs every user, so it is decided after all rows are read; the same for the in-memory and the streaming build.
   */
  userTestFlags(seed: number): Uint8Array | null {
    const sp = this.split;
    if (sp === undefined || sp.by !== 'user') return null;
    const U = this.users.size;
    const perm = new Rng(seed).shuffle(Array.from({ length: U }, (_, i) => i));
    const nTest = clampTest(Math.round(sp.testFraction * U), U);
    const testUser = new Uint8Array(U);
    for (let k = 0; k < nTest; k++) testUser[perm[k]] = 1;
    return testUser;
  }

  /** Final split of a chunk's rows, in place: by user (flags) or by time fraction (needs all rows: in-memory only). */
  applySplit(chunk: RowChunk, testUser: Uint8Array | null): void {
    const n = chunk.labels.length;
    const split = chunk.split;
    const sp = this.split;
    if (sp !== undefined && sp.by === 'time' && sp.testFraction !== undefined) {
      if (chunk.first !== 0 || this.labels.length > 0) throw new Error(`${this.schema.path}: a time split by testFraction needs all rows at once`);
      const order = Array.from({ length: n }, (_, i) => i);
      const t = chunk.time!;
      order.sort((a, b) => t[a] - t[b] || a - b);
      const nTest = clampTest(Math.round(sp.testFraction * n), n);
      for (let k = 0; k < n; k++) split[order[k]] = k >= n - nTest ? TEST : TRAIN;
    } else if (testUser !== null) {
      for (let r = 0; r < n; r++) split[r] = testUser[chunk.users[r]] ? TEST : TRAIN;
    }
  }

  /** Counts of training occurrences (items, sample-field values) and their first positions, over chunks in row order. */
  newCounter(): SchemaCounter {
    const numItems = this.itemKeys.length;
    return {
      itemCount: new Float64Array(numItems),
      itemFirst: new Float64Array(numItems).fill(Infinity),
      occ: 0,
      sampleCount: this.samples.map((tf) => new Float64Array(tf.hashed !== null ? tf.hashed.size : tf.vocab.size)),
      sampleFirst: this.samples.map((tf) => new Float64Array(tf.hashed !== null ? tf.hashed.size : tf.vocab.size).fill(Infinity)),
      trainRows: 0,
      testRows: 0,
    };
  }

  /** Adds a (split) chunk's training rows to the counter: candidate, then kept behaviours, per row. */
  count(c: SchemaCounter, chunk: RowChunk): void {
    const { itemCount, itemFirst } = c;
    const { items, histStart: hs, histLen: hl, hist: hv, split } = chunk;
    const n = chunk.labels.length;
    let occ = c.occ;
    const see = (it: number) => {
      if (itemCount[it] === 0) itemFirst[it] = occ;
      itemCount[it]++;
      occ++;
    };
    for (let r = 0; r < n; r++) {
      if (split[r] !== TRAIN) {
        c.testRows++;
        continue;
      }
      c.trainRows++;
      see(items[r]);
      for (let p = hs[r], e = hs[r] + hl[r]; p < e; p++) see(hv[p]);
    }
    c.occ = occ;
    for (let k = 0; k < this.samples.length; k++) {
      const col = chunk.samples[k];
      const counts = c.sampleCount[k];
      const first = c.sampleFirst[k];
      for (let r = 0; r < n; r++) {
        if (split[r] !== TRAIN) continue;
        const t = col[r];
        if (counts[t] === 0) first[t] = chunk.first + r;
        counts[t]++;
      }
    }
  }

  /** Vocabularies and the catalog from the training counts. Throws when a split has no rows. */
  finishTables(c: SchemaCounter): SchemaTables {
    const { schema } = this;
    const sp = this.split;
    if (c.trainRows === 0 || c.testRows === 0) {
      const which = c.trainRows === 0 ? 'training' : 'test';
      const how = sp === undefined ? `in the ${which} files` : `after the split ${JSON.stringify(sp)}`;
      throw new Error(`${schema.path}: no ${which} rows ${how}${this.errors.hint()}`);
    }
    for (const msg of this.errors.firsts()) this.progress(`schema: skipped ${msg}`);
    const numItems = this.itemKeys.length;
    const { itemCount, itemFirst } = c;

    // ---- goods → goodsRows ----
    const goodsList: number[] = [];
    for (let i = 0; i < numItems; i++) if (this.itemHasGoods.data[i]) goodsList.push(i);
    const goodsVocab = buildVocab(
      this.goodsName ?? 'goods',
      this.goodsOpts,
      goodsList.map((i) => this.itemKeys[i]),
      Float64Array.from(goodsList, (i) => itemCount[i]),
      Float64Array.from(goodsList, (i) => itemFirst[i]),
    );
    const goodsRows = new Int32Array(numItems).fill(-1);
    for (const i of goodsList) goodsRows[i] = goodsVocab.id(this.itemKeys[i]);

    /** Builds an item table's vocabulary from the items' temp values; returns the final id per item (−1 absent). */
    const itemTable = (tf: TempField, col: IntColumn): { vocab: FieldVocab; values: Int32Array } => {
      const size = tf.hashed !== null ? tf.hashed.size : tf.vocab.size;
      const counts = new Float64Array(size);
      const first = new Float64Array(size).fill(Infinity);
      for (let i = 0; i < numItems; i++) {
        const t = col.data[i];
        if (t < 0 || itemCount[i] === 0) continue;
        counts[t] += itemCount[i];
        if (itemFirst[i] < first[t]) first[t] = itemFirst[i];
      }
      const { vocab, map } = tf.finish(counts, first);
      const values = new Int32Array(numItems);
      for (let i = 0; i < numItems; i++) {
        const t = col.data[i];
        values[i] = t < 0 ? -1 : map === null ? t : map[t];
      }
      return { vocab, values };
    };

    // ---- category → attribute bag ----
    let attrKeys: string[] = [];
    let attrOffsets = new Int32Array(numItems + 1);
    let attrValues = new Int32Array(0);
    if (this.cat !== null) {
      const { vocab, values } = itemTable(this.cat, this.itemCat);
      attrKeys = vocab.keys;
      const offs = new Int32Array(numItems + 1);
      let m = 0;
      for (let i = 0; i < numItems; i++) {
        if (values[i] >= 0) m++;
        offs[i + 1] = m;
      }
      const vals = new Int32Array(m);
      for (let i = 0, k = 0; i < numItems; i++) if (values[i] >= 0) vals[k++] = values[i];
      attrOffsets = offs;
      attrValues = vals;
    }
    const itemFields: ItemField[] = this.fields.map((tf, f) => {
      const { vocab, values } = itemTable(tf, this.itemField[f]);
      return { ...vocab.field(), values };
    });

    // ---- sample fields: training rows ----
    const sampleFields: SampleField[] = [];
    const sampleMaps: Array<Int32Array | null> = [];
    this.samples.forEach((tf, k) => {
      const { vocab, map } = tf.finish(c.sampleCount[k], c.sampleFirst[k]);
      sampleFields.push({ ...vocab.field(), group: this.sampleGroups[k] });
      sampleMaps.push(map);
    });

    const catalog: ItemCatalog = {
      numItems,
      numAttrs: attrKeys.length,
      attrOffsets,
      attrValues,
      goodsRows,
      numGoodsRows: goodsVocab.size,
      itemKeys: this.itemKeys,
      attrKeys,
      ...(itemFields.length > 0 ? { itemFields } : {}),
    };
    return { catalog, sampleFields, sampleMaps, goodsItems: goodsList.length };
  }

  /** The train and test SampleSets of a split chunk (file order within each), sharing the chunk's histValues. */
  sets(chunk: RowChunk, t: SchemaTables): { train: SampleSet; test: SampleSet } {
    const { split, labels, users, items, histStart: hs, histLen: hl } = chunk;
    const n = labels.length;
    const { sampleFields, sampleMaps } = t;
    let nTrain = 0;
    for (let r = 0; r < n; r++) if (split[r] === TRAIN) nTrain++;
    const mk = (which: number, size: number): SampleSet => {
      const set = allocSampleSet(size, chunk.hist);
      if (sampleFields.length > 0) set.fieldValues = sampleFields.map(() => new Int32Array(size));
      let j = 0;
      for (let r = 0; r < n; r++) {
        if (split[r] !== which) continue;
        set.labels[j] = labels[r];
        set.users[j] = users[r];
        set.items[j] = items[r];
        set.histStart[j] = hs[r];
        set.histLen[j] = hl[r];
        for (let k = 0; k < sampleFields.length; k++) {
          const v = chunk.samples[k][r];
          const m = sampleMaps[k];
          set.fieldValues![k][j] = m === null ? v : m[v];
        }
        j++;
      }
      return set;
    };
    return { train: mk(TRAIN, nTrain), test: mk(TEST, n - nTrain) };
  }

  /** The dataset without its samples (catalog, users, fields, counts, options, stats). */
  head(seed: number, t: SchemaTables, c: SchemaCounter, historyPositions: number): Omit<Dataset, 'train' | 'test'> {
    const { schema } = this;
    const { catalog, sampleFields, goodsItems } = t;
    const numItems = catalog.numItems;
    const n = c.trainRows + c.testRows;
    this.progress(
      `schema ${schema.name}: ${n} rows (${c.trainRows} train, ${c.testRows} test), ${this.users.size} users, ${numItems} items ` +
        `(${numItems - goodsItems} without goods id), ${catalog.numGoodsRows} goods rows, ${catalog.numAttrs} categories` +
        (catalog.itemFields?.length ? `, item fields ${catalog.itemFields.map((f) => `${f.name} ${f.size}`).join(', ')}` : '') +
        (sampleFields.length ? `, sample fields ${sampleFields.map((f) => `${f.name} ${f.size}`).join(', ')}` : ''),
    );
    return {
      name: schema.name,
      format: 'schema',
      catalog,
      numUsers: this.users.size,
      userKeys: this.users.keys,
      ...(sampleFields.length > 0 ? { sampleFields } : {}),
      skipped: this.errors.skipped,
      skippedExamples: this.errors.examples(),
      buildOptions: {
        seed, onError: this.policy, schema: schema.spec as unknown as Record<string, unknown>,
        ...(this.loaderVocab ? { vocab: this.loaderVocab } : {}),
      },
      stats: {
        rows: n,
        trainRows: c.trainRows,
        testRows: c.testRows,
        users: this.users.size,
        items: numItems,
        goodsItems,
        goodslessItems: numItems - goodsItems,
        goodsRows: catalog.numGoodsRows!,
        categories: catalog.numAttrs,
        historyPositions,
        sharedHistories: this.shared,
        truncatedHistories: this.truncated,
      },
    };
  }

  /** The whole Dataset in memory (every row is in the current chunk). */
  build(seed: number): Dataset {
    const chunk = this.takeChunk();
    this.applySplit(chunk, this.userTestFlags(seed));
    const c = this.newCounter();
    this.count(c, chunk);
    const t = this.finishTables(c);
    const { train, test } = this.sets(chunk, t);
    return { ...this.head(seed, t, c, chunk.hist.length), train, test };
  }
}

/** Rows of one chunk as read (item ids final; sample-field ids temporary until the vocabularies are built). */
export interface RowChunk {
  /** Index of the chunk's first row among all committed rows. */
  first: number;
  labels: Uint8Array;
  users: Int32Array;
  items: Int32Array;
  histStart: Int32Array;
  histLen: Int32Array;
  hist: Int32Array;
  split: Uint8Array;
  time: Float64Array | null;
  samples: Int32Array[];
}

interface SchemaCounter {
  itemCount: Float64Array;
  itemFirst: Float64Array;
  occ: number;
  sampleCount: Float64Array[];
  sampleFirst: Float64Array[];
  trainRows: number;
  testRows: number;
}

interface SchemaTables {
  catalog: ItemCatalog;
  sampleFields: SampleField[];
  sampleMaps: Array<Int32Array | null>;
  goodsItems: number;
}

function clampTest(k: number, n: number): number {
  return n >= 2 ? Math.min(n - 1, Math.max(1, k)) : k;
}

// ---------------------------------------------------------------------------------------------------------------------
// Per-format reading.

async function readCsv(b: SchemaBuilder, f: SchemaDataFile, spec: SchemaSpec): Promise<number> {
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
  const parser = new CsvStream(
    f.path,
    sepChar.charCodeAt(0),
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
  await readChunks(f.path, (chunk) => parser.push(chunk));
  parser.end();
  if (index === null) throw new Error(`${f.path}: empty file (expected a header line and rows)`);
  if (records === 0) throw new Error(`${f.path}: no data rows${spec.header === false ? '' : ' (only a header line)'}`);
  return records;
}

async function readJsonl(b: SchemaBuilder, f: SchemaDataFile): Promise<number> {
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

async function readParquet(b: SchemaBuilder, f: SchemaDataFile): Promise<number> {
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
async function readAll(b: SchemaBuilder, schema: DataSchema, progress: (msg: string) => void): Promise<number> {
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

/** Reads the schema and its data files and builds the Dataset (see the file header). */
export async function loadSchemaDataset(schemaPath: string, opts: SchemaLoadOptions = {}): Promise<Dataset> {
  const schema = readSchema(schemaPath);
  const b = new SchemaBuilder(schema, opts);
  await readAll(b, schema, opts.onProgress ?? (() => {}));
  return b.build(opts.seed ?? 1);
}

/** Options of `convertSchemaToShards`: those of loading, plus the shard size. */
export interface SchemaConvertOptions extends SchemaLoadOptions {
  /** Rows per shard (and per chunk held in memory while reading). */
  shardRows: number;
}

/**
 * Streams the schema's data files into SampleSet shards in `outDir` (./shards.ts) with memory bounded by the chunk,
 * not the log: rows are read into chunks of `shardRows`, each written to a temporary file as soon as it is full
 * (item ids are final when read; sample-field ids are temporary); after the last file, one pass over the chunks
 * counts training occurrences (the split by user is decided here, from every user), the vocabularies are built
 * exactly as the in-memory loader builds them, and a second pass maps each chunk to its final train/test shard.
 * The shards hold the same samples, ids and vocabularies as `loadSchemaDataset` gives (in file order; tested).
 *
 * Held in memory: one chunk (a few arrays of shardRows entries plus its history positions, about 3× while it is
 * converted) and what no streaming can avoid — per distinct item its key and field ids, per distinct user and per
 * distinct value of every non-hashed field its string (hashed fields keep none). A split by time with testFraction
 * needs every row's time at once: it is refused here (use testFrom, a split by user or column, or train/test files).
 */
export async function convertSchemaToShards(schemaPath: string, outDir: string, opts: SchemaConvertOptions): Promise<ShardManifest> {
  const t0 = performance.now();
  const schema = readSchema(schemaPath);
  const sp = schema.spec.split;
  if (sp !== undefined && sp.by === 'time' && sp.testFraction !== undefined) {
    throw new Error(`${schema.path}: a split by time with "testFraction" needs every row's time at once, so it cannot be streamed into shards; ` +
      'use "testFrom" (a time), a split by user or column, or separate train/test files');
  }
  const seed = opts.seed ?? 1;
  const progress = opts.onProgress ?? (() => {});
  const writer = new ShardWriter(outDir, opts.shardRows);
  const tmp = join(writer.dir, `.tmp-chunks-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  try {
    const b = new SchemaBuilder(schema, opts);
    const chunks: string[] = [];
    const spill = (chunk: RowChunk) => {
      const file = join(tmp, `chunk-${chunks.length}`);
      writeTypedJson(file, chunk);
      chunks.push(file);
    };
    b.chunkRows = opts.shardRows;
    b.onChunk = spill;
    const lines = await readAll(b, schema, progress);
    if (b.labels.length > 0) spill(b.takeChunk());
    const readSeconds = (performance.now() - t0) / 1000;
    const testUser = b.userTestFlags(seed);
    const load = (file: string): RowChunk => {
      const chunk = readTypedJson(file) as RowChunk;
      b.applySplit(chunk, testUser);
      return chunk;
    };
    const counter = b.newCounter();
    let positions = 0;
    for (const file of chunks) {
      const chunk = load(file);
      b.count(counter, chunk);
      positions += chunk.hist.length;
    }
    const tables = b.finishTables(counter);
    for (const file of chunks) {
      writer.write(b.sets(load(file), tables));
      rmSync(file);
    }
    const seconds = (performance.now() - t0) / 1000;
    const rows = counter.trainRows + counter.testRows;
    const manifest = writer.finish(b.head(seed, tables, counter, positions), {
      source: schema.path,
      lines,
      rows,
      seconds,
      readSeconds,
      rowsPerSecond: rows / Math.max(seconds, 1e-9),
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
      streamed: true,
    });
    progress(`schema ${schema.name}: ${rows} rows → ${manifest.shards.length} shards in ${writer.dir} (${seconds.toFixed(1)} s, ${Math.round(rows / Math.max(seconds, 1e-9))} rows/s)`);
    return manifest;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
