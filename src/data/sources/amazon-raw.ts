/**
 * The original Amazon review dumps (McAuley et al., 2014), as the DIN paper used them:
 *   reviews_<Cat>_5.json[.gz]   5-core reviews, one JSON object per line (reviewerID, asin, unixReviewTime, …)
 *   meta_<Cat>.json[.gz]        product metadata, one object per line: a Python-literal dict in the original dump
 *                               ({'asin': '…', 'categories': [['Electronics', …]], …}), strict JSON in later
 *                               re-releases. Both are accepted, line by line (JSON.parse first, then the Python-literal
 *                               parser of ../parse/python-literal.ts).
 * `.json.gz` files are decompressed transparently; if both `X.json` and `X.json.gz` exist, the plain `.json` is read.
 *
 * Preprocessing: the original DIN scripts (convert_pd.py, remap_id.py, build_dataset.py), reproduced step by step:
 *  1. Meta is restricted to reviewed items; reviews whose asin has no (valid) meta line are dropped and counted
 *     (`reviewsWithoutMeta`; the original scripts assume there are none: remap_id.py's asin_map lookup would fail).
 *  2. An item's category is the last entry of its LAST category path, `categories[-1][-1]` — what remap_id.py does
 *     (`meta_df['categories'].map(lambda x: x[-1][-1])`). `categoryPath: 'first'` takes `categories[0][-1]` instead.
 *  3. Ids are remapped like remap_id.py's `build_map`: sorted unique keys → 0..n−1 (Python `sorted`, i.e. by Unicode
 *     code point): asins and categories from the meta of reviewed items, reviewers from the kept reviews. So dense
 *     item i is itemKeys[i] = the i-th asin in sorted order, and so on; userKeys are all kept reviewers, including
 *     those with a single review (they keep their id, as in remap_id.py, but give no sample: `usersWithOneReview`).
 *  4. Each user's reviews are sorted by unixReviewTime, stable (ties keep file order).
 *  5. build_dataset.py's protocol: a user with behaviours b1..bn (n ≥ 2) gives training samples predicting b(k+1)
 *     from b1..bk for k = 1..n−2 and one test sample predicting bn from b1..b(n−1). Each positive is followed by one
 *     negative with the same history and a candidate drawn uniformly from the items the user never reviewed (seeded
 *     `Rng`, not Python's `random`; so negatives differ from the original's, their distribution does not).
 *     Histories are stored once per user (b1..b(n−1)) and shared by train and test, as in amazon-seq.
 * The catalog gives every item exactly one attribute, its category (attrKeys = category names, sorted).
 *
 * On the full Electronics 5-core dump (reviews_Electronics_5.json + meta_Electronics.json) this procedure yields the
 * paper's setting — 192,403 users, 63,001 goods, 801 categories, 1,689,188 reviews — per the counts the original
 * scripts print (`user_count: 192403 item_count: 63001 cate_count: 801 example_count: 1689188`). That is what the
 * procedure yields according to the original scripts; it has not been measured here (the full dump is not at hand).
 *
 * Errors vs. counts (`onError`, the policy of ./row-errors.ts):
 *  - Structural problems always throw, naming the file: no reviews/meta pair at the path (or several), a missing or
 *    unreadable file, a corrupt or truncated gzip stream, an empty file, a reviews file without a single valid review,
 *    no review with meta, no user with 2 reviews, a user who reviewed every item (no negative exists). When rows were
 *    skipped before such an error, the message says how many and shows the first.
 *  - Row errors — a line that is neither JSON nor a Python literal, or not an object (`malformedReviewLines`,
 *    `malformedMetaLines`); a review without a non-empty string reviewerID / asin or without unixReviewTime
 *    (`reviewsMissingFields`); a unixReviewTime that is not a number or a numeric string (`reviewsWithBadTime`); a meta
 *    line without a string asin (`metaWithoutAsin`); a reviewed item's meta without a usable category — `categories`
 *    must be a non-empty list whose chosen path is a non-empty list ending in a string (`metaWithoutCategory`); a
 *    second meta line for the same asin (`duplicateMetaLines`, the first wins) — are skipped and counted under those
 *    keys by default (`onError: 'skip'`), or throw `<file>:<line>: <what was expected>` with `onError: 'fail'`. The
 *    first skipped row of each kind is reported through onProgress with its file and line, and up to three are kept
 *    in `skippedExamples`. Nesting deeper than python-literal.ts's MAX_NESTING makes a line malformed.
 *  - Always counted, never errors: blank lines (`blankReviewLines`, `blankMetaLines`), reviews of items without meta
 *    (`reviewsWithoutMeta`), meta lines of items nobody reviewed (`metaForUnreviewedItems`), users with one review
 *    (`usersWithOneReview`).
 *
 * Reading: `loadAmazonRaw` is synchronous; it streams plain `.json` files in chunks but decompresses a `.gz` file into
 * memory at once (zlib has no synchronous streaming API: the full Electronics reviews, on the order of a gigabyte
 * uncompressed, need about twice that at peak). `loadAmazonRawAsync` builds the identical Dataset streaming both.
 * `convertAmazonRawToShards` writes the same samples into shards without holding the reviews: they are spilled to disk
 * and sorted externally by (user, time, file order), so memory is the vocabularies plus one shard.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { allocSampleSet } from '../sample-set.js';
import type { ShardManifest } from '../shards.js';
import type { Dataset, ItemCatalog } from '../../core/types.js';
import { Float64Column, IntColumn, Vocab } from '../vocab.js';
import { parseJsonOrPython } from '../parse/python-literal.js';
import { readLines, readLinesSync } from '../parse/lines.js';
import { compareCodePoints } from '../parse/text.js';
import { ExternalSorter, putFloat64Key } from '../stream/external-sort.js';
import { streamToShards, type ShardJob, type StreamConvertOptions } from '../stream/job.js';
import { RecordFile } from '../stream/record-file.js';
import { SampleShardWriter } from '../stream/sample-writer.js';
import { AmazonProtocol, SetSink, ShardSink } from './amazon-protocol.js';
import { preview, RowErrors, rowErrorPolicy, type RowErrorPolicy } from './row-errors.js';

export type { RowErrorPolicy } from './row-errors.js';

/** Options of `loadAmazonRaw` / `loadAmazonRawAsync`. */
export interface AmazonRawOptions {
  /** Seed of the negative sampler. Default 1. */
  seed?: number;
  /** Dataset name; default: the name of the directory holding the files. */
  name?: string;
  /** Row errors (see the file header): 'skip' counts them in `skipped` (default), 'fail' throws at the first. */
  onError?: RowErrorPolicy;
  /**
   * Which category path names an item's category: 'last' = categories[-1][-1] (remap_id.py; default) or
   * 'first' = categories[0][-1].
   */
  categoryPath?: 'last' | 'first';
  /** Receives human-readable progress lines (counts read, the first skipped row of each kind). */
  onProgress?: (msg: string) => void;
}

export interface AmazonRawFiles {
  /** The `<Cat>` of the file names, e.g. "Electronics". */
  category: string;
  reviews: string;
  meta: string;
}

const REVIEWS_RE = /^reviews_(.+)_5\.json(\.gz)?$/;
const META_RE = /^meta_(.+)\.json(\.gz)?$/;

/** `name` or `name.gz` in `names`, preferring the plain file; null if neither. */
function pickPlainOrGz(names: Set<string>, plain: string): string | null {
  if (names.has(plain)) return plain;
  if (names.has(plain + '.gz')) return plain + '.gz';
  return null;
}

/**
 * Finds `reviews_<Cat>_5.json[.gz]` + `meta_<Cat>.json[.gz]` pairs in a directory (sorted by <Cat>). `path` may also
 * be one of the two files itself (its partner must be beside it). Returns [] when the path is not that layout (or does
 * not exist).
 */
export function findAmazonRawFiles(path: string): AmazonRawFiles[] {
  const abs = resolve(path);
  if (!existsSync(abs)) return [];
  const isFile = statSync(abs).isFile();
  const dir = isFile ? dirname(abs) : abs;
  const names = new Set(readdirSync(dir));
  const pair = (cat: string): AmazonRawFiles | null => {
    const reviews = pickPlainOrGz(names, `reviews_${cat}_5.json`);
    const meta = pickPlainOrGz(names, `meta_${cat}.json`);
    if (reviews === null || meta === null) return null;
    return { category: cat, reviews: join(dir, reviews), meta: join(dir, meta) };
  };
  if (isFile) {
    const f = basename(abs);
    const m = REVIEWS_RE.exec(f) ?? META_RE.exec(f);
    if (m === null) return [];
    const p = pair(m[1]);
    // The given file is used even when its .json/.json.gz twin exists (the twin would otherwise be preferred).
    if (p === null) return [];
    return [{ ...p, ...(REVIEWS_RE.test(f) ? { reviews: abs } : { meta: abs }) }];
  }
  const cats = new Set<string>();
  for (const f of names) {
    const m = REVIEWS_RE.exec(f);
    if (m !== null) cats.add(m[1]);
  }
  const out: AmazonRawFiles[] = [];
  for (const cat of [...cats].sort()) {
    const p = pair(cat);
    if (p !== null) out.push(p);
  }
  return out;
}

function resolveFiles(path: string): AmazonRawFiles {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new Error(`${abs}: no such file or directory`);
  const found = findAmazonRawFiles(abs);
  if (found.length === 0) {
    throw new Error(
      `${path}: no amazon-raw files (expected reviews_<Cat>_5.json[.gz] with meta_<Cat>.json[.gz] beside it)`,
    );
  }
  if (found.length > 1) {
    throw new Error(
      `${path}: several amazon-raw datasets (${found.map((f) => f.category).join(', ')}); ` +
        `pass the path of one reviews file`,
    );
  }
  return found[0];
}

/** The files a given path reads (used for cache keys). */
export function amazonRawSourceFiles(path: string): string[] {
  const f = resolveFiles(path);
  return [f.reviews, f.meta];
}

const OBJECT_EXPECTED = 'expected a JSON object or Python dict literal';
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const own = (o: Record<string, unknown>, k: string): unknown =>
  Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;

/** Where the valid reviews go while the reviews file is read (temporary user and asin ids, time). */
interface ReviewStore {
  push(user: number, asin: number, time: number): void;
  readonly length: number;
}

/** Reviews held in memory (`loadAmazonRaw`). */
class MemoryReviews implements ReviewStore {
  readonly user = new IntColumn(1 << 16);
  readonly item = new IntColumn(1 << 16);
  readonly time = new Float64Column();
  push(user: number, asin: number, time: number): void {
    this.user.push(user);
    this.item.push(asin);
    this.time.push(time);
  }
  get length(): number {
    return this.user.length;
  }
}

/** Reviews spilled to a record file (the streamed conversion): user, asin, and the time as two sort-key words. */
class SpilledReviews implements ReviewStore {
  constructor(readonly file: RecordFile) {}
  push(user: number, asin: number, time: number): void {
    const f = this.file;
    const o = f.reserve();
    f.buf[o] = user;
    f.buf[o + 1] = asin;
    putFloat64Key(f.buf, o + 2, time);
  }
  get length(): number {
    return this.file.records;
  }
}

/** The items and categories (sorted unique keys, as build_map) over the meta of reviewed items. */
interface Items {
  itemDense: Int32Array;
  catalog: ItemCatalog;
}

/** The users (sorted unique reviewers of reviews with meta) and what they give. */
interface Users {
  userDense: Int32Array;
  userKeys: string[];
  usersWithSamples: number;
  trainSize: number;
  histTotal: number;
}

/**
 * Accumulates the two files line by line, then builds the Dataset — in memory (`build`, for the sync and async
 * loaders alike) or into shards (`convert`): the same stages, the reviews held in columns or spilled to disk.
 */
class AmazonRawBuilder {
  private readonly errors: RowErrors;
  private readonly policy: RowErrorPolicy;
  private readonly pathIndex: number;
  private readonly progress: (msg: string) => void;
  // reviews, by temporary (first-seen) ids
  private readonly reviewers = new Vocab();
  private readonly asins = new Vocab();
  // meta of reviewed items, by temporary asin id
  private itemCat: (string | undefined)[] = [];
  private itemMetaLine: Int32Array = new Int32Array(0);
  reviewLines = 0;
  metaLines = 0;

  constructor(
    private readonly files: AmazonRawFiles,
    private readonly opts: AmazonRawOptions,
    private readonly reviews: ReviewStore,
  ) {
    this.policy = rowErrorPolicy(opts.onError);
    this.errors = new RowErrors(this.policy);
    const cp = opts.categoryPath ?? 'last';
    if (cp !== 'last' && cp !== 'first') throw new Error(`categoryPath must be 'last' or 'first', got ${String(cp)}`);
    this.pathIndex = cp === 'first' ? 0 : -1;
    this.progress = opts.onProgress ?? (() => {});
  }

  private count(reason: string, n = 1): void {
    this.errors.count(reason, n);
  }

  private rowError(reason: string, file: string, lineNo: number, what: string): void {
    this.errors.row(reason, file, lineNo, what);
  }

  private parse(line: string, file: string, lineNo: number, reason: string): Record<string, unknown> | null {
    let v: unknown;
    try {
      v = parseJsonOrPython(line);
    } catch (e) {
      this.rowError(reason, file, lineNo, `${OBJECT_EXPECTED}, but the line is ${(e as Error).message}`);
      return null;
    }
    if (!isObject(v)) {
      this.rowError(reason, file, lineNo, `${OBJECT_EXPECTED}, found ${Array.isArray(v) ? 'a list' : typeof v}`);
      return null;
    }
    return v;
  }

  review(line: string, lineNo: number): void {
    const file = this.files.reviews;
    if (line.trim() === '') {
      this.count('blankReviewLines');
      return;
    }
    const o = this.parse(line, file, lineNo, 'malformedReviewLines');
    if (o === null) return;
    const user = own(o, 'reviewerID');
    const asin = own(o, 'asin');
    const time = own(o, 'unixReviewTime');
    for (const [k, v] of [
      ['reviewerID', user],
      ['asin', asin],
    ] as const) {
      if (typeof v !== 'string' || v === '') {
        const found = v === undefined ? 'it is missing' : `found ${preview(v)}`;
        this.rowError('reviewsMissingFields', file, lineNo, `expected "${k}" as a non-empty string, ${found}`);
        return;
      }
    }
    if (time === undefined || time === null) {
      this.rowError('reviewsMissingFields', file, lineNo, `expected "unixReviewTime" (Unix seconds), it is missing`);
      return;
    }
    let t = NaN;
    if (typeof time === 'number') t = time;
    else if (typeof time === 'string' && /^\s*[+-]?\d+(?:\.\d*)?\s*$/.test(time)) t = Number(time);
    if (!Number.isFinite(t)) {
      const what = `expected "unixReviewTime" as a number (Unix seconds), found ${preview(time)}`;
      this.rowError('reviewsWithBadTime', file, lineNo, what);
      return;
    }
    this.reviews.push(this.reviewers.id(user as string), this.asins.id(asin as string), t);
  }

  reviewsDone(lines: number): void {
    this.reviewLines = lines;
    const n = this.asins.size;
    this.itemCat = new Array<string | undefined>(n).fill(undefined);
    this.itemMetaLine = new Int32Array(n);
    this.progress(
      `amazon-raw: ${this.reviews.length} reviews of ${this.asins.size} items by ${this.reviewers.size} reviewers read ` +
        `from ${basename(this.files.reviews)}`,
    );
  }

  meta(line: string, lineNo: number): void {
    const file = this.files.meta;
    if (line.trim() === '') {
      this.count('blankMetaLines');
      return;
    }
    const o = this.parse(line, file, lineNo, 'malformedMetaLines');
    if (o === null) return;
    const asin = own(o, 'asin');
    if (typeof asin !== 'string' || asin === '') {
      const found = asin === undefined ? 'it is missing' : `found ${preview(asin)}`;
      this.rowError('metaWithoutAsin', file, lineNo, `expected "asin" as a non-empty string, ${found}`);
      return;
    }
    const id = this.asins.get(asin);
    if (id < 0) {
      this.count('metaForUnreviewedItems');
      return;
    }
    if (this.itemMetaLine[id] > 0) {
      const what = `asin "${asin}" already described on line ${this.itemMetaLine[id]} (expected one meta line per asin)`;
      this.rowError('duplicateMetaLines', file, lineNo, what);
      return;
    }
    const cats = own(o, 'categories');
    const path = Array.isArray(cats) && cats.length > 0 ? cats[this.pathIndex < 0 ? cats.length - 1 : 0] : undefined;
    const cat = Array.isArray(path) && path.length > 0 ? path[path.length - 1] : undefined;
    if (typeof cat !== 'string') {
      const which = this.pathIndex < 0 ? 'categories[-1][-1]' : 'categories[0][-1]';
      const found = cats === undefined ? 'no "categories"' : `categories ${preview(cats)}`;
      this.rowError(
        'metaWithoutCategory',
        file,
        lineNo,
        `asin "${asin}": expected "categories" as a non-empty list of category paths (lists of strings) ` +
          `to take ${which} from, found ${found}`,
      );
      return;
    }
    this.itemCat[id] = cat;
    this.itemMetaLine[id] = lineNo;
  }

  metaDone(lines: number): void {
    this.metaLines = lines;
  }

  /** Stage 1: items and categories, sorted unique keys (build_map) over the meta of reviewed items. */
  private items(): Items {
    for (const msg of this.errors.firsts()) this.progress(`amazon-raw: skipped ${msg}`);
    const tmpItems: number[] = [];
    for (let i = 0; i < this.asins.size; i++) if (this.itemCat[i] !== undefined) tmpItems.push(i);
    tmpItems.sort((a, b) => compareCodePoints(this.asins.keys[a], this.asins.keys[b]));
    const numItems = tmpItems.length;
    const itemDense = new Int32Array(this.asins.size).fill(-1);
    const itemKeys: string[] = new Array<string>(numItems);
    tmpItems.forEach((t, d) => {
      itemDense[t] = d;
      itemKeys[d] = this.asins.keys[t];
    });
    const attrKeys = [...new Set(tmpItems.map((t) => this.itemCat[t] as string))].sort(compareCodePoints);
    const attrId = new Map(attrKeys.map((k, i) => [k, i]));
    const attrValues = new Int32Array(numItems);
    for (let d = 0; d < numItems; d++) attrValues[d] = attrId.get(this.itemCat[tmpItems[d]] as string) as number;
    const attrOffsets = new Int32Array(numItems + 1);
    for (let d = 0; d <= numItems; d++) attrOffsets[d] = d;
    return { itemDense, catalog: { numItems, numAttrs: attrKeys.length, attrOffsets, attrValues, itemKeys, attrKeys } };
  }

  /**
   * Stage 2: the users — sorted unique reviewers of the R reviews, `kept` of them with meta, `keptOf[tmp user]` each —
   * and the samples they give. Throws when nothing usable is left.
   */
  private users(R: number, kept: number, keptOf: Int32Array): Users {
    const { files } = this;
    if (R - kept > 0) this.count('reviewsWithoutMeta', R - kept);
    if (R === 0) {
      const what = this.errors.rows === 0 ? 'empty file' : 'no valid review line';
      throw new Error(`${files.reviews}: ${what} (expected one JSON review object per line)${this.errors.hint(files.reviews)}`);
    }
    if (kept === 0 && this.metaLines === 0) {
      throw new Error(`${files.meta}: empty file (expected one meta object per line)`);
    }
    if (kept === 0) {
      throw new Error(
        `${files.reviews}: no review has a meta line in ${files.meta} (are they the same category?)${this.errors.hint()}`,
      );
    }
    const tmpUsers: number[] = [];
    for (let u = 0; u < this.reviewers.size; u++) if (keptOf[u] > 0) tmpUsers.push(u);
    tmpUsers.sort((a, b) => compareCodePoints(this.reviewers.keys[a], this.reviewers.keys[b]));
    const userDense = new Int32Array(this.reviewers.size).fill(-1);
    const userKeys: string[] = new Array<string>(tmpUsers.length);
    let trainSize = 0;
    let histTotal = 0;
    let usersWithSamples = 0;
    let usersWithOne = 0;
    tmpUsers.forEach((t, d) => {
      userDense[t] = d;
      userKeys[d] = this.reviewers.keys[t];
      const n = keptOf[t];
      if (n < 2) {
        usersWithOne++;
        return;
      }
      usersWithSamples++;
      trainSize += 2 * (n - 2);
      histTotal += n - 1;
    });
    if (usersWithOne > 0) this.count('usersWithOneReview', usersWithOne);
    if (usersWithSamples === 0) {
      throw new Error(`${files.reviews}: no user with at least 2 reviews (of items with meta)${this.errors.hint()}`);
    }
    return { userDense, userKeys, usersWithSamples, trainSize, histTotal };
  }

  /** The dataset without its samples. */
  private head(items: Items, users: Users, kept: number): Omit<Dataset, 'train' | 'test'> {
    const { files } = this;
    const { catalog } = items;
    const numUsers = users.userKeys.length;
    this.progress(
      `amazon-raw: ${numUsers} users (${users.usersWithSamples} with samples), ${catalog.numItems} items, ` +
        `${catalog.numAttrs} categories, ${kept} reviews`,
    );
    return {
      name: this.opts.name ?? basename(dirname(files.reviews)),
      format: 'amazon-raw',
      catalog,
      numUsers,
      userKeys: users.userKeys,
      skipped: this.errors.skipped,
      skippedExamples: this.errors.examples(),
      buildOptions: {
        seed: this.opts.seed ?? 1,
        protocol: 'amazon-leave-last-out',
        negativesPerPositive: 1,
        categoryPath: this.pathIndex < 0 ? 'last' : 'first',
        onError: this.policy,
      },
      stats: {
        users: numUsers,
        usersWithSamples: users.usersWithSamples,
        items: catalog.numItems,
        categories: catalog.numAttrs,
        reviews: kept,
        reviewLines: this.reviewLines,
        metaLines: this.metaLines,
      },
    };
  }

  private everyItem(user: string): Error {
    return new Error(`${this.files.reviews}: user "${user}" reviewed every item; no negative exists`);
  }

  /** The whole Dataset in memory (the reviews in `MemoryReviews`). */
  build(): Dataset {
    const reviews = this.reviews as MemoryReviews;
    const items = this.items();
    const { itemDense } = items;
    const numItems = items.catalog.numItems;

    // ---- reviews with meta; users: sorted unique reviewers of those ----
    const R = reviews.length;
    const revUser = reviews.user.data;
    const revItem = reviews.item.data;
    const revTime = reviews.time.data;
    let kept = 0;
    const keptOf = new Int32Array(this.reviewers.size);
    for (let r = 0; r < R; r++) {
      if (itemDense[revItem[r]] >= 0) {
        kept++;
        keptOf[revUser[r]]++;
      }
    }
    const users = this.users(R, kept, keptOf);
    const { userDense } = users;
    const numUsers = users.userKeys.length;

    // ---- group reviews by user (counting sort keeps file order), then sort each user's block by time, stable ----
    const userStart = new Int32Array(numUsers + 1);
    for (let r = 0; r < R; r++) if (itemDense[revItem[r]] >= 0) userStart[userDense[revUser[r]] + 1]++;
    for (let u = 0; u < numUsers; u++) userStart[u + 1] += userStart[u];
    const order = new Int32Array(kept); // review indices grouped by user
    const fill = userStart.slice(0, numUsers);
    for (let r = 0; r < R; r++) if (itemDense[revItem[r]] >= 0) order[fill[userDense[revUser[r]]]++] = r;
    const seq = new Int32Array(kept); // dense item ids, per user in time order
    for (let u = 0; u < numUsers; u++) {
      const s = userStart[u];
      const e = userStart[u + 1];
      const block = order.subarray(s, e);
      let sorted = true;
      for (let k = s + 1; k < e && sorted; k++) if (revTime[order[k]] < revTime[order[k - 1]]) sorted = false;
      if (!sorted) block.set([...block].sort((x, y) => revTime[x] - revTime[y] || x - y));
      for (let k = s; k < e; k++) seq[k] = itemDense[revItem[order[k]]];
    }

    // ---- samples (build_dataset.py) ----
    const histValues = new Int32Array(users.histTotal);
    const train = allocSampleSet(users.trainSize, histValues);
    const test = allocSampleSet(2 * users.usersWithSamples, histValues);
    const sink = new SetSink(train, test);
    const protocol = new AmazonProtocol(numItems, this.opts.seed ?? 1);
    for (let u = 0; u < numUsers; u++) {
      const s = userStart[u];
      const n = userStart[u + 1] - s;
      if (n >= 2 && !protocol.user(u, seq, s, n, sink)) throw this.everyItem(users.userKeys[u]);
    }
    return { ...this.head(items, users, kept), train, test };
  }

  /**
   * Writes the samples of `build` into shards (the reviews spilled in `SpilledReviews`): one pass over the spill
   * counts each user's reviews with meta, a second pushes them into an external sort by (user, time, file order),
   * and the merge hands each user's time-ordered items to the protocol — users in the same order, so the negatives
   * are the same draws.
   */
  convert(job: ShardJob): Omit<Dataset, 'train' | 'test'> {
    const spill = (this.reviews as SpilledReviews).file;
    const items = this.items();
    const { itemDense } = items;
    const numItems = items.catalog.numItems;
    let kept = 0;
    const keptOf = new Int32Array(this.reviewers.size);
    spill.forEach((w, o) => {
      if (itemDense[w[o + 1]] >= 0) {
        kept++;
        keptOf[w[o]]++;
      }
    });
    const users = this.users(spill.records, kept, keptOf);
    const { userDense } = users;
    // (user, time hi, time lo) → item
    const sorter = new ExternalSorter({ words: 4, keyWords: 3, dir: job.tmp, memoryBytes: job.sortBytes, name: 'reviews' });
    spill.forEach((w, o) => {
      const d = itemDense[w[o + 1]];
      if (d < 0) return;
      const r = sorter.reserve();
      sorter.buf[r] = userDense[w[o]];
      sorter.buf[r + 1] = w[o + 2];
      sorter.buf[r + 2] = w[o + 3];
      sorter.buf[r + 3] = d;
    });
    spill.remove();
    const out = new SampleShardWriter(job.writer, job.writer.shardRows);
    const sink = new ShardSink(out);
    const protocol = new AmazonProtocol(numItems, this.opts.seed ?? 1);
    let seq = new Int32Array(256);
    let n = 0;
    let cur = -1;
    const flushUser = () => {
      if (n >= 2 && !protocol.user(cur, seq, 0, n, sink)) throw this.everyItem(users.userKeys[cur]);
      n = 0;
    };
    const reader = sorter.finish();
    try {
      while (reader.next()) {
        const r = reader.rec;
        const u = r[reader.at];
        if (u !== cur) {
          if (cur >= 0) flushUser();
          cur = u;
        }
        if (n === seq.length) {
          const b = new Int32Array(2 * n);
          b.set(seq);
          seq = b;
        }
        seq[n++] = r[reader.at + 3];
      }
      if (cur >= 0) flushUser();
    } finally {
      reader.close();
      sorter.close();
    }
    out.finish();
    job.info.sortRuns = sorter.runsWritten;
    job.info.lines = this.reviewLines + this.metaLines;
    return this.head(items, users, kept);
  }
}

/** Builds the Dataset synchronously (plain files streamed in chunks; `.gz` decompressed in memory). */
export function loadAmazonRaw(path: string, opts: AmazonRawOptions = {}): Dataset {
  const files = resolveFiles(path);
  const b = new AmazonRawBuilder(files, opts, new MemoryReviews());
  b.reviewsDone(readLinesSync(files.reviews, (l, n) => b.review(l, n)));
  b.metaDone(readLinesSync(files.meta, (l, n) => b.meta(l, n)));
  return b.build();
}

/** The same Dataset as `loadAmazonRaw`, reading both files as streams (constant memory for `.gz` too). */
export async function loadAmazonRawAsync(path: string, opts: AmazonRawOptions = {}): Promise<Dataset> {
  const files = resolveFiles(path);
  const b = new AmazonRawBuilder(files, opts, new MemoryReviews());
  b.reviewsDone(await readLines(files.reviews, (l, n) => b.review(l, n)));
  b.metaDone(await readLines(files.meta, (l, n) => b.meta(l, n)));
  return b.build();
}

/**
 * Converts the dump into shards holding exactly the samples of `loadAmazonRaw` (same order, ids and negatives),
 * streaming both files: valid reviews are spilled to a record file (16 bytes each) instead of memory, then sorted
 * externally by (user, time, file order) — see `AmazonRawBuilder.convert`. Held in memory: the reviewer and asin
 * vocabularies, each reviewed item's category, one user's reviews, the sort's runs (`memoryMB`) and one shard.
 */
export async function convertAmazonRawToShards(path: string, outDir: string, opts: AmazonRawOptions & StreamConvertOptions): Promise<ShardManifest> {
  const files = resolveFiles(path);
  new AmazonRawBuilder(files, opts, new MemoryReviews()); // checks the options before the output directory is touched
  return streamToShards(outDir, 'amazon-raw', files.reviews, opts, async (job) => {
    const spill = new RecordFile(join(job.tmp, 'reviews.bin'), 4);
    const b = new AmazonRawBuilder(files, opts, new SpilledReviews(spill));
    b.reviewsDone(await readLines(files.reviews, (l, n) => b.review(l, n)));
    b.metaDone(await readLines(files.meta, (l, n) => b.meta(l, n)));
    return b.convert(job);
  });
}
