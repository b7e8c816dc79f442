/**
 * The DIN repository's remapped Amazon samples as text, one sample per line (PaddleRec's paddle_train.txt /
 * paddle_test.txt, written from the original dataset.pkl):
 *
 *   hist_items;hist_cates;target;target_cate;label      e.g.  3647 4342 6855;281 463 558;4206;463;1
 *
 * hist_items / hist_cates: space-separated integer ids, oldest first (may both be empty); target, target_cate: one
 * integer id each; label: 0 or 1. `.txt.gz` files are read transparently.
 *
 * Layouts (see `findDinRemappedFiles`); a file "looks like" this format when at least half of its first (up to 10)
 * non-blank lines match it, so one malformed first line does not hide a file:
 *  - a directory with subdirectories `train/` and `test/`, each holding exactly one such `.txt[.gz]` file (the layout
 *    PaddleRec's download script makes);
 *  - a directory holding exactly one such file whose name contains "train" and one whose name contains "test"
 *    (case-insensitive, e.g. paddle_train.txt + paddle_test.txt): the train and test splits as given;
 *    In both, when only one of the two files looks like this format, the other (the one `.txt[.gz]` file of the
 *    subdirectory, or the one file named *train* / *test*) is still taken as its partner if it looks damaged — empty,
 *    unreadable or corrupt gzip, or with at least one sample among its first 10 non-blank lines — so its problems are
 *    reported instead of the directory silently becoming a single-file dataset;
 *  - otherwise a directory holding exactly one such file, or the path of one such file: a single file, split by
 *    `testFraction` (default 0.2) of its user groups (below), chosen by a seeded shuffle (`seed`, default 1); exactly
 *    round(testFraction × groups) groups go to test. Passing a file path always means this single-file mode.
 *
 * Users: the format has no user ids. Consecutive lines of one file with the same history (the same hist_items and
 * hist_cates text, ignoring leading/trailing spaces) form one pseudo-user, whose history is stored once. In the
 * original test file a user's positive and negative are written consecutively with the same history, so each test
 * user becomes one group of two samples and GAUC over the test set is the original per-user evaluation; in the
 * (shuffled) training file nearly every line is its own group. Grouping only merges lines that are indistinguishable
 * anyway (same behaviours), and a split never cuts a group. userKeys name each group by `<file name>:<first line>`.
 * A pseudo-user has a single history length, so `validationSplit` holds nothing out for this format.
 * `convertDinRemappedToShards` writes the same samples into shards reading every file twice (vocabularies, then samples).
 *
 * Vocabularies: items are all ids seen (history or target, either split), dense-remapped in increasing numeric order
 * (itemKeys = the raw ids as decimal strings), so when the ids are 0..n−1 and all occur, dense id = raw id. Likewise
 * categories (attrKeys). Every item gets exactly one attribute, its category.
 *
 * Errors vs. counts (`onError`, the policy of ./row-errors.ts, default 'skip' as for every source):
 *  - Row errors — not 5 ';'-separated fields, an id that is not a non-negative integer below 2^31, a label other than
 *    0/1 (`malformedLines`); hist_cates with a different number of entries than hist_items (`historyLengthMismatch`);
 *    an item given a category different from the one it had earlier (`conflictingCategories`; the message names the
 *    earlier line; the whole line is skipped) — are skipped and counted in `skipped` under those keys (the first few
 *    messages kept in `skippedExamples`), or with `onError: 'fail'` throw `<file>:<line>: <what was expected>`.
 *  - Always counted: blank lines (`blankLines`).
 *  - Structural problems always throw: no such layout at the path (or several candidates) — which covers an empty file
 *    and a file whose first lines are not this format —, an unreadable file or a corrupt or truncated gzip stream, an
 *    empty train or test split (e.g. every line of the test file malformed; the message shows the first skipped one).
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { allocSampleSet } from '../sample-set.js';
import type { ShardManifest } from '../shards.js';
import { streamToShards, type StreamConvertOptions } from '../stream/job.js';
import { SampleShardWriter } from '../stream/sample-writer.js';
import type { Dataset, ItemCatalog } from '../../core/types.js';
import { IntColumn } from '../vocab.js';
import { Rng } from '../../util/rng.js';
import { listFiles } from '../../util/fs.js';
import { readHead } from '../parse/files.js';
import { readLinesSync } from '../parse/lines.js';
import { clip } from '../parse/text.js';
import { RowErrors, rowErrorPolicy, type RowErrorPolicy } from './row-errors.js';

/** Options of `loadDinRemapped`. */
export interface DinRemappedOptions {
  /** Seed of the single-file split. Default 1. */
  seed?: number;
  /** Single-file mode: fraction of user groups held out as test. Default 0.2. Ignored when train/test files are given. */
  testFraction?: number;
  /** Dataset name; default: the directory name (or the file stem when given a file path). */
  name?: string;
  /** Row errors (see the file header): 'skip' counts them in `skipped` (default), 'fail' throws at the first. */
  onError?: RowErrorPolicy;
  /** Receives human-readable progress lines (samples and groups read per file, the first skipped row of each kind). */
  onProgress?: (msg: string) => void;
}

export interface DinRemappedFiles {
  train: string;
  /** null: single-file mode (split by testFraction). */
  test: string | null;
}

const LINE_RE = /^\s*(?:\d+(?: +\d+)*)? *;\s*(?:\d+(?: +\d+)*)? *;\s*\d+\s*;\s*\d+\s*;\s*[01]\s*$/;
const NAME_RE = /\.txt(?:\.gz)?$/i;

/** How many leading non-blank lines decide whether a file is in this format. */
const PROBE_LINES = 10;

/**
 * Up to PROBE_LINES leading non-blank lines of a file (reads at most 1 MB; `.gz` partially decompressed), or a string
 * saying why there are none (unreadable, not gzip, empty).
 */
function leadingLines(file: string): string[] | string {
  let buf: Buffer;
  try {
    buf = readHead(file, 1 << 20);
  } catch (e) {
    return (e as Error).message; // "cannot read (…)" or "corrupt gzip data (…)"
  }
  const text = buf.toString('utf8');
  const lines = text.split('\n');
  if (!text.endsWith('\n') && lines.length > 1 && buf.length >= 1 << 20) lines.pop(); // possibly cut
  const out: string[] = [];
  for (const l of lines) {
    if (l.trim() === '') continue;
    out.push((out.length === 0 ? l.replace(/^\uFEFF/, '') : l).replace(/\r$/, ''));
    if (out.length === PROBE_LINES) break;
  }
  return out.length > 0 ? out : 'empty file';
}

/** Why a file is not in this format, or null when it is (at least half its leading non-blank lines are samples). */
function notDinRemapped(file: string): string | null {
  const lines = leadingLines(file);
  if (typeof lines === 'string') return lines;
  const ok = lines.filter((l) => LINE_RE.test(l)).length;
  if (2 * ok >= lines.length) return null;
  const bad = lines.find((l) => !LINE_RE.test(l)) as string;
  const shown = bad.length > 80 ? `${bad.slice(0, 80)}…` : bad;
  return `${lines.length - ok} of its first ${lines.length} non-blank lines are not samples (e.g. "${shown}")`;
}

/** Whether a file is a `hist_items;hist_cates;target;target_cate;label` sample file (see the file header). */
export function looksLikeDinRemapped(file: string): boolean {
  return notDinRemapped(file) === null;
}

/** The `.txt[.gz]` files in a directory, sorted ([] if it cannot be read). */
const txtFilesIn = (dir: string): string[] => listFiles(dir, NAME_RE);

function formatFilesIn(dir: string): string[] {
  return txtFilesIn(dir).filter(looksLikeDinRemapped);
}

/** A damaged file of this format: empty, unreadable or corrupt gzip, or with at least one sample among its first lines. */
function damagedDinRemapped(file: string): boolean {
  const lines = leadingLines(file);
  return typeof lines === 'string' || lines.some((l) => LINE_RE.test(l));
}

/**
 * A train/test pair where one file looks like this format and its partner is a damaged one (see damagedDinRemapped):
 * still the pair, so the loader reports what is wrong with the partner instead of silently using one file.
 */
function brokenPair(trains: string[], tests: string[]): DinRemappedFiles | null {
  if (trains.length !== 1 || tests.length !== 1 || trains[0] === tests[0]) return null;
  const [a, b] = [trains[0], tests[0]];
  const ok = (looksLikeDinRemapped(a) && damagedDinRemapped(b)) || (looksLikeDinRemapped(b) && damagedDinRemapped(a));
  return ok ? { train: a, test: b } : null;
}

/**
 * The din-remapped inputs at `path` (layouts in the file header): one entry for a train/test pair or a single file;
 * several single-file entries when a directory holds several candidate files and no unique train/test pair (the loader
 * then asks for one); [] when the path is not this layout (or does not exist).
 */
export function findDinRemappedFiles(path: string): DinRemappedFiles[] {
  const abs = resolve(path);
  if (!existsSync(abs)) return [];
  if (statSync(abs).isFile()) return looksLikeDinRemapped(abs) ? [{ train: abs, test: null }] : [];
  const subTrain = formatFilesIn(join(abs, 'train'));
  const subTest = formatFilesIn(join(abs, 'test'));
  if (subTrain.length === 1 && subTest.length === 1) return [{ train: subTrain[0], test: subTest[0] }];
  const files = formatFilesIn(abs);
  const isTrain = (f: string): boolean => /train/i.test(basename(f));
  const isTest = (f: string): boolean => /test/i.test(basename(f));
  const trains = files.filter(isTrain);
  const tests = files.filter(isTest);
  if (trains.length === 1 && tests.length === 1 && trains[0] !== tests[0]) return [{ train: trains[0], test: tests[0] }];
  const sub = brokenPair(
    subTrain.length === 1 ? subTrain : txtFilesIn(join(abs, 'train')),
    subTest.length === 1 ? subTest : txtFilesIn(join(abs, 'test')),
  );
  if (sub !== null) return [sub];
  const all = txtFilesIn(abs);
  const flat = brokenPair(all.filter(isTrain), all.filter(isTest));
  if (flat !== null) return [flat];
  return files.map((f) => ({ train: f, test: null }));
}

function resolveFiles(path: string): DinRemappedFiles {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new Error(`${abs}: no such file or directory`);
  const found = findDinRemappedFiles(abs);
  if (found.length === 0 && statSync(abs).isFile()) {
    throw new Error(
      `${abs}: not a din-remapped file (expected "hist_items;hist_cates;target;target_cate;label" lines): ` +
        `${notDinRemapped(abs)}`,
    );
  }
  if (found.length === 0) {
    throw new Error(
      `${path}: no din-remapped files (expected .txt files of "hist_items;hist_cates;target;target_cate;label" lines: ` +
        `train/ + test/ subdirectories, a *train*.txt + *test*.txt pair, or one file)`,
    );
  }
  if (found.length > 1) {
    throw new Error(
      `${path}: several din-remapped files and no unique *train*/*test* pair ` +
        `(${found.map((f) => basename(f.train)).join(', ')}); pass the path of one file`,
    );
  }
  return found[0];
}

/** The files a given path reads (used for cache keys). */
export function dinRemappedSourceFiles(path: string): string[] {
  const f = resolveFiles(path);
  return f.test === null ? [f.train] : [f.train, f.test];
}

const ID_RE = /^\d+$/;
const MAX_ID = 0x7fffffff;

/** What a parser reports: a new group (pseudo-user) with its history's raw item ids, then each sample of it. */
interface LineSink {
  group(histRaw: number[], lineNo: number): void;
  sample(target: number, label: number): void;
}

/**
 * The line parser (see the file header): validates each line, checks categories against every earlier valid line
 * (of either file), and reports groups and samples. Deterministic: a second parser over the same files makes the same
 * decisions (the streamed conversion's second pass relies on it).
 */
class DinParser {
  /** item raw id → raw category, the line that first gave it, and every category seen. */
  readonly itemCate = new Map<number, number>();
  private readonly itemWhere = new Map<number, string>();
  readonly cates = new Set<number>();

  constructor(private readonly errors: RowErrors) {}

  /** Parses one file; returns its (samples, groups). */
  parseFile(file: string, sink: LineSink): { samples: number; groups: number } {
    const { errors, itemCate, itemWhere, cates } = this;
    let prevHist: string | null = null; // trimmed "hist_items;hist_cates" text of the current group
    const fname = basename(file);
    const items: number[] = [];
    const itemCats: number[] = [];
    const pending = new Map<number, number>(); // item → category of the current line
    let samples = 0;
    let groups = 0;
    const rowError = (reason: string, lineNo: number, what: string): void => errors.row(reason, file, lineNo, what);
    const ids = (field: string, what: string, lineNo: number, out: number[]): boolean => {
      out.length = 0;
      const t = field.trim();
      let v = -1; // value of the current token, −1 between tokens
      let ok = true;
      for (let i = 0; i < t.length && ok; i++) {
        const c = t.charCodeAt(i);
        if (c >= 48 && c <= 57) {
          v = (v < 0 ? 0 : v) * 10 + (c - 48);
          if (v > MAX_ID) ok = false;
        } else if (c === 32) {
          if (v >= 0) out.push(v);
          v = -1;
        } else {
          ok = false;
        }
      }
      if (ok) {
        if (v >= 0) out.push(v);
        return true;
      }
      // Slow path, for the message: the first token that is not an id.
      const tok = t.split(/ +/).find((x) => !(ID_RE.test(x) && Number(x) <= MAX_ID)) ?? t;
      rowError('malformedLines', lineNo, `${what}: "${clip(tok)}" is not a non-negative integer id`);
      return false;
    };
    const single = (field: string, what: string, lineNo: number): number => {
      const t = field.trim();
      const v = ID_RE.test(t) ? Number(t) : NaN;
      if (!(v <= MAX_ID)) {
        rowError('malformedLines', lineNo, `${what}: "${clip(t)}" is not a non-negative integer id`);
        return -1;
      }
      return v;
    };
    readLinesSync(file, (line, lineNo) => {
      if (line.trim() === '') {
        errors.count('blankLines');
        prevHist = null;
        return;
      }
      const f = line.split(';');
      if (f.length !== 5) {
        const want = `expected 5 ';'-separated fields (hist_items;hist_cates;target;target_cate;label)`;
        rowError('malformedLines', lineNo, `${want}, found ${f.length}`);
        return;
      }
      if (!ids(f[0], 'hist_items', lineNo, items)) return;
      if (!ids(f[1], 'hist_cates', lineNo, itemCats)) return;
      if (items.length !== itemCats.length) {
        const what = `hist_cates has ${itemCats.length} entries, expected ${items.length} (one per hist_items entry)`;
        rowError('historyLengthMismatch', lineNo, what);
        return;
      }
      const target = single(f[2], 'target', lineNo);
      if (target < 0) return;
      const targetCate = single(f[3], 'target_cate', lineNo);
      if (targetCate < 0) return;
      const lab = f[4].trim();
      if (lab !== '0' && lab !== '1') {
        rowError('malformedLines', lineNo, `label: expected 0 or 1, found "${clip(lab)}"`);
        return;
      }
      // Categories must agree with what earlier lines (and this line) said; check before recording anything.
      pending.clear();
      const check = (item: number, cate: number): boolean => {
        const known = itemCate.get(item) ?? pending.get(item);
        if (known === undefined) {
          pending.set(item, cate);
          return true;
        }
        if (known === cate) return true;
        const where = itemWhere.get(item) ?? `${fname}:${lineNo}`;
        const what = `item ${item} has category ${cate} but category ${known} at ${where} (expected one category per item)`;
        rowError('conflictingCategories', lineNo, what);
        return false;
      };
      for (let k = 0; k < items.length; k++) if (!check(items[k], itemCats[k])) return;
      if (!check(target, targetCate)) return;
      if (pending.size > 0) {
        const where = `${fname}:${lineNo}`;
        for (const [item, cate] of pending) {
          itemCate.set(item, cate);
          itemWhere.set(item, where);
          cates.add(cate);
        }
      }
      const histText = f[0].trim() + ';' + f[1].trim();
      if (prevHist !== histText) {
        prevHist = histText;
        sink.group(items, lineNo);
        groups++;
      }
      sink.sample(target, lab === '1' ? 1 : 0);
      samples++;
    });
    return { samples, groups };
  }

  /** The vocabularies: items and categories in increasing raw id; the catalog. */
  catalog(): { itemDense: Map<number, number>; catalog: ItemCatalog } {
    const rawItems = [...this.itemCate.keys()].sort((x, y) => x - y);
    const rawCates = [...this.cates].sort((x, y) => x - y);
    const itemDense = new Map<number, number>(rawItems.map((r, i) => [r, i]));
    const cateDense = new Map<number, number>(rawCates.map((r, i) => [r, i]));
    const numItems = rawItems.length;
    const attrOffsets = new Int32Array(numItems + 1);
    const attrValues = new Int32Array(numItems);
    for (let i = 0; i < numItems; i++) {
      attrOffsets[i + 1] = i + 1;
      attrValues[i] = cateDense.get(this.itemCate.get(rawItems[i]) as number) as number;
    }
    return {
      itemDense,
      catalog: { numItems, numAttrs: rawCates.length, attrOffsets, attrValues, itemKeys: rawItems.map(String), attrKeys: rawCates.map(String) },
    };
  }
}

/** Parsed lines of one file: samples grouped into pseudo-users, with raw ids (the in-memory loader). */
interface Parsed {
  file: string;
  /** Per sample: raw target id, label, group index. */
  target: IntColumn;
  label: IntColumn;
  group: IntColumn;
  /** Per group: raw history ids histRaw[histOff[g] .. histOff[g+1]), first line number. */
  histRaw: IntColumn;
  histOff: number[];
  groupLine: number[];
}

/** Options, files and name (throws on a bad option or path). */
function begin(path: string, opts: DinRemappedOptions) {
  const seed = opts.seed ?? 1;
  const testFraction = opts.testFraction ?? 0.2;
  const policy: RowErrorPolicy = rowErrorPolicy(opts.onError);
  const files = resolveFiles(path);
  if (files.test === null && !(testFraction > 0 && testFraction < 1)) {
    throw new Error(`testFraction must be in (0, 1), got ${testFraction}`);
  }
  const isFile = statSync(resolve(path)).isFile();
  const name = opts.name ?? (isFile ? basename(files.train).replace(NAME_RE, '') : basename(resolve(path)));
  const progress = opts.onProgress ?? (() => {});
  return { seed, testFraction, policy, files, name, progress };
}

/** The test flags of the groups of a single file: round(testFraction × groups) by a seeded shuffle. */
function testGroups(G: number, testFraction: number, seed: number): Uint8Array {
  const nTest = Math.round(testFraction * G);
  const perm = new Rng(seed).shuffle(Array.from({ length: G }, (_, i) => i));
  const isTest = new Uint8Array(G);
  for (let k = 0; k < nTest; k++) isTest[perm[k]] = 1;
  return isTest;
}

/** The dataset without its samples. */
function headOf(b: ReturnType<typeof begin>, errors: RowErrors, catalog: ItemCatalog, userKeys: string[], samples: number, nTrain: number, nTest: number): Omit<Dataset, 'train' | 'test'> {
  const { files } = b;
  if (nTrain === 0) throw new Error(`${files.train}: no training samples${errors.hint(files.train)}`);
  if (nTest === 0) throw new Error(`${files.test ?? files.train}: no test samples${errors.hint(files.test ?? files.train)}`);
  const numUsers = userKeys.length;
  b.progress(
    `din-remapped: ${catalog.numItems} items, ${catalog.numAttrs} categories, ${numUsers} user groups, ` +
      `${nTrain} train / ${nTest} test samples`,
  );
  return {
    name: b.name,
    format: 'din-remapped',
    catalog,
    numUsers,
    userKeys,
    skipped: errors.skipped,
    skippedExamples: errors.examples(),
    buildOptions:
      files.test === null
        ? { seed: b.seed, split: 'fraction', testFraction: b.testFraction, users: 'consecutive-same-history', onError: b.policy }
        : { split: 'files', users: 'consecutive-same-history', onError: b.policy },
    stats: { samples, users: numUsers, items: catalog.numItems, categories: catalog.numAttrs },
  };
}

/**
 * Builds the Dataset of din-remapped sample files (layouts in the file header): the given train/test files, or one
 * file split by `testFraction` of its pseudo-user groups. Throws when no layout is found (or several), when
 * `testFraction` is outside (0, 1) in single-file mode, when a split ends up empty, and with `onError: 'fail'` at the
 * first row error.
 */
export function loadDinRemapped(path: string, opts: DinRemappedOptions = {}): Dataset {
  const b = begin(path, opts);
  const { files, progress } = b;
  const errors = new RowErrors(b.policy);
  const parser = new DinParser(errors);
  const parseFile = (file: string): Parsed => {
    const p: Parsed = {
      file,
      target: new IntColumn(1 << 12),
      label: new IntColumn(1 << 12),
      group: new IntColumn(1 << 12),
      histRaw: new IntColumn(1 << 14),
      histOff: [0],
      groupLine: [],
    };
    parser.parseFile(file, {
      group(histRaw, lineNo) {
        for (const it of histRaw) p.histRaw.push(it);
        p.histOff.push(p.histRaw.length);
        p.groupLine.push(lineNo);
      },
      sample(target, label) {
        p.target.push(target);
        p.label.push(label);
        p.group.push(p.groupLine.length - 1);
      },
    });
    progress(`din-remapped: ${p.target.length} samples in ${p.groupLine.length} groups read from ${basename(file)}`);
    return p;
  };
  const a = parseFile(files.train);
  const bb = files.test === null ? null : parseFile(files.test);
  for (const msg of errors.firsts()) progress(`din-remapped: skipped ${msg}`);
  const { itemDense, catalog } = parser.catalog();

  // ---- which groups go to test ----
  const parts: Parsed[] = bb === null ? [a] : [a, bb];
  let testGroup: (part: number, g: number) => boolean;
  if (bb === null) {
    const isTest = testGroups(a.groupLine.length, b.testFraction, b.seed);
    testGroup = (_part, g) => isTest[g] === 1;
  } else {
    testGroup = (part) => part === 1;
  }

  // ---- users (one per group), shared histories, samples in file order ----
  let histTotal = 0;
  for (const p of parts) histTotal += p.histRaw.length;
  const histValues = new Int32Array(histTotal);
  const userKeys: string[] = [];
  const groupUser: Int32Array[] = [];
  const groupStart: Int32Array[] = [];
  let h = 0;
  for (const p of parts) {
    const G = p.groupLine.length;
    const gu = new Int32Array(G);
    const gs = new Int32Array(G);
    const fname = basename(p.file);
    for (let g = 0; g < G; g++) {
      gu[g] = userKeys.length;
      userKeys.push(`${fname}:${p.groupLine[g]}`);
      gs[g] = h;
      for (let k = p.histOff[g]; k < p.histOff[g + 1]; k++) histValues[h++] = itemDense.get(p.histRaw.data[k]) as number;
    }
    groupUser.push(gu);
    groupStart.push(gs);
  }
  let nTrain = 0;
  let nTest = 0;
  parts.forEach((p, pi) => {
    for (let i = 0; i < p.target.length; i++) {
      if (testGroup(pi, p.group.data[i])) nTest++;
      else nTrain++;
    }
  });
  const samples = parts.reduce((s, p) => s + p.target.length, 0);
  const head = headOf(b, errors, catalog, userKeys, samples, nTrain, nTest);
  const train = allocSampleSet(nTrain, histValues);
  const test = allocSampleSet(nTest, histValues);
  let tr = 0;
  let te = 0;
  parts.forEach((p, pi) => {
    for (let i = 0; i < p.target.length; i++) {
      const g = p.group.data[i];
      const toTest = testGroup(pi, g);
      const set = toTest ? test : train;
      const j = toTest ? te++ : tr++;
      set.labels[j] = p.label.data[i];
      set.users[j] = groupUser[pi][g];
      set.items[j] = itemDense.get(p.target.data[i]) as number;
      set.histStart[j] = groupStart[pi][g];
      set.histLen[j] = p.histOff[g + 1] - p.histOff[g];
    }
  });
  return { ...head, train, test };
}

/**
 * Converts din-remapped files into shards holding exactly the samples of `loadDinRemapped` (same order, ids and
 * users), reading every file twice: pass 1 validates the lines and builds the item and category vocabularies and the
 * groups (pseudo-users: their keys and sample counts), pass 2 parses the lines again — the same decisions — and
 * writes each sample with final ids. Held in memory: the item → category map, per group its key and sample count,
 * one group's history and one shard.
 */
export async function convertDinRemappedToShards(path: string, outDir: string, opts: DinRemappedOptions & StreamConvertOptions): Promise<ShardManifest> {
  const b = begin(path, opts);
  const { files, progress } = b;
  return streamToShards(outDir, 'din-remapped', files.train, opts, async (job) => {
    const errors = new RowErrors(b.policy);
    const parser = new DinParser(errors);
    const parts = files.test === null ? [files.train] : [files.train, files.test];
    const userKeys: string[] = [];
    const groupSamples = new IntColumn(1 << 12);
    const firstGroup: number[] = [];
    let samples = 0;
    for (const file of parts) {
      const fname = basename(file);
      firstGroup.push(userKeys.length);
      const r = parser.parseFile(file, {
        group(_histRaw, lineNo) {
          userKeys.push(`${fname}:${lineNo}`);
          groupSamples.push(0);
        },
        sample() {
          groupSamples.data[groupSamples.length - 1]++;
        },
      });
      samples += r.samples;
      progress(`din-remapped: ${r.samples} samples in ${r.groups} groups read from ${fname}`);
    }
    for (const msg of errors.firsts()) progress(`din-remapped: skipped ${msg}`);
    const { itemDense, catalog } = parser.catalog();
    const G = userKeys.length;
    const isTest = files.test === null ? testGroups(G, b.testFraction, b.seed) : Uint8Array.from({ length: G }, (_, g) => (g >= firstGroup[1] ? 1 : 0));
    let nTest = 0;
    for (let g = 0; g < G; g++) if (isTest[g]) nTest += groupSamples.data[g];
    const head = headOf(b, errors, catalog, userKeys, samples, samples - nTest, nTest);
    // pass 2: the same lines, the same decisions (row errors were counted in pass 1)
    const w = new SampleShardWriter(job.writer, opts.shardRows);
    const again = new DinParser(new RowErrors('skip'));
    let g = -1;
    let len = 0;
    const hist: number[] = [];
    for (const file of parts) {
      again.parseFile(file, {
        group(histRaw) {
          g++;
          hist.length = 0;
          for (const it of histRaw) hist.push(itemDense.get(it) as number);
          len = hist.length;
          w.block(hist, 0, len);
        },
        sample(target, label) {
          w.add(isTest[g] === 1, label, g, itemDense.get(target) as number, 0, len);
        },
      });
    }
    w.finish();
    job.info.lines = samples;
    return head;
  });
}
