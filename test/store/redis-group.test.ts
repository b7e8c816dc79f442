/**
 * RedisGroup against a real local cluster: joining, allToAll/allGather/barrier between ranks in this process (each on
 * its own connections) and between child processes, large payloads, out-of-order tags, stop, a peer killed with
 * SIGKILL, join timeouts, and runs that never mix.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { encodeMessage, GroupProtocolError, GroupStoppedError, joinGroup, PeerLostError, type RedisGroup } from '../../src/store/redis-group.js';
import { openRedisStore } from '../../src/store/redis-store.js';
import { startCluster, type TestCluster } from './cluster.js';
import { checkPayload, payloadFor } from './group-child.js';

let cluster: TestCluster;
const groups: RedisGroup[] = [];
const children: ChildProcess[] = [];

const FAST = { peerTimeoutMs: 3000, heartbeatMs: 300, heartbeatTtlMs: 3000, pollMs: 200, joinTimeoutMs: 20000, failoverTimeoutMs: 5000 };

async function joinAll(name: string, size: number, opts = {}): Promise<RedisGroup[]> {
  const gs = await Promise.all(Array.from({ length: size }, (_, r) => joinGroup(cluster.url, name, r, size, { ...FAST, ...opts })));
  groups.push(...gs);
  return gs;
}

const text = (p: Uint8Array) => Buffer.from(p).toString();

before(async () => {
  cluster = await startCluster();
});

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await Promise.all(groups.map((g) => g.leave()));
  await cluster?.stop();
});

describe('RedisGroup in one process', () => {
  test('three ranks join one run and exchange: allToAll, allGather, barrier', async () => {
    const gs = await joinAll('g1', 3);
    assert.ok(gs[0].runId.length > 8);
    assert.ok(gs.every((g) => g.runId === gs[0].runId));
    for (let tag = 1; tag <= 5; tag++) {
      const res = await Promise.all(gs.map((g) => g.allToAll(tag, [0, 1, 2].map((j) => Buffer.from(`${g.rank}>${j}@${tag}`)))));
      res.forEach((got, me) => assert.deepEqual(got.map(text), [0, 1, 2].map((from) => `${from}>${me}@${tag}`)));
    }
    const gathered = await Promise.all(gs.map((g) => g.allGather(10, Buffer.from(`from ${g.rank}`))));
    for (const got of gathered) assert.deepEqual(got.map(text), ['from 0', 'from 1', 'from 2']);
    await Promise.all(gs.map((g) => g.barrier(11)));
    // Tags must increase.
    await assert.rejects(gs[0].allToAll(11, [Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0)]), /tag 11 after 11: tags must increase/);
    await assert.rejects(gs[0].allToAll(12, [Buffer.alloc(0)]), /1 payloads for 3 ranks/);
    const st = gs[0].stats();
    assert.equal(st.messagesSent, 2 * 7);
    assert.equal(st.messagesReceived, 2 * 7);
  });

  test('a group of one exchanges with itself; a store\'s connection can be shared', async () => {
    const store = await openRedisStore(cluster.url, 'g2', [], { failoverTimeoutMs: 5000 });
    try {
      const g = await joinGroup(store, 'g2', 0, 1, FAST);
      assert.deepEqual((await g.allToAll(1, [Buffer.from('me')])).map(text), ['me']);
      await g.leave();
      // The store still works after the group left.
      assert.equal(await store.getMeta(), null);
    } finally {
      await store.close();
    }
  });

  test('payloads of 300 KB between 2 ranks (timed)', async () => {
    const gs = await joinAll('g3', 2);
    const bytes = 300 * 1024;
    const ms: number[] = [];
    for (let tag = 1; tag <= 30; tag++) {
      const t0 = performance.now();
      const res = await Promise.all(gs.map((g) => g.allToAll(tag, [0, 1].map((j) => payloadFor(g.rank, j, tag, bytes)))));
      ms.push(performance.now() - t0);
      res.forEach((got, me) => got.forEach((p, from) => assert.ok(checkPayload(p, from, me, tag, bytes), `tag ${tag} ${from}→${me}`)));
    }
    ms.sort((a, b) => a - b);
    console.log(`# allToAll of 300 KB, 2 ranks in one process: median ${ms[15].toFixed(1)} ms, p90 ${ms[27].toFixed(1)} ms`);
  });

  test('a message of a later tag that arrives early is kept for later; one of an earlier tag is a protocol error', async () => {
    const [a, b] = await joinAll('g4', 2);
    // "Rank 0" is early with tag 3 (pushed straight into rank 1's inbox before tags 1 and 2 are exchanged).
    await a['cluster'].rpush(b.inbox(1), encodeMessage(0, 3, Buffer.from('early 3')));
    for (const tag of [1, 2]) {
      const res = await Promise.all([a, b].map((g) => g.allToAll(tag, [Buffer.from(`${g.rank}@${tag}`), Buffer.from(`${g.rank}@${tag}`)])));
      assert.deepEqual(res[1].map(text), [`0@${tag}`, `1@${tag}`]);
    }
    // At tag 3, rank 1 takes the message that came early (the later copy is dropped as a duplicate).
    const res3 = await Promise.all([a, b].map((g) => g.allToAll(3, [Buffer.from(`${g.rank}@3`), Buffer.from(`${g.rank}@3`)])));
    assert.deepEqual(res3[1].map(text), ['early 3', '1@3']);
    // A stale message (tag 2 after 3, not a copy of the last one) is a protocol error.
    await a['cluster'].rpush(b.inbox(1), encodeMessage(0, 2, Buffer.from('stale')));
    await assert.rejects(b.allToAll(4, [Buffer.from('x'), Buffer.from('x')]),
      (e: Error) => e instanceof GroupProtocolError && /tag 2 from rank 0 arrived while waiting for tag 4: the ranks are out of step/.test(e.message));
    // After which the member refuses to go on.
    await assert.rejects(b.allToAll(5, [Buffer.from('x'), Buffer.from('x')]), /unusable after an earlier failure: .*out of step/);
    // Garbage in an inbox is an error too.
    const [, d] = await joinAll('g4b', 2);
    await d['cluster'].rpush(d.inbox(1), Buffer.from('hello'));
    await assert.rejects(d.allToAll(1, [Buffer.from('x'), Buffer.from('x')]), /not a din message/);
  });

  test('stop(reason): every member\'s next wait throws GroupStoppedError with the reason', async () => {
    const gs = await joinAll('g5', 3);
    await Promise.all(gs.map((g) => g.barrier(1)));
    const waiting = gs.slice(1).map((g) => g.barrier(2).then(() => null, (e) => e));
    await gs[0].stop('validation loss is NaN');
    const errs = await Promise.all(waiting);
    for (const e of errs) {
      assert.ok(e instanceof GroupStoppedError, String(e));
      assert.match(e.message, /stopped by rank 0: validation loss is NaN/);
    }
    await assert.rejects(gs[0].barrier(3), /stopped by rank 0: validation loss is NaN/);
  });

  test('join timeout: the error names the missing ranks and how to start them', async () => {
    const t0 = Date.now();
    // Rank 1 gives up first (rank 0 is still there), then rank 0.
    const res = await Promise.allSettled([0, 1].map((r) => joinGroup(cluster.url, 'g6', r, 4, {
      ...FAST, joinTimeoutMs: r === 1 ? 1500 : 2500, startCommand: (rank) => `din train --workers 4 --worker-index ${rank}`,
    })));
    assert.ok(Date.now() - t0 < 6000);
    assert.ok(res.every((r) => r.status === 'rejected'));
    const [m0, m1] = res.map((r) => (r as PromiseRejectedResult).reason.message as string);
    assert.match(m1, /rank 1 waited 2 s for 4 trainers; missing ranks 2, 3 \(no live heartbeat.*joined: 0 \(pid \d+/);
    assert.match(m1, /Start them with: din train --workers 4 --worker-index 2; din train --workers 4 --worker-index 3$/);
    assert.match(m0, /rank 0 waited 3 s for 4 trainers; missing ranks 1, 2, 3/);
    // A size that disagrees is named.
    const bad = await Promise.allSettled([joinGroup(cluster.url, 'g7', 0, 2, { ...FAST, joinTimeoutMs: 1500 }), joinGroup(cluster.url, 'g7', 1, 3, FAST)]);
    assert.equal(bad[1].status, 'rejected');
    assert.match((bad[1] as PromiseRejectedResult).reason.message, /rank 0 \(pid \d+ on .*\) was started with 2 trainers, this one \(rank 1\) with 3/);
    assert.equal(bad[0].status, 'rejected');
  });

  test('a rank already taken by a live process is refused; a crashed one\'s is taken over', async () => {
    const [a] = await joinAll('g8', 1);
    await assert.rejects(joinGroup(cluster.url, 'g8', 0, 1, FAST), /rank 0 is already taken by pid \d+ on .* is another trainer of this run still running/);
    await a.leave();
    // A new run under the same name: fresh run id, earlier inboxes never mix in.
    const [x, y] = await joinAll('g9', 2);
    const old = x.runId;
    await Promise.all([x, y].map((g) => g.barrier(1)));
    await x['cluster'].rpush(y.inbox(1), encodeMessage(0, 2, Buffer.from('left over from the crashed run')));
    await Promise.all([x.leave(), y.leave()]);
    const [x2, y2] = await joinAll('g9', 2);
    assert.notEqual(x2.runId, old);
    const res = await Promise.all([x2, y2].map((g) => g.allToAll(2, [Buffer.from(`new ${g.rank}`), Buffer.from(`new ${g.rank}`)])));
    assert.deepEqual(res[1].map(text), ['new 0', 'new 1']);
    assert.equal(await x2['cluster'].exists(y.inbox(1, old)), 0, 'the old run\'s inbox was deleted');
  });
});

/** Starts test/store/group-child.js as rank `rank`; its JSON lines go to `lines`. */
function child(args: object): { proc: ChildProcess; lines: Promise<Record<string, any>>[]; next: () => Promise<Record<string, any>> } {
  const file = fileURLToPath(new URL('./group-child.js', import.meta.url));
  const proc = spawn(process.execPath, [file], { env: { ...process.env, DIN_GROUP_CHILD: JSON.stringify(args) }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  const queue: Record<string, any>[] = [];
  const waiters: ((v: Record<string, any>) => void)[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let v: Record<string, any>;
    try {
      v = JSON.parse(line);
    } catch {
      return;
    }
    const w = waiters.shift();
    if (w) w(v);
    else queue.push(v);
  });
  const next = () => new Promise<Record<string, any>>((resolve, reject) => {
    const v = queue.shift();
    if (v) return resolve(v);
    waiters.push(resolve);
    proc.once('exit', (code) => setTimeout(() => reject(new Error(`child exited with ${code}`)), 100));
  });
  return { proc, lines: [], next };
}

describe('RedisGroup between processes', () => {
  test('two child processes exchange 300 KB payloads (allToAll latency between 2 processes)', async () => {
    const base = { url: cluster.url, name: 'p1', size: 2, rounds: 40, bytes: 300 * 1024, mode: 'exchange', ...FAST };
    const cs = [0, 1].map((rank) => child({ ...base, rank }));
    const done = await Promise.all(cs.map((c) => c.next()));
    for (const d of done) assert.equal(d.event, 'done', JSON.stringify(d));
    const ms = (done[0].ms as number[]).slice(5).sort((a, b) => a - b);
    console.log(`# allToAll of 300 KB between 2 processes: median ${ms[Math.floor(ms.length / 2)].toFixed(1)} ms, p90 ${ms[Math.floor(ms.length * 0.9)].toFixed(1)} ms (${ms.length} exchanges)`);
    await Promise.all(cs.map((c) => new Promise((r) => (c.proc.exitCode !== null ? r(null) : c.proc.once('exit', r)))));
    assert.deepEqual(cs.map((c) => c.proc.exitCode), [0, 0]);
  });

  test('a child killed with SIGKILL: the others throw PeerLostError naming it within the peer timeout', async () => {
    const size = 3;
    const base = { url: cluster.url, name: 'p2', size, rounds: 5, bytes: 1000, mode: 'until-lost', ...FAST };
    const c1 = child({ ...base, rank: 1 });
    const c2 = child({ ...base, rank: 2 });
    const g0 = await joinGroup(cluster.url, 'p2', 0, size, FAST);
    groups.push(g0);
    for (let tag = 1; tag <= 5; tag++) await g0.allToAll(tag, Array.from({ length: size }, (_, j) => payloadFor(0, j, tag, 1000)));
    assert.equal((await c1.next()).event, 'done');
    assert.equal((await c2.next()).event, 'done');
    // Rank 0 lags a little, so the children wait at tag 6 when rank 2 dies.
    const victimPid = c2.proc.pid!;
    c2.proc.kill('SIGKILL');
    const t0 = Date.now();
    let err: unknown = null;
    for (let tag = 6; err === null && tag < 100; tag++) {
      err = await g0.allToAll(tag, Array.from({ length: size }, (_, j) => payloadFor(0, j, tag, 1000))).then(() => null, (e) => e);
    }
    const waited = Date.now() - t0;
    assert.ok(err instanceof PeerLostError, String(err));
    assert.equal(err.lostRank, 2);
    assert.equal(err.pid, victimPid);
    assert.match(err.message, new RegExp(`rank 2 \\(pid ${victimPid} on .*\\) lost: no heartbeat for \\d+\\.\\d s`));
    assert.ok(waited < FAST.peerTimeoutMs + 4000, `detected after ${waited} ms`);
    const e1 = await c1.next();
    assert.equal(e1.event, 'error');
    assert.equal(e1.name, 'PeerLostError');
    assert.equal(e1.lostRank, 2);
    assert.equal(e1.lostPid, victimPid);
    assert.ok(e1.waitedMs < FAST.peerTimeoutMs + 5000, `rank 1 noticed after ${e1.waitedMs} ms`);
  });
});
