import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BatcherClosedError, MicroBatcher, QueueFullError, type BatchEngine } from '../../src/serve/micro-batcher.js';
import type { RankRequest, RankResponse } from '../../src/serve/types.js';

/** Records the size of every rankMany call; optionally slow (async) and refusing requests whose first id is "bad". */
class FakeEngine implements BatchEngine {
  readonly calls: number[] = [];
  constructor(readonly version = 'v1', readonly delayMs = 0) {}
  rankMany(reqs: RankRequest[]): RankResponse[] | Promise<RankResponse[]> {
    this.calls.push(reqs.length);
    const answer = (): RankResponse[] => {
      const bad = reqs.find((r) => r.candidates[0].id === 'bad');
      if (bad) throw new Error('candidates/0/id "bad" is refused');
      return reqs.map((r) => ({
        model: 'fake',
        modelVersion: this.version,
        rankedBy: 'ctr',
        behaviorsUsed: 0,
        candidates: r.candidates.map((c, i) => ({ index: i, id: c.id, ctr: 0.5, rank: i + 1 })),
      }));
    };
    return this.delayMs > 0 ? sleep(this.delayMs).then(answer) : answer();
  }
}

const req = (id: string | number): RankRequest => ({ candidates: [{ id }] });

test('concurrent submissions are merged into one engine call, answers go back to their own requests', async () => {
  const engine = new FakeEngine();
  const b = new MicroBatcher(() => engine, { batchWaitMs: 1, maxBatch: 64, queue: 256 });
  const out = await Promise.all(Array.from({ length: 10 }, (_, i) => b.submit(req(`i${i}`))));
  assert.deepEqual(engine.calls, [10]);
  out.forEach((r, i) => assert.equal(r.candidates[0].id, `i${i}`));
});

test('batches never exceed maxBatch', async () => {
  const engine = new FakeEngine();
  const sizes: number[] = [];
  const b = new MicroBatcher(() => engine, { batchWaitMs: 1, maxBatch: 4, queue: 256, onBatch: (n) => sizes.push(n) });
  const out = await Promise.all(Array.from({ length: 10 }, (_, i) => b.submit(req(i))));
  assert.deepEqual(engine.calls, [4, 4, 2]);
  assert.deepEqual(sizes, [4, 4, 2]);
  out.forEach((r, i) => assert.equal(r.candidates[0].id, i));
});

test('the first request waits at most batchWaitMs for company; a full batch goes at once', async () => {
  const engine = new FakeEngine();
  const b = new MicroBatcher(() => engine, { batchWaitMs: 150, maxBatch: 64, queue: 256 });
  const t0 = performance.now();
  const first = b.submit(req('a'));
  await sleep(10);
  const second = b.submit(req('b')); // arrives within the window: same batch
  await Promise.all([first, second]);
  const waited = performance.now() - t0;
  assert.deepEqual(engine.calls, [2]);
  assert.ok(waited >= 140, `the batch waited for its window (${waited.toFixed(1)} ms)`);
  await b.submit(req('c')); // a new window
  assert.deepEqual(engine.calls, [2, 1]);

  // A huge wait bound is cut short by a full batch.
  const full = new FakeEngine();
  const fb = new MicroBatcher(() => full, { batchWaitMs: 60_000, maxBatch: 3, queue: 256 });
  const t1 = performance.now();
  await Promise.all([fb.submit(req(1)), fb.submit(req(2)), fb.submit(req(3))]);
  assert.ok(performance.now() - t1 < 5_000, 'a full batch does not wait for the window');
  assert.deepEqual(full.calls, [3]);
});

test('batchWaitMs 0: only what arrived in the same turn is merged', async () => {
  const engine = new FakeEngine();
  const b = new MicroBatcher(() => engine, { batchWaitMs: 0, maxBatch: 64, queue: 256 });
  await Promise.all([b.submit(req(1)), b.submit(req(2))]);
  await b.submit(req(3));
  assert.deepEqual(engine.calls, [2, 1]);
});

test('requests that queued while the engine was busy go in the next batch without a new wait', async () => {
  const engine = new FakeEngine('v1', 300);
  const b = new MicroBatcher(() => engine, { batchWaitMs: 5, maxBatch: 64, queue: 256 });
  const first = b.submit(req(0));
  while (!b.running) await sleep(1); // first is in the engine now
  const rest = Array.from({ length: 5 }, (_, i) => b.submit(req(i + 1)));
  assert.equal(b.depth, 5);
  await Promise.all([first, ...rest]);
  assert.deepEqual(engine.calls, [1, 5]);
});

test('a full queue refuses new requests at once with QueueFullError; accepted ones are all answered', async () => {
  const engine = new FakeEngine('v1', 20);
  const depths: number[] = [];
  const b = new MicroBatcher(() => engine, { batchWaitMs: 0, maxBatch: 1, queue: 2, onDepth: (d) => depths.push(d) });
  const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => b.submit(req(i))));
  const ok = results.filter((r) => r.status === 'fulfilled');
  const refused = results.filter((r) => r.status === 'rejected');
  assert.equal(ok.length, 2);
  assert.equal(refused.length, 4);
  for (const r of refused) assert.ok((r as PromiseRejectedResult).reason instanceof QueueFullError);
  assert.match((refused[0] as PromiseRejectedResult).reason.message, /queue is full \(2 requests waiting\)/);
  assert.ok(Math.max(...depths) <= 2);
  assert.equal(b.depth, 0);
  // Once the queue drained, requests are accepted again.
  await b.submit(req('again'));
});

test('a failed batch is retried request by request: only the bad request fails, with its own error', async () => {
  const engine = new FakeEngine();
  const b = new MicroBatcher(() => engine, { batchWaitMs: 1, maxBatch: 64, queue: 256 });
  const results = await Promise.allSettled([b.submit(req('x')), b.submit(req('bad')), b.submit(req('y'))]);
  assert.deepEqual(engine.calls, [3, 1, 1, 1]);
  assert.equal(results[0].status, 'fulfilled');
  assert.equal(results[2].status, 'fulfilled');
  assert.equal(results[1].status, 'rejected');
  assert.match((results[1] as PromiseRejectedResult).reason.message, /"bad" is refused/);
  // A lone bad request is not ranked twice.
  await assert.rejects(b.submit(req('bad')), /refused/);
  assert.deepEqual(engine.calls, [3, 1, 1, 1, 1]);
});

test('an engine that returns the wrong number of answers fails its batch cleanly, nothing hangs', async () => {
  const broken: BatchEngine = { rankMany: (reqs) => reqs.slice(1).map(() => ({}) as RankResponse) };
  const b = new MicroBatcher(() => broken, { batchWaitMs: 0, maxBatch: 64, queue: 256 });
  const results = await Promise.allSettled([b.submit(req(1)), b.submit(req(2))]);
  assert.ok(results.every((r) => r.status === 'rejected'));
  assert.match((results[0] as PromiseRejectedResult).reason.message, /returned 0 results for 1 requests/);
});

test('the engine is read per batch: a batch in flight finishes on the old engine, later ones use the new', async () => {
  let engine = new FakeEngine('old', 30);
  const b = new MicroBatcher(() => engine, { batchWaitMs: 0, maxBatch: 64, queue: 256 });
  const inFlight = b.submit(req(1));
  await sleep(10);
  engine = new FakeEngine('new');
  const later = b.submit(req(2));
  assert.equal((await inFlight).modelVersion, 'old');
  assert.equal((await later).modelVersion, 'new');
});

test('close() answers everything accepted, then refuses new requests', async () => {
  const engine = new FakeEngine('v1', 10);
  const b = new MicroBatcher(() => engine, { batchWaitMs: 1, maxBatch: 2, queue: 256 });
  const accepted = Array.from({ length: 7 }, (_, i) => b.submit(req(i)));
  await b.close();
  const settled = await Promise.allSettled(accepted);
  assert.ok(settled.every((r) => r.status === 'fulfilled'), 'every accepted request was answered before close resolved');
  assert.deepEqual(engine.calls, [2, 2, 2, 1]);
  await assert.rejects(b.submit(req('late')), BatcherClosedError);
});

test('options are checked', () => {
  const e = new FakeEngine();
  assert.throws(() => new MicroBatcher(() => e, { batchWaitMs: -1, maxBatch: 1, queue: 1 }), /batch wait must be a number ≥ 0/);
  assert.throws(() => new MicroBatcher(() => e, { batchWaitMs: 1, maxBatch: 0, queue: 1 }), /max batch must be an integer ≥ 1/);
  assert.throws(() => new MicroBatcher(() => e, { batchWaitMs: 1, maxBatch: 1, queue: 1.5 }), /queue must be an integer ≥ 1/);
});

test('an engine with capacity 2 gets two batches at once, never three', async () => {
  let inFlight = 0;
  let most = 0;
  const engine = {
    capacity: 2,
    rankMany: async (rs: RankRequest[]) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 15));
      inFlight--;
      return rs.map((r): RankResponse => ({ model: 'f', modelVersion: 'v', rankedBy: 'ctr', behaviorsUsed: 0, candidates: [{ index: 0, id: r.candidates[0].id, ctr: 0.5, rank: 1 }] }));
    },
  };
  const b = new MicroBatcher(() => engine, { batchWaitMs: 0, maxBatch: 2, queue: 100 });
  const out = await Promise.all(Array.from({ length: 12 }, (_, i) => b.submit(req(i))));
  assert.equal(out.length, 12);
  assert.equal(most, 2);
  await b.close();
});
