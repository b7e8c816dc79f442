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
 * Vocabularies (FieldVocabBuilder, from the TRAINING rows only; ../../field-vocab.ts): goods, category, each item field,
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
 * Formats: CSV (RFC 4180: quotes, doubled quotes, quoted newlines, CRLF, BOM; the shared streaming byte parser of
 * ../../parse/csv.ts — csv-parse measured 5× slower on the 1M-row benchmark), `.csv.gz` / `.tsv` (tab default) too;
 * JSONL (one object per line, `.jsonl`, `.ndjson`, `.json`, `.gz`; sequences as arrays or separator-joined
 * strings); Parquet (hyparquet, with hyparquet-compressors for gzip/zstd/brotli/lz4 pages; sequences as LIST
 * columns or strings).
 *
 * Errors vs. counts (`onError`, the policy of ../row-errors.ts):
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
 *
 * Files: ./types.ts (the schema's types), ./spec.ts (reading and validating it), ./values.ts (cell values),
 * ./read.ts (CSV / JSONL / Parquet readers), ./rows.ts + ./items.ts (rows → columns and items), ./vocab.ts +
 * ./tables.ts (counts → vocabularies, catalog, SampleSets), ./convert.ts (the streamed conversion into shards).
 */
import type { Dataset } from '../../../core/types.js';
import { readAll } from './read.js';
import { readSchema } from './spec.js';
import { SchemaBuilder } from './tables.js';
import type { SchemaLoadOptions } from './types.js';

export { convertSchemaToShards, type SchemaConvertOptions } from './convert.js';
export { isSchemaFile, readSchema, SCHEMA_JSON_SCHEMA, schemaSourceFiles } from './spec.js';
export type { DataFileFormat, DataSchema, SchemaDataFile, SchemaLoadOptions, SchemaSplit, SchemaSpec, SchemaVocabOptions } from './types.js';

/** Reads the schema and its data files and builds the Dataset (see the file header). */
export async function loadSchemaDataset(schemaPath: string, opts: SchemaLoadOptions = {}): Promise<Dataset> {
  const schema = readSchema(schemaPath);
  const b = new SchemaBuilder(schema, opts);
  await readAll(b, schema, opts.onProgress ?? (() => {}));
  return b.build(opts.seed ?? 1);
}
