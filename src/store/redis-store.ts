/**
 * A {@link RowStore} in a Redis Cluster: embedding rows (value + optimizer state) shared by several trainer processes
 * on several machines, plus the control plane a trainer needs besides rows (metadata, blobs, replication waits,
 * verification, counters).
 *
 * Keys, all under the namespace `din:<name>:`:
 *
 *   din:<name>:meta                          JSON: the trainer's document + `store` {format, version, buckets, …}
 *   din:<name>:r:{<bucket>}:<t>:<row>        one row of table t, bytes of ./row-codec.ts
 *   din:<name>:b:<key>:m                     a blob's manifest {gen, chunks, bytes, sha256}
 *   din:<name>:b:<key>:c:<gen>:<i>           its chunks (4 MiB each by default, ≤ 32 MiB), spread over the slots
 *   din:<name>:g:…                           the trainers' group (./redis-group.ts)
 *
 * Rows are grouped in NB buckets (a power of two fixed when the store is created, recorded in the metadata):
 * bucket = {@link rowBucket}(t, row) mod NB. The `{bucket}` hash tag puts a bucket's rows in one slot, so a call
 * reads a bucket's rows with one MGET and writes them with one MSET, all buckets in parallel (ioredis
 * autopipelining sends a node's commands together): one round trip per call. A row never written reads as
 * `initialRow(table.init, row, dim)` with zero optimizer state.
 *
 * Transient failures (connection lost, CLUSTERDOWN, TRYAGAIN, failover) are retried for `failoverTimeoutMs`: reads
 * and whole-row writes are idempotent. See ./redis-connect.ts.
 *
 * Replication is asynchronous: a failover loses the writes its master had not yet sent to the replica (the last
 * milliseconds). {@link RedisRowStore.waitReplicas} after a checkpoint bounds that: what was written before it
 * survives the failover of any one master.
 *
 * Create the metadata ({@link RedisRowStore.initMeta}) before writing rows: the bucket count it records is what
 * every process uses (one that opened the store before it existed picks NB from the number of masters, and takes
 * the recorded one at its next getMeta/initMeta).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Cluster } from 'ioredis';
import { initialRow } from '../nn/embedding.js';
import { decodeRow, encodeRow } from './row-codec.js';
import { rowWidth, type RowStore, type StoreControl, type StoreTable } from './types.js';
import {
  atNode, checkName, closeCluster, connectCluster, connectDefaults, keySlot, newCounters, parseRedisUrl, refreshSlots,
  Retrier, seedList, slotNode, type RedisConnectOptions, type RedisCounters,
} from './redis-connect.js';

/** Options of {@link openRedisStore}. */
export interface RedisStoreOptions extends RedisConnectOptions {
  /**
   * Buckets of a store created by this process (a power of two; default max(64, 16 × masters) rounded up to a power
   * of two). An existing store keeps the number in its metadata.
   */
  buckets?: number;
  /** Keys per MGET/MSET at most (a bucket with more rows in one call is split; default 1024). */
  maxKeysPerCommand?: number;
  /** Bytes per blob chunk (default 4 MiB, at most 32 MiB). */
  blobChunkBytes?: number;
}

/** What the store adds to the trainer's metadata document (its `store` field). */
export interface StoreMetaFields {
  format: 'din-store';
  version: 1;
  /** NB: rows are spread over this many buckets (hash slots). */
  buckets: number;
  /** The bucket function ({@link rowBucket}). */
  bucketHash: 'mix32-v1';
  /** When the store was created (ISO 8601). */
  createdAt: string;
}

/** A blob's manifest (`din:<name>:b:<key>:m`). */
interface BlobManifest {
  gen: string;
  chunks: number;
  bytes: number;
  sha256: string;
  chunkBytes: number;
  writtenAt: string;
}

/** Counters of a store ({@link RedisRowStore.stats}). */
export interface RedisStoreStats extends RedisCounters {
  /** read / write calls, and rows they moved. */
  reads: number;
  writes: number;
  rowsRead: number;
  rowsWritten: number;
  /** Rows read that were never written (given their initial value). */
  rowsInitial: number;
}

const FORMAT = 'din-store';
const VERSION = 1;
const BLOB_KEY = /^[A-Za-z0-9._/-]{1,200}$/;

/** A 32-bit avalanche (splitmix-style finalizer, as `hash32` of src/util/rng.ts). */
function mix32(x: number): number {
  let z = ((x >>> 0) + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * The bucket hash of row `row` of table `t` (bucket = rowBucket(t, row) & (NB − 1)). Part of the stored format
 * (`bucketHash: 'mix32-v1'`): changing it makes existing rows unreachable.
 */
export function rowBucket(t: number, row: number): number {
  const hi = Math.floor(row / 4294967296);
  return mix32(mix32((row >>> 0) ^ Math.imul(t + 1, 0x27d4eb2f)) ^ hi);
}

/** Default NB: max(64, 16 × masters), rounded up to a power of two. */
export function defaultBuckets(masters: number): number {
  let nb = 64;
  while (nb < 16 * masters) nb *= 2;
  return nb;
}

/** Opens (connects to) the store `name` in the cluster at `url` (`redis://host:port[,host:port…]`). */
export async function openRedisStore(url: string, name: string, tables: readonly StoreTable[], opts: RedisStoreOptions = {}): Promise<RedisRowStore> {
  checkName(name);
  for (const [i, t] of tables.entries()) {
    if (!(t.dim > 0 && t.dim <= 0xffff) || !(t.stateDim >= 0 && t.stateDim < 2 ** 32) || !(t.rows > 0 && Number.isSafeInteger(t.rows))) {
      throw new Error(`table ${i} (${t.name}): rows ${t.rows}, dim ${t.dim}, state ${t.stateDim} cannot be stored (dim ≤ 65535)`);
    }
  }
  if (tables.length > 0xffff) throw new Error(`${tables.length} tables: a store holds at most 65535`);
  if (opts.buckets !== undefined && !(opts.buckets >= 1 && opts.buckets <= 16384 && (opts.buckets & (opts.buckets - 1)) === 0)) {
    throw new Error(`buckets ${opts.buckets}: a power of two from 1 to 16384`);
  }
  const cluster = await connectCluster(url, opts);
  const store = new RedisRowStore(cluster, url, name, tables, opts);
  try {
    await store.init();
  } catch (e) {
    await store.close();
    throw e;
  }
  return store;
}

/** Rows of embedding tables in a Redis Cluster (see the module comment). */
export class RedisRowStore implements RowStore, StoreControl {
  description: string;
  /** Buckets (NB) rows are spread over. */
  buckets = 0;
  /** Writes in flight that needed a retry (reads wait for them: see `read`). */
  private readonly retriedWrites = new Set<Promise<void>>();
  private readonly prefix: string;
  private readonly bucketPrefix: string[] = [];
  private readonly bucketSlot: number[] = [];
  private readonly o: ReturnType<typeof connectDefaults>;
  private readonly counters = newCounters();
  private readonly extra = { reads: 0, writes: 0, rowsRead: 0, rowsWritten: 0, rowsInitial: 0 };
  private readonly retrier: Retrier;
  private readonly maxKeys: number;
  private readonly chunkBytes: number;
  private wroteRows = false;
  private closed = false;

  /** @internal use {@link openRedisStore}. */
  constructor(
    /** The ioredis cluster client (shared with a group: `joinGroup(store, …)`). */
    readonly cluster: Cluster,
    private readonly url: string,
    readonly name: string,
    readonly tables: readonly StoreTable[],
    private readonly opts: RedisStoreOptions,
  ) {
    this.prefix = `din:${name}:`;
    this.o = connectDefaults(opts);
    this.retrier = new Retrier(cluster, `store din:${name}`, this.o, this.counters);
    this.maxKeys = Math.max(1, opts.maxKeysPerCommand ?? 1024);
    this.chunkBytes = Math.min(32 * 1024 * 1024, Math.max(1, opts.blobChunkBytes ?? 4 * 1024 * 1024));
    this.description = `redis://${seedList(parseRedisUrl(url)).split(', ')[0]} din:${name}`;
  }

  /** Reads the metadata (NB of an existing store) or picks NB for a new one. */
  async init(): Promise<void> {
    const meta = await this.getMeta();
    const masters = this.cluster.nodes('master').length;
    this.setBuckets(meta ? meta.store.buckets : this.opts.buckets ?? defaultBuckets(masters));
    this.description = `redis://${seedList(parseRedisUrl(this.url)).split(', ')[0]} (${masters} masters) din:${this.name}`;
  }

  private setBuckets(nb: number): void {
    this.buckets = nb;
    this.bucketPrefix.length = 0;
    this.bucketSlot.length = 0;
    for (let b = 0; b < nb; b++) {
      this.bucketPrefix.push(`${this.prefix}r:{${b}}:`);
      this.bucketSlot.push(keySlot(`{${b}}`));
    }
  }

  /** The key of row `row` of table `t`. */
  rowKey(t: number, row: number): string {
    return `${this.bucketPrefix[rowBucket(t, row) & (this.buckets - 1)]}${t}:${row}`;
  }

  /** The bucket of a row, its slot, and the node (`host:port`) ioredis sends that slot's commands to. */
  locate(t: number, row: number): { bucket: number; slot: number; node: string } {
    const bucket = rowBucket(t, row) & (this.buckets - 1);
    const slot = this.bucketSlot[bucket];
    return { bucket, slot, node: slotNode(this.cluster, slot) };
  }

  /** `host:port` of every master, as ioredis currently sees the cluster. */
  masters(): string[] {
    return this.cluster.nodes('master').map((n) => `${n.options.host}:${n.options.port}`).sort();
  }

  /** Groups positions 0..n of `ids` by bucket, validating every id. */
  private group(t: number, ids: ArrayLike<number>, n: number, what: string): { buckets: number[]; pos: Int32Array; start: Int32Array } {
    const spec = this.tables[t];
    if (spec === undefined) throw new RangeError(`${what}: table ${t} does not exist (the store has ${this.tables.length})`);
    if (!(n >= 0 && n <= ids.length)) throw new RangeError(`${what}: n = ${n} but ${ids.length} ids`);
    const mask = this.buckets - 1;
    const bOf = new Int32Array(n);
    const count = new Int32Array(this.buckets + 1);
    for (let i = 0; i < n; i++) {
      const row = ids[i];
      if (!(Number.isInteger(row) && row >= 0 && row < spec.rows)) throw new RangeError(`${spec.name}: row ${row} is outside 0..${spec.rows - 1}`);
      const b = rowBucket(t, row) & mask;
      bOf[i] = b;
      count[b + 1]++;
    }
    for (let b = 0; b < this.buckets; b++) count[b + 1] += count[b];
    const start = count.slice();
    const pos = new Int32Array(n);
    const fill = count.slice(0, this.buckets);
    for (let i = 0; i < n; i++) pos[fill[bOf[i]]++] = i;
    const buckets: number[] = [];
    for (let b = 0; b < this.buckets; b++) if (start[b + 1] > start[b]) buckets.push(b);
    return { buckets, pos, start };
  }

  /** Commands of a call: for every non-empty bucket, its positions split in runs of at most maxKeys. */
  private batches(g: { buckets: number[]; pos: Int32Array; start: Int32Array }): { bucket: number; from: number; to: number }[] {
    const out: { bucket: number; from: number; to: number }[] = [];
    for (const b of g.buckets) {
      for (let s = g.start[b]; s < g.start[b + 1]; s += this.maxKeys) out.push({ bucket: b, from: s, to: Math.min(g.start[b + 1], s + this.maxKeys) });
    }
    return out;
  }

  async read(t: number, ids: ArrayLike<number>, n: number, out: Float32Array): Promise<void> {
    this.open();
    // A write that had to be retried may land after this read's commands: wait for it, so a read always sees every
    // write issued before it (one connection per node keeps that order as long as nothing is retried).
    if (this.retriedWrites.size > 0) await Promise.allSettled([...this.retriedWrites]);
    const spec = this.tables[t];
    const what = `read ${spec?.name ?? `table ${t}`}`;
    const g = this.group(t, ids, n, what);
    const width = rowWidth(spec);
    if (out.length < n * width) throw new RangeError(`${what}: out holds ${out.length} floats, ${n} rows need ${n * width}`);
    const batches = this.batches(g);
    const keys = batches.map(({ bucket, from, to }) => {
      const k: string[] = new Array(to - from);
      for (let s = from; s < to; s++) k[s - from] = `${this.bucketPrefix[bucket]}${t}:${ids[g.pos[s]]}`;
      return k;
    });
    let keyBytes = 0;
    for (const k of keys) for (const s of k) keyBytes += s.length;
    this.extra.reads++;
    this.extra.rowsRead += n;
    await this.retrier.run(`${what} (${n} rows)`, async (isCurrent) => {
      this.counters.roundTrips++;
      this.counters.commands += batches.length;
      this.counters.bytesSent += keyBytes;
      const results = await Promise.all(batches.map(({ bucket }, j) =>
        atNode(this.cluster.mgetBuffer(...keys[j]), () => slotNode(this.cluster, this.bucketSlot[bucket]))));
      if (!isCurrent()) return;
      let initial = 0;
      let bytes = 0;
      for (let j = 0; j < batches.length; j++) {
        const { from } = batches[j];
        const vals = results[j];
        for (let k = 0; k < vals.length; k++) {
          const i = g.pos[from + k];
          const o = i * width;
          const v = vals[k];
          if (v === null) {
            initialRow(spec.init, ids[i], spec.dim, out, o);
            out.fill(0, o + spec.dim, o + width);
            initial++;
          } else {
            bytes += v.length;
            decodeRow(v, t, spec.dim, spec.stateDim, out, o, `${keys[j][k]} (${spec.name} row ${ids[i]})`);
          }
        }
      }
      this.counters.bytesReceived += bytes;
      this.extra.rowsInitial += initial;
    });
  }

  async write(t: number, ids: ArrayLike<number>, n: number, rows: Float32Array, step: number): Promise<void> {
    this.open();
    const spec = this.tables[t];
    const what = `write ${spec?.name ?? `table ${t}`}`;
    const g = this.group(t, ids, n, what);
    const width = rowWidth(spec);
    if (rows.length < n * width) throw new RangeError(`${what}: rows holds ${rows.length} floats, ${n} rows need ${n * width}`);
    const batches = this.batches(g);
    let bytes = 0;
    const args = batches.map(({ bucket, from, to }) => {
      const a: (string | Buffer)[] = new Array(2 * (to - from));
      for (let s = from; s < to; s++) {
        const i = g.pos[s];
        const key = `${this.bucketPrefix[bucket]}${t}:${ids[i]}`;
        const val = encodeRow(t, spec.dim, spec.stateDim, step, rows, i * width);
        a[2 * (s - from)] = key;
        a[2 * (s - from) + 1] = val;
        bytes += key.length + val.length;
      }
      return a;
    });
    this.wroteRows ||= n > 0;
    this.extra.writes++;
    this.extra.rowsWritten += n;
    let attempts = 0;
    let self: Promise<void> | undefined;
    const run = this.retrier.run(`${what} (${n} rows)`, async () => {
      if (++attempts === 2 && self) this.retriedWrites.add(self);
      this.counters.roundTrips++;
      this.counters.commands += batches.length;
      this.counters.bytesSent += bytes;
      await Promise.all(batches.map(({ bucket }, j) =>
        atNode(this.cluster.mset(...(args[j] as [string, Buffer])), () => slotNode(this.cluster, this.bucketSlot[bucket]))));
    });
    self = run.finally(() => {
      this.retriedWrites.delete(self!);
    });
    await self;
  }

  // ---- metadata --------------------------------------------------------------------------------------------------

  private get metaKey(): string {
    return `${this.prefix}meta`;
  }

  /**
   * The metadata document, or null when the store was never created. When another process created the store after
   * this one opened it, this one takes the bucket count it recorded (before writing any row).
   */
  async getMeta(): Promise<(Record<string, unknown> & { store: StoreMetaFields }) | null> {
    this.open();
    const text = await this.retrier.run('get meta', async () => {
      this.counters.commands++;
      this.counters.roundTrips++;
      return atNode(this.cluster.get(this.metaKey), () => slotNode(this.cluster, keySlot(this.metaKey)));
    });
    if (text === null) return null;
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new Error(`${this.metaKey}: not JSON (${(e as Error).message}); not a din store, or corrupt`);
    }
    const s = doc?.store as StoreMetaFields | undefined;
    if (!s || s.format !== FORMAT) throw new Error(`${this.metaKey}: not the metadata of a din store (no store.format '${FORMAT}')`);
    if (s.version !== VERSION) throw new Error(`${this.metaKey}: store format version ${s.version}, this din reads ${VERSION}`);
    if (!(s.buckets >= 1 && (s.buckets & (s.buckets - 1)) === 0) || s.bucketHash !== 'mix32-v1') {
      throw new Error(`${this.metaKey}: bad store fields (buckets ${s.buckets}, bucketHash ${s.bucketHash})`);
    }
    // The stored bucket count rules (another process may have created the store after this one opened it).
    if (this.buckets !== 0 && s.buckets !== this.buckets) {
      if (this.wroteRows) throw new Error(`${this.metaKey}: created by another process with ${s.buckets} buckets while this one wrote rows with ${this.buckets}`);
      this.setBuckets(s.buckets);
    }
    return doc as Record<string, unknown> & { store: StoreMetaFields };
  }

  /**
   * Creates the metadata (SET NX) with the trainer's document plus the store's fields (`store`). When it already
   * exists, returns the stored one unchanged (`created: false`): the trainer compares it with its own.
   */
  async initMeta(meta: Record<string, unknown>): Promise<{ created: boolean; meta: Record<string, unknown> & { store: StoreMetaFields } }> {
    this.open();
    if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw new TypeError('initMeta: meta must be a JSON object');
    if ('store' in meta) throw new Error("initMeta: the field 'store' is the store's own (format, buckets, createdAt)");
    const doc = {
      ...meta,
      store: { format: FORMAT, version: VERSION, buckets: this.buckets, bucketHash: 'mix32-v1', createdAt: new Date().toISOString() } satisfies StoreMetaFields,
    };
    const text = JSON.stringify(doc);
    // SET NX is not idempotent across a lost reply: a retry that finds our own document counts as created.
    const r = await this.retrier.run('init meta', async () => {
      this.counters.commands++;
      this.counters.roundTrips++;
      this.counters.bytesSent += text.length;
      const set = await atNode(this.cluster.set(this.metaKey, text, 'NX'), () => slotNode(this.cluster, keySlot(this.metaKey)));
      if (set === 'OK') return 'OK';
      const got = await this.cluster.get(this.metaKey);
      return got === text ? 'OK' : got;
    });
    if (r === 'OK') return { created: true, meta: doc };
    const stored = await this.getMeta(); // adopts its bucket count
    if (stored === null) throw new Error(`${this.metaKey}: vanished while being created (deleteNamespace at the same time?)`);
    return { created: false, meta: stored };
  }

  // ---- namespace -------------------------------------------------------------------------------------------------

  /** Every key of `pattern` on every master (SCAN), passed in batches to `each(node, keys)`. */
  private async scanMasters(pattern: string, each: (node: import('ioredis').Redis, keys: string[]) => Promise<void>): Promise<void> {
    await refreshSlots(this.cluster);
    const masters = this.cluster.nodes('master');
    await Promise.all(masters.map(async (node) => {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        this.counters.commands++;
        cursor = next;
        if (keys.length) await each(node, keys);
      } while (cursor !== '0');
    }));
  }

  /** Deletes every key of this store's namespace (rows, metadata, blobs, group keys): SCAN + UNLINK on every master. */
  async deleteNamespace(): Promise<number> {
    this.open();
    return this.retrier.run('delete namespace', async () => {
      let deleted = 0;
      await this.scanMasters(`${this.prefix}*`, async (node, keys) => {
        const p = node.pipeline();
        for (const k of keys) p.unlink(k);
        const res = await p.exec();
        this.counters.commands += keys.length;
        for (const [err, n] of res ?? []) {
          if (err) throw err;
          deleted += Number(n);
        }
      });
      this.wroteRows = false;
      return deleted;
    }, Math.max(60000, this.o.commandTimeoutMs));
  }

  /**
   * Reads every row key of this namespace on every master and decodes it (checksum, table, shape, key ↔ bucket):
   * how many rows there are, and the bad ones with why.
   */
  async verifyRows(): Promise<{ rows: number; bad: { key: string; error: string }[] }> {
    this.open();
    return this.retrier.run('verify rows', async () => {
      let rows = 0;
      const bad: { key: string; error: string }[] = [];
      const re = new RegExp(`^${this.prefix.replace(/[.]/g, '\\.')}r:\\{(\\d+)\\}:(\\d+):(\\d+)$`);
      const scratch = new Float32Array(Math.max(1, ...this.tables.map(rowWidth)));
      await this.scanMasters(`${this.prefix}r:*`, async (node, keys) => {
        const p = node.pipeline();
        for (const k of keys) p.getBuffer(k);
        const res = await p.exec();
        this.counters.commands += keys.length;
        keys.forEach((key, i) => {
          const [err, val] = res![i] as [Error | null, Buffer | null];
          if (err) {
            if (/^MOVED|^ASK/.test(err.message)) return; // being moved: counted where it lands
            bad.push({ key, error: err.message });
            return;
          }
          if (val === null) return; // deleted since the scan
          rows++;
          this.counters.bytesReceived += val.length;
          const m = re.exec(key);
          if (!m) {
            bad.push({ key, error: 'not a row key of this store' });
            return;
          }
          const [b, t, row] = [Number(m[1]), Number(m[2]), Number(m[3])];
          const spec = this.tables[t];
          if (spec === undefined) return void bad.push({ key, error: `table ${t} does not exist (the store has ${this.tables.length})` });
          if (row >= spec.rows) return void bad.push({ key, error: `row ${row} outside 0..${spec.rows - 1} of ${spec.name}` });
          if ((rowBucket(t, row) & (this.buckets - 1)) !== b) return void bad.push({ key, error: `in bucket ${b}, belongs in ${rowBucket(t, row) & (this.buckets - 1)} (unreachable)` });
          try {
            decodeRow(val, t, spec.dim, spec.stateDim, scratch, 0, key);
          } catch (e) {
            bad.push({ key, error: (e as Error).message });
          }
        });
      });
      return { rows, bad };
    }, Math.max(120000, this.o.commandTimeoutMs));
  }

  // ---- blobs -----------------------------------------------------------------------------------------------------

  private blobKeys(key: string): { manifest: string; chunk: (gen: string, i: number) => string } {
    if (!BLOB_KEY.test(key)) throw new Error(`bad blob key '${key}': use A–Z a–z 0–9 . _ / - (no ':')`);
    const base = `${this.prefix}b:${key}:`;
    return { manifest: `${base}m`, chunk: (gen, i) => `${base}c:${gen}:${i}` };
  }

  /**
   * Writes a blob: its chunks under a new generation, then the manifest (which flips readers to it atomically),
   * then deletes the chunks of the generation it replaced.
   */
  async putBlob(key: string, bytes: Uint8Array): Promise<void> {
    this.open();
    const k = this.blobKeys(key);
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const gen = `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
    const chunks = Math.max(1, Math.ceil(buf.length / this.chunkBytes));
    const manifest: BlobManifest = {
      gen, chunks, bytes: buf.length, sha256: createHash('sha256').update(buf).digest('hex'), chunkBytes: this.chunkBytes,
      writtenAt: new Date().toISOString(),
    };
    const chunkTimeout = this.o.commandTimeoutMs + 5000 + this.chunkBytes / 10000; // + 1 s per 10 MB
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < chunks; i = next++) {
        const part = buf.subarray(i * this.chunkBytes, Math.min(buf.length, (i + 1) * this.chunkBytes));
        const ck = k.chunk(gen, i);
        await this.retrier.run(`put blob ${key} chunk ${i + 1}/${chunks}`, async () => {
          this.counters.commands++;
          this.counters.roundTrips++;
          this.counters.bytesSent += part.length + ck.length;
          await atNode(this.cluster.set(ck, part), () => slotNode(this.cluster, keySlot(ck)));
        }, chunkTimeout);
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, chunks) }, worker));
    const text = JSON.stringify(manifest);
    const prev = await this.retrier.run(`put blob ${key} manifest`, async () => {
      this.counters.commands++;
      this.counters.roundTrips++;
      this.counters.bytesSent += text.length;
      return atNode(this.cluster.set(k.manifest, text, 'GET'), () => slotNode(this.cluster, keySlot(k.manifest)));
    });
    // The replaced generation (SET … GET names it exactly, even with concurrent writers); never our own (a retried
    // flip whose first attempt landed returns our manifest).
    let old: BlobManifest | null = null;
    try {
      old = prev ? JSON.parse(prev) : null;
    } catch { /* a corrupt manifest: nothing to delete */ }
    if (old && old.gen !== gen && Number.isInteger(old.chunks)) {
      await this.deleteChunks(k, old).catch(() => {}); // leftovers only cost memory; deleteNamespace removes them
    }
  }

  private async deleteChunks(k: ReturnType<RedisRowStore['blobKeys']>, m: BlobManifest): Promise<void> {
    await this.retrier.run('delete blob chunks', async () => {
      this.counters.commands += m.chunks;
      this.counters.roundTrips++;
      await Promise.all(Array.from({ length: m.chunks }, (_, i) => this.cluster.unlink(k.chunk(m.gen, i))));
    });
  }

  /** Reads a blob (null when never written), verifying its size and SHA-256. */
  async getBlob(key: string): Promise<Uint8Array | null> {
    this.open();
    const k = this.blobKeys(key);
    for (let tries = 0; ; tries++) {
      const text = await this.retrier.run(`get blob ${key} manifest`, async () => {
        this.counters.commands++;
        this.counters.roundTrips++;
        return atNode(this.cluster.get(k.manifest), () => slotNode(this.cluster, keySlot(k.manifest)));
      });
      if (text === null) return null;
      let m: BlobManifest;
      try {
        m = JSON.parse(text);
      } catch {
        throw new Error(`blob ${key} (${k.manifest}): corrupt manifest`);
      }
      const parts: (Buffer | null)[] = new Array(m.chunks).fill(null);
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < m.chunks; i = next++) {
          const ck = k.chunk(m.gen, i);
          parts[i] = await this.retrier.run(`get blob ${key} chunk ${i + 1}/${m.chunks}`, async () => {
            this.counters.commands++;
            this.counters.roundTrips++;
            const v = await atNode(this.cluster.getBuffer(ck), () => slotNode(this.cluster, keySlot(ck)));
            if (v) this.counters.bytesReceived += v.length;
            return v;
          }, this.o.commandTimeoutMs + 5000 + m.chunkBytes / 10000);
        }
      };
      await Promise.all(Array.from({ length: Math.min(8, m.chunks) }, worker));
      const missing = parts.findIndex((p) => p === null);
      if (missing >= 0) {
        // A writer replaced this generation while we read it: read the new one (a few times), else it is damage.
        const now = await this.cluster.get(k.manifest).catch(() => null);
        if (now !== text && tries < 5) continue;
        throw new Error(`blob ${key}: chunk ${missing + 1} of ${m.chunks} (${k.chunk(m.gen, missing)}) is missing`);
      }
      const data = Buffer.concat(parts as Buffer[]);
      if (data.length !== m.bytes) throw new Error(`blob ${key}: ${data.length} bytes, its manifest says ${m.bytes} (corrupt)`);
      const sha = createHash('sha256').update(data).digest('hex');
      if (sha !== m.sha256) throw new Error(`blob ${key}: SHA-256 mismatch (corrupt): ${sha}, its manifest says ${m.sha256}`);
      return data;
    }
  }

  /** Deletes a blob (manifest, then chunks). */
  async deleteBlob(key: string): Promise<boolean> {
    this.open();
    const k = this.blobKeys(key);
    const prev = await this.retrier.run(`delete blob ${key}`, async () => this.cluster.getdel(k.manifest));
    if (prev === null) return false;
    try {
      await this.deleteChunks(k, JSON.parse(prev));
    } catch { /* leftovers */ }
    return true;
  }

  // ---- replication -----------------------------------------------------------------------------------------------

  /**
   * WAIT on every master until its replicas acknowledged every write this process made so far (or `timeoutMs`):
   * per master, its address and how many replicas acknowledged. A checkpoint taken after this survives a failover.
   */
  async waitReplicas(timeoutMs: number): Promise<Array<{ address: string; replicasAcked: number }>> {
    this.open();
    await refreshSlots(this.cluster);
    const deadline = Date.now() + timeoutMs;
    const slice = Math.max(100, Math.floor(this.o.commandTimeoutMs / 2));
    const masters = this.cluster.nodes('master');
    return Promise.all(masters.map(async (node) => {
      const address = `${node.options.host}:${node.options.port}`;
      try {
        // How many replicas the master has (WAIT for all of them); WAIT in slices shorter than the command timeout.
        const role = (await node.call('ROLE')) as [string, number, [string, string, string][]];
        const want = Array.isArray(role?.[2]) ? role[2].length : 1;
        this.counters.commands++;
        let acked = 0;
        do {
          const ms = Math.max(0, Math.min(slice, deadline - Date.now()));
          acked = Number(await node.call('WAIT', want, ms));
          this.counters.commands++;
        } while (acked < want && Date.now() < deadline);
        return { address, replicasAcked: acked };
      } catch (e) {
        this.o.onEvent?.(`store din:${this.name}: WAIT on ${address} failed: ${(e as Error).message}`);
        return { address, replicasAcked: 0 };
      }
    }));
  }

  // ---- counters, closing -----------------------------------------------------------------------------------------

  /** Counters since opening (a copy). */
  stats(): RedisStoreStats {
    return { ...this.counters, ...this.extra };
  }

  private open(): void {
    if (this.closed) throw new Error(`store din:${this.name}: closed`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.retrier.closed = true;
    await closeCluster(this.cluster);
  }
}
