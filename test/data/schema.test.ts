import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parquetWriteFile } from 'hyparquet-writer';
import { isSchemaFile, loadSchemaDataset, readSchema, schemaSourceFiles, type SchemaSpec } from '../../src/data/sources/schema/index.js';
import { validateDataset } from '../../src/data/sample-set.js';
import { hashString } from '../../src/core/hash.js';
import type { Dataset } from '../../src/core/types.js';
import { Batcher } from '../../src/data/batcher.js';
import { createModel } from '../../src/models/index.js';
import { DEFAULT_MODEL_CONFIG } from '../../src/models/model.js';
import { sigmoidLogLoss } from '../../src/nn/loss.js';
import { be } from '../nn/helpers.js';
import { tmpFixture } from './helpers.js';

// ---------------------------------------------------------------------------------------------------------------------
// One tiny log, written as CSV, JSONL and Parquet.

interface Row {
  clk: number;
  uid: string;
  item: string;
  cate: string;
  shop: string;
  brand: string | null;
  gender: string;
  pid: string;
  hist_items: string[];
  hist_cates: string[];
  hist_shops: string[];
}

const r = (clk: number, uid: string, item: string, cate: string, shop: string, brand: string | null, gender: string, pid: string, hi: string, hc: string, hs: string): Row => ({
  clk, uid, item, cate, shop, brand, gender, pid,
  hist_items: hi === '' ? [] : hi.split('|'),
  hist_cates: hc === '' ? [] : hc.split('|'),
  hist_shops: hs === '' ? [] : hs.split('|'),
});

const TRAIN: Row[] = [
  r(1, 'u1', 'g1', 'c1', 's1', 'b1', 'f', 'p1', 'g2|g3', 'c2|c1', 's2|s1'),
  r(0, 'u1', 'g4', 'c2', 's2', null, 'f', 'p2', 'g2|g3', 'c2|c1', 's2|s1'),
  r(1, 'u2', 'g2', 'c2', 's9', 'b2', 'm', 'p1', 'g1||g5', 'c1|c3|c1', 's1|s3|s1'),
  r(0, 'u2', 'g3', 'c1', 's1', 'b1', 'm', 'p1', '', '', ''),
];
const TEST: Row[] = [
  r(1, 'u1', 'g1', 'c1', 's2', 'b1', 'x', 'p1', 'g2|g3|g4', 'c2|c1|c2', 's2|s1|s2'),
  r(0, 'u3', 'g6', 'c9', 's7', 'b3', 'f', 'p3', 'g6', 'c9', 's7'),
];
const COLS = ['clk', 'uid', 'item', 'cate', 'shop', 'brand', 'gender', 'pid', 'hist_items', 'hist_cates', 'hist_shops'] as const;

function csvOf(rows: Row[]): string {
  const lines = [COLS.join(',')];
  for (const row of rows) lines.push(COLS.map((c) => { const v = row[c]; return Array.isArray(v) ? v.join('|') : v ?? ''; }).join(','));
  return lines.join('\n') + '\n';
}

/** JSONL: labels as booleans/numbers, sequences alternately as arrays and joined strings, a missing brand as null. */
function jsonlOf(rows: Row[]): string {
  return rows.map((row, i) => JSON.stringify({
    ...row,
    clk: i % 2 === 0 ? row.clk === 1 : row.clk,
    hist_items: i % 2 === 0 ? row.hist_items : row.hist_items.join('|'),
    hist_cates: row.hist_cates.join('|'),
  })).join('\n') + '\n';
}

function writeParquet(file: string, rows: Row[]): void {
  parquetWriteFile({
    filename: file,
    columnData: [
      { name: 'clk', data: rows.map((x) => x.clk), type: 'INT32' },
      ...(['uid', 'item', 'cate', 'shop', 'brand', 'gender', 'pid'] as const).map((c) => ({ name: c, data: rows.map((x) => x[c]), type: 'STRING' as const })),
      { name: 'hist_items', data: rows.map((x) => x.hist_items) },
      { name: 'hist_cates', data: rows.map((x) => x.hist_cates.join('|')), type: 'STRING' },
      { name: 'hist_shops', data: rows.map((x) => x.hist_shops) },
    ],
  });
}

const BASE: Omit<SchemaSpec, 'files'> = {
  label: 'clk',
  user: 'uid',
  candidate: { goods: 'item', category: 'cate', fields: ['shop', 'brand'] },
  behaviors: { goods: 'hist_items', category: 'hist_cates', fields: { shop: 'hist_shops' } },
  userFields: ['gender'],
  contextFields: ['pid'],
};

type Fmt = 'csv' | 'jsonl' | 'parquet';

/** A temp dir with train/test files of `fmt` and `log.json` (BASE + `over`); returns the schema path. */
function fixture(fmt: Fmt, over: Partial<SchemaSpec> = {}, train = TRAIN, testRows = TEST): string {
  const ext = fmt === 'jsonl' ? 'jsonl' : fmt;
  const files: Record<string, string> = {};
  if (fmt === 'csv') Object.assign(files, { 'train.csv': csvOf(train), 'test.csv': csvOf(testRows) });
  if (fmt === 'jsonl') Object.assign(files, { 'train.jsonl': jsonlOf(train), 'test.jsonl': jsonlOf(testRows) });
  const dir = tmpFixture(files, 'din-schema-');
  if (fmt === 'parquet') {
    writeParquet(join(dir, 'train.parquet'), train);
    writeParquet(join(dir, 'test.parquet'), testRows);
  }
  const schema = { files: { train: `train.${ext}`, test: `test.${ext}` }, ...BASE, ...over };
  writeFileSync(join(dir, 'log.json'), JSON.stringify(schema, null, 2));
  return join(dir, 'log.json');
}

/** A temp dir with `files` and `log.json` = `schema`; returns the schema path. */
function custom(files: Record<string, string>, schema: unknown): string {
  const dir = tmpFixture({ ...files, 'log.json': JSON.stringify(schema) }, 'din-schema-');
  return join(dir, 'log.json');
}

const arr = (a: ArrayLike<number>) => Array.from(a);
const GOODSLESS = '{"cate":"c3","shop":"s3"}';

function assertTinyDataset(ds: Dataset): void {
  validateDataset(ds);
  assert.equal(ds.name, 'log');
  assert.equal(ds.format, 'schema');
  const c = ds.catalog;
  assert.deepEqual(c.itemKeys, ['g1', 'g2', 'g3', 'g4', GOODSLESS, 'g5', 'g6']);
  assert.equal(c.numItems, 7);
  // goods vocabulary from training occurrences, first seen first; g6 (test only) → OOV row 0; goods-less → −1
  assert.deepEqual(arr(c.goodsRows!), [1, 2, 3, 4, -1, 5, 0]);
  assert.equal(c.numGoodsRows, 6);
  // categories: c9 is test-only → OOV attr 0
  assert.deepEqual(c.attrKeys, ['<oov>', 'c1', 'c2', 'c3']);
  assert.equal(c.numAttrs, 4);
  assert.deepEqual(arr(c.attrOffsets), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(arr(c.attrValues), [1, 2, 1, 2, 3, 1, 0]);
  const [shop, brand] = c.itemFields!;
  // g2's shop: s2 from behaviours, then s9 from its candidate row (candidate wins); s7 is test-only
  assert.deepEqual({ ...shop, values: arr(shop.values) }, { name: 'shop', size: 5, keys: ['<oov>', 's1', 's9', 's2', 's3'], oov: true, values: [1, 2, 1, 3, 4, 1, 0] });
  // g4 has no brand, nor the goods-less item nor g5 (behaviour only); b3 is test-only
  assert.deepEqual({ ...brand, values: arr(brand.values) }, { name: 'brand', size: 3, keys: ['<oov>', 'b1', 'b2'], oov: true, values: [1, 2, 1, -1, -1, -1, 0] });
  assert.deepEqual(ds.sampleFields, [
    { name: 'gender', group: 'user', size: 3, keys: ['<oov>', 'f', 'm'], oov: true },
    { name: 'pid', group: 'context', size: 3, keys: ['<oov>', 'p1', 'p2'], oov: true },
  ]);
  assert.deepEqual(ds.userKeys, ['u1', 'u2', 'u3']);
  assert.equal(ds.numUsers, 3);
  const { train, test: te } = ds;
  assert.equal(train.histValues, te.histValues);
  assert.deepEqual(arr(train.histValues), [1, 2, 0, 4, 5, 1, 2, 3, 6]);
  assert.deepEqual([arr(train.labels), arr(train.users), arr(train.items), arr(train.histStart), arr(train.histLen)],
    [[1, 0, 1, 0], [0, 0, 1, 1], [0, 3, 1, 2], [0, 0, 2, 5], [2, 2, 3, 0]]);
  assert.deepEqual(train.fieldValues!.map(arr), [[1, 1, 2, 2], [1, 2, 1, 1]]);
  assert.deepEqual([arr(te.labels), arr(te.users), arr(te.items), arr(te.histStart), arr(te.histLen)],
    [[1, 0], [0, 2], [0, 6], [5, 8], [3, 1]]);
  // unseen gender "x" and pid "p3" → OOV 0
  assert.deepEqual(te.fieldValues!.map(arr), [[0, 1], [1, 0]]);
  // g2's candidate shop s9 replaces s2 from behaviours; g1's test candidate shop s2 loses to its first candidate s1;
  // (g2's later behaviour shop s2 is not compared)
  assert.deepEqual(ds.skipped, { itemValueConflicts: 2 });
  assert.deepEqual(ds.stats, {
    rows: 6, trainRows: 4, testRows: 2, users: 3, items: 7, goodsItems: 6, goodslessItems: 1, goodsRows: 6, categories: 4,
    historyPositions: 9, sharedHistories: 1, truncatedHistories: 0,
  });
}

const withoutBuildOptions = (ds: Dataset) => ({ ...ds, buildOptions: {} });

test('CSV, JSONL and Parquet files of the same log give the same Dataset: items, item fields, goods-less items, OOV', async () => {
  const csv = await loadSchemaDataset(fixture('csv'));
  assertTinyDataset(csv);
  assert.deepEqual(csv.buildOptions, { seed: 1, onError: 'skip', schema: { files: { train: 'train.csv', test: 'test.csv' }, ...BASE } });
  const jsonl = await loadSchemaDataset(fixture('jsonl'));
  assertTinyDataset(jsonl);
  const pq = await loadSchemaDataset(fixture('parquet'));
  assertTinyDataset(pq);
  assert.deepEqual(withoutBuildOptions(jsonl), withoutBuildOptions(csv));
  assert.deepEqual(withoutBuildOptions(pq), withoutBuildOptions(csv));
});

test('vocab: minCount, topK, per-field hash buckets, null unsets a global option, loader override', async () => {
  const ds = await loadSchemaDataset(fixture('csv', { vocab: { minCount: 2, perField: { shop: { minCount: 1, topK: 1 } } } }));
  validateDataset(ds);
  const c = ds.catalog;
  // goods counts g1 2, g2 3, g3 3, g4 1, g5 1
  assert.deepEqual(arr(c.goodsRows!), [1, 2, 3, 0, -1, 0, 0]);
  assert.equal(c.numGoodsRows, 4);
  // categories c1 6, c2 4, c3 1
  assert.deepEqual(c.attrKeys, ['<oov>', 'c1', 'c2']);
  assert.deepEqual(arr(c.attrValues), [1, 2, 1, 2, 0, 1, 0]);
  // shops s1 6, s9 3, s2 1, s3 1: top 1
  assert.deepEqual(c.itemFields![0].keys, ['<oov>', 's1']);
  assert.deepEqual(arr(c.itemFields![0].values), [1, 0, 1, 0, 0, 1, 0]);
  // brands b1 5, b2 3
  assert.deepEqual(c.itemFields![1].keys, ['<oov>', 'b1', 'b2']);
  // gender f 2, m 2; pid p1 3, p2 1
  assert.deepEqual(ds.sampleFields!.map((f) => f.keys), [['<oov>', 'f', 'm'], ['<oov>', 'p1']]);
  assert.deepEqual(ds.train.fieldValues![1].length, 4);
  assert.deepEqual(arr(ds.train.fieldValues![1]), [1, 0, 1, 1]);

  const hashed = await loadSchemaDataset(fixture('csv', { vocab: { hashBuckets: 5, perField: { item: { hashBuckets: 7 }, gender: { hashBuckets: null } } } }));
  validateDataset(hashed);
  const h = hashed.catalog;
  assert.equal(h.numGoodsRows, 7);
  assert.deepEqual(arr(h.goodsRows!), h.itemKeys.map((k) => (k === GOODSLESS ? -1 : hashString(k) % 7)));
  assert.equal(h.numAttrs, 5);
  assert.deepEqual(h.attrKeys, ['#0', '#1', '#2', '#3', '#4']);
  assert.deepEqual(arr(h.attrValues), ['c1', 'c2', 'c1', 'c2', 'c3', 'c1', 'c9'].map((v) => hashString(v) % 5));
  const shop = h.itemFields![0];
  assert.equal(shop.hashed, true);
  assert.equal(shop.oov, undefined);
  assert.deepEqual(arr(shop.values), ['s1', 's9', 's1', 's2', 's3', 's1', 's7'].map((v) => hashString(v) % 5));
  const [gender, pid] = hashed.sampleFields!;
  assert.deepEqual(gender, { name: 'gender', group: 'user', size: 3, keys: ['<oov>', 'f', 'm'], oov: true });
  assert.deepEqual({ ...pid, keys: pid.keys.length }, { name: 'pid', group: 'context', size: 5, keys: 5, hashed: true });
  assert.deepEqual(arr(hashed.test.fieldValues![1]), ['p1', 'p3'].map((v) => hashString(v) % 5));

  // the loader's vocab option replaces the global options; perField still applies
  const over = await loadSchemaDataset(fixture('csv', { vocab: { minCount: 2, perField: { brand: { minCount: 3 } } } }), { vocab: { topK: 2 } });
  assert.deepEqual(over.catalog.numGoodsRows, 3); // top 2 goods: g2, g3 (3 each), in first-seen order
  assert.deepEqual(over.catalog.goodsRows && arr(over.catalog.goodsRows), [0, 1, 2, 0, -1, 0, 0]);
  assert.deepEqual(over.catalog.itemFields![1].keys, ['<oov>', 'b1', 'b2']); // topK 2 + minCount 3: b1 5, b2 3
});

test('behaviours without a goods column are goods-less items keyed by their fields; newest-first order and maxHistory', async () => {
  const schema = fixture('csv', {
    behaviors: { category: 'hist_cates', fields: { shop: 'hist_shops' }, order: 'newest-first' },
    maxHistory: 2,
  });
  const ds = await loadSchemaDataset(schema);
  validateDataset(ds);
  const k = (cate: string, shop: string) => JSON.stringify({ cate, shop });
  // rows: candidate first, then kept behaviours oldest first (= the sequence reversed, the 2 most recent = first 2)
  assert.deepEqual(ds.catalog.itemKeys, [
    'g1', k('c1', 's1'), k('c2', 's2'), // row 1: "c2|c1" newest first → oldest c1/s1, then c2/s2
    'g4',
    'g2', k('c3', 's3'), // row 3: "c1|c3|c1" → kept c3 (older), c1 (newest) → (c1,s1) exists
    'g3',
    'g6', k('c9', 's7'),
  ]);
  // goods only as candidates now: g1, g4, g2, g3 in row order
  assert.deepEqual(arr(ds.catalog.goodsRows!), [1, -1, -1, 2, 3, -1, 4, 0, -1]);
  assert.deepEqual(arr(ds.train.histStart).map((s, i) => arr(ds.train.histValues.subarray(s, s + ds.train.histLen[i]))),
    [[1, 2], [1, 2], [5, 1], []]);
  assert.deepEqual(arr(ds.test.histStart).map((s, i) => arr(ds.test.histValues.subarray(s, s + ds.test.histLen[i]))),
    [[1, 2], [8]]); // "c2|c1|c2" newest first: the 2 most recent are c2/s2 (newest) and c1/s1
  assert.equal(ds.stats!.truncatedHistories, 2);
  assert.deepEqual(ds.catalog.itemFields![0].keys, ['<oov>', 's1', 's2', 's9', 's3']);
});

test('one file split by time (fraction and testFrom), by user (seeded) and by a column', async () => {
  const rows = [
    'clk,uid,item,ts,part',
    '1,u1,a,5,train',
    '0,u1,b,1,train',
    '1,u2,c,9,test',
    '0,u2,a,3,train',
    '1,u3,b,9,test',
    '0,u3,c,2,train',
  ].join('\n');
  const base = { files: { all: 'log.csv' }, label: 'clk', user: 'uid', candidate: { goods: 'item' } };
  const items = (ds: Dataset) => [arr(ds.train.items).map((i) => ds.catalog.itemKeys[i]), arr(ds.test.items).map((i) => ds.catalog.itemKeys[i])];
  const users = (ds: Dataset) => [arr(ds.train.users).map((u) => ds.userKeys[u]), arr(ds.test.users).map((u) => ds.userKeys[u])];
  // last round(0.34·6) = 2 rows by time; the 9s tie: file order
  let ds = await loadSchemaDataset(custom({ 'log.csv': rows }, { ...base, split: { by: 'time', column: 'ts', testFraction: 0.34 } }));
  assert.deepEqual(items(ds), [['a', 'b', 'a', 'c'], ['c', 'b']]);
  assert.deepEqual(users(ds), [['u1', 'u1', 'u2', 'u3'], ['u2', 'u3']]);
  ds = await loadSchemaDataset(custom({ 'log.csv': rows }, { ...base, split: { by: 'time', column: 'ts', testFrom: 5 } }));
  assert.deepEqual(items(ds), [['b', 'a', 'c'], ['a', 'c', 'b']]);
  ds = await loadSchemaDataset(custom({ 'log.csv': rows }, { ...base, split: { by: 'column', column: 'part', testValues: ['test'] } }));
  assert.deepEqual(items(ds), [['a', 'b', 'a', 'c'], ['c', 'b']]);
  // by user: round(0.34·3) = 1 user, all of whose rows are test; the seed picks which
  const picked = new Set<string>();
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    ds = await loadSchemaDataset(custom({ 'log.csv': rows }, { ...base, split: { by: 'user', testFraction: 0.34 } }), { seed });
    validateDataset(ds);
    const [tr, te] = users(ds);
    assert.equal(new Set(te).size, 1);
    assert.equal(te.length, 2);
    assert.ok(!tr.includes(te[0]));
    picked.add(te[0]);
    const again = await loadSchemaDataset(custom({ 'log.csv': rows }, { ...base, split: { by: 'user', testFraction: 0.34 } }), { seed });
    assert.deepEqual(users(again), [tr, te]);
  }
  assert.ok(picked.size >= 2, `seeds pick different users: ${[...picked]}`);
  // a dataset with no category, no item fields, no behaviours and no sample fields
  assert.equal(ds.catalog.numAttrs, 0);
  assert.deepEqual(arr(ds.catalog.attrOffsets), [0, 0, 0, 0]);
  assert.equal(ds.catalog.itemFields, undefined);
  assert.equal(ds.sampleFields, undefined);
  assert.equal(ds.train.fieldValues, undefined);
});

test('CSV details: quotes, doubled quotes, quoted newlines, CRLF, BOM, TSV, gzip, no header, dates, trimming, blank lines', async () => {
  const csv = '\ufeffclk,uid,item,hist,when\r\n' +
    '1,"u,1","a ""x""","b|""c""|d",2024-01-01\r\n' +
    '\r\n' +
    '"0",u2,"multi\nline", b | c ,2024-01-03T00:00:00Z\r\n' +
    'true,u2,b,,2024-01-02\r\n';
  const schema = { files: { all: 'log.csv' }, split: { by: 'time', column: 'when', testFrom: '2024-01-02' }, label: 'clk', user: 'uid', candidate: { goods: 'item' }, behaviors: { goods: 'hist' } };
  const ds = await loadSchemaDataset(custom({ 'log.csv': csv }, schema));
  validateDataset(ds);
  assert.deepEqual(ds.catalog.itemKeys, ['a "x"', 'b', '"c"', 'd', 'multi\nline', 'c']);
  assert.deepEqual(ds.userKeys, ['u,1', 'u2']);
  assert.deepEqual(arr(ds.train.items), [0]);
  assert.deepEqual(arr(ds.test.items), [4, 1]);
  assert.deepEqual(arr(ds.test.labels), [0, 1]);
  assert.deepEqual(arr(ds.train.histValues), [1, 2, 3, 1, 5]);
  assert.deepEqual(ds.skipped, { blankLines: 1 });
  // the same as TSV without header, gzipped
  const tsv = ['1\tu,1\ta "x"\tb|"c"|d\t2024-01-01', '0\tu2\tmulti\\nline\tb|c\t2024-01-03', 'true\tu2\tb\t\t2024-01-02'].join('\n');
  const dir = tmpFixture({}, 'din-schema-');
  writeFileSync(join(dir, 'log.tsv.gz'), gzipSync(tsv));
  writeFileSync(join(dir, 'log.json'), JSON.stringify({ ...schema, files: { all: 'log.tsv.gz' }, header: false, columns: ['clk', 'uid', 'item', 'hist', 'when'] }));
  const ds2 = await loadSchemaDataset(join(dir, 'log.json'));
  assert.deepEqual(ds2.catalog.itemKeys, ['a "x"', 'b', '"c"', 'd', 'multi\\nline', 'c']);
  assert.deepEqual(arr(ds2.test.items), [4, 1]);
});

test('a CSV larger than one read chunk: records straddling chunk boundaries parse the same', async () => {
  const n = 30000;
  const lines = ['clk,uid,item,note,hist'];
  for (let i = 0; i < n; i++) lines.push(`${i % 2},u${i % 7},"g${i % 97}","say ""hi""\n${'x'.repeat(i % 13)}",h${i % 5}|h${(i + 1) % 5}`);
  const schema = { files: { all: 'log.csv' }, split: { by: 'user', testFraction: 0.3 }, label: 'clk', user: 'uid', candidate: { goods: 'item' }, behaviors: { goods: 'hist' } };
  const ds = await loadSchemaDataset(custom({ 'log.csv': lines.join('\n') }, schema));
  validateDataset(ds);
  assert.equal(ds.train.size + ds.test.size, n);
  assert.deepEqual(ds.skipped, {});
  assert.equal(ds.catalog.numItems, 97 + 5);
  assert.equal(ds.stats!.historyPositions, 2 * n - ds.stats!.sharedHistories * 2);
});

// ---------------------------------------------------------------------------------------------------------------------
// Errors.

test('a schema column missing from a data file names the schema, the column and the file\'s columns', async () => {
  for (const fmt of ['csv', 'jsonl', 'parquet'] as const) {
    const path = fixture(fmt, { candidate: { goods: 'item', category: 'cate', fields: ['shop', 'colour'] } });
    const file = join(path, '..', `train.${fmt}`);
    const what = fmt === 'jsonl' ? 'keys' : 'columns';
    await assert.rejects(loadSchemaDataset(path), {
      message: `${path}: column "colour" (candidate.fields[1]) is not in ${file}; its ${what} are: ${COLS.join(', ')}`,
    });
  }
});

test('invalid schemas: the validator\'s message with the JSON path; combinations; unreadable JSON', async () => {
  const cases: Array<[unknown, string]> = [
    [{ files: { train: 'a.csv', test: 'b.csv' }, user: 'u', candidate: { goods: 'g' } }, '$: missing key "label"'],
    [{ ...BASE, files: { train: 'a.csv', test: 'b.csv' }, candidate: { goods: 'g', fields: ['a', 7] } }, '$.candidate.fields[1]: must be string'],
    [{ ...BASE, files: { train: 'a.csv', test: 'b.csv' }, candidate: { goods: 'g', feilds: ['a'] } }, '$.candidate: unknown key "feilds"'],
    [{ ...BASE, files: { train: 'a.csv', test: 'b.csv' }, format: 'xlsx' }, '$.format: must be equal to one of the allowed values ("csv", "jsonl", "parquet")'],
    [{ ...BASE, files: { train: 'a.csv', test: 'b.csv' }, vocab: { perField: { shop: { hashBuckets: 0 } } } }, '$.vocab.perField.shop.hashBuckets: must be >= 1'],
    [{ ...BASE, files: { train: 'a.csv', test: 'b.csv' }, maxHistory: 'many', separator: ';;' }, '$.separator: must NOT have more than 1 characters; $.maxHistory: must be integer'],
    [{ ...BASE, files: { train: 'a.csv' } }, '$.files: give either "train" and "test", or "all" (with "split")'],
    [{ ...BASE, files: { all: 'a.csv' } }, '$: missing key "split" (required with files.all: how to split the rows into train and test)'],
    [{ ...BASE, files: { all: 'a.csv' }, split: { by: 'time', column: 'ts' } }, '$.split: give exactly one of "testFraction" and "testFrom"'],
    [{ ...BASE, files: { all: 'a.csv' }, split: { by: 'user', testFraction: 0.2, column: 'x' } }, '$.split.column: not used with "by": "user" (its keys: testFraction)'],
    [{ ...BASE, files: { train: 'a.csv', test: 'b.csv' }, behaviors: { fields: { colour: 'hist_colour' } } }, '$.behaviors.fields.colour: "colour" is not a candidate field (candidate.fields: shop, brand); a behaviour field shares the table of a candidate field'],
    [{ ...BASE, files: { train: 'a.csv', test: 'b.csv' }, vocab: { perField: { hist_items: { minCount: 2 } } } }, '$.vocab.perField.hist_items: "hist_items" is not a field (fields: item, cate, shop, brand, gender, pid)'],
    [{ ...BASE, files: { train: 'a.csv', test: 'b.csv' }, header: false }, '$: missing key "columns" (required with "header": false)'],
    [{ ...BASE, files: { train: 'a.xlsx', test: 'b.csv' } }, '$.format: cannot tell the format of "a.xlsx" from its extension; set "format" (csv, jsonl or parquet)'],
    [{ ...BASE, files: { train: 'a.csv', test: 'b.csv' }, candidate: {} }, '$.candidate: give at least one of "goods", "category", "fields"'],
    [{ ...BASE, files: { train: 'a.csv', test: 'b.csv' }, userFields: ['age', 'age'] }, '$.userFields[1]: "age" appears twice'],
  ];
  for (const [schema, msg] of cases) {
    const path = custom({}, schema);
    assert.throws(() => readSchema(path), { message: `${path}: invalid schema: ${msg}` });
    await assert.rejects(loadSchemaDataset(path), { message: `${path}: invalid schema: ${msg}` });
  }
  const dir = tmpFixture({ 'bad.json': '{"label": "clk",' }, 'din-schema-');
  assert.throws(() => readSchema(join(dir, 'bad.json')), (e: Error) => e.message.startsWith(`${join(dir, 'bad.json')}: the schema is not valid JSON (`));
});

test('empty data files and files without data rows are errors; so is a missing data file or an empty split', async () => {
  const schema = { files: { train: 'train.csv', test: 'test.csv' }, label: 'clk', user: 'uid', candidate: { goods: 'item' } };
  let path = custom({ 'train.csv': '', 'test.csv': 'clk,uid,item\n1,u,a\n' }, schema);
  await assert.rejects(loadSchemaDataset(path), { message: `${join(path, '..', 'train.csv')}: empty file (expected a header line and rows)` });
  path = custom({ 'train.csv': 'clk,uid,item\n', 'test.csv': 'clk,uid,item\n1,u,a\n' }, schema);
  await assert.rejects(loadSchemaDataset(path), { message: `${join(path, '..', 'train.csv')}: no data rows (only a header line)` });
  path = custom({ 'train.jsonl': '\n\n', 'test.jsonl': '{}' }, { ...schema, files: { train: 'train.jsonl', test: 'test.jsonl' } });
  await assert.rejects(loadSchemaDataset(path), { message: `${join(path, '..', 'train.jsonl')}: empty file (expected one JSON object per line)` });
  path = custom({ 'train.csv': 'clk,uid,item\n1,u,a\n' }, schema);
  await assert.rejects(loadSchemaDataset(path), { message: `${path}: data file ${join(path, '..', 'test.csv')} does not exist` });
  assert.throws(() => schemaSourceFiles(path), { message: `${path}: data file ${join(path, '..', 'test.csv')} does not exist` });
  path = custom({ 'train.csv': 'clk,uid,item\n1,u,a\n', 'test.csv': 'clk,uid,item\n7,u,a\n' }, schema);
  await assert.rejects(loadSchemaDataset(path), {
    message: `${path}: no test rows in the test files (1 malformed row was skipped, e.g. ${join(path, '..', 'test.csv')}:2: expected label "clk" to be 0/1 (or true/false), got "7")`,
  });
  path = custom({ 'log.csv': 'clk,uid,item,part\n1,u,a,train\n' }, { ...schema, files: { all: 'log.csv' }, split: { by: 'column', column: 'part', testValues: ['test'] } });
  await assert.rejects(loadSchemaDataset(path), { message: `${path}: no test rows after the split {"by":"column","column":"part","testValues":["test"]}` });
});

test('malformed rows: skipped and counted by reason, or file:line errors with onError fail', async () => {
  const header = 'clk,uid,item,cate,ts,hist_items,hist_cates';
  const bad: Array<[string, string, string]> = [
    ['1,u1,a,c1,5,b|c', 'wrongColumnCount', 'expected 7 columns (as in the header), got 6'],
    ['2,u1,a,c1,5,b|c,x|y', 'badLabels', 'expected label "clk" to be 0/1 (or true/false), got "2"'],
    ['1,,a,c1,5,b|c,x|y', 'missingUsers', 'expected a user id in "uid", got an empty value'],
    ['1,u1,a,c1,soon,b|c,x|y', 'badTimes', 'expected time "ts" to be a number or a date, got "soon"'],
    ['1,u1,a,c1,5,b|c,x', 'unequalSequenceLengths', 'expected the behaviour sequences hist_items, hist_cates to have equal lengths, got 2, 1'],
    ['1,u1,,,5,b|c,x|y', 'emptyItems', 'expected the candidate (item, cate) to have a goods id or a field value, got none'],
    ['1,u1,a,c1,5,b||c,x||y', 'emptyItems', 'expected behaviour 2 of hist_items, hist_cates to have a goods id or a field value, got none'],
    ['1,u1,"a"b,c1,5,b|c,x|y', 'malformedLines', 'unexpected character after a closing quote (expected "," or end of line)'],
  ];
  const good = ['1,u1,a,c1,1,b|c,x|y', '0,u2,b,c2,2,,', '1,u2,c,c1,9,a,c1'];
  const csv = [header, good[0], ...bad.map((b) => b[0]), good[1], good[2]].join('\n') + '\n';
  const schema = {
    files: { all: 'log.csv' }, split: { by: 'time', column: 'ts', testFrom: 9 }, label: 'clk', user: 'uid',
    candidate: { goods: 'item', category: 'cate' }, behaviors: { goods: 'hist_items', category: 'hist_cates' },
  };
  const path = custom({ 'log.csv': csv }, schema);
  const file = join(path, '..', 'log.csv');
  const ds = await loadSchemaDataset(path);
  validateDataset(ds);
  assert.equal(ds.train.size, 2);
  assert.equal(ds.test.size, 1);
  assert.deepEqual(ds.skipped, { wrongColumnCount: 1, badLabels: 1, missingUsers: 1, badTimes: 1, unequalSequenceLengths: 1, emptyItems: 2, malformedLines: 1,
    itemValueConflicts: 2, // b: category x (behaviour) then c2 (candidate); c: y then c1
  });
  assert.deepEqual(ds.skippedExamples, [`${file}:3: ${bad[0][2]}`, `${file}:4: ${bad[1][2]}`, `${file}:5: ${bad[2][2]}`]);
  // skipped rows leave no items behind ("b","c" appear in good rows too; nothing else does)
  assert.deepEqual(ds.catalog.itemKeys, ['a', 'b', 'c']);
  for (const [k, [line, , what]] of bad.entries()) {
    const one = custom({ 'log.csv': [header, good[0], line, good[2]].join('\n') }, schema);
    await assert.rejects(loadSchemaDataset(one, { onError: 'fail' }), { message: `${join(one, '..', 'log.csv')}:3: ${what}` }, `case ${k}`);
  }
  // JSONL: not JSON, not an object, a list where one value is expected, a bad sequence value
  const jl = [
    '{"clk": 1, "uid": "u1", "item": "a", "cate": "c1", "ts": 1, "hist_items": ["b"], "hist_cates": ["x"]}',
    '{"clk": 1, "uid": "u1",',
    '[1, 2]',
    '{"clk": 1, "uid": ["u1"], "item": "a", "cate": "c1", "ts": 1, "hist_items": [], "hist_cates": []}',
    '{"clk": 1, "uid": "u1", "item": "a", "cate": "c1", "ts": 1, "hist_items": {"b": 1}, "hist_cates": []}',
    '{"uid": "u1", "item": "a", "cate": "c1", "ts": 1, "hist_items": [], "hist_cates": []}',
    '{"clk": 0, "uid": "u2", "item": "b", "cate": "c1", "ts": 9, "hist_items": null, "hist_cates": ""}',
  ].join('\n');
  const jpath = custom({ 'log.jsonl': jl }, { ...schema, files: { all: 'log.jsonl' } });
  const jds = await loadSchemaDataset(jpath);
  assert.deepEqual(jds.skipped, { malformedLines: 2, badValues: 2, badLabels: 1, itemValueConflicts: 1 });
  const jfile = join(jpath, '..', 'log.jsonl');
  const expected = [
    `${jfile}:2: expected a JSON object, got invalid JSON (`,
    `${jfile}:3: expected a JSON object, got a list`,
    `${jfile}:4: expected "uid" to be a single value, got ["u1"]`,
    `${jfile}:5: expected "hist_items" to be a list or a "|"-separated string, got {"b":1}`,
    `${jfile}:6: expected label "clk" to be 0/1 (or true/false), got nothing (no such key)`,
  ];
  const lines = jl.split('\n');
  for (let k = 0; k < expected.length; k++) {
    const one = custom({ 'log.jsonl': [lines[0], lines[k + 1], lines[6]].join('\n') }, { ...schema, files: { all: 'log.jsonl' } });
    const msg = expected[k].replace(`${jfile}:${k + 2}`, `${join(one, '..', 'log.jsonl')}:2`);
    await assert.rejects(loadSchemaDataset(one, { onError: 'fail' }), (e: Error) => e.message.startsWith(msg) || assert.fail(`${e.message} !~ ${msg}`));
  }
  // Parquet: rows are numbered
  const dir = tmpFixture({}, 'din-schema-');
  parquetWriteFile({
    filename: join(dir, 'log.parquet'),
    columnData: [
      { name: 'clk', data: [1, 3, 0], type: 'INT32' },
      { name: 'uid', data: ['u1', 'u1', 'u2'], type: 'STRING' },
      { name: 'item', data: ['a', 'b', 'c'], type: 'STRING' },
      { name: 'ts', data: [1n, 2n, 9n], type: 'INT64' },
    ],
  });
  writeFileSync(join(dir, 'log.json'), JSON.stringify({ ...schema, files: { all: 'log.parquet' }, candidate: { goods: 'item' }, behaviors: undefined }));
  await assert.rejects(loadSchemaDataset(join(dir, 'log.json'), { onError: 'fail' }), { message: `${join(dir, 'log.parquet')}: row 2: expected label "clk" to be 0/1 (or true/false), got 3` });
  const pds = await loadSchemaDataset(join(dir, 'log.json'));
  assert.deepEqual(pds.skipped, { badLabels: 1 });
  assert.deepEqual([pds.train.size, pds.test.size], [1, 1]);
});

test('isSchemaFile and schemaSourceFiles', () => {
  const path = fixture('csv', { files: { train: ['train.csv'], test: 'test.csv' } });
  assert.equal(isSchemaFile(path), true);
  assert.deepEqual(schemaSourceFiles(path), [path, join(path, '..', 'train.csv'), join(path, '..', 'test.csv')]);
  const dir = tmpFixture({ 'other.json': '{"label": 1}', 'list.json': '[1]', 'broken.json': '{', 'x.csv': 'label,candidate\n' }, 'din-schema-');
  for (const f of ['other.json', 'list.json', 'broken.json', 'x.csv', 'missing.json']) assert.equal(isSchemaFile(join(dir, f)), false, f);
  assert.equal(isSchemaFile(dir), false);
});

test('end to end: a model with the schema\'s item and sample fields trains a step on a Batcher batch', async () => {
  const ds = await loadSchemaDataset(fixture('parquet'));
  for (const model of ['din', 'base'] as const) {
    const m = createModel({ ...DEFAULT_MODEL_CONFIG, model, goodsDim: 3, attrDim: 2, hidden: [6, 4], attentionHidden: [5, 3] }, {
      backend: be, catalog: ds.catalog, seed: 3, sampleFields: ds.sampleFields,
    });
    const names = m.params().map((p) => p.name);
    for (const n of ['field.shop', 'field.brand', 'user.gender', 'ctx.pid']) assert.ok(names.includes(n), `${n} in ${names}`);
    const batcher = new Batcher(ds.train, { batchSize: 4, maxHistory: 10, shuffle: true, seed: 2 });
    const [batch] = [...batcher.epoch(0)];
    assert.equal(batch.fieldValues!.length, 2);
    m.zeroGrad();
    const d = be.alloc(batch.size);
    const loss = sigmoidLogLoss(m.forward(batch, 'train'), batch.labels, batch.size, d);
    assert.ok(Number.isFinite(loss) && loss > 0, `loss ${loss}`);
    m.backward(d);
    for (const p of m.params()) for (const g of p.grad) assert.ok(Number.isFinite(g), p.name);
  }
});
