/**
 * Reading and validating a schema file: JSON Schema (ajv) for types, keys and ranges, then the combinations and names
 * JSON Schema cannot express; both report `<schema file>: invalid schema: $.json.path: message`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import type { DataFileFormat, DataSchema, SchemaDataFile, SchemaSpec } from './types.js';
import { timeValue } from './values.js';

const MAX_SCHEMA_BYTES = 1 << 20;
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
export function fieldNames(s: SchemaSpec): string[] {
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

export function checkFilesExist(s: DataSchema): void {
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
