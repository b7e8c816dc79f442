/**
 * RedisRowStore against a real local cluster (3 masters + 3 replicas, started by test/store/cluster.ts): rows,
 * lazy rows, buckets, corruption, metadata, blobs, WAIT, verification, counters, and the errors of a wrong address.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { initialRow } from '../../src/nn/embedding.js';
import { decodeRow, encodeRow } from '../../src/store/row-codec.js';
import { keySlot } from '../../src/store/redis-connect.js';
import { openRedisStore, rowBucket, type RedisRowStore } from '../../src/store/redis-store.js';
import { rowWidth, type StoreTable } from '../../src/store/types.js';
import { startCluster, startStandalone, type TestCluster } from './cluster.js';

const TABLES: StoreTable[] = [
  { name: 'goods_emb', rows: 50000, dim: 8, stateDim: 16, init: { state: 0x1234567, std: 0.01, zeroRows: [0] } },
  { name: 'item_bias', rows: 1000, dim: 1, stateDim: 0, init: { state: 99, std: 0, zeroRows: [] } },
  { name: 'attr_emb', rows: 300, dim: 64, stateDim: 128, init: { state: 0xdeadbeef, std: 0.05, zeroRows: [] } },
  { name: 'huge', rows: 2 ** 40, dim: 3, stateDim: 6, init: { state: 7, std: 1, zeroRows: [] } },
];

/** Expected value of a never-written row. */
function initial(t: StoreTable, row: number): Float32Array {
  const w = rowWidth(t);
  const out = new Float32Array(w);
  initialRow(t.init, row, t.dim, out, 0);
  return out;
}

function randomRows(t: StoreTable, n: number, seed: number): Float32Array {
  const a = new Float32Array(n * rowWidth(t));
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296 - 0.5) * 4;
  }
  return a;
}

let cluster: TestCluster;
let store: RedisRowStore;
let raw: Redis;
const stores: RedisRowStore[] = [];

async function open(name: string, opts = {}): Promise<RedisRowStore> {
  const s = await openRedisStore(cluster.url, name, TABLES, { failoverTimeoutMs: 5000, ...opts });
  stores.push(s);
  return s;
}

/** A plain connection to the node serving `key` (for planting bad values). */
async function nodeFor(key: string): Promise<Redis> {
  const slot = keySlot(key);
  const addr = store.cluster.slots[slot][0];
  const [host, port] = addr.split(':');
  const r = new Redis({ host, port: Number(port), lazyConnect: true });
  await r.connect();
  return r;
}

before(async () => {
  cluster = await startCluster();
  store = await open('t1');
  raw = new Redis({ host: '127.0.0.1', port: cluster.ports[0], lazyConnect: true });
  await raw.connect();
});

after(async () => {
  raw?.disconnect();
  for (const s of stores) await s.close();
  await cluster?.stop();
});

describe('RedisRowStore rows', () => {
  test('rows written read back exactly, for several tables and shapes; the step is recorded', async () => {
    for (const [t, spec] of TABLES.entries()) {
      const ids = spec.rows > 1e6 ? [0, 1, 2 ** 33 + 5, 2 ** 40 - 1, 123456789012] : [0, 1, 2, spec.rows - 1, Math.floor(spec.rows / 2)];
      const rows = randomRows(spec, ids.length, t + 1);
      await store.write(t, ids, ids.length, rows, 41 + t);
      const back = new Float32Array(rows.length);
      await store.read(t, ids, ids.length, back);
      assert.deepEqual(back, rows, spec.name);
      const v = await store.cluster.getBuffer(store.rowKey(t, ids[3]));
      assert.ok(v);
      const tmp = new Float32Array(rowWidth(spec));
      assert.equal(decodeRow(v, t, spec.dim, spec.stateDim, tmp, 0, 'x'), 41 + t);
    }
  });

  test('a row never written reads as initialRow with zero optimizer state, mixed with written rows and repeats', async () => {
    const store = await open('lazy');
    const spec = TABLES[0];
    const w = rowWidth(spec);
    const written = [10, 20];
    const rows = randomRows(spec, 2, 5);
    await store.write(0, written, 2, rows, 1);
    const ids = [7, 10, 0, 49999, 20, 7, 33333];
    const out = new Float32Array(ids.length * w).fill(NaN);
    await store.read(0, ids, ids.length, out);
    ids.forEach((row, i) => {
      const got = out.subarray(i * w, (i + 1) * w);
      const k = written.indexOf(row);
      const want = k >= 0 ? rows.subarray(k * w, (k + 1) * w) : initial(spec, row);
      assert.deepEqual(Array.from(got), Array.from(want), `row ${row}`);
    });
    // zeroRows and std 0 tables start at zero; the huge table's far rows get their own values.
    assert.deepEqual(Array.from(out.subarray(2 * w, 3 * w)), new Array(w).fill(0));
    const b = new Float32Array(3);
    await store.read(1, [5, 6, 7], 3, b);
    assert.deepEqual(Array.from(b), [0, 0, 0]);
    const h = new Float32Array(2 * 9);
    await store.read(3, [2 ** 39, 2 ** 39 + 1], 2, h);
    assert.deepEqual(Array.from(h.subarray(0, 9)), Array.from(initial(TABLES[3], 2 ** 39)));
    assert.notDeepEqual(Array.from(h.subarray(0, 3)), Array.from(h.subarray(9, 12)));
    // Deterministic.
    const again = new Float32Array(out.length);
    await store.read(0, ids, ids.length, again);
    assert.deepEqual(again, out);
  });

  test('ids are validated: outside 0..rows-1, fractions, NaN; unknown tables; short buffers', async () => {
    const out = new Float32Array(100 * 24);
    await assert.rejects(store.read(0, [-1], 1, out), /goods_emb: row -1 is outside 0\.\.49999/);
    await assert.rejects(store.read(0, [50000], 1, out), /row 50000 is outside/);
    await assert.rejects(store.read(0, [1.5], 1, out), /row 1\.5 is outside/);
    await assert.rejects(store.read(0, [NaN], 1, out), /row NaN is outside/);
    await assert.rejects(store.write(1, [1000], 1, out, 0), /item_bias: row 1000 is outside/);
    await assert.rejects(store.read(9, [0], 1, out), /table 9 does not exist/);
    await assert.rejects(store.read(0, [1, 2], 2, new Float32Array(24)), /out holds 24 floats, 2 rows need 48/);
    await store.read(0, [], 0, new Float32Array(0));
  });

  test('buckets: rows of a bucket share a slot, buckets spread over all 3 masters, one round trip per call', async () => {
    assert.equal(store.buckets, 64);
    assert.equal(store.masters().length, 3);
    const perMaster = new Map<string, number>();
    for (let b = 0; b < store.buckets; b++) {
      const node = store.cluster.slots[keySlot(`din:t1:r:{${b}}:0:0`)][0];
      perMaster.set(node, (perMaster.get(node) ?? 0) + 1);
    }
    assert.equal(perMaster.size, 3, `buckets per master: ${[...perMaster]}`);
    for (const [node, n] of perMaster) assert.ok(n >= 10, `${node} serves only ${n} of 64 buckets`);
    // Our slot function is Redis's.
    for (const key of [store.rowKey(0, 5), store.rowKey(3, 2 ** 35), 'din:t1:meta', 'plain', '{}x', 'a{b}c{d}']) {
      assert.equal(keySlot(key), await raw.cluster('KEYSLOT', key), key);
    }
    // Rows of one table spread evenly over buckets.
    const count = new Array(64).fill(0);
    for (let r = 0; r < 64000; r++) count[rowBucket(0, r) & 63]++;
    assert.ok(Math.min(...count) > 850 && Math.max(...count) < 1150, `bucket sizes ${Math.min(...count)}..${Math.max(...count)}`);
    // One call = one round trip of one MGET per non-empty bucket.
    const ids = Array.from({ length: 2000 }, (_, i) => i * 7);
    const before = store.stats();
    await store.read(0, ids, ids.length, new Float32Array(ids.length * 24));
    const d = store.stats();
    assert.equal(d.roundTrips - before.roundTrips, 1);
    assert.equal(d.commands - before.commands, 64);
    assert.equal(d.rowsRead - before.rowsRead, 2000);
  });

  test('a corrupt value under a row key (garbage, truncated, another table\'s row) is an error naming the key', async () => {
    const spec = TABLES[0];
    const rows = randomRows(spec, 1, 9);
    const plant = async (row: number, value: Buffer) => {
      const key = store.rowKey(0, row);
      const r = await nodeFor(key);
      await r.set(key, value);
      r.disconnect();
      return key;
    };
    const good = encodeRow(0, spec.dim, spec.stateDim, 3, rows, 0);
    const kGarbage = await plant(101, Buffer.from('garbage that is not a row'));
    const kTrunc = await plant(102, good.subarray(0, good.length - 7));
    const flipped = Buffer.from(good);
    flipped[20] ^= 0x40;
    const kFlip = await plant(103, flipped);
    const other = encodeRow(2, 64, 128, 3, randomRows(TABLES[2], 1, 3), 0);
    const kOther = await plant(104, other);
    const sameSize = encodeRow(0, spec.dim + 4, spec.stateDim - 4, 3, rows, 0); // same byte length, other shape
    const kShape = await plant(105, sameSize);
    const out = new Float32Array(24);
    const esc = (k: string) => k.replace(/[{}.]/g, '\\$&');
    await assert.rejects(store.read(0, [101], 1, out), new RegExp(`${esc(kGarbage)} \\(goods_emb row 101\\).*bytes`));
    await assert.rejects(store.read(0, [102], 1, out), new RegExp(`${esc(kTrunc)}.*truncated`));
    await assert.rejects(store.read(0, [103], 1, out), new RegExp(`${esc(kFlip)}.*checksum mismatch`));
    await assert.rejects(store.read(0, [104], 1, out), new RegExp(`${esc(kOther)}.*bytes`));
    await assert.rejects(store.read(0, [105], 1, out), new RegExp(`${esc(kShape)}.*a row of table 0 with 12 values and 12 state floats, expected table 0 with 8 and 16`));
    // A corrupt row fails the whole call, even among good rows.
    await assert.rejects(store.read(0, [10, 103, 20], 3, new Float32Array(72)), /checksum mismatch/);
    // verifyRows finds exactly these.
    const v = await store.verifyRows();
    assert.deepEqual(v.bad.map((b) => b.key).sort(), [kGarbage, kTrunc, kFlip, kOther, kShape].sort());
    assert.ok(v.bad.find((b) => b.key === kFlip)!.error.includes('checksum mismatch'));
    assert.ok(v.rows >= 5 + 7);
    // Rewriting the rows heals them.
    for (const r of [101, 102, 103, 104, 105]) await store.write(0, [r], 1, rows, 4);
    assert.deepEqual((await store.verifyRows()).bad, []);
  });
});

describe('RedisRowStore metadata and namespace', () => {
  test('initMeta creates once (SET NX); later stores get the stored one and its bucket count', async () => {
    const a = await open('m1', { buckets: 16 });
    assert.equal(await a.getMeta(), null);
    const meta = { kind: 'din-store-run', config: { model: 'din', dims: [8, 16] }, tables: ['x'] };
    const r1 = await a.initMeta(meta);
    assert.equal(r1.created, true);
    assert.deepEqual({ ...r1.meta, store: undefined }, { ...meta, store: undefined });
    assert.equal(r1.meta.store.format, 'din-store');
    assert.equal(r1.meta.store.version, 1);
    assert.equal(r1.meta.store.buckets, 16);
    assert.ok(!Number.isNaN(Date.parse(r1.meta.store.createdAt)));
    const b = await open('m1'); // would pick 64 for a new store, takes 16 from the metadata
    assert.equal(b.buckets, 16);
    const r2 = await b.initMeta({ kind: 'din-store-run', config: { model: 'other' } });
    assert.equal(r2.created, false);
    assert.deepEqual(r2.meta, r1.meta);
    assert.deepEqual(await b.getMeta(), r1.meta);
    await assert.rejects(a.initMeta({ store: 1 }), /the field 'store' is the store's own/);
    // Rows written by one are read by the other (same buckets).
    const rows = randomRows(TABLES[0], 3, 11);
    await a.write(0, [1, 2, 3], 3, rows, 1);
    const back = new Float32Array(rows.length);
    await b.read(0, [1, 2, 3], 3, back);
    assert.deepEqual(back, rows);
    // Two stores racing to create: exactly one creates, both end with the same buckets.
    const [c1, c2] = await Promise.all([open('m2', { buckets: 32 }), open('m2', { buckets: 128 })]);
    const [x, y] = await Promise.all([c1.initMeta({ n: 1 }), c2.initMeta({ n: 2 })]);
    assert.equal(Number(x.created) + Number(y.created), 1);
    assert.equal(c1.buckets, c2.buckets);
    // A store opened before another process created the metadata takes its bucket count at getMeta…
    const early = await open('m4', { buckets: 32 });
    const creator = await open('m4', { buckets: 16 });
    assert.equal((await creator.initMeta({ n: 1 })).created, true);
    assert.equal(early.buckets, 32);
    await early.getMeta();
    assert.equal(early.buckets, 16);
    // …unless it already wrote rows under its own: then it is an error, not silently unreachable rows.
    const early2 = await open('m5', { buckets: 32 });
    await early2.write(0, [1], 1, randomRows(TABLES[0], 1, 1), 1);
    await (await open('m5', { buckets: 16 })).initMeta({ n: 1 });
    await assert.rejects(early2.getMeta(), /din:m5:meta: created by another process with 16 buckets while this one wrote rows with 32/);
    // Not a din store's metadata.
    await store.cluster.set('din:m3:meta', '{"hello":1}');
    await assert.rejects(open('m3'), /din:m3:meta: not the metadata of a din store/);
  });

  test('deleteNamespace removes every key of the store and nothing else', async () => {
    const a = await open('d1');
    const other = await open('d1x');
    await a.initMeta({ k: 1 });
    await a.write(0, [1, 2, 3, 4, 5], 5, randomRows(TABLES[0], 5, 1), 1);
    await a.putBlob('ckpt', Buffer.alloc(1000, 1));
    await other.write(0, [1], 1, randomRows(TABLES[0], 1, 1), 1);
    const n = await a.deleteNamespace();
    assert.equal(n, 1 + 5 + 2);
    assert.equal(await a.getMeta(), null);
    assert.equal(await a.getBlob('ckpt'), null);
    assert.equal((await a.verifyRows()).rows, 0);
    assert.equal((await other.verifyRows()).rows, 1);
    await assert.rejects(openRedisStore(cluster.url, 'bad name', TABLES), /bad store name 'bad name'/);
    await assert.rejects(openRedisStore(cluster.url, 'x:y', TABLES), /bad store name/);
  });
});

describe('RedisRowStore blobs', () => {
  test('blobs round trip (empty, one chunk, many chunks); a new version replaces the old one and its chunks', async () => {
    const s = await open('b1', { blobChunkBytes: 1000 });
    assert.equal(await s.getBlob('model.json'), null);
    await s.putBlob('empty', new Uint8Array(0));
    assert.deepEqual(await s.getBlob('empty'), Buffer.alloc(0));
    const small = Buffer.from('{"model":"din"}');
    await s.putBlob('model.json', small);
    assert.deepEqual(await s.getBlob('model.json'), small);
    const big = Buffer.from(randomRows(TABLES[2], 20, 3).buffer); // 15360 bytes: 16 chunks
    await s.putBlob('ckpt/dense', big);
    assert.deepEqual(await s.getBlob('ckpt/dense'), big);
    const chunkKeys = async () => (await scanAll('din:b1:b:ckpt/dense:c:*')).length;
    assert.equal(await chunkKeys(), 16);
    const big2 = Buffer.alloc(2500, 9);
    await s.putBlob('ckpt/dense', big2);
    assert.deepEqual(await s.getBlob('ckpt/dense'), big2);
    assert.equal(await chunkKeys(), 3);
    // Readers see the old or the new version whole, even while versions are being written.
    const versions = [big, big2, Buffer.alloc(7777, 3)];
    const writers = (async () => {
      for (let i = 0; i < 15; i++) await s.putBlob('ckpt/dense', versions[i % 3]);
    })();
    let reads = 0;
    while (reads < 30) {
      const got = await s.getBlob('ckpt/dense');
      assert.ok(versions.some((v) => v.equals(got!)), 'a torn blob');
      reads++;
    }
    await writers;
    assert.ok(await s.deleteBlob('ckpt/dense'));
    assert.equal(await s.getBlob('ckpt/dense'), null);
    assert.equal(await chunkKeys(), 0);
    await assert.rejects(s.putBlob('a:b', small), /bad blob key 'a:b'/);
  });

  test('a corrupt or missing chunk is an error naming the blob', async () => {
    const s = await open('b2', { blobChunkBytes: 100 });
    const data = Buffer.alloc(450, 5);
    await s.putBlob('ckpt', data);
    const keys = (await scanAll('din:b2:b:ckpt:c:*')).sort();
    assert.equal(keys.length, 5);
    const r = await nodeFor(keys[0]);
    const chunk = (await r.getBuffer(keys[0]))!;
    chunk[3] ^= 1;
    await r.set(keys[0], chunk);
    await assert.rejects(s.getBlob('ckpt'), /blob ckpt: SHA-256 mismatch \(corrupt\)/);
    await r.set(keys[0], chunk.subarray(0, 50));
    await assert.rejects(s.getBlob('ckpt'), /blob ckpt: 400 bytes, its manifest says 450 \(corrupt\)/);
    await r.del(keys[0]);
    await assert.rejects(s.getBlob('ckpt'), /blob ckpt: chunk \d of 5 \(din:b2:b:ckpt:c:.*\) is missing/);
    r.disconnect();
  });
});

/** Every key matching `pattern` on every master. */
async function scanAll(pattern: string): Promise<string[]> {
  const keys: string[] = [];
  for (const node of store.cluster.nodes('master')) {
    let cursor = '0';
    do {
      const [next, ks] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      keys.push(...ks);
      cursor = next;
    } while (cursor !== '0');
  }
  return keys;
}

describe('RedisRowStore replication and counters', () => {
  test('waitReplicas: every master reports its replica acknowledged the writes', async () => {
    await store.write(0, [1, 2, 3], 3, randomRows(TABLES[0], 3, 2), 9);
    const acks = await store.waitReplicas(5000);
    assert.equal(acks.length, 3);
    assert.deepEqual(acks.map((a) => a.replicasAcked), [1, 1, 1]);
    assert.deepEqual(acks.map((a) => a.address).sort(), store.masters());
  });

  test('stats count commands, round trips and bytes', async () => {
    const s = await open('s1');
    const before = s.stats();
    const ids = Array.from({ length: 500 }, (_, i) => i);
    await s.write(2, ids.slice(0, 300), 300, randomRows(TABLES[2], 300, 1), 1);
    await s.read(2, ids.slice(0, 300), 300, new Float32Array(300 * 192));
    const d = s.stats();
    assert.equal(d.roundTrips - before.roundTrips, 2);
    assert.equal(d.rowsWritten, 300);
    assert.equal(d.rowsInitial - before.rowsInitial, 0);
    const rowBytes = 16 + 4 * 192 + 4;
    assert.ok(d.bytesReceived - before.bytesReceived === 300 * rowBytes);
    assert.ok(d.bytesSent - before.bytesSent > 300 * rowBytes);
    assert.equal(d.retries, 0);
  });
});

describe('connection errors', () => {
  test('nothing listening: a clear error naming the addresses within seconds', async () => {
    const t0 = Date.now();
    await assert.rejects(openRedisStore('redis://127.0.0.1:1,127.0.0.1:2', 'x', TABLES, { openTimeoutMs: 3000 }),
      /^Error: cannot connect to the Redis Cluster at 127\.0\.0\.1:1, 127\.0\.0\.1:2: .*; 127\.0\.0\.1:1, 127\.0\.0\.1:2: ECONNREFUSED \(nothing listens there: is the cluster started\?\)$/);
    assert.ok(Date.now() - t0 < 6000, `took ${Date.now() - t0} ms`);
  });

  test('an address that accepts connections but never answers: a timeout within seconds', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    try {
      const t0 = Date.now();
      await assert.rejects(openRedisStore(`redis://127.0.0.1:${port}`, 'x', TABLES, { openTimeoutMs: 2000, connectTimeoutMs: 1000 }),
        new RegExp(`cannot connect to the Redis Cluster at 127\\.0\\.0\\.1:${port}: .*127\\.0\\.0\\.1:${port}: timeout`));
      assert.ok(Date.now() - t0 < 6000, `took ${Date.now() - t0} ms`);
    } finally {
      silent.close();
    }
  });

  test('a Redis server without cluster mode: "not a cluster"', async () => {
    const solo = await startStandalone();
    try {
      const t0 = Date.now();
      await assert.rejects(openRedisStore(solo.url, 'x', TABLES, { openTimeoutMs: 3000 }), /127\.0\.0\.1:\d+: not a cluster/);
      assert.ok(Date.now() - t0 < 6000);
    } finally {
      solo.stop();
    }
  });

  test('bad URLs', async () => {
    await assert.rejects(openRedisStore('http://x', 'x', TABLES), /bad Redis URL 'http:\/\/x'/);
    await assert.rejects(openRedisStore('redis://a:b:c', 'x', TABLES), /bad Redis URL/);
    await assert.rejects(openRedisStore('redis://h:70000', 'x', TABLES), /port 70000 out of range/);
  });
});
