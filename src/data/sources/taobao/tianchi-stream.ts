/**
 * The 'tianchi' layout streamed (the shard conversion; ./tianchi.ts is the in-memory loader): the same samples, in
 * memory bounded independently of raw_sample and behavior_log.
 *
 *  1. ad_feature and user_profile are per-ad / per-user tables, held as in memory.
 *  2. raw_sample: every valid impression goes to an external sort by (user, time; ties in file order) as a record
 *     (user, time, position, ad item, pid, label) — position = its index among the valid impressions, which is its
 *     sample position in the in-memory loader. Held per user: its last impression time.
 *  3. behavior_log: every behaviour before its user's last impression goes to an external sort by (user, time; ties
 *     in file order) as (user, time, item); its (cate, brand) item is created in reading order, as in memory.
 *  4. The join walks both sorted streams user by user (the users in first-seen order): a user's behaviours are split at
 *     its distinct impression times, the `maxHistory` latest of each interval kept — exactly the behaviours the
 *     in-memory loader keeps (`behavioursKept`; the rest `behavioursBeyondHistoryCap`) — and each impression's history
 *     is the `maxHistory` latest kept behaviours strictly before its time. The user's kept behaviours are one history
 *     block that its samples point into (a block still in use when a chunk fills is copied into the next chunk).
 *  5. Samples collect in chunks of `shardRows` (temporary ids): each is counted (./assemble.ts step 1) and spilled to
 *     the temporary directory; after the last, the vocabularies are built from the counts and every chunk is read
 *     back, mapped to final ids and written as a shard.
 *
 * The shards hold the samples of `loadTaobao` — same ids, vocabularies (first occurrences are counted in the in-memory
 * sample order, carried by each sample's position), catalog, skipped counts and stats — in another order: by user
 * (first-seen in raw_sample), then time, then file order, train and test samples of each shard in that order.
 *
 * Memory: the per-ad and per-user tables, the (cate, brand) → item map, the counts per item and field value (what no
 * streaming avoids), the sorts' runs (`memoryMB`), one user's impressions and kept behaviours, and one chunk. Disk: 24
 * bytes per impression and 12 per behaviour kept for sorting (twice while a merge pass runs), plus the chunks.
 */
import { join } from 'node:path';
import { readTypedJson, writeTypedJson } from '../../cache.js';
import { Float64Column, IntColumn, Vocab } from '../../vocab.js';
import { ExternalSorter, type SortedReader } from '../../stream/external-sort.js';
import type { ShardJob } from '../../stream/job.js';
import type { Dataset } from '../../../core/types.js';
import { chunkSets, datasetHead, finishTables } from './assemble.js';
import type { TaobaoChunk, TaobaoMeta } from './chunk.js';
import { TaobaoCounter } from './counter.js';
import { lowerBound } from './vocab.js';
import type { Ctx } from './context.js';
import { KeyIndex, TmpItems } from './items.js';
import { PROFILE_FIELDS } from './layout.js';
import { hourOf } from './text.js';
import { tianchiFields } from './tianchi.js';
import { readAdFeature, readBehaviourLog, readRawSample, readUserProfile, type TianchiFiles } from './tianchi-read.js';

/** Samples of the join collected into chunks (see step 5 of the file header). */
class Chunker {
  private order = new Float64Column(1 << 12);
  private user = new IntColumn(1 << 12);
  private item = new IntColumn(1 << 12);
  private label = new IntColumn(1 << 12);
  private test = new IntColumn(1 << 12);
  private start = new IntColumn(1 << 12);
  private len = new IntColumn(1 << 12);
  private pid = new IntColumn(1 << 12);
  private hour = new IntColumn(1 << 12);
  private hist = new IntColumn(1 << 16);
  private blockAt = -1;
  private blockLen = 0;

  constructor(private readonly chunkRows: number, private readonly onChunk: (c: TaobaoChunk) => void) {}

  /** Starts a user's history block: values[0, n). */
  block(values: Int32Array, n: number): void {
    this.blockAt = this.hist.length;
    this.blockLen = n;
    this.hist.append(values, 0, n);
  }

  /** Adds a sample whose history is [start, start + len) of the current block. */
  add(order: number, user: number, item: number, label: number, test: number, start: number, len: number, pid: number, hour: number): void {
    if (this.user.length >= this.chunkRows) this.flush(true);
    this.order.push(order);
    this.user.push(user);
    this.item.push(item);
    this.label.push(label);
    this.test.push(test);
    this.start.push(len === 0 ? 0 : this.blockAt + start);
    this.len.push(len);
    this.pid.push(pid);
    this.hour.push(hour);
  }

  /** Hands the current chunk on (if any); `keepBlock`: copy the current block into the next one. */
  flush(keepBlock: boolean): void {
    const n = this.user.length;
    if (n === 0) return;
    const hv = this.hist.toArray();
    this.onChunk({
      n,
      order: this.order.data.slice(0, n),
      first: 0,
      user: this.user.toArray(),
      item: this.item.toArray(),
      label: Uint8Array.from(this.label.data.subarray(0, n)),
      test: Uint8Array.from(this.test.data.subarray(0, n)),
      histStart: this.start.toArray(),
      histLen: this.len.toArray(),
      histValues: hv,
      fields: [...PROFILE_FIELDS.map(() => new Int32Array(0)), this.pid.toArray(), this.hour.toArray()],
    });
    this.order = new Float64Column(1 << 12);
    for (const k of ['user', 'item', 'label', 'test', 'start', 'len', 'pid', 'hour'] as const) this[k] = new IntColumn(1 << 12);
    this.hist = new IntColumn(1 << 16);
    if (keepBlock && this.blockAt >= 0) {
      const at = this.blockAt;
      this.blockAt = 0;
      this.hist.append(hv, at, at + this.blockLen);
    } else this.blockAt = -1;
  }
}

/** A growable Int32Array used as a per-user scratch list. */
class Scratch {
  a = new Int32Array(256);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Int32Array(2 * this.a.length);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
}

/** Counts of the join: behaviours kept in histories, samples. */
interface JoinCounts {
  kept: number;
  samples: number;
}

/**
 * Step 4 of the file header: joins the sorted impressions (user, time, position, item, pid, label) and behaviours
 * (user, time, item) user by user into `out`.
 */
function join_(imp: SortedReader, beh: SortedReader, maxHistory: number, testCut: number, out: Chunker): JoinCounts {
  const counts: JoinCounts = { kept: 0, samples: 0 };
  // one user's impressions
  const iTime = new Scratch();
  const iOrder = new Scratch();
  const iItem = new Scratch();
  const iPid = new Scratch();
  const iLabel = new Scratch();
  const times = new Scratch(); // distinct impression times
  // one user's kept behaviours
  const keptT = new Scratch();
  const keptI = new Scratch();
  const ringT = new Int32Array(maxHistory);
  const ringI = new Int32Array(maxHistory);
  let hasImp = imp.next();
  let hasBeh = beh.next();
  while (hasImp) {
    const u = imp.rec[imp.at];
    iTime.n = iOrder.n = iItem.n = iPid.n = iLabel.n = times.n = 0;
    while (hasImp && imp.rec[imp.at] === u) {
      const r = imp.rec;
      const o = imp.at;
      const t = r[o + 1];
      if (times.n === 0 || times.a[times.n - 1] !== t) times.push(t);
      iTime.push(t);
      iOrder.push(r[o + 2]);
      iItem.push(r[o + 3]);
      iPid.push(r[o + 4]);
      iLabel.push(r[o + 5]);
      hasImp = imp.next();
    }
    // behaviours of u (every behaviour user has impressions, so the stream is never behind)
    keptT.n = keptI.n = 0;
    let bucket = -1; // the number of impression times <= t of the behaviours in the ring
    let inBucket = 0;
    let b = 0; // times.a[0 .. b) <= current t
    const flushRing = (): void => {
      const m = Math.min(inBucket, maxHistory);
      for (let k = inBucket - m; k < inBucket; k++) {
        keptT.push(ringT[k % maxHistory]);
        keptI.push(ringI[k % maxHistory]);
      }
    };
    while (hasBeh && beh.rec[beh.at] === u) {
      const t = beh.rec[beh.at + 1];
      while (b < times.n && times.a[b] <= t) b++;
      if (b !== bucket) {
        if (bucket >= 0) flushRing();
        bucket = b;
        inBucket = 0;
      }
      ringT[inBucket % maxHistory] = t;
      ringI[inBucket % maxHistory] = beh.rec[beh.at + 2];
      inBucket++;
      hasBeh = beh.next();
    }
    if (bucket >= 0) flushRing();
    counts.kept += keptT.n;
    // samples: the maxHistory latest kept behaviours strictly before each impression
    out.block(keptI.a, keptI.n);
    for (let j = 0; j < iTime.n; j++) {
      const t = iTime.a[j];
      const end = lowerBound(keptT.a, 0, keptT.n, t);
      const len = Math.min(end, maxHistory);
      out.add(iOrder.a[j], u, iItem.a[j], iLabel.a[j], t >= testCut ? 1 : 0, end - len, len, iPid.a[j], hourOf(t));
    }
    counts.samples += iTime.n;
  }
  if (hasBeh) throw new Error(`taobao: behaviours of user ${beh.rec[beh.at]} left after the join (internal error)`);
  return counts;
}

/** Converts the four files into shards through `job` (see the file header); returns the dataset head. */
export async function convertTianchi(files: TianchiFiles, ctx: Ctx, job: ShardJob): Promise<Omit<Dataset, 'train' | 'test'>> {
  const { maxHistory, progress } = ctx;
  const items = new TmpItems();
  const stats: Record<string, number> = {};
  await readAdFeature(files.adFeature, items, ctx);

  // ---- raw_sample → sorted impressions ----
  const users = new KeyIndex();
  const pids = new Vocab();
  const lastTime = new IntColumn(1 << 16);
  const impSort = new ExternalSorter({
    words: 6, keyWords: 2, dir: job.tmp, memoryBytes: job.sortBytes, name: 'impressions', spillLast: true,
  });
  const behSort = new ExternalSorter({ words: 3, keyWords: 2, dir: job.tmp, memoryBytes: job.sortBytes, name: 'behaviours' });
  const chunkFiles: string[] = [];
  try {
    let n = 0;
    await readRawSample(files, items, users, pids, ctx, (u, time, item, pid, label) => {
      const o = impSort.reserve();
      const w = impSort.buf;
      w[o] = u;
      w[o + 1] = time;
      w[o + 2] = n++;
      w[o + 3] = item;
      w[o + 4] = pid;
      w[o + 5] = label;
      if (u === lastTime.length) lastTime.push(time);
      else if (time > lastTime.data[u]) lastTime.data[u] = time;
    });
    const impressions = impSort.finish(); // spills the last run: its memory is free for the behaviours' sort
    const profiles = await readUserProfile(files.userProfile, users, ctx);
    stats.usersWithoutProfile = profiles.usersWithoutProfile;

    // ---- behavior_log → sorted behaviours ----
    const log = await readBehaviourLog(files.behaviorLog, users, lastTime.data, items, ctx, (u, t, item) => {
      const o = behSort.reserve();
      behSort.buf[o] = u;
      behSort.buf[o + 1] = t;
      behSort.buf[o + 2] = item;
    }, () => `, ${behSort.runCount} sorted runs`);
    stats.behaviourLines = Math.max(0, log.lines - 1);
    const behaviours = behSort.finish();

    // ---- join → counted chunks on disk ----
    const meta: TaobaoMeta = {
      layout: 'tianchi',
      items,
      priceBuckets: 'log2',
      userKeys: users.keys,
      fields: tianchiFields(profiles.vocabs, profiles.values, pids),
      stats,
      buildOptions: { layout: 'tianchi', split: 'time', testDay: ctx.testDay },
    };
    const counter = new TaobaoCounter(meta);
    const chunker = new Chunker(job.writer.shardRows, (c) => {
      counter.add(c);
      const file = join(job.tmp, `chunk-${chunkFiles.length}`);
      writeTypedJson(file, c);
      chunkFiles.push(file);
    });
    const t0 = performance.now();
    let counts: JoinCounts;
    try {
      counts = join_(impressions, behaviours, maxHistory, ctx.testCut, chunker);
      chunker.flush(false);
    } finally {
      impressions.close();
      behaviours.close();
    }
    stats.behavioursKept = counts.kept;
    stats.behavioursBeyondHistoryCap = log.kept - counts.kept;
    progress(`taobao: ${counts.samples} impressions joined with ${log.kept} behaviours in ${((performance.now() - t0) / 1000).toFixed(1)} s, ` +
      `${counts.kept} kept in histories`);
    job.info.sortRuns = impSort.runsWritten + behSort.runsWritten;
    job.info.sortBytes = impSort.bytesWritten + behSort.bytesWritten;
    job.info.lines = stats.behaviourLines + n;

    // ---- vocabularies, then every chunk with final ids ----
    const tables = finishTables(counter, ctx);
    for (const file of chunkFiles) {
      const c = readTypedJson(file) as TaobaoChunk;
      job.writer.write(chunkSets(c, meta, tables));
    }
    return datasetHead(counter, tables, ctx);
  } finally {
    impSort.close();
    behSort.close();
  }
}
