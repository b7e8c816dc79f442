/**
 * Amazon review sequences in the S3-Rec / SASRec layout:
 *   <Name>.txt                  one user per line: `user item item …`, items in time order, whitespace separated
 *   <Name>_item2attributes.json { "item": [attr, attr, …], … }   (attributes become the item's category features)
 *
 * Protocol (DIN paper §6.1, Amazon): a user with behaviours b1..bn (n ≥ 3) gives training samples that predict
 * b(k+1) from b1..bk for k = 1..n−2 and one test sample that predicts bn from b1..b(n−1). Every positive is followed
 * by one negative with the same history and a candidate drawn uniformly from the items the user never interacted
 * with. The user's history b1..b(n−1) is stored once in `histValues`; every sample of that user points into it.
 *
 * Vocabularies: users and items get dense ids in first-seen order over the kept users (users with n < 3 are skipped
 * entirely, so their items do not enter the catalog unless another user has them). Attribute ids are assigned in
 * first-seen order walking items by dense id, so they do not depend on the JSON key order.
 *
 * Errors vs. counts (`onError`, the policy of ./row-errors.ts):
 *  - Structural problems always throw, naming the file: no `<Name>.txt` + attributes pair at the path (or several), an
 *    unreadable or empty file, an attributes file that is not valid JSON or not a JSON object, no user with at least 3
 *    items (e.g. every line malformed — a comma-separated file read as whitespace-separated; the message shows the
 *    first skipped line), a user who interacted with every item (no negative exists).
 *  - Row errors — a line with a user and no items (`usersWithoutItems`), a user appearing on a second line
 *    (`duplicateUsers`; the first line wins), an attribute list that is not an array of ids (numbers or strings) in the
 *    JSON (`badAttributeLists`; the item keeps no attributes) — are skipped and counted under those keys by default
 *    (`onError: 'skip'`; the first few messages kept in `skippedExamples`), or throw `<file>:<line>: …` (for the JSON,
 *    `<file>: item "<id>": …`) with `onError: 'fail'`.
 *  - Always counted: blank lines, users with fewer than 3 items, items without attributes, duplicate attributes
 *    within an item (`skipped`); JSON items never seen in the sequences (`stats`).
 * Item and user ids are arbitrary whitespace-free tokens, so there is no "non-numeric id" error here.
 *
 * `convertAmazonSeqToShards` writes the same samples (same negatives) into shards reading the sequences twice
 * (vocabularies, then samples), so memory holds the vocabularies and one shard, not the sequences.
 */
import { closeSync, fstatSync, openSync, readFileSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { allocSampleSet } from '../sample-set.js';
import type { ShardManifest } from '../shards.js';
import type { Dataset, ItemCatalog } from '../../core/types.js';
import { IntColumn, Vocab } from '../vocab.js';
import { readLinesSync } from '../parse/lines.js';
import { clip } from '../parse/text.js';
import { SampleShardWriter } from '../stream/sample-writer.js';
import { streamToShards, type StreamConvertOptions } from '../stream/job.js';
import { AmazonProtocol, SetSink, ShardSink } from './amazon-protocol.js';
import { preview, RowErrors, rowErrorPolicy, type RowErrorPolicy } from './row-errors.js';

/** Options of `loadAmazonSeq`. */
export interface AmazonSeqOptions {
  /** Seed of the negative sampler. Default 1. */
  seed?: number;
  /** Dataset name; default: the directory name (or the file stem when given a file path). */
  name?: string;
  /** Row errors (see the file header): 'skip' counts them in `skipped` (default), 'fail' throws at the first. */
  onError?: RowErrorPolicy;
  /** Receives human-readable progress lines (counts read, the first skipped row of each kind). */
  onProgress?: (msg: string) => void;
}

export interface AmazonSeqFiles {
  sequences: string;
  attributes: string;
}

const ATTR_SUFFIX = '_item2attributes.json';

/**
 * Finds `<Name>.txt` + `<Name>_item2attributes.json` pairs in a directory. `path` may also be the .txt file itself.
 */
export function findAmazonSeqFiles(path: string): AmazonSeqFiles[] {
  const abs = resolve(path);
  if (statSync(abs).isFile()) {
    if (!abs.endsWith('.txt')) return [];
    const attrs = abs.slice(0, -4) + ATTR_SUFFIX;
    try {
      if (statSync(attrs).isFile()) return [{ sequences: abs, attributes: attrs }];
    } catch {
      /* no partner file */
    }
    return [];
  }
  const names = new Set(readdirSync(abs));
  const out: AmazonSeqFiles[] = [];
  for (const f of [...names].sort()) {
    if (!f.endsWith('.txt')) continue;
    const partner = f.slice(0, -4) + ATTR_SUFFIX;
    if (names.has(partner)) out.push({ sequences: join(abs, f), attributes: join(abs, partner) });
  }
  return out;
}

function resolveFiles(path: string): AmazonSeqFiles {
  const found = findAmazonSeqFiles(path);
  if (found.length === 0) {
    throw new Error(`${path}: no amazon-seq files (expected <Name>.txt with <Name>${ATTR_SUFFIX} beside it)`);
  }
  if (found.length > 1) {
    throw new Error(
      `${path}: several amazon-seq datasets (${found.map((f) => basename(f.sequences)).join(', ')}); ` +
        `pass the path of one .txt file`,
    );
  }
  return found[0];
}

/** The files a given path reads (used for cache keys). */
export function amazonSeqSourceFiles(path: string): string[] {
  const f = resolveFiles(path);
  return [f.sequences, f.attributes];
}

/** Whether a file's last byte is a newline (false for an empty file). */
function endsWithNewline(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return false;
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, size - 1);
    return b[0] === 10;
  } finally {
    closeSync(fd);
  }
}

/**
 * Calls `onLine(tokens, lineNo)` for every non-blank line of the sequences file (whitespace-separated tokens) and
 * counts blank lines in `errors` (when given). The file is read as if split at `\n`: a whitespace-only last line
 * without a newline is no line. Returns whether any line was not blank.
 */
function eachLine(file: string, errors: RowErrors | null, onLine: (tokens: string[], lineNo: number) => void): boolean {
  let nonBlank = false;
  let lastBlank = false;
  readLinesSync(file, (line, lineNo) => {
    const trimmed = line.trim();
    lastBlank = trimmed === '';
    if (lastBlank) {
      errors?.count('blankLines');
      return;
    }
    nonBlank = true;
    onLine(trimmed.split(/\s+/), lineNo);
  });
  if (lastBlank && errors !== null && !endsWithNewline(file)) {
    if (--errors.skipped.blankLines === 0) delete errors.skipped.blankLines;
  }
  return nonBlank;
}

/** The sequences file as read (pass 1): vocabularies, each user's first line, the kept users' sequences if asked. */
class Sequences {
  readonly users = new Vocab();
  readonly items = new Vocab();
  /** First line of each user (kept or not): reports duplicates, and finds the kept lines again in pass 2. */
  readonly userLine = new Map<string, number>();
  /** Concatenated item ids of the kept users (only when keeping) and where each user's starts. */
  readonly seq = new IntColumn(1 << 16);
  readonly seqOffsets: number[] = [0];
  interactions = 0;
  /** Training samples the kept users give, and their history positions. */
  trainSize = 0;
  historyPositions = 0;

  constructor(readonly file: string, private readonly errors: RowErrors, private readonly keep: boolean) {}

  read(): void {
    const { file, errors } = this;
    const nonBlank = eachLine(file, errors, (tokens, lineNo) => {
      if (tokens.length < 2) {
        const what = `user "${clip(tokens[0])}" has no items (expected "user item item …", whitespace separated)`;
        errors.row('usersWithoutItems', file, lineNo, what);
        return;
      }
      const prev = this.userLine.get(tokens[0]);
      if (prev !== undefined) {
        const what = `user "${clip(tokens[0])}" already appeared on line ${prev} (expected one line per user)`;
        errors.row('duplicateUsers', file, lineNo, what);
        return;
      }
      this.userLine.set(tokens[0], lineNo);
      const n = tokens.length - 1;
      if (n < 3) {
        errors.count('usersWithFewerThan3Items');
        return;
      }
      this.users.id(tokens[0]);
      for (let k = 1; k < tokens.length; k++) {
        const it = this.items.id(tokens[k]);
        if (this.keep) this.seq.push(it);
      }
      if (this.keep) this.seqOffsets.push(this.seq.length);
      this.interactions += n;
      this.trainSize += 2 * (n - 2);
      this.historyPositions += n - 1;
    });
    if (!nonBlank) throw new Error(`${file}: empty file (expected "user item item …" lines)`);
    if (this.users.size === 0) throw new Error(`${file}: no user with at least 3 items${errors.hint(file)}`);
  }

  /** Pass 2: calls `onUser(u, items)` for every kept user in order (dense user id, dense item ids). */
  replay(onUser: (u: number, items: Int32Array) => void): void {
    let items = new Int32Array(64);
    eachLine(this.file, null, (tokens, lineNo) => {
      if (this.userLine.get(tokens[0]) !== lineNo) return;
      const u = this.users.get(tokens[0]);
      if (u < 0) return;
      const n = tokens.length - 1;
      if (items.length < n) items = new Int32Array(Math.max(n, 2 * items.length));
      for (let k = 0; k < n; k++) items[k] = this.items.get(tokens[k + 1]);
      onUser(u, items.subarray(0, n));
    });
  }
}

/** The attributes file → the catalog of the sequences' items (attribute ids in first-seen order by dense item). */
function readCatalog(files: AmazonSeqFiles, items: Vocab, errors: RowErrors): { catalog: ItemCatalog; unusedAttrItems: number } {
  let attrText: string;
  try {
    attrText = readFileSync(files.attributes, 'utf8').replace(/^\uFEFF/, '');
  } catch (e) {
    throw new Error(`${files.attributes}: cannot read (${(e as Error).message})`);
  }
  if (attrText.trim() === '') {
    throw new Error(`${files.attributes}: empty file (expected a JSON object mapping item id to an array of attribute ids)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(attrText);
  } catch (e) {
    throw new Error(`${files.attributes}: invalid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error(`${files.attributes}: expected a JSON object mapping item id to an array of attribute ids`);
  }
  const attrMap = json as Record<string, unknown>;
  const numItems = items.size;
  const attrs = new Vocab();
  const attrOffsets = new Int32Array(numItems + 1);
  const attrValues = new IntColumn(numItems * 4);
  let itemsWithoutAttrs = 0;
  let duplicateAttrs = 0;
  const seen = new Set<number>();
  for (let i = 0; i < numItems; i++) {
    const list = Object.prototype.hasOwnProperty.call(attrMap, items.keys[i]) ? attrMap[items.keys[i]] : undefined;
    const bad = !Array.isArray(list) ? -1 : list.findIndex((a) => typeof a !== 'number' && typeof a !== 'string');
    if (list === undefined) {
      itemsWithoutAttrs++;
    } else if (!Array.isArray(list)) {
      errors.row('badAttributeLists', files.attributes, `item "${clip(items.keys[i])}"`, `expected an array of attribute ids, found ${preview(list)}`);
    } else if (bad >= 0) {
      errors.row('badAttributeLists', files.attributes, `item "${clip(items.keys[i])}"`, `attribute ${preview(list[bad])} is not an id (expected a number or string)`);
    } else {
      seen.clear();
      for (const a of list as (number | string)[]) {
        const id = attrs.id(String(a));
        if (seen.has(id)) {
          duplicateAttrs++;
          continue;
        }
        seen.add(id);
        attrValues.push(id);
      }
    }
    attrOffsets[i + 1] = attrValues.length;
  }
  if (itemsWithoutAttrs > 0) errors.count('itemsWithoutAttributes', itemsWithoutAttrs);
  if (duplicateAttrs > 0) errors.count('duplicateAttributes', duplicateAttrs);
  let unusedAttrItems = 0;
  for (const k of Object.keys(attrMap)) if (items.get(k) < 0) unusedAttrItems++;
  const catalog: ItemCatalog = {
    numItems,
    numAttrs: attrs.size,
    attrOffsets,
    attrValues: attrValues.toArray(),
    itemKeys: items.keys,
    attrKeys: attrs.keys,
  };
  return { catalog, unusedAttrItems };
}

/** Reads both files (pass 1 over the sequences); the dataset without its samples. */
function readAmazonSeq(path: string, opts: AmazonSeqOptions, keep: boolean): { files: AmazonSeqFiles; seqs: Sequences; head: Omit<Dataset, 'train' | 'test'> } {
  const seed = opts.seed ?? 1;
  const policy = rowErrorPolicy(opts.onError);
  const files = resolveFiles(path);
  const isFile = statSync(resolve(path)).isFile();
  const name = opts.name ?? (isFile ? basename(files.sequences, '.txt') : basename(dirname(files.sequences)));
  const progress = opts.onProgress ?? (() => {});
  const errors = new RowErrors(policy);
  const seqs = new Sequences(files.sequences, errors, keep);
  seqs.read();
  progress(`amazon-seq: ${seqs.users.size} users, ${seqs.items.size} items, ${seqs.interactions} interactions read`);
  const { catalog, unusedAttrItems } = readCatalog(files, seqs.items, errors);
  for (const msg of errors.firsts()) progress(`amazon-seq: skipped ${msg}`);
  return {
    files,
    seqs,
    head: {
      name,
      format: 'amazon-seq',
      catalog,
      numUsers: seqs.users.size,
      userKeys: seqs.users.keys,
      skipped: errors.skipped,
      skippedExamples: errors.examples(),
      buildOptions: { seed, protocol: 'amazon-leave-last-out', negativesPerPositive: 1, onError: policy },
      stats: {
        users: seqs.users.size,
        items: catalog.numItems,
        attrs: catalog.numAttrs,
        interactions: seqs.interactions,
        attributeItemsNotInSequences: unusedAttrItems,
      },
    },
  };
}

const everyItemError = (file: string, user: string): Error =>
  new Error(`${file}: user "${user}" interacted with every item; no negative exists`);

/**
 * Builds the Dataset of an amazon-seq directory (or its `.txt` file) under the Amazon protocol of the file header:
 * per user, training pairs (positive, one sampled negative) for every prefix and one test pair for the last behaviour.
 * Throws on structural problems (see the file header) and, with `onError: 'fail'`, at the first row error.
 */
export function loadAmazonSeq(path: string, opts: AmazonSeqOptions = {}): Dataset {
  const { files, seqs, head } = readAmazonSeq(path, opts, true);
  const numUsers = seqs.users.size;
  const histValues = new Int32Array(seqs.historyPositions);
  const train = allocSampleSet(seqs.trainSize, histValues);
  const test = allocSampleSet(2 * numUsers, histValues);
  const sink = new SetSink(train, test);
  const protocol = new AmazonProtocol(head.catalog.numItems, opts.seed ?? 1);
  const seq = seqs.seq.data;
  for (let u = 0; u < numUsers; u++) {
    const s = seqs.seqOffsets[u];
    if (!protocol.user(u, seq, s, seqs.seqOffsets[u + 1] - s, sink)) throw everyItemError(files.sequences, seqs.users.keys[u]);
  }
  return { ...head, train, test };
}

/**
 * Converts an amazon-seq dataset into shards holding exactly the samples of `loadAmazonSeq` (same order, same ids,
 * same negatives): pass 1 over the sequences builds the vocabularies (held: each user's key and first line, each
 * item's key), pass 2 reads them again and writes every user's samples, drawing negatives from the same generator in
 * the same order. Memory: the vocabularies, one user's sequence and one shard.
 */
export async function convertAmazonSeqToShards(path: string, outDir: string, opts: AmazonSeqOptions & StreamConvertOptions): Promise<ShardManifest> {
  resolveFiles(path); // path and options are checked before the output directory is touched
  rowErrorPolicy(opts.onError);
  return streamToShards(outDir, 'amazon-seq', resolve(path), opts, async (job) => {
    const { files, seqs, head } = readAmazonSeq(path, { ...opts, onProgress: job.progress }, false);
    const w = new SampleShardWriter(job.writer, opts.shardRows);
    const sink = new ShardSink(w);
    const protocol = new AmazonProtocol(head.catalog.numItems, opts.seed ?? 1);
    seqs.replay((u, items) => {
      if (!protocol.user(u, items, 0, items.length, sink)) throw everyItemError(files.sequences, seqs.users.keys[u]);
    });
    w.finish();
    return head;
  });
}
