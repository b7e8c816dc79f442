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
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { allocSampleSet, putPair } from '../sample-set.js';
import type { Dataset, ItemCatalog, SampleSet } from '../types.js';
import { IntColumn, Vocab } from '../vocab.js';
import { Rng } from '../../util/rng.js';
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

/**
 * Builds the Dataset of an amazon-seq directory (or its `.txt` file) under the Amazon protocol of the file header:
 * per user, training pairs (positive, one sampled negative) for every prefix and one test pair for the last behaviour.
 * Throws on structural problems (see the file header) and, with `onError: 'fail'`, at the first row error.
 */
export function loadAmazonSeq(path: string, opts: AmazonSeqOptions = {}): Dataset {
  const seed = opts.seed ?? 1;
  const policy = rowErrorPolicy(opts.onError);
  const files = resolveFiles(path);
  const isFile = statSync(resolve(path)).isFile();
  const name = opts.name ?? (isFile ? basename(files.sequences, '.txt') : basename(dirname(files.sequences)));
  const progress = opts.onProgress ?? (() => {});
  const errors = new RowErrors(policy);
  const skip = (reason: string, n = 1): void => errors.count(reason, n);
  const read = (file: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`${file}: cannot read (${(e as Error).message})`);
    }
  };

  // ---- sequences ----
  const text = read(files.sequences);
  if (text.trim() === '') throw new Error(`${files.sequences}: empty file (expected "user item item …" lines)`);
  const users = new Vocab();
  const items = new Vocab();
  const seq = new IntColumn(1 << 16); // concatenated item ids of kept users
  const seqOffsets: number[] = [0];
  const userLine = new Map<string, number>(); // first line of each user (kept or not), to report duplicates
  let lineNo = 0;
  let pos = 0;
  while (pos <= text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const line = text.slice(pos, end);
    const atEof = end === text.length;
    pos = end + 1;
    lineNo++;
    if (atEof && line.trim() === '') break; // trailing newline
    const trimmed = line.trim();
    if (trimmed === '') {
      skip('blankLines');
      continue;
    }
    const tokens = trimmed.split(/\s+/);
    if (tokens.length < 2) {
      const what = `user "${clip(tokens[0])}" has no items (expected "user item item …", whitespace separated)`;
      errors.row('usersWithoutItems', files.sequences, lineNo, what);
      continue;
    }
    const prev = userLine.get(tokens[0]);
    if (prev !== undefined) {
      const what = `user "${clip(tokens[0])}" already appeared on line ${prev} (expected one line per user)`;
      errors.row('duplicateUsers', files.sequences, lineNo, what);
      continue;
    }
    userLine.set(tokens[0], lineNo);
    const n = tokens.length - 1;
    if (n < 3) {
      skip('usersWithFewerThan3Items');
      continue;
    }
    users.id(tokens[0]);
    for (let k = 1; k < tokens.length; k++) seq.push(items.id(tokens[k]));
    seqOffsets.push(seq.length);
  }
  const numUsers = users.size;
  const numItems = items.size;
  if (numUsers === 0) throw new Error(`${files.sequences}: no user with at least 3 items${errors.hint(files.sequences)}`);
  progress(`amazon-seq: ${numUsers} users, ${numItems} items, ${seq.length} interactions read`);

  // ---- attributes ----
  const attrText = read(files.attributes).replace(/^\uFEFF/, '');
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
  for (const msg of errors.firsts()) progress(`amazon-seq: skipped ${msg}`);
  if (itemsWithoutAttrs > 0) skip('itemsWithoutAttributes', itemsWithoutAttrs);
  if (duplicateAttrs > 0) skip('duplicateAttributes', duplicateAttrs);
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

  // ---- samples ----
  const seqArr = seq.data;
  let trainSize = 0;
  let histTotal = 0;
  for (let u = 0; u < numUsers; u++) {
    const n = seqOffsets[u + 1] - seqOffsets[u];
    trainSize += 2 * (n - 2);
    histTotal += n - 1;
  }
  const testSize = 2 * numUsers;
  const histValues = new Int32Array(histTotal);
  const train = allocSampleSet(trainSize, histValues);
  const test = allocSampleSet(testSize, histValues);
  const rng = new Rng(seed);
  const mark = new Int32Array(numItems); // mark[item] === u + 1 ⇔ user u interacted with item
  let h = 0;
  let tr = 0;
  let te = 0;
  for (let u = 0; u < numUsers; u++) {
    const s = seqOffsets[u];
    const n = seqOffsets[u + 1] - s;
    let distinct = 0;
    for (let k = 0; k < n; k++) {
      const it = seqArr[s + k];
      if (mark[it] !== u + 1) {
        mark[it] = u + 1;
        distinct++;
      }
    }
    if (distinct >= numItems) {
      throw new Error(`${files.sequences}: user "${users.keys[u]}" interacted with every item; no negative exists`);
    }
    const base = h;
    for (let k = 0; k < n - 1; k++) histValues[h++] = seqArr[s + k];
    const negative = (): number => {
      for (;;) {
        const c = rng.int(numItems);
        if (mark[c] !== u + 1) return c;
      }
    };
    for (let k = 1; k <= n - 2; k++) {
      tr = putPair(train, tr, u, seqArr[s + k], negative(), base, k);
    }
    te = putPair(test, te, u, seqArr[s + n - 1], negative(), base, n - 1);
  }

  const stats: Record<string, number> = {
    users: numUsers,
    items: numItems,
    attrs: attrs.size,
    interactions: seq.length,
    attributeItemsNotInSequences: unusedAttrItems,
  };
  return {
    name,
    format: 'amazon-seq',
    catalog,
    numUsers,
    userKeys: users.keys,
    train,
    test,
    skipped: errors.skipped,
    skippedExamples: errors.examples(),
    buildOptions: { seed, protocol: 'amazon-leave-last-out', negativesPerPositive: 1, onError: policy },
    stats,
  };
}

function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

