/**
 * SampleSet shards: a dataset too large to hold in memory as one SampleSet, stored as a directory of binary shards
 * that training reads one at a time (`din data convert`, then `din train --data DIR`).
 *
 *   DIR/manifest.json        {"format": "din-shards", "version": 1, "shards": [{file, train, test, bytes}], …}
 *   DIR/head.dincache        the dataset without its samples: catalog (items, attributes, item fields), users,
 *                            sample fields with their vocabularies, skipped-row counts, build options
 *   DIR/shard-00000.dinshard {train: SampleSet, test: SampleSet} of one chunk of rows, sharing one histValues
 *
 * Files use the checksummed layout of ./cache.ts; the manifest is written last (atomically), so a directory with a
 * manifest always has every file it lists. Each shard is validated when read (id ranges against the head), so a
 * corrupt or foreign shard is an error naming the file, never a wrong row.
 *
 * Memory of training from shards: the model, one shard's SampleSet at a time (the shard being trained on), and for
 * evaluation 13 bytes per test (or validation) sample for the collected predictions, labels and users (GAUC groups
 * by user over the whole split).
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Dataset, SampleSet } from '../core/types.js';
import { readTypedJson, writeTypedJson } from './cache.js';
import { validateItemField } from '../core/fields.js';
import { validateSampleSet } from './sample-set.js';
import { readJsonFile, writeJsonAtomic } from '../util/fs.js';

export const SHARDS_FORMAT = 'din-shards';
export const SHARDS_VERSION = 1;
const HEAD_FILE = 'head.dincache';
const MANIFEST = 'manifest.json';
const SHARD_RE = /^shard-\d{5,}\.dinshard$/;

/** The dataset without its samples. */
export type DatasetHead = Omit<Dataset, 'train' | 'test'>;

/** One shard as listed in the manifest. */
export interface ShardInfo {
  /** File name inside the shard directory, `shard-NNNNN.dinshard`. */
  file: string;
  /** Training samples in the shard. */
  train: number;
  /** Test samples in the shard. */
  test: number;
  /** Size of the file in bytes; `openShards` refuses a file of another size (truncated or replaced). */
  bytes: number;
}

/** The `manifest.json` of a shard directory, written last (see the file header). */
export interface ShardManifest {
  /** Always `din-shards`; identifies a shard directory. */
  format: typeof SHARDS_FORMAT;
  /** Layout version (currently 1); `openShards` refuses any other. */
  version: number;
  /** When the shards were written (ISO 8601, UTC). */
  createdAt: string;
  /** Name of the dataset (`Dataset.name`). */
  name: string;
  /** The source format the rows came from (schema, amazon-seq, …). */
  sourceFormat: string;
  /** Training samples over all shards. */
  train: number;
  /** Test samples over all shards. */
  test: number;
  /** Rows per shard the converter aimed at (the last shard may hold fewer). */
  shardRows: number;
  /** The shards, in order. */
  shards: ShardInfo[];
  /** How the conversion went (rows/s, peak memory); informational. */
  conversion?: Record<string, unknown>;
}

/** The contents of one shard: its training and test samples. */
export interface ShardPair {
  /** The shard's training samples. */
  train: SampleSet;
  /** The shard's test samples (possibly none); in a written shard they share `histValues` with `train`. */
  test: SampleSet;
}

/** A dataset stored as shards: the head in memory, the samples read shard by shard. */
export interface ShardedDataset extends DatasetHead {
  /** Always true: tells a ShardedDataset from an in-memory Dataset (see `isSharded`). */
  sharded: true;
  /** Absolute path of the shard directory. */
  dir: string;
  /** The shards, in order, as the manifest lists them. */
  shards: ShardInfo[];
  /** Training samples over all shards. */
  trainSize: number;
  /** Test samples over all shards. */
  testSize: number;
  /** Reads and validates shard k. */
  readShard(k: number): ShardPair;
}

/** True when `d` is a {@link ShardedDataset} (from `openShards`) rather than an in-memory Dataset. */
export function isSharded(d: Dataset | ShardedDataset): d is ShardedDataset {
  return (d as ShardedDataset).sharded === true;
}

/** True if `path` is a directory holding a shard manifest. */
export function isShardDir(path: string): boolean {
  try {
    return statSync(path).isDirectory() && existsSync(join(path, MANIFEST)) &&
      (readJsonFile(join(path, MANIFEST)) as { format?: unknown }).format === SHARDS_FORMAT;
  } catch {
    return false;
  }
}

function shardName(k: number): string {
  return `shard-${String(k).padStart(5, '0')}.dinshard`;
}

/**
 * Prepares `dir` for a new shard set: creates it, or clears the files of an earlier shard set in it. A non-empty
 * directory that is not a shard set is refused (nothing of the user's is deleted).
 */
export function prepareShardDir(dir: string): void {
  const abs = resolve(dir);
  if (!existsSync(abs)) {
    mkdirSync(abs, { recursive: true });
    return;
  }
  if (!statSync(abs).isDirectory()) throw new Error(`${abs}: exists and is not a directory`);
  const names = readdirSync(abs);
  const ours = (n: string) => n === MANIFEST || n === HEAD_FILE || SHARD_RE.test(n) || n.startsWith('.tmp-') || /\.tmp-\d+-\d+$/.test(n);
  const foreign = names.filter((n) => !ours(n));
  if (foreign.length > 0) {
    throw new Error(`${abs}: not empty and not a din shard directory (found ${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', …' : ''}); choose a new --out`);
  }
  // The manifest goes first, so an interrupted clean-up never leaves a manifest listing missing shards.
  if (names.includes(MANIFEST)) rmSync(join(abs, MANIFEST));
  for (const n of names) if (n !== MANIFEST) rmSync(join(abs, n), { force: true, recursive: true });
}

/** Writes shards one by one, then the head and the manifest. */
export class ShardWriter {
  readonly dir: string;
  readonly shards: ShardInfo[] = [];
  private trainRows = 0;
  private testRows = 0;

  constructor(dir: string, readonly shardRows: number) {
    if (!(Number.isInteger(shardRows) && shardRows > 0)) throw new Error(`shard rows must be a positive integer, got ${shardRows}`);
    this.dir = resolve(dir);
    prepareShardDir(this.dir);
  }

  /** Training / test samples written so far. */
  get trainSamples(): number {
    return this.trainRows;
  }
  get testSamples(): number {
    return this.testRows;
  }

  /** Removes the shards written so far (a conversion that failed leaves no half shard set). */
  abort(): void {
    for (const s of this.shards) rmSync(join(this.dir, s.file), { force: true });
    rmSync(join(this.dir, HEAD_FILE), { force: true });
    this.shards.length = 0;
    this.trainRows = this.testRows = 0;
  }

  /** Writes the next shard (either part may be empty, not both). */
  write(pair: ShardPair): void {
    if (pair.train.size + pair.test.size === 0) return;
    const file = shardName(this.shards.length);
    const path = join(this.dir, file);
    writeTypedJson(path, compactPair(pair));
    this.shards.push({ file, train: pair.train.size, test: pair.test.size, bytes: statSync(path).size });
    this.trainRows += pair.train.size;
    this.testRows += pair.test.size;
  }

  finish(head: DatasetHead, conversion?: Record<string, unknown>): ShardManifest {
    if (this.trainRows === 0) throw new Error(`${this.dir}: no training rows were written`);
    const { ...h } = head as DatasetHead & { train?: unknown; test?: unknown; sharded?: unknown };
    delete h.train;
    delete h.test;
    writeTypedJson(join(this.dir, HEAD_FILE), { head: h });
    const manifest: ShardManifest = {
      format: SHARDS_FORMAT,
      version: SHARDS_VERSION,
      createdAt: new Date().toISOString(),
      name: head.name,
      sourceFormat: head.format,
      train: this.trainRows,
      test: this.testRows,
      shardRows: this.shardRows,
      shards: this.shards,
      ...(conversion ? { conversion } : {}),
    };
    writeJsonAtomic(join(this.dir, MANIFEST), manifest);
    return manifest;
  }
}

/**
 * A copy of the pair whose histValues holds only the range its samples reference (samples of a chunk reference a
 * contiguous region when the source wrote them in order, so this is one slice, not a gather).
 */
function compactPair({ train, test }: ShardPair): ShardPair {
  if (train.histValues !== test.histValues) throw new Error('shard: train and test of a shard must share histValues');
  let lo = Infinity;
  let hi = 0;
  for (const s of [train, test]) {
    for (let i = 0; i < s.size; i++) {
      if (s.histLen[i] === 0) continue;
      if (s.histStart[i] < lo) lo = s.histStart[i];
      if (s.histStart[i] + s.histLen[i] > hi) hi = s.histStart[i] + s.histLen[i];
    }
  }
  if (lo === Infinity) lo = hi = 0;
  if (lo === 0 && hi === train.histValues.length) return { train, test };
  const hv = train.histValues.slice(lo, hi);
  const shift = (s: SampleSet): SampleSet => {
    const hs = new Int32Array(s.size);
    for (let i = 0; i < s.size; i++) hs[i] = s.histLen[i] === 0 ? 0 : s.histStart[i] - lo;
    return { ...s, histStart: hs, histValues: hv };
  };
  return { train: shift(train), test: shift(test) };
}

/** The samples [from, to) of a set, sharing its histValues. */
function sliceSet(s: SampleSet, from: number, to: number): SampleSet {
  return {
    size: to - from,
    labels: s.labels.subarray(from, to),
    users: s.users.subarray(from, to),
    items: s.items.subarray(from, to),
    histStart: s.histStart.subarray(from, to),
    histLen: s.histLen.subarray(from, to),
    histValues: s.histValues,
    ...(s.fieldValues ? { fieldValues: s.fieldValues.map((f) => f.subarray(from, to)) } : {}),
  };
}

/**
 * Shards an in-memory dataset: ceil(train / shardRows) shards, each with the next shardRows training samples (in
 * stored order) and an even share of the test samples.
 */
export function writeShardedDataset(dir: string, ds: Dataset, shardRows: number, conversion?: Record<string, unknown>): ShardManifest {
  const w = new ShardWriter(dir, shardRows);
  const n = Math.max(1, Math.ceil(ds.train.size / shardRows));
  // train and test may have separate histValues (they always share within a source today; handle both).
  const same = ds.train.histValues === ds.test.histValues;
  for (let k = 0; k < n; k++) {
    const train = sliceSet(ds.train, k * shardRows, Math.min(ds.train.size, (k + 1) * shardRows));
    const t0 = Math.floor((k * ds.test.size) / n);
    const t1 = Math.floor(((k + 1) * ds.test.size) / n);
    let test = sliceSet(ds.test, t0, t1);
    if (!same) test = rebase(test, train.histValues);
    w.write({ train, test });
  }
  const { train: _t, test: _s, ...head } = ds;
  return w.finish(head, conversion);
}

/** A copy of `s` whose histories are appended to a copy of `base` (so it can share histValues with another set). */
function rebase(s: SampleSet, base: Int32Array): SampleSet {
  let extra = 0;
  for (let i = 0; i < s.size; i++) extra += s.histLen[i];
  const hv = new Int32Array(base.length + extra);
  hv.set(base);
  const hs = new Int32Array(s.size);
  let at = base.length;
  for (let i = 0; i < s.size; i++) {
    hs[i] = at;
    hv.set(s.histValues.subarray(s.histStart[i], s.histStart[i] + s.histLen[i]), at);
    at += s.histLen[i];
  }
  return { ...s, histStart: hs, histValues: hv };
}

/** Opens a shard directory: reads the manifest and the head; shards are read on demand. */
export function openShards(dir: string): ShardedDataset {
  const abs = resolve(dir);
  const mpath = join(abs, MANIFEST);
  if (!existsSync(mpath)) throw new Error(`${abs}: not a din shard directory (no ${MANIFEST})`);
  const m = readJsonFile(mpath) as ShardManifest;
  if (m.format !== SHARDS_FORMAT) throw new Error(`${mpath}: format is ${JSON.stringify(m.format)}, expected "${SHARDS_FORMAT}"`);
  if (m.version !== SHARDS_VERSION) throw new Error(`${mpath}: version ${m.version} is not supported (expected ${SHARDS_VERSION})`);
  if (!Array.isArray(m.shards) || m.shards.length === 0) throw new Error(`${mpath}: lists no shards`);
  for (const s of m.shards) {
    if (typeof s.file !== 'string' || !SHARD_RE.test(s.file)) throw new Error(`${mpath}: bad shard entry ${JSON.stringify(s)}`);
    const p = join(abs, s.file);
    if (!existsSync(p)) throw new Error(`${mpath}: lists ${s.file}, which is missing`);
    if (statSync(p).size !== s.bytes) throw new Error(`${p}: ${statSync(p).size} bytes, the manifest says ${s.bytes} (truncated or replaced?)`);
  }
  const headFile = join(abs, HEAD_FILE);
  const head = (readTypedJson(headFile) as { head?: DatasetHead }).head;
  if (!head || !head.catalog || typeof head.numUsers !== 'number') throw new Error(`${headFile}: incomplete dataset head`);
  for (const f of head.catalog.itemFields ?? []) validateItemField(f, head.catalog.numItems, `${headFile} catalog`);
  const sizes = (head.sampleFields ?? []).map((f) => f.size);
  const sd: ShardedDataset = {
    ...head,
    sharded: true,
    dir: abs,
    shards: m.shards,
    trainSize: m.train,
    testSize: m.test,
    readShard(k: number): ShardPair {
      const info = m.shards[k];
      if (info === undefined) throw new Error(`${abs}: no shard ${k} (it has ${m.shards.length})`);
      const path = join(abs, info.file);
      const pair = readTypedJson(path) as Partial<ShardPair>;
      if (!pair || !pair.train || !pair.test) throw new Error(`${path}: not a shard (expected train and test sample sets)`);
      for (const [what, s, want] of [['train', pair.train, info.train], ['test', pair.test, info.test]] as const) {
        if (s.size !== want) throw new Error(`${path}: ${what} has ${s.size} samples, the manifest says ${want}`);
        validateSampleSet(s, head.catalog.numItems, head.numUsers, `${path} ${what}`, sizes);
      }
      return pair as ShardPair;
    },
  };
  return sd;
}

/** A view of a sharded dataset whose shards pass through `f` when read (sizes are counted with one pass). */
export function mapShards(sd: ShardedDataset, f: (pair: ShardPair, k: number) => ShardPair, name?: string): ShardedDataset {
  const shards: ShardInfo[] = [];
  let trainSize = 0;
  let testSize = 0;
  for (let k = 0; k < sd.shards.length; k++) {
    const p = f(sd.readShard(k), k);
    shards.push({ ...sd.shards[k], train: p.train.size, test: p.test.size });
    trainSize += p.train.size;
    testSize += p.test.size;
  }
  return { ...sd, ...(name ? { name } : {}), shards, trainSize, testSize, readShard: (k) => f(sd.readShard(k), k) };
}

/**
 * One SampleSet holding the samples of `sets` in order (histories copied into one histValues), so several shards can
 * be shuffled together. A single set is returned as it is.
 */
export function concatSets(sets: SampleSet[]): SampleSet {
  if (sets.length === 1) return sets[0];
  let n = 0;
  let h = 0;
  for (const s of sets) {
    n += s.size;
    h += s.histValues.length;
  }
  const F = sets[0]?.fieldValues?.length ?? 0;
  const out: SampleSet = {
    size: n,
    labels: new Uint8Array(n),
    users: new Int32Array(n),
    items: new Int32Array(n),
    histStart: new Int32Array(n),
    histLen: new Int32Array(n),
    histValues: new Int32Array(h),
    ...(F > 0 ? { fieldValues: Array.from({ length: F }, () => new Int32Array(n)) } : {}),
  };
  let at = 0;
  let hat = 0;
  for (const s of sets) {
    if ((s.fieldValues?.length ?? 0) !== F) throw new Error('concatSets: the sets have different sample fields');
    out.labels.set(s.labels, at);
    out.users.set(s.users, at);
    out.items.set(s.items, at);
    out.histLen.set(s.histLen, at);
    for (let i = 0; i < s.size; i++) out.histStart[at + i] = s.histStart[i] + hat;
    out.histValues.set(s.histValues, hat);
    for (let f = 0; f < F; f++) out.fieldValues![f].set(s.fieldValues![f], at);
    at += s.size;
    hat += s.histValues.length;
  }
  return out;
}

/** The training parts of every shard, in the given order (one shard in memory at a time). */
export function* trainParts(sd: ShardedDataset, order?: ArrayLike<number>): Generator<SampleSet> {
  const n = sd.shards.length;
  for (let j = 0; j < n; j++) {
    const k = order ? order[j] : j;
    if (sd.shards[k].train > 0) yield sd.readShard(k).train;
  }
}

export function* testParts(sd: ShardedDataset): Generator<SampleSet> {
  for (let k = 0; k < sd.shards.length; k++) if (sd.shards[k].test > 0) yield sd.readShard(k).test;
}
