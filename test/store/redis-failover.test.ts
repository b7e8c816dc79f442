/**
 * Faults against a real local cluster: a master killed with SIGKILL while rows are read and written (and the group
 * exchanges messages), the whole cluster stopped, and restarted from its directory.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { joinGroup, type RedisGroup } from '../../src/store/redis-group.js';
import { openRedisStore, type RedisRowStore } from '../../src/store/redis-store.js';
import type { StoreTable } from '../../src/store/types.js';
import { startCluster, type TestCluster } from './cluster.js';

const TABLES: StoreTable[] = [{ name: 'goods_emb', rows: 100000, dim: 64, stateDim: 0, init: { state: 5, std: 0.01, zeroRows: [] } }];
const W = 64;

function rowsOf(ids: number[], salt: number): Float32Array {
  const a = new Float32Array(ids.length * W);
  ids.forEach((id, i) => {
    for (let c = 0; c < W; c++) a[i * W + c] = id + c / 100 + salt;
  });
  return a;
}

let cluster: TestCluster;
/** A store open through the outage, used again after the restart. */
let survivor: RedisRowStore | null = null;
const closers: (() => Promise<void>)[] = [];
const BASE_IDS = Array.from({ length: 1000 }, (_, i) => i);

before(async () => {
  cluster = await startCluster();
});

after(async () => {
  for (const c of closers) await c().catch(() => {});
  await cluster?.stop();
});

describe('failover', () => {
  test('kill -9 a master while reads and writes run: they pause, report it, and resume on the promoted replica', async () => {
    const events: { at: number; message: string }[] = [];
    const t0 = Date.now();
    const store = await openRedisStore(cluster.url, 'fo', TABLES, {
      failoverTimeoutMs: 20000, onEvent: (message) => events.push({ at: Date.now() - t0, message }),
    });
    closers.push(() => store.close());
    await store.initMeta({ test: 'failover' });
    // Rows written and replicated before the failure (never touched again): they must survive it.
    await store.write(0, BASE_IDS, BASE_IDS.length, rowsOf(BASE_IDS, 0), 1);
    const acks = await store.waitReplicas(5000);
    assert.deepEqual(acks.map((a) => a.replicasAcked), [1, 1, 1]);
    const victim = store.locate(0, 0).node;
    const victimPort = Number(victim.split(':')[1]);
    const mastersBefore = store.masters();
    assert.ok(mastersBefore.includes(victim));

    // A group exchanging messages at the same time (its peer timeout longer than the pause).
    const groupEvents: string[] = [];
    const gs: RedisGroup[] = await Promise.all([0, 1].map((r) => joinGroup(cluster.url, 'fo', r, 2, {
      failoverTimeoutMs: 20000, peerTimeoutMs: 20000, onEvent: (m) => groupEvents.push(m),
    })));
    closers.push(async () => void (await Promise.all(gs.map((g) => g.leave()))));

    let killedAt = 0;
    let calls = 0;
    let maxGap = 0;
    let exchanges = 0;
    let groupError: Error | null = null;
    let stopAt = Infinity;
    setTimeout(() => {
      killedAt = Date.now();
      cluster.killNode(victimPort);
    }, 300);
    const rowsLoop = (async () => {
      const ids = Array.from({ length: 256 }, (_, i) => 1000 + i * 3);
      const buf = new Float32Array(ids.length * W);
      let last = Date.now();
      for (let i = 0; Date.now() < stopAt && Date.now() - t0 < 40000; i++) {
        await store.read(0, ids, ids.length, buf);
        await store.write(0, ids, ids.length, rowsOf(ids, i), i + 2);
        calls += 2;
        const now = Date.now();
        maxGap = Math.max(maxGap, now - last);
        last = now;
        // Stop one second after the pause ended.
        if (stopAt === Infinity && events.length >= 2) stopAt = now + 1000;
      }
    })();
    const groupLoop = (async () => {
      try {
        for (let tag = 1; Date.now() < stopAt && Date.now() - t0 < 40000; tag++) {
          const res = await Promise.all(gs.map((g) => g.allToAll(tag, [Buffer.from(`${g.rank}@${tag}`), Buffer.from(`${g.rank}@${tag}`)])));
          assert.equal(Buffer.from(res[0][1]).toString(), `1@${tag}`);
          exchanges++;
        }
      } catch (e) {
        groupError = e as Error;
      }
    })();
    await rowsLoop;
    await groupLoop;
    const pause = store.stats();
    console.log(`# failover: ${calls} calls, longest gap ${maxGap} ms; events ${JSON.stringify(events)}; retries ${pause.retries}; group: ${exchanges} exchanges, ${JSON.stringify(groupEvents)}${groupError ? `, error ${groupError}` : ''}`);

    // One pause, reported once when it started (naming the node) and once when it ended.
    assert.ok(killedAt > 0);
    assert.equal(events.length, 2, JSON.stringify(events));
    assert.match(events[0].message, /store din:fo: Redis Cluster unavailable \(.+\); pausing, retrying for up to 20 s/);
    assert.ok(events[0].message.includes(victim), `the node is named: ${events[0].message}`);
    assert.match(events[1].message, /Redis Cluster available again after a pause of \d+\.\d s \(\d+ retries\)/);
    assert.equal(pause.pauses, 1);
    assert.ok(pause.retries >= 1);
    assert.ok(maxGap < 15000, `longest gap ${maxGap} ms`);

    // ioredis refreshed its slot map: the victim's slots are served by its promoted replica.
    const promoted = store.locate(0, 0).node;
    assert.notEqual(promoted, victim);
    assert.equal(store.masters().length, 3);
    assert.ok(!store.masters().includes(victim));
    assert.ok(store.masters().includes(promoted));

    // Replicated rows survived; no row is corrupt.
    const back = new Float32Array(BASE_IDS.length * W);
    await store.read(0, BASE_IDS, BASE_IDS.length, back);
    assert.deepEqual(back, rowsOf(BASE_IDS, 0));
    const v = await store.verifyRows();
    assert.deepEqual(v.bad, []);
    assert.ok(v.rows >= 1000 + 256);
    // The group rode it out too (or, if a message pushed just before the kill was never replicated, said so).
    if (groupError) assert.match(String(groupError), /was lost \(sent and acknowledged, never delivered/);
    assert.ok(exchanges > 0);
    // The metadata and WAIT still work (the promoted master has no replica until the dead node returns).
    assert.equal((await store.getMeta())?.test, 'failover');
    const acks2 = await store.waitReplicas(300);
    assert.equal(acks2.length, 3);
    assert.equal(acks2.find((a) => a.address === promoted)?.replicasAcked, 0);
  });

  test('a master without a replica dies: CLUSTERDOWN, calls fail after failoverTimeoutMs, opening says why', async () => {
    const store = await openRedisStore(cluster.url, 'fo', TABLES, { failoverTimeoutMs: 2000 });
    closers.push(() => store.close());
    await store.read(0, [1], 1, new Float32Array(W));
    survivor = await openRedisStore(cluster.url, 'fo', TABLES, { failoverTimeoutMs: 15000 });
    closers.push(() => survivor!.close());
    // The replica promoted by the previous test has no replica of its own (its old master is dead).
    const lone = store.locate(0, 0).node;
    const lonePort = Number(lone.split(':')[1]);
    cluster.killNode(lonePort);
    let t0 = Date.now();
    await assert.rejects(store.read(0, BASE_IDS, BASE_IDS.length, new Float32Array(BASE_IDS.length * W)), (e: Error) => {
      console.log(`# ${e.message}`);
      return /store din:fo: read goods_emb \(1000 rows\): the Redis Cluster did not recover within 2\.0 s \(failoverTimeoutMs; \d+ attempts\); last error: .+/.test(e.message);
    });
    assert.ok(Date.now() - t0 < 8000, `failed after ${Date.now() - t0} ms`);
    // Once the others mark it failed, the cluster is down.
    const alive = cluster.ports.find((p) => p !== lonePort && cluster.pids()[p] !== null)!;
    const probe = new Redis({ host: '127.0.0.1', port: alive, lazyConnect: true });
    await probe.connect();
    for (let i = 0; i < 100 && !/cluster_state:fail/.test(String(await probe.cluster('INFO'))); i++) await new Promise((r) => setTimeout(r, 100));
    probe.disconnect();
    t0 = Date.now();
    await assert.rejects(openRedisStore(cluster.url, 'fo', TABLES, { openTimeoutMs: 3000 }), (e: Error) => {
      console.log(`# ${e.message}`);
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${lonePort}(, [\\d.:]+)*: ECONNREFUSED`));
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${alive}(, [\\d.:]+)*: CLUSTERDOWN \\(cluster_state:fail, \\d+ of 16384 slots served`));
      return true;
    });
    assert.ok(Date.now() - t0 < 7000, `failed after ${Date.now() - t0} ms`);
  });

  test('the whole cluster stopped: opening fails within seconds naming every address', async () => {
    await cluster.script('stop');
    const t0 = Date.now();
    await assert.rejects(openRedisStore(cluster.url, 'fo', TABLES, { openTimeoutMs: 3000 }), (e: Error) => {
      assert.match(e.message, new RegExp(`; ${cluster.ports.map((p) => `127\\.0\\.0\\.1:${p}`).join(', ')}: ECONNREFUSED \\(nothing listens there: is the cluster started\\?\\)$`));
      return true;
    });
    assert.ok(Date.now() - t0 < 6000, `failed after ${Date.now() - t0} ms`);
  });

  test('start on the stopped cluster\'s directory restarts it (the killed nodes too); rows survive (AOF)', async () => {
    const out = await cluster.script('start');
    assert.match(out, /redis cluster up/);
    const status = await cluster.script('status');
    assert.match(status, /6 of 6 nodes running/);
    assert.equal(status.match(/ master /g)?.length, 3);
    assert.equal(status.match(/ slave /g)?.length, 3);
    const store = await openRedisStore(cluster.url, 'fo', TABLES, { failoverTimeoutMs: 10000 });
    closers.push(() => store.close());
    assert.equal((await store.getMeta())?.test, 'failover');
    const back = new Float32Array(BASE_IDS.length * W);
    await store.read(0, BASE_IDS, BASE_IDS.length, back);
    assert.deepEqual(back, rowsOf(BASE_IDS, 0));
    assert.deepEqual((await store.verifyRows()).bad, []);
    // A store that stayed open through the outage works again (within its failoverTimeoutMs).
    const again = new Float32Array(BASE_IDS.length * W);
    await survivor!.read(0, BASE_IDS, BASE_IDS.length, again);
    assert.deepEqual(again, back);
  });
});
