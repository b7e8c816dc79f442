/**
 * The 'tianchi' layout in memory (see ./index.ts): impressions held as columns, behavior_log streamed into per-user
 * lists that keep only what a history can still contain. The streamed conversion (./tianchi-stream.ts) builds the
 * same samples from sorted runs on disk instead.
 *
 * Memory (behavior_log is streamed, never held): the ad table (5 ints + 1 float per ad_feature line), 5 ints per
 * impression while reading (user, time, ad, pid, label), each user's distinct impression times, the profiles (8 ints
 * per user with impressions), the (cate, brand) → item map, and per user only the behaviours a history can still
 * contain, in a block pool: between two consecutive distinct impression times of a user only the `maxHistory` most
 * recent behaviours can ever be in a history, so a user's list is compacted to those whenever it has grown by half
 * (behaviours at or after the user's last impression are dropped on reading). That bound is what the histories hold
 * anyway: they are stored once per user and shared by all its samples (train and test). So the pool holds 8 bytes per
 * behaviour, at most ~1.5× the behaviours the histories keep (+ 2·maxHistory per user); at the end it is flattened
 * into the shared histories (4 bytes per kept behaviour) and freed. The Dataset then takes ~57 bytes per impression
 * (10 sample fields) plus the shared histories. Measured on a generated Tianchi-layout directory (2M impressions,
 * 200K users, 20M behaviour lines of uniformly random users, 492K (cate, brand) items) on a shared 2-core machine:
 * ~1.5M behaviour lines/s, ~0.8M raw_sample lines/s, 23 s and 420 MB peak RSS in all.
 */
import { IntColumn, Vocab } from '../../vocab.js';
import type { TaobaoChunk, TaobaoMeta, TmpSampleField } from './chunk.js';
import { lowerBound, upperBound } from './vocab.js';
import type { Ctx } from './context.js';
import { KeyIndex, TmpItems } from './items.js';
import { PROFILE_FIELDS } from './layout.js';
import { hourOf } from './text.js';
import { readAdFeature, readBehaviourLog, readRawSample, readUserProfile, type TianchiFiles } from './tianchi-read.js';

const BLOCK = 16; // (time, item) pairs per pool block
const CHUNK_SHIFT = 14; // blocks per chunk: 2^14 × 16 pairs × 8 bytes = 2 MB

/** Per-user lists of (time, item) pairs in a pool of fixed-size blocks (off the JS heap), appended in file order. */
export class BehaviourLists {
  private chunks: Int32Array[] = [];
  private next = new Int32Array(1 << 12);
  private blocks = 0;
  private free = -1;
  readonly head: Int32Array;
  readonly tail: Int32Array;
  readonly count: Int32Array;

  constructor(users: number) {
    this.head = new Int32Array(users).fill(-1);
    this.tail = new Int32Array(users).fill(-1);
    this.count = new Int32Array(users);
  }

  private alloc(): number {
    let b = this.free;
    if (b >= 0) {
      this.free = this.next[b];
    } else {
      b = this.blocks++;
      if (b >> CHUNK_SHIFT >= this.chunks.length) this.chunks.push(new Int32Array((2 * BLOCK) << CHUNK_SHIFT));
      if (b >= this.next.length) {
        const n = new Int32Array(this.next.length * 2);
        n.set(this.next);
        this.next = n;
      }
    }
    this.next[b] = -1;
    return b;
  }

  push(u: number, t: number, item: number): void {
    const c = this.count[u];
    const k = c % BLOCK;
    let b: number;
    if (k === 0) {
      b = this.alloc();
      if (c === 0) this.head[u] = b;
      else this.next[this.tail[u]] = b;
      this.tail[u] = b;
    } else {
      b = this.tail[u];
    }
    const o = ((b & ((1 << CHUNK_SHIFT) - 1)) * BLOCK + k) * 2;
    const a = this.chunks[b >> CHUNK_SHIFT];
    a[o] = t;
    a[o + 1] = item;
    this.count[u] = c + 1;
  }

  /** Copies u's pairs in order into ts/items (long enough); returns their number. */
  read(u: number, ts: Int32Array, items: Int32Array): number {
    const n = this.count[u];
    let b = this.head[u];
    for (let i = 0; i < n; b = this.next[b]) {
      const a = this.chunks[b >> CHUNK_SHIFT];
      let o = (b & ((1 << CHUNK_SHIFT) - 1)) * BLOCK * 2;
      for (let k = 0; k < BLOCK && i < n; k++, i++, o += 2) {
        ts[i] = a[o];
        items[i] = a[o + 1];
      }
    }
    return n;
  }

  /** Empties u's list, returning its blocks to the pool. */
  clear(u: number): void {
    if (this.count[u] === 0) return;
    this.next[this.tail[u]] = this.free;
    this.free = this.head[u];
    this.head[u] = this.tail[u] = -1;
    this.count[u] = 0;
  }

  /** Frees the pool (the lists must not be used afterwards). */
  release(): void {
    this.chunks = [];
    this.next = new Int32Array(0);
  }

  get bytes(): number {
    return this.chunks.length * ((2 * BLOCK) << CHUNK_SHIFT) * 4 + this.next.length * 4;
  }
}

/** Reads the four files into the samples of the in-memory loader: one chunk in raw_sample order. */
export async function readTianchi(files: TianchiFiles, ctx: Ctx): Promise<{ meta: TaobaoMeta; chunk: TaobaoChunk }> {
  const { maxHistory } = ctx;
  const items = new TmpItems();
  const stats: Record<string, number> = {};
  await readAdFeature(files.adFeature, items, ctx);

  // ---- raw_sample ----
  const users = new KeyIndex();
  const pids = new Vocab();
  const imp = {
    user: new IntColumn(1 << 16),
    time: new IntColumn(1 << 16),
    item: new IntColumn(1 << 16),
    pid: new IntColumn(1 << 16),
    label: new IntColumn(1 << 16),
  };
  await readRawSample(files, items, users, pids, ctx, (u, time, item, pid, label) => {
    imp.user.push(u);
    imp.time.push(time);
    imp.item.push(item);
    imp.pid.push(pid);
    imp.label.push(label);
  });
  const N = imp.user.length;
  const U = users.size;
  const iUser = imp.user.data;
  const iTime = imp.time.data;

  // ---- distinct impression times per user (CSR, ascending) ----
  const impOff = new Int32Array(U + 1);
  for (let i = 0; i < N; i++) impOff[iUser[i] + 1]++;
  for (let u = 0; u < U; u++) impOff[u + 1] += impOff[u];
  const impTimes = new Int32Array(N);
  {
    const fill = impOff.slice(0, U);
    for (let i = 0; i < N; i++) impTimes[fill[iUser[i]]++] = iTime[i];
  }
  const distOff = new Int32Array(U + 1);
  {
    let w = 0;
    for (let u = 0; u < U; u++) {
      const seg = impTimes.subarray(impOff[u], impOff[u + 1]).sort();
      distOff[u] = w;
      for (let k = 0; k < seg.length; k++) if (k === 0 || seg[k] !== seg[k - 1]) impTimes[w++] = seg[k];
    }
    distOff[U] = w;
  }
  const lastTime = new Int32Array(U);
  for (let u = 0; u < U; u++) lastTime[u] = impTimes[distOff[u + 1] - 1];

  const profiles = await readUserProfile(files.userProfile, users, ctx);
  stats.usersWithoutProfile = profiles.usersWithoutProfile;

  // ---- behavior_log (streamed; per user only what a history can still hold) ----
  const lists = new BehaviourLists(U);
  const limit = new Int32Array(U).fill(Math.max(4 * maxHistory, 4 * BLOCK));
  let scratchT = new Int32Array(1024);
  let scratchI = new Int32Array(1024);
  let scratchO = new Int32Array(1024);
  let keptT = new Int32Array(1024);
  let keptI = new Int32Array(1024);
  let beyondCap = 0;
  /**
   * Sorts u's list by time (file order on ties) and keeps, per interval between two consecutive distinct impression
   * times, the maxHistory most recent: into keptT/keptI, ascending. Empties u's list; returns how many were kept.
   */
  const compact = (u: number): number => {
    const n = lists.count[u];
    if (n > scratchT.length) {
      const cap = Math.max(n, scratchT.length * 2);
      scratchT = new Int32Array(cap);
      scratchI = new Int32Array(cap);
      scratchO = new Int32Array(cap);
      keptT = new Int32Array(cap);
      keptI = new Int32Array(cap);
    }
    lists.read(u, scratchT, scratchI);
    const ts = scratchT;
    const order = scratchO.subarray(0, n);
    for (let k = 0; k < n; k++) order[k] = k;
    let sorted = true;
    for (let k = 1; k < n && sorted; k++) if (ts[k] < ts[k - 1]) sorted = false;
    if (!sorted) order.sort((a, b) => ts[a] - ts[b] || a - b);
    // walk from the most recent: bucket = number of impression times <= t; keep maxHistory per bucket
    const lo = distOff[u];
    const hi = distOff[u + 1];
    let bucket = -1;
    let inBucket = 0;
    let keep = 0; // kept entries are moved to the end of `order`, newest last
    for (let k = n - 1; k >= 0; k--) {
      const b = upperBound(impTimes, lo, hi, ts[order[k]]);
      if (b !== bucket) {
        bucket = b;
        inBucket = 0;
      }
      if (inBucket < maxHistory) {
        inBucket++;
        order[n - 1 - keep++] = order[k];
      }
    }
    beyondCap += n - keep;
    lists.clear(u);
    for (let k = 0; k < keep; k++) {
      const o = order[n - keep + k];
      keptT[k] = ts[o];
      keptI[k] = scratchI[o];
    }
    return keep;
  };
  const log = await readBehaviourLog(files.behaviorLog, users, lastTime, items, ctx, (u, t, item) => {
    lists.push(u, t, item);
    if (lists.count[u] >= limit[u]) {
      const keep = compact(u);
      for (let k = 0; k < keep; k++) lists.push(u, keptT[k], keptI[k]);
      // next compaction when the list has grown by half (bounds the pool to ~1.5× what histories can use)
      limit[u] = keep + Math.max(keep >> 1, 2 * maxHistory, 2 * BLOCK);
    }
  }, () => `, pool ${Math.round(lists.bytes / 2 ** 20)} MB`);
  stats.behaviourLines = Math.max(0, log.lines - 1);

  // ---- flatten: each user's kept behaviours, ascending, stored once; each impression's history is the most recent
  // maxHistory of them strictly before its time ----
  const byUser = new Int32Array(N); // impressions grouped by user (impOff)
  {
    const fill = impOff.slice(0, U);
    for (let i = 0; i < N; i++) byUser[fill[iUser[i]]++] = i;
  }
  let total = 0;
  for (let u = 0; u < U; u++) total += lists.count[u];
  let histValues = new Int32Array(total);
  const histStart = new Int32Array(N);
  const histLen = new Int32Array(N);
  let w = 0;
  for (let u = 0; u < U; u++) {
    const keep = lists.count[u] > 0 ? compact(u) : 0;
    const base = w;
    for (let k = 0; k < keep; k++) histValues[w++] = keptI[k];
    for (let j = impOff[u]; j < impOff[u + 1]; j++) {
      const i = byUser[j];
      const end = base + lowerBound(keptT, 0, keep, iTime[i]);
      const len = Math.min(end - base, maxHistory);
      histStart[i] = end - len;
      histLen[i] = len;
    }
  }
  lists.release();
  if (w < total) histValues = histValues.slice(0, w);
  stats.behavioursKept = w;
  stats.behavioursBeyondHistoryCap = beyondCap;

  const test = new Uint8Array(N);
  for (let i = 0; i < N; i++) test[i] = iTime[i] >= ctx.testCut ? 1 : 0;
  const hours = new Int32Array(N);
  for (let i = 0; i < N; i++) hours[i] = hourOf(iTime[i]);
  const meta: TaobaoMeta = {
    layout: 'tianchi',
    items,
    priceBuckets: 'log2',
    userKeys: users.keys,
    fields: tianchiFields(profiles.vocabs, profiles.values, pids),
    stats,
    buildOptions: { layout: 'tianchi', split: 'time', testDay: ctx.testDay },
  };
  const chunk: TaobaoChunk = {
    n: N,
    order: null,
    first: 0,
    user: imp.user.data.subarray(0, N),
    item: imp.item.data.subarray(0, N),
    label: Uint8Array.from(imp.label.data.subarray(0, N)),
    test,
    histStart,
    histLen,
    histValues,
    fields: [...PROFILE_FIELDS.map(() => new Int32Array(0)), imp.pid.data.subarray(0, N), hours],
  };
  return { meta, chunk };
}

/** Temporary keys of the hour field: temporary id = the hour. */
export const HOUR_KEYS: string[] = Array.from({ length: 24 }, (_, h) => String(h));

/** The sample fields of 'tianchi': the 8 profile fields (by user), then pid and hour (per sample; hour ids = hours). */
export function tianchiFields(vocabs: Vocab[], values: Int32Array[], pids: Vocab): TmpSampleField[] {
  return [
    ...PROFILE_FIELDS.map((name, k): TmpSampleField => ({
      name,
      group: 'user',
      idLike: true,
      keys: vocabs[k].keys,
      byUser: values[k],
    })),
    { name: 'pid', group: 'context', idLike: false, keys: pids.keys },
    { name: 'hour', group: 'context', idLike: false, keys: HOUR_KEYS },
  ];
}
