/**
 * Fuzz test of every text source: a small valid input, then seeded random mutations (bytes deleted, inserted,
 * replaced; lines duplicated, dropped, cut, swapped; separators, quotes, unicode, NUL bytes, huge and negative numbers,
 * blank lines, CRLF, deep nesting, a truncated or corrupt .gz …). Every case must either load a consistent Dataset or
 * throw a plain Error naming the file — never a TypeError / RangeError / crash — under both row-error policies, and
 * the policies must agree (what loads under 'fail' loads identically under 'skip'; what fails under 'skip' fails
 * under 'fail').
 *
 * Reproduce: the seed is fixed (DIN_FUZZ_SEED overrides it, DIN_FUZZ_CASES the number of cases per source); a failure
 * prints the case number, its mutations and the mutated files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { convertAmazonSeqToShards, loadAmazonSeq } from '../../src/data/sources/amazon-seq.js';
import { convertAmazonRawToShards, loadAmazonRaw, loadAmazonRawAsync } from '../../src/data/sources/amazon-raw.js';
import { convertDinRemappedToShards, loadDinRemapped } from '../../src/data/sources/din-remapped.js';
import { convertMovieLensToShards, loadMovieLens } from '../../src/data/sources/movielens.js';
import { convertTaobaoToShards, loadTaobao } from '../../src/data/sources/taobao/index.js';
import { MAX_SKIPPED_EXAMPLES, type RowErrorPolicy } from '../../src/data/sources/row-errors.js';
import { parseJsonOrPython } from '../../src/data/parse/python-literal.js';
import { loadDataset } from '../../src/data/load.js';
import { validateSampleSet } from '../../src/data/sample-set.js';
import type { Dataset } from '../../src/core/types.js';
import { Rng } from '../../src/util/rng.js';
import { assertSameShards, tmpFixture } from './helpers.js';

const SEED = Number(process.env.DIN_FUZZ_SEED ?? 5);
const CASES = Number(process.env.DIN_FUZZ_CASES ?? 300);
/** A case slower than this is reported as a (near) hang. */
const SLOW_MS = 5000;

// ---------------------------------------------------------------------------------------------------------------------
// Valid starting inputs

const AMAZON_SEQ = {
  'X.txt': 'u1 a b c d\nu2 b e f\nu3 a z\nu4 c a e g b\nu5 f g h\nu6 d c b a h\n',
  'X_item2attributes.json':
    '{"a": [1, 2], "b": [2], "c": [3], "d": [], "e": [1, 1], "f": ["x"], "g": [4], "h": [2, 5], "z": [9]}\n',
};

const rev = (u: string, a: string, t: number | string, extra = ''): string =>
  `{"reviewerID": "${u}", "asin": "${a}", "reviewerName": "N, \\"${u}\\"", ${extra}"unixReviewTime": ${t}}`;
const AMAZON_RAW = {
  'reviews_X_5.json': [
    rev('U1', 'A1', 100, '"overall": 5.0, '),
    rev('U1', 'A2', 200),
    rev('U1', 'A3', 150, '"helpful": [0, 1], '),
    rev('U2', 'A2', 10),
    rev('U2', 'A4', 20),
    `{'reviewerID': 'U3', 'asin': 'A1', 'unixReviewTime': 5}`,
    rev('U3', 'A5', '"7"'),
    rev('U3', 'A2', 7),
    rev('U4', 'A6', 1),
    rev('U4', 'A3', 2),
    rev('U5', 'A4', 3),
  ].join('\n') + '\n',
  'meta_X.json': [
    `{'asin': 'A1', 'title': "Bob's cam", 'categories': [['Electronics', 'Camera & Photo']], 'price': 12.5}`,
    `{'asin': 'A2', 'categories': [['Electronics', 'Audio'], ['Sale', 'Audio']], 'related': {'also_bought': ['A3', 'A4']}}`,
    `{"asin": "A3", "categories": [["Electronics", "Audio"]], "salesRank": {"Electronics": 12}}`,
    `{'asin': u'A4', 'categories': [[u'Electronics', u'TV \\xe9']], 'description': 'a\\nb', 'imUrl': None}`,
    `{'asin': 'A5', 'categories': [['Electronics', 'Camera & Photo']], 'tags': ('x', 'y'), 'ok': True}`,
    `{'asin': 'A6', 'categories': [['Electronics', 'TV']], 'n': 0x1F, 'f': 1e3, 's': {1, 2}}`,
    `{'asin': 'A9', 'categories': [['Electronics', 'TV']]}`,
  ].join('\n') + '\n',
};

const DIN_SINGLE = [
  '1 2;10 20;3;30;1',
  '1 2;10 20;4;40;0',
  '5;50;6;60;1',
  '5;50;7;70;0',
  ';;8;80;1',
  '1 2 3;10 20 30;5;50;1',
  '1 2 3;10 20 30;9;90;0',
  '6 7;60 70;1;10;1',
  '6 7;60 70;2;20;0',
  '4;40;3;30;1',
].join('\n') + '\n';
const DIN_TRAIN = ['1 2;10 20;3;30;1', '5;50;6;60;0', '6;60;7;70;1', '1;10;2;20;0'].join('\n') + '\n';
const DIN_TEST = ['2 3;20 30;5;50;1', '2 3;20 30;8;80;0', '7;70;1;10;1', '7;70;4;40;0'].join('\n') + '\n';

const ML_CSV = {
  'ratings.csv':
    'userId,movieId,rating,timestamp\n' +
    '10,2,4.0,300\n10,1,3.5,100\n10,3,5.0,300\n20,1,4.0,50\n20,5,2.0,60\n30,3,1.0,10\n30,2,4.5,20\n' +
    '40,1,5,1\n40,4,0.5,2\n50,2,3,7\n50,3,4,8\n',
  'movies.csv':
    'movieId,title,genres\r\n' +
    '1,Toy Story (1995),Adventure|Animation\r\n' +
    '2,"American President, The (1995)",Comedy|Drama|Romance\r\n' +
    '3,"Quote ""Test"", Part 2 (2000)",(no genres listed)\r\n' +
    '4,Misérables (1990),Horror\r\n',
};
const ML_DAT_RATINGS =
  '1::2::5::978300760\n1::1::3::978302109\n1::3::4::978300760\n\n2::1::4::978298709\n2::5::2::978299000\n' +
  '3::3::1::978000000\n3::2::4::978000100\n4::4::5::1\n4::1::2::2\n5::2::3::3\n';
const ML_DAT_MOVIES =
  "1::Toy Story (1995)::Animation|Children's|Comedy\r\n2::Misérables, Les (1995)::Drama|Musical\r\n" +
  '3::Heat (1995)::Action|Crime|Thriller\r\n4::Unrated (1990)::Horror\r\n';

const TIANCHI = {
  'ad_feature.csv': 'adgroup_id,cate_id,campaign_id,customer,brand,price\n1,10,100,5,700,3.5\n2,20,200,5,NULL,64\n3,10,100,6,701,0.5\n',
  'raw_sample.csv':
    'user,time_stamp,adgroup_id,pid,nonclk,clk\n1,1494500000,1,p1,1,0\n2,1494510000,2,p2,0,1\n1,1494600000,2,p1,1,0\n' +
    '1,1494700000,3,p2,1,0\n3,1494650000,1,p1,0,1\n2,1494520000,3,p2,1,0\n',
  'user_profile.csv':
    'userid,cms_segid,cms_group_id,final_gender_code,age_level,pvalue_level,shopping_level,occupation,new_user_class_level\n' +
    '1,0,5,2,5,,3,0,3\n2,8,3,1,2,1,3,1,\n',
  'behavior_log.csv':
    'user,time_stamp,btag,cate,brand\n1,1494400000,pv,10,700\n1,1494450000,cart,20,NULL\n2,1494500000,pv,10,701\n' +
    '1,1494550000,buy,30,702\n2,1494505000,fav,20,NULL\n3,1494600000,pv,10,700\n1,1494650000,pv,10,700\n1,1494550000,pv,40,1\n',
};

// ---------------------------------------------------------------------------------------------------------------------
// Mutations

const TOKENS = [
  ' ', '  ', '\t', '\n', '\r\n', '\r', '\0', '"', "'", '""', "''", ',', ';', ':', '::', '|', '{', '}', '[', ']', '(',
  ')', '\\', '\\u', '\\x4', '\\N{x}', 'é', '日本', '😀', '\uFEFF', '\u2028', '\u00a0', '\uD800', '-1', '-0', '0', '+3',
  '99999999999999999999999', '1e309', '-1e309', '9007199254740993', '2147483648', '4294967296', '1.5', '.', 'NaN',
  'Infinity', 'null', 'None', 'True', 'false', 'undefined', '__proto__', 'constructor', 'toString', "{'a': 1}", '{}',
  '[]', '"asin"', "'asin'", '"unixReviewTime": "x"', "u'", "b'\\xff'", '0x', '0o8', '1_000', '1__0', '1L', 'e+', '#',
];
const NUMBERS = [
  '', '-1', '-0', '0', '00', '007', '1.5', '1e3', '0x10', ' 7 ', 'abc', '1a', 'NaN', 'Infinity', '9007199254740993',
  '99999999999999999999999', '1e309', '2147483647', '2147483648', '4294967295', '+1', '1,5', '١٢',
];

interface Mutated {
  buf: Buffer;
  what: string;
}
type Mutator = (b: Buffer, r: Rng) => Mutated;

const pick = <T>(r: Rng, a: readonly T[]): T => a[r.int(a.length)];
const show = (s: string | Buffer): string => JSON.stringify(typeof s === 'string' ? s : s.toString('latin1')).slice(0, 80);

function lineStarts(b: Buffer): number[] {
  const out = [0];
  for (let i = 0; i < b.length; i++) if (b[i] === 10 && i + 1 < b.length) out.push(i + 1);
  return out;
}
/** [start, end) of line k (end excludes the '\n'). */
function lineRange(b: Buffer, k: number): [number, number] {
  const starts = lineStarts(b);
  const s = starts[Math.min(k, starts.length - 1)];
  const e = b.indexOf(10, s);
  return [s, e < 0 ? b.length : e];
}
const splice = (b: Buffer, at: number, del: number, ins: Buffer | string): Buffer =>
  Buffer.concat([b.subarray(0, at), typeof ins === 'string' ? Buffer.from(ins, 'utf8') : ins, b.subarray(at + del)]);

const MUTATORS: [name: string, weight: number, fn: Mutator][] = [
  ['deleteBytes', 3, (b, r) => {
    const at = r.int(b.length + 1);
    const n = 1 + r.int(8);
    return { buf: splice(b, at, n, ''), what: `delete ${n} bytes at ${at}` };
  }],
  ['insertBytes', 2, (b, r) => {
    const at = r.int(b.length + 1);
    const ins = Buffer.from(Array.from({ length: 1 + r.int(4) }, () => r.int(256)));
    return { buf: splice(b, at, 0, ins), what: `insert bytes ${ins.toString('hex')} at ${at}` };
  }],
  ['replaceBytes', 2, (b, r) => {
    const at = r.int(Math.max(1, b.length));
    const ins = Buffer.from(Array.from({ length: 1 + r.int(4) }, () => r.int(256)));
    return { buf: splice(b, at, ins.length, ins), what: `replace bytes at ${at} by ${ins.toString('hex')}` };
  }],
  ['insertToken', 6, (b, r) => {
    const at = r.int(b.length + 1);
    const t = pick(r, TOKENS);
    return { buf: splice(b, at, 0, t), what: `insert ${show(t)} at ${at}` };
  }],
  ['replaceToken', 3, (b, r) => {
    const at = r.int(Math.max(1, b.length));
    const t = pick(r, TOKENS);
    const n = 1 + r.int(3);
    return { buf: splice(b, at, n, t), what: `replace ${n} bytes at ${at} by ${show(t)}` };
  }],
  ['replaceNumber', 6, (b, r) => {
    const text = b.toString('latin1');
    const runs = [...text.matchAll(/\d+(?:\.\d+)?/g)];
    if (runs.length === 0) return { buf: b, what: 'replaceNumber: no number' };
    const m = pick(r, runs);
    const t = pick(r, NUMBERS);
    return { buf: splice(b, m.index!, m[0].length, t), what: `replace number ${show(m[0])} at ${m.index} by ${show(t)}` };
  }],
  ['duplicateLine', 2, (b, r) => {
    const k = r.int(lineStarts(b).length);
    const [s, e] = lineRange(b, k);
    return { buf: splice(b, e, 0, Buffer.concat([Buffer.from('\n'), b.subarray(s, e)])), what: `duplicate line ${k + 1}` };
  }],
  ['deleteLine', 3, (b, r) => {
    const k = r.int(lineStarts(b).length);
    const [s, e] = lineRange(b, k);
    return { buf: splice(b, s, e - s + 1, ''), what: `delete line ${k + 1}` };
  }],
  ['truncateLine', 3, (b, r) => {
    const k = r.int(lineStarts(b).length);
    const [s, e] = lineRange(b, k);
    const at = s + r.int(e - s + 1);
    return { buf: splice(b, at, e - at, ''), what: `cut line ${k + 1} at byte ${at - s}` };
  }],
  ['swapLines', 1, (b, r) => {
    const n = lineStarts(b).length;
    const k = r.int(n);
    const j = r.int(n);
    const lines = b.toString('latin1').split('\n');
    [lines[k], lines[j]] = [lines[j], lines[k]];
    return { buf: Buffer.from(lines.join('\n'), 'latin1'), what: `swap lines ${k + 1} and ${j + 1}` };
  }],
  ['truncateFile', 2, (b, r) => {
    const at = r.int(b.length + 1);
    return { buf: b.subarray(0, at), what: `truncate file at ${at} of ${b.length}` };
  }],
  ['blankLines', 2, (b, r) => {
    const starts = lineStarts(b);
    const at = pick(r, [...starts, b.length]);
    const t = pick(r, ['\n', '\n\n', '  \t\n', '\r\n']);
    return { buf: splice(b, at, 0, t), what: `insert blank line ${show(t)} at ${at}` };
  }],
  ['crlf', 1, (b) => ({ buf: Buffer.from(b.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'), what: 'CRLF line ends' })],
  ['loneCR', 1, (b, r) => {
    const nls = [...b.keys()].filter((i) => b[i] === 10);
    if (nls.length === 0) return { buf: b, what: 'loneCR: no newline' };
    const i = pick(r, nls);
    return { buf: splice(b, i, 1, '\r'), what: `newline at ${i} → CR` };
  }],
  ['bom', 1, (b) => ({ buf: splice(b, 0, 0, '\uFEFF'), what: 'BOM' })],
  ['emptyFile', 1, () => ({ buf: Buffer.alloc(0), what: 'empty file' })],
  ['deepNesting', 1, (b, r) => {
    const n = pick(r, [30, 600, 20000]);
    const [o, c] = pick(r, [['[', ']'], ['{', '}'], ['(', ')'], ["{'k': ", '}'], ['{"k": ', '}']]);
    const closed = r.next() < 0.5;
    const ins = o.repeat(n) + (closed ? '1' + c.repeat(n) : '');
    const at = r.int(b.length + 1);
    return { buf: splice(b, at, 0, ins), what: `insert ${n}× ${show(o)}${closed ? ' (closed)' : ''} at ${at}` };
  }],
  ['deepValue', 1, (b, r) => {
    // A value (after a ':') replaced by a deeply nested list: JSON.parse takes it, messages must still render it.
    const text = b.toString('latin1');
    const spots = [...text.matchAll(/: ?("[^"]*"|'[^']*'|[\w.]+)/g)];
    if (spots.length === 0) return { buf: b, what: 'deepValue: no value' };
    const m = pick(r, spots);
    const n = pick(r, [600, 20000]);
    const at = m.index! + m[0].length - m[1].length;
    return { buf: splice(b, at, m[1].length, '['.repeat(n) + ']'.repeat(n)), what: `value ${show(m[1])} at ${at} → ${n}-deep list` };
  }],
  ['longToken', 1, (b, r) => {
    const at = r.int(b.length + 1);
    const t = pick(r, ['x', '9', ' ', ';', ':', '"', "\\'"]).repeat(20000);
    return { buf: splice(b, at, 0, t), what: `insert 20000× ${show(t.slice(0, 2))} at ${at}` };
  }],
];
const TOTAL_WEIGHT = MUTATORS.reduce((s, [, w]) => s + w, 0);

function mutate(b: Buffer, r: Rng): Mutated {
  let x = r.next() * TOTAL_WEIGHT;
  for (const [, w, fn] of MUTATORS) {
    x -= w;
    if (x < 0) return fn(b, r);
  }
  return MUTATORS[0][2](b, r);
}

/** Mutations of a gzip file's bytes (applied after compressing). */
const GZ_MUTATORS: Mutator[] = [
  (b, r) => {
    const at = r.int(b.length);
    return { buf: b.subarray(0, at), what: `gz truncated at ${at} of ${b.length}` };
  },
  (b, r) => {
    const at = r.int(b.length);
    const c = Buffer.from(b);
    c[at] ^= 1 + r.int(255);
    return { buf: c, what: `gz byte ${at} flipped` };
  },
  (b) => ({ buf: Buffer.concat([b, Buffer.from('garbage\n')]), what: 'gz with trailing garbage' }),
  (b) => ({ buf: Buffer.concat([b, b]), what: 'gz twice (two members)' }),
  (b) => ({ buf: b.subarray(10), what: 'gz without header' }),
];

// ---------------------------------------------------------------------------------------------------------------------
// Harness

interface FileSpec {
  /** Path relative to the case directory. */
  name: string;
  content: string | Buffer;
  /** Write gzip-compressed (the name should end in .gz). */
  gz?: boolean;
}

interface Case {
  index: number;
  desc: string[];
  files: Map<string, Buffer>;
}

function caseRng(salt: number, k: number): Rng {
  return new Rng((Math.imul(SEED, 1000003) + Math.imul(salt, 7919) + k) >>> 0);
}

/** Writes the k-th mutated variant of `files` into `dir`; returns what was done. */
function writeCase(dir: string, files: FileSpec[], salt: number, k: number): Case {
  const r = caseRng(salt, k);
  const desc: string[] = [];
  const out = new Map<string, Buffer>();
  const targets = new Set<number>();
  targets.add(r.int(files.length));
  if (files.length > 1 && r.next() < 0.25) targets.add(r.int(files.length));
  files.forEach((f, i) => {
    let b = typeof f.content === 'string' ? Buffer.from(f.content, 'utf8') : f.content;
    if (targets.has(i)) {
      const n = 1 + r.int(3);
      for (let m = 0; m < n; m++) {
        const x = mutate(b, r);
        b = x.buf;
        desc.push(`${f.name}: ${x.what}`);
      }
    }
    out.set(f.name, b);
    if (f.gz) {
      b = gzipSync(b);
      if (targets.has(i) && r.next() < 0.3) {
        const x = pick(r, GZ_MUTATORS)(b, r);
        b = x.buf;
        desc.push(`${f.name}: ${x.what}`);
      }
    }
    mkdirSync(join(dir, f.name, '..'), { recursive: true });
    writeFileSync(join(dir, f.name), b);
  });
  return { index: k, desc, files: out };
}

function describe(c: Case, source: string): string {
  const shown = [...c.files].map(([n, b]) => `  ${n} = ${JSON.stringify(b.toString('latin1')).slice(0, 1500)}`);
  return `${source} case ${c.index} (DIN_FUZZ_SEED=${SEED}): ${c.desc.join('; ')}\n${shown.join('\n')}`;
}

type Outcome = { ok: true; ds: Dataset; ms: number } | { ok: false; err: unknown; ms: number };

function run(fn: () => Dataset): Outcome {
  const t0 = performance.now();
  try {
    const ds = fn();
    return { ok: true, ds, ms: performance.now() - t0 };
  } catch (err) {
    return { ok: false, err, ms: performance.now() - t0 };
  }
}

async function runAsync(fn: () => Promise<Dataset>): Promise<Outcome> {
  const t0 = performance.now();
  try {
    const ds = await fn();
    return { ok: true, ds, ms: performance.now() - t0 };
  } catch (err) {
    return { ok: false, err, ms: performance.now() - t0 };
  }
}

/** Everything a loaded Dataset must satisfy. */
function checkDataset(ds: Dataset, where: string): void {
  const c = ds.catalog;
  const fail = (msg: string): never => assert.fail(`${where}\nloaded an inconsistent dataset: ${msg}`);
  if (c.numItems !== c.itemKeys.length) fail(`numItems ${c.numItems} ≠ ${c.itemKeys.length} item keys`);
  if (c.numAttrs !== c.attrKeys.length) fail(`numAttrs ${c.numAttrs} ≠ ${c.attrKeys.length} attr keys`);
  if (new Set(c.itemKeys).size !== c.numItems) fail('duplicate item keys');
  if (new Set(c.attrKeys).size !== c.numAttrs) fail('duplicate attr keys');
  if (ds.numUsers !== ds.userKeys.length) fail(`numUsers ${ds.numUsers} ≠ ${ds.userKeys.length} user keys`);
  if (c.numItems === 0) fail('no items');
  if (c.attrOffsets.length !== c.numItems + 1 || c.attrOffsets[0] !== 0) fail('attrOffsets shape');
  for (let i = 0; i < c.numItems; i++) if (c.attrOffsets[i + 1] < c.attrOffsets[i]) fail(`attrOffsets decrease at ${i}`);
  if (c.attrOffsets[c.numItems] !== c.attrValues.length) fail('attrOffsets end ≠ attrValues length');
  for (const a of c.attrValues) if (!(a >= 0 && a < c.numAttrs)) fail(`attribute id ${a} out of range`);
  try {
    validateSampleSet(ds.train, c.numItems, ds.numUsers, 'train');
    validateSampleSet(ds.test, c.numItems, ds.numUsers, 'test');
  } catch (e) {
    fail((e as Error).message);
  }
  if (ds.train.size + ds.test.size === 0) fail('no samples');
  for (const [k, n] of Object.entries(ds.skipped)) if (!(Number.isInteger(n) && n > 0)) fail(`skipped.${k} = ${n}`);
  if ((ds.skippedExamples?.length ?? 0) > MAX_SKIPPED_EXAMPLES) fail(`${ds.skippedExamples?.length} examples`);
}

/** A clean error: a plain Error (not TypeError, RangeError, …) whose message names the file or the directory. */
function checkError(err: unknown, names: string[], where: string): void {
  const msg = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err);
  assert.ok(err instanceof Error && Object.getPrototypeOf(err) === Error.prototype, `${where}\nnot a plain Error: ${msg}`);
  assert.ok(names.some((n) => err.message.includes(n)), `${where}\nthe error names no file (${names.join(', ')}): ${msg}`);
}

function checkOutcome(o: Outcome, names: string[], where: string): void {
  assert.ok(o.ms < SLOW_MS, `${where}\ntook ${o.ms.toFixed(0)} ms`);
  if (o.ok) checkDataset(o.ds, where);
  else checkError(o.err, names, where);
}

const withoutPolicy = (ds: Dataset): Dataset => ({ ...ds, buildOptions: { ...ds.buildOptions, onError: undefined } });

/** The two policies agree: 'fail' loads ⇒ 'skip' loads the same with no row skipped; 'skip' throws ⇒ 'fail' throws. */
function checkPolicies(skip: Outcome, fail: Outcome, where: string): void {
  if (fail.ok) {
    assert.ok(skip.ok, `${where}\nloads under 'fail' but not under 'skip': ${skip.ok ? '' : (skip.err as Error).message}`);
    assert.deepEqual(withoutPolicy(skip.ds), withoutPolicy(fail.ds), `${where}\n'skip' and 'fail' built different datasets`);
    assert.deepEqual(skip.ds.skippedExamples ?? [], [], where);
  }
  if (!skip.ok) assert.ok(!fail.ok, `${where}\nthrows under 'skip' but loads under 'fail'`);
}

interface Tally {
  loaded: number;
  failed: number;
  rowErrors: number;
  /** Error kinds (message without paths, numbers and quoted text) → count; printed with DIN_FUZZ_VERBOSE=1. */
  kinds: Map<string, number>;
}
const tally = (): Tally => ({ loaded: 0, failed: 0, rowErrors: 0, kinds: new Map() });

function record(t: Tally, skip: Outcome): void {
  if (skip.ok) {
    t.loaded++;
    if ((skip.ds.skippedExamples ?? []).length > 0) t.rowErrors++;
    return;
  }
  t.failed++;
  const kind = (skip.err as Error).message
    .replace(/\/\S*\/(\S+?)(:\d+)?:/g, '$1:')
    .replace(/"[^"]*"/g, '"…"')
    .replace(/\d+/g, 'N')
    .slice(0, 100);
  t.kinds.set(kind, (t.kinds.get(kind) ?? 0) + 1);
}

function report(name: string, t: Tally): void {
  // One line per source, so a run shows that the fuzz exercises both outcomes.
  process.stdout.write(`fuzz ${name}: ${t.loaded} loaded (${t.rowErrors} with skipped rows), ${t.failed} clean errors\n`);
  if (process.env.DIN_FUZZ_VERBOSE) {
    for (const [k, n] of [...t.kinds].sort((a, b) => b[1] - a[1])) process.stdout.write(`  ${n}× ${k}\n`);
  }
}

/** Runs CASES mutated variants of `files` through `load` (sync) under both policies. */
function fuzzSync(
  name: string,
  salt: number,
  files: FileSpec[],
  load: (dir: string, onError: RowErrorPolicy) => Dataset,
  cases = CASES,
): Tally {
  const dir = tmpFixture({}, `din-fuzz-${name}-`);
  const names = [dir, ...files.map((f) => basename(f.name))];
  const t = tally();
  for (let k = 0; k < cases; k++) {
    const c = writeCase(dir, files, salt, k);
    const where = describe(c, name);
    const skip = run(() => load(dir, 'skip'));
    const fail = run(() => load(dir, 'fail'));
    checkOutcome(skip, names, `${where}\n[onError skip]`);
    checkOutcome(fail, names, `${where}\n[onError fail]`);
    checkPolicies(skip, fail, where);
    record(t, skip);
  }
  report(name, t);
  return t;
}

// ---------------------------------------------------------------------------------------------------------------------
// Tests

test('fuzz: the starting inputs are valid', async () => {
  const seq = loadAmazonSeq(tmpFixture(AMAZON_SEQ), { onError: 'fail' });
  checkDataset(seq, 'amazon-seq');
  const raw = loadAmazonRaw(tmpFixture(AMAZON_RAW), { onError: 'fail' });
  checkDataset(raw, 'amazon-raw');
  const gz = tmpFixture({});
  writeFileSync(join(gz, 'reviews_X_5.json.gz'), gzipSync(AMAZON_RAW['reviews_X_5.json']));
  writeFileSync(join(gz, 'meta_X.json.gz'), gzipSync(AMAZON_RAW['meta_X.json']));
  assert.deepEqual(await loadAmazonRawAsync(gz, { onError: 'fail' }), { ...raw, name: basename(gz) });
  const single = tmpFixture({ 'samples.txt': DIN_SINGLE });
  checkDataset(loadDinRemapped(join(single, 'samples.txt'), { onError: 'fail' }), 'din-remapped');
  checkDataset(loadDinRemapped(tmpFixture({ 'x_train.txt': DIN_TRAIN, 'x_test.txt': DIN_TEST }), { onError: 'fail' }), 'din pair');
  checkDataset(loadMovieLens(tmpFixture(ML_CSV), { onError: 'fail' }), 'movielens csv');
  const dat = tmpFixture({ 'ratings.dat': ML_DAT_RATINGS });
  writeFileSync(join(dat, 'movies.dat'), Buffer.from(ML_DAT_MOVIES, 'latin1'));
  const ml = loadMovieLens(dat, { onError: 'fail' });
  checkDataset(ml, 'movielens dat');
  assert.ok(ml.catalog.attrKeys.includes('Musical'));
  for (const ds of [seq, raw, ml]) assert.ok(ds.train.size > 0 && ds.test.size > 0);
});

test('fuzz: amazon-seq', () => {
  const t = fuzzSync(
    'amazon-seq',
    1,
    [
      { name: 'X.txt', content: AMAZON_SEQ['X.txt'] },
      { name: 'X_item2attributes.json', content: AMAZON_SEQ['X_item2attributes.json'] },
    ],
    (dir, onError) => loadAmazonSeq(dir, { onError }),
  );
  assert.ok(t.loaded > 0 && t.failed > 0 && t.rowErrors > 0, JSON.stringify(t));
});

test('fuzz: amazon-raw (JSON reviews, Python-literal meta), sync and async agree', async () => {
  const dir = tmpFixture({}, 'din-fuzz-amazon-raw-');
  const files: FileSpec[] = [
    { name: 'reviews_X_5.json', content: AMAZON_RAW['reviews_X_5.json'] },
    { name: 'meta_X.json', content: AMAZON_RAW['meta_X.json'] },
  ];
  const names = [dir, 'reviews_X_5.json', 'meta_X.json'];
  const t = tally();
  for (let k = 0; k < CASES; k++) {
    const c = writeCase(dir, files, 2, k);
    const where = describe(c, 'amazon-raw');
    const skip = run(() => loadAmazonRaw(dir, { onError: 'skip' }));
    const fail = run(() => loadAmazonRaw(dir, { onError: 'fail' }));
    checkOutcome(skip, names, `${where}\n[onError skip]`);
    checkOutcome(fail, names, `${where}\n[onError fail]`);
    checkPolicies(skip, fail, where);
    const skipAsync = await runAsync(() => loadAmazonRawAsync(dir, { onError: 'skip' }));
    checkOutcome(skipAsync, names, `${where}\n[async, onError skip]`);
    if (skip.ok && skipAsync.ok) assert.deepEqual(skipAsync.ds, skip.ds, `${where}\nsync and async differ`);
    else assert.equal(skipAsync.ok ? '' : (skipAsync.err as Error).message, skip.ok ? '' : (skip.err as Error).message, where);
    record(t, skip);
  }
  report('amazon-raw', t);
  assert.ok(t.loaded > 0 && t.failed > 0 && t.rowErrors > 0, JSON.stringify(t));
});

test('fuzz: amazon-raw .json.gz (mutated text, truncated or corrupt gzip), sync and async agree', async () => {
  const dir = tmpFixture({}, 'din-fuzz-amazon-raw-gz-');
  const files: FileSpec[] = [
    { name: 'reviews_X_5.json.gz', content: AMAZON_RAW['reviews_X_5.json'], gz: true },
    { name: 'meta_X.json.gz', content: AMAZON_RAW['meta_X.json'], gz: true },
  ];
  const names = [dir, 'reviews_X_5.json.gz', 'meta_X.json.gz'];
  const t = tally();
  let gzErrors = 0;
  for (let k = 0; k < Math.ceil(CASES / 2); k++) {
    const c = writeCase(dir, files, 3, k);
    const where = describe(c, 'amazon-raw-gz');
    const skip = run(() => loadAmazonRaw(dir, { onError: 'skip' }));
    const fail = run(() => loadAmazonRaw(dir, { onError: 'fail' }));
    checkOutcome(skip, names, `${where}\n[onError skip]`);
    checkOutcome(fail, names, `${where}\n[onError fail]`);
    checkPolicies(skip, fail, where);
    const skipAsync = await runAsync(() => loadAmazonRawAsync(dir, { onError: 'skip' }));
    const failAsync = await runAsync(() => loadAmazonRawAsync(dir, { onError: 'fail' }));
    checkOutcome(skipAsync, names, `${where}\n[async, onError skip]`);
    checkOutcome(failAsync, names, `${where}\n[async, onError fail]`);
    if (skip.ok && skipAsync.ok) assert.deepEqual(skipAsync.ds, skip.ds, `${where}\nsync and async differ`);
    else assert.equal(skipAsync.ok ? '' : (skipAsync.err as Error).message, skip.ok ? '' : (skip.err as Error).message, where);
    // Under 'fail' the streaming reader may meet a row error before a later gzip error: both must fail, or neither.
    assert.equal(failAsync.ok, fail.ok, where);
    if (!skip.ok && /corrupt or truncated gzip/.test((skip.err as Error).message)) gzErrors++;
    record(t, skip);
  }
  report('amazon-raw-gz', t);
  assert.ok(t.loaded > 0 && gzErrors > 0, JSON.stringify({ ...t, gzErrors }));
});

test('fuzz: the Python-literal / JSON line parser', () => {
  const lines = [...AMAZON_RAW['meta_X.json'].trim().split('\n'), ...AMAZON_RAW['reviews_X_5.json'].trim().split('\n')];
  let parsed = 0;
  let rejected = 0;
  for (let k = 0; k < 10 * CASES; k++) {
    const r = caseRng(4, k);
    let b: Buffer = Buffer.from(pick(r, lines), 'utf8');
    const desc: string[] = [];
    for (let m = 1 + r.int(3); m > 0; m--) {
      const x = mutate(b, r);
      b = x.buf;
      desc.push(x.what);
    }
    const line = b.toString('utf8');
    const where = `python-literal case ${k} (DIN_FUZZ_SEED=${SEED}): ${desc.join('; ')}\n  line = ${JSON.stringify(line).slice(0, 1500)}`;
    try {
      parseJsonOrPython(line);
      parsed++;
    } catch (e) {
      rejected++;
      assert.ok(e instanceof Error && Object.getPrototypeOf(e) === Error.prototype, `${where}\nnot a plain Error: ${e}`);
      assert.match(e.message, /^neither JSON nor a Python literal \(column \d+: /, where);
    }
  }
  process.stdout.write(`fuzz python-literal: ${parsed} parsed, ${rejected} rejected\n`);
  assert.ok(parsed > 0 && rejected > 0);
});

test('fuzz: din-remapped, one file split by fraction', () => {
  const t = fuzzSync('din-remapped', 5, [{ name: 'samples.txt', content: DIN_SINGLE }], (dir, onError) =>
    loadDinRemapped(join(dir, 'samples.txt'), { onError, testFraction: 0.3 }),
  );
  assert.ok(t.loaded > 0 && t.failed > 0 && t.rowErrors > 0, JSON.stringify(t));
});

test('fuzz: din-remapped, train/test pair and train/ + test/ with .txt.gz', () => {
  const pair = fuzzSync(
    'din-remapped-pair',
    6,
    [
      { name: 'x_train.txt', content: DIN_TRAIN },
      { name: 'x_test.txt', content: DIN_TEST },
    ],
    (dir, onError) => loadDinRemapped(dir, { onError }),
    Math.ceil(CASES / 2),
  );
  const sub = fuzzSync(
    'din-remapped-gz',
    7,
    [
      { name: 'train/part-0.txt.gz', content: DIN_TRAIN, gz: true },
      { name: 'test/part-1.txt', content: DIN_TEST },
    ],
    (dir, onError) => loadDinRemapped(dir, { onError }),
    Math.ceil(CASES / 2),
  );
  assert.ok(pair.loaded > 0 && pair.failed > 0 && sub.loaded > 0 && sub.failed > 0, JSON.stringify({ pair, sub }));
});

test('fuzz: movielens csv layout', () => {
  const t = fuzzSync(
    'movielens-csv',
    8,
    [
      { name: 'ratings.csv', content: ML_CSV['ratings.csv'] },
      { name: 'movies.csv', content: ML_CSV['movies.csv'] },
    ],
    (dir, onError) => loadMovieLens(dir, { onError }),
  );
  assert.ok(t.loaded > 0 && t.failed > 0 && t.rowErrors > 0, JSON.stringify(t));
});

test('fuzz: movielens dat layout (latin1 movies.dat)', () => {
  const t = fuzzSync(
    'movielens-dat',
    9,
    [
      { name: 'ratings.dat', content: ML_DAT_RATINGS },
      { name: 'movies.dat', content: Buffer.from(ML_DAT_MOVIES, 'latin1') },
    ],
    (dir, onError) => loadMovieLens(dir, { onError }),
  );
  assert.ok(t.loaded > 0 && t.failed > 0 && t.rowErrors > 0, JSON.stringify(t));
});

test('fuzz: loadDataset (format detection included) on mutated inputs of every format', async () => {
  const layouts: [string, FileSpec[]][] = [
    ['amazon-seq', Object.entries(AMAZON_SEQ).map(([name, content]) => ({ name, content }))],
    ['amazon-raw', Object.entries(AMAZON_RAW).map(([name, content]) => ({ name: `${name}.gz`, content, gz: true }))],
    ['din-remapped', [{ name: 'a_train.txt', content: DIN_TRAIN }, { name: 'a_test.txt', content: DIN_TEST }]],
    ['movielens', Object.entries(ML_CSV).map(([name, content]) => ({ name, content }))],
  ];
  let n = 0;
  for (const [li, [name, files]] of layouts.entries()) {
    const dir = tmpFixture({}, `din-fuzz-load-${name}-`);
    const names = [dir, ...files.map((f) => basename(f.name))];
    for (let k = 0; k < Math.ceil(CASES / 6); k++) {
      const c = writeCase(dir, files, 10 + li, k);
      const where = describe(c, `loadDataset ${name}`);
      const skip = await runAsync(() => loadDataset({ path: dir, onError: 'skip', noCache: true }));
      const fail = await runAsync(() => loadDataset({ path: dir, onError: 'fail', noCache: true }));
      checkOutcome(skip, names, `${where}\n[onError skip]`);
      checkOutcome(fail, names, `${where}\n[onError fail]`);
      checkPolicies(skip, fail, where);
      n++;
    }
  }
  assert.ok(n > 0);
});

// ---------------------------------------------------------------------------------------------------------------------
// Regression tests for what the fuzz found

test('fuzz regressions: deep nesting is a row error, not a stack overflow', () => {
  const deep = `{'asin': 'A1', 'categories': ${'['.repeat(20000)}${']'.repeat(20000)}}`;
  assert.throws(() => parseJsonOrPython(deep), (e: Error) =>
    Object.getPrototypeOf(e) === Error.prototype && /nested more than 500 deep/.test(e.message));
  assert.deepEqual(parseJsonOrPython(`{'a': ${'['.repeat(400)}${']'.repeat(400)}}`), { a: JSON.parse('['.repeat(400) + ']'.repeat(400)) });
  // JSON.parse takes any depth; a deeply nested JSON value in a message must not overflow JSON.stringify.
  const dir = tmpFixture({
    'reviews_X_5.json': [rev('U1', 'A1', 1), rev('U1', 'A2', 2), rev('U2', 'A3', 1), `{"reviewerID": ${'['.repeat(20000)}${']'.repeat(20000)}, "asin": "A1", "unixReviewTime": 3}`].join('\n'),
    'meta_X.json': [
      `{'asin': 'A1', 'categories': [['E', 'x']]}`,
      `{"asin": "A2", "categories": ${'['.repeat(20000)}${']'.repeat(20000)}}`,
      `{'asin': 'A2', 'categories': [['E', 'y']]}`,
      `{'asin': 'A3', 'categories': [['E', 'y']]}`,
    ].join('\n'),
  });
  const ds = loadAmazonRaw(dir);
  assert.deepEqual(ds.skipped, { reviewsMissingFields: 1, metaWithoutCategory: 1, usersWithOneReview: 1 });
  assert.match(ds.skippedExamples!.join('\n'), /expected "reviewerID" as a non-empty string, found \[…\] \(nested too deeply to show\)/);
  const seq = tmpFixture({ 'X.txt': 'u1 a b c\nu2 d e f\n', 'X_item2attributes.json': `{"a": [${'['.repeat(20000)}${']'.repeat(20000)}]}` });
  assert.deepEqual(loadAmazonSeq(seq).skipped.badAttributeLists, 1);
});

test('fuzz regressions: a stray quote in movies.csv costs one row, not the rest of the file', () => {
  const dir = tmpFixture({
    'ratings.csv': 'userId,movieId,rating,timestamp\n1,1,4,1\n1,2,4,2\n1,3,4,3\n',
    'movies.csv': 'movieId,title,genres\n1,"Open quote,Drama\n2,"Two, The",Comedy\n3,"Multi\nline",Horror\n',
  });
  const ds = loadMovieLens(dir, { testFraction: 0 });
  assert.deepEqual(ds.skipped, { malformedMovieLines: 1, ratedMoviesNotInMoviesCsv: 1 });
  assert.deepEqual(ds.skippedExamples, [`${join(dir, 'movies.csv')}:2: unterminated quoted field (expected a closing ")`]);
  assert.deepEqual(ds.catalog.attrKeys, ['Comedy', 'Horror']); // movie 3's quoted title spans two lines
  assert.throws(() => loadMovieLens(dir, { onError: 'fail' }), /movies\.csv:2: unterminated quoted field/);
  // A movies file with no usable row, or no row at all, is structural.
  writeFileSync(join(dir, 'movies.csv'), 'movieId,title,genres\n');
  assert.throws(() => loadMovieLens(dir), /movies\.csv: no movie rows after the header/);
  writeFileSync(join(dir, 'movies.csv'), 'movieId,title,genres\nx,a,b\n');
  assert.throws(() => loadMovieLens(dir), /movies\.csv: no valid movie row \(1 malformed row was skipped, e\.g\. .*movies\.csv:2: movieId "x"/);
});

test('fuzz regressions: a malformed first line does not hide a din-remapped file', () => {
  const dir = tmpFixture({ 'x_train.txt': 'garbage line\n' + DIN_TRAIN, 'x_test.txt': DIN_TEST });
  const ds = loadDinRemapped(dir);
  assert.equal(ds.buildOptions.split, 'files'); // the pair is still found
  assert.deepEqual(ds.skipped, { malformedLines: 1 });
  assert.match(ds.skippedExamples![0], /x_train\.txt:1: expected 5 ';'-separated fields/);
  assert.throws(() => loadDinRemapped(dir, { onError: 'fail' }), /x_train\.txt:1: expected 5 ';'-separated fields/);
  // An empty partner is still the partner (and its emptiness reported); a free-text partner is not one.
  const empty = tmpFixture({ 'x_train.txt': DIN_TRAIN, 'x_test.txt': '' });
  assert.throws(() => loadDinRemapped(empty), /x_test\.txt: no test samples/);
  const notes = tmpFixture({ 'x_train.txt': DIN_SINGLE, 'test_notes.txt': 'free text; not samples\n' });
  assert.equal(loadDinRemapped(notes).buildOptions.split, 'fraction');
  // A file path that is not this format says why.
  const bad = tmpFixture({ 'x.txt': 'a;b\nc;d\n', 'e.txt': '', 'z.txt.gz': 'not gzip' });
  assert.throws(() => loadDinRemapped(join(bad, 'x.txt')), /x\.txt: not a din-remapped file .*2 of its first 2 non-blank lines are not samples \(e\.g\. "a;b"\)/);
  assert.throws(() => loadDinRemapped(join(bad, 'e.txt')), /e\.txt: not a din-remapped file .*: empty file/);
  assert.throws(() => loadDinRemapped(join(bad, 'z.txt.gz')), /z\.txt\.gz: not a din-remapped file .*: corrupt gzip data/);
});

test('onError through loadDataset: part of the cache key, examples kept in the cache', async () => {
  const data = tmpFixture({ 'ratings.csv': ML_CSV['ratings.csv'] + '60,x,1,1\n', 'movies.csv': ML_CSV['movies.csv'] });
  const cacheDir = tmpFixture({});
  const skip = await loadDataset({ path: data, cacheDir });
  assert.equal(skip.skipped.ratingsWithBadIds, 1);
  assert.deepEqual(skip.skippedExamples, [`${join(data, 'ratings.csv')}:13: movieId "x" is not a non-negative integer id`]);
  const again = await loadDataset({ path: data, cacheDir, onError: 'skip' });
  assert.deepEqual(again, skip); // from the cache, examples included
  await assert.rejects(loadDataset({ path: data, cacheDir, onError: 'fail' }), /ratings\.csv:13: movieId "x"/);
  await assert.rejects(loadDataset({ path: data, cacheDir, onError: 'never' as 'skip' }), /onError must be 'skip' or 'fail'/);
  // The file was read: sanity check that the fixture is what the message says.
  assert.equal(readFileSync(join(data, 'ratings.csv'), 'utf8').split('\n')[12], '60,x,1,1');
});

/**
 * Runs mutated variants of `files` through the in-memory loader and the streamed conversion into shards under both
 * policies: either both fail with the same message, or the shards hold exactly the loaded dataset.
 */
async function fuzzConvert(
  name: string,
  salt: number,
  files: FileSpec[],
  load: (dir: string, onError: RowErrorPolicy) => Dataset | Promise<Dataset>,
  convert: (dir: string, out: string, onError: RowErrorPolicy) => Promise<unknown>,
  order: 'same' | 'user',
  cases = Math.ceil(CASES / 10),
): Promise<Tally> {
  const dir = tmpFixture({}, `din-fuzz-convert-${name}-`);
  const out = join(tmpFixture({}, `din-fuzz-shards-${name}-`), 'shards');
  const t = tally();
  for (let k = 0; k < cases; k++) {
    const c = writeCase(dir, files, salt, k);
    for (const onError of ['skip', 'fail'] as const) {
      const where = `${describe(c, name)}\n[onError ${onError}]`;
      const mem = await runAsync(async () => load(dir, onError));
      let convErr: unknown = null;
      rmSync(out, { recursive: true, force: true });
      try {
        await convert(dir, out, onError);
      } catch (e) {
        convErr = e;
      }
      if (mem.ok && mem.ds.train.size === 0) {
        // a shard set needs training samples (training reads them): refused, as it always was
        assert.match((convErr as Error | null)?.message ?? '', /no training rows were written/, where);
      } else if (mem.ok) {
        assert.equal(convErr, null, `${where}\nloads in memory but the conversion fails: ${(convErr as Error | null)?.message}`);
        assertSameShards(out, mem.ds, order);
      } else {
        assert.ok(convErr !== null, `${where}\nthe conversion succeeds but the load fails: ${(mem.err as Error).message}`);
        assert.equal((convErr as Error).message, (mem.err as Error).message, where);
        assert.ok(!existsSync(join(out, 'manifest.json')), `${where}\na failed conversion left a manifest`);
      }
      if (onError === 'skip') record(t, mem);
    }
  }
  report(`${name} → shards`, t);
  return t;
}

test('fuzz: every streamed conversion gives the loader\'s dataset, or the loader\'s error, on mutated inputs', async () => {
  const small = { shardRows: 5, memoryMB: 1 / 16 };
  const seq = await fuzzConvert('amazon-seq', 11, [
    { name: 'X.txt', content: AMAZON_SEQ['X.txt'] },
    { name: 'X_item2attributes.json', content: AMAZON_SEQ['X_item2attributes.json'] },
  ], (dir, onError) => loadAmazonSeq(dir, { onError }), (dir, out, onError) => convertAmazonSeqToShards(dir, out, { onError, ...small }), 'same');
  const raw = await fuzzConvert('amazon-raw', 12, [
    { name: 'reviews_X_5.json.gz', content: AMAZON_RAW['reviews_X_5.json'], gz: true },
    { name: 'meta_X.json', content: AMAZON_RAW['meta_X.json'] },
  ], (dir, onError) => loadAmazonRawAsync(dir, { onError }), (dir, out, onError) => convertAmazonRawToShards(dir, out, { onError, ...small }), 'same');
  const din = await fuzzConvert('din-remapped', 13, [
    { name: 'x_train.txt', content: DIN_TRAIN },
    { name: 'x_test.txt', content: DIN_TEST },
  ], (dir, onError) => loadDinRemapped(dir, { onError }), (dir, out, onError) => convertDinRemappedToShards(dir, out, { onError, ...small }), 'same');
  const dinSingle = await fuzzConvert('din-remapped-single', 14, [{ name: 'samples.txt', content: DIN_SINGLE }],
    (dir, onError) => loadDinRemapped(join(dir, 'samples.txt'), { onError, testFraction: 0.3 }),
    (dir, out, onError) => convertDinRemappedToShards(join(dir, 'samples.txt'), out, { onError, testFraction: 0.3, ...small }), 'same');
  const ml = await fuzzConvert('movielens', 15, [
    { name: 'ratings.csv', content: ML_CSV['ratings.csv'] },
    { name: 'movies.csv', content: ML_CSV['movies.csv'] },
  ], (dir, onError) => loadMovieLens(dir, { onError, testFraction: 0.4 }),
  (dir, out, onError) => convertMovieLensToShards(dir, out, { onError, testFraction: 0.4, ...small }), 'same');
  const tb = await fuzzConvert('taobao-tianchi', 16, Object.entries(TIANCHI).map(([n, content]) => ({ name: n, content })),
    (dir, onError) => loadTaobao(dir, { onError, maxHistory: 2 }),
    (dir, out, onError) => convertTaobaoToShards(dir, out, { onError, maxHistory: 2, ...small }), 'user');
  const all = [seq, raw, din, dinSingle, ml, tb];
  assert.ok(all.every((t) => t.loaded > 0) && all.filter((t) => t.failed > 0).length >= 4, JSON.stringify(all));
});
