import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadDataset } from '../../src/data/load.js';
import { DEFAULT_MODEL_CONFIG, type ModelConfig } from '../../src/models/model.js';
import { createBackend } from '../../src/kernels/backends.js';
import { RankingEngine } from '../../src/serve/engine/engine.js';
import { RankingServer, type ServedEngine, type ServerOptions } from '../../src/serve/server.js';
import type { RankRequest, RankResponse } from '../../src/serve/types.js';
import { runTraining } from '../../src/train/run.js';
import { DEFAULT_TRAIN_OPTIONS } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';

const dir = mkdtempSync(join(tmpdir(), 'din-serve-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const modelA = join(dir, 'a');
const modelB = join(dir, 'b');
const MAX_HISTORY = 10;

/** A tiny DIN trained on synthetic:small (seed decides the weights). */
async function trainTiny(out: string, seed: number): Promise<void> {
  const data = await loadDataset({ path: 'synthetic:small', seed: 1, noCache: true });
  const config: ModelConfig = { ...DEFAULT_MODEL_CONFIG, model: 'din', activation: 'dice', goodsDim: 4, attrDim: 4, hidden: [16, 8] };
  const options = { ...DEFAULT_TRAIN_OPTIONS, epochs: 1, batchSize: 128, maxHistory: MAX_HISTORY, seed };
  runTraining({ data, config, options, backend: createBackend('auto'), out, dataPath: 'synthetic:small' });
}

let example: RankRequest;
const servers: RankingServer[] = [];

async function serve(opts: Partial<ServerOptions> = {}): Promise<RankingServer> {
  const s = await RankingServer.create({ model: modelA, processMetrics: false, ...opts });
  servers.push(s);
  return s;
}

/** Wraps a real engine to record the size of every engine call. */
function recording(calls: number[]) {
  return (d: string, limits: { maxCandidates: number; maxBehaviors: number }): ServedEngine => {
    const e = RankingEngine.load(d, limits);
    return {
      get modelName() { return e.modelName; },
      get modelVersion() { return e.modelVersion; },
      describe: () => e.describe(),
      rank: (r) => { calls.push(1); return e.rank(r); },
      rankMany: (rs) => { calls.push(rs.length); return e.rankMany(rs); },
    };
  };
}

/** A slow engine (async: its batches overlap the event loop) answering every candidate with ctr 0.5. */
function slowEngine(ms: number, version = 'slow-v1'): ServedEngine {
  const answer = (r: RankRequest): RankResponse => ({
    model: 'slow', modelVersion: version, rankedBy: 'ctr', behaviorsUsed: 0,
    candidates: r.candidates.map((_, i) => ({ index: i, ctr: 0.5, rank: i + 1 })),
  });
  return {
    modelName: 'slow', modelVersion: version, describe: () => ({}),
    rank: async (r) => { await sleep(ms); return answer(r); },
    rankMany: async (rs) => { await sleep(ms); return rs.map(answer); },
  };
}

async function post(base: string, body: unknown, path = '/v1/rank'): Promise<{ status: number; body: any; headers: Headers }> {
  const r = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json(), headers: r.headers };
}

function assertRanked(res: RankResponse, n: number): void {
  assert.equal(res.candidates.length, n);
  assert.deepEqual(res.candidates.map((c) => c.rank).sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i + 1));
  for (const c of res.candidates) assert.ok(Number.isFinite(c.ctr) && c.ctr >= 0 && c.ctr <= 1, `ctr ${c.ctr}`);
}

before(async () => {
  await trainTiny(modelA, 1);
  await trainTiny(modelB, 2);
  example = (RankingEngine.load(modelA).describe() as { example: RankRequest }).example;
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

test('GET /healthz and GET /v1/schema; the schema\'s example ranks with 200', async () => {
  const s = await serve();
  const h = await s.app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(h.statusCode, 200);
  const health = h.json();
  assert.equal(health.status, 'ok');
  assert.equal(health.model, s.engine.modelName);
  assert.equal(health.modelVersion, s.engine.modelVersion);

  const sc = await s.app.inject({ method: 'GET', url: '/v1/schema' });
  assert.equal(sc.statusCode, 200);
  const schema = sc.json();
  assert.ok(schema.example && Array.isArray(schema.example.candidates), 'the schema carries an example request');
  assert.equal(schema.requestSchema.properties.candidates.maxItems, 1000);
  const r = await s.app.inject({ method: 'POST', url: '/v1/rank', payload: schema.example });
  assert.equal(r.statusCode, 200, r.body);
  const res = r.json() as RankResponse;
  assert.equal(res.modelVersion, s.engine.modelVersion);
  assertRanked(res, schema.example.candidates.length);
});

test('POST /v1/rank: bids rank by eCPM, topK, explain, and long histories are truncated (not refused)', async () => {
  const s = await serve({ maxBehaviors: 100 });
  const behaviors = example.user?.behaviors?.length ? example.user.behaviors : [{ id: example.candidates[0].id }];
  const long = Array.from({ length: 3 * MAX_HISTORY }, (_, i) => behaviors[i % behaviors.length]);
  const candidates = example.candidates.slice(0, 3).map((c, i) => ({ ...c, bid: i + 1 }));
  const body: RankRequest = { ...example, user: { ...example.user, behaviors: long }, candidates, explain: true, topK: 2 };
  const r = await s.app.inject({ method: 'POST', url: '/v1/rank', payload: body });
  assert.equal(r.statusCode, 200, r.body);
  const res = r.json() as RankResponse;
  assert.equal(res.rankedBy, 'ecpm');
  assert.equal(res.candidates.length, 2);
  assert.deepEqual(res.candidates.map((c) => c.rank), [1, 2]);
  assert.ok(res.candidates[0].ecpm! >= res.candidates[1].ecpm!);
  assert.equal(res.behaviorsUsed, MAX_HISTORY);
  assert.equal(res.truncated, true);
  for (const c of res.candidates) assert.equal(c.attention?.length, MAX_HISTORY);
});

test('400 for each kind of bad input, naming the field', async () => {
  const s = await serve({ maxCandidates: 5, maxBehaviors: 8 });
  const cand = { id: example.candidates[0].id };
  const cases: Array<[string, unknown, RegExp]> = [
    ['wrong type', { candidates: [cand, cand, cand, { bid: 'high' }] }, /^body\/candidates\/3\/bid must be number$/],
    ['no type coercion', { candidates: [{ bid: '3' }] }, /^body\/candidates\/0\/bid must be number$/],
    ['empty candidates', { candidates: [] }, /^body\/candidates must NOT have fewer than 1 items$/],
    ['missing candidates', { user: {} }, /^body must have required property 'candidates'$/],
    ['too many candidates', { candidates: Array(6).fill(cand) }, /^body\/candidates must NOT have more than 5 items$/],
    ['too many behaviours', { candidates: [cand], user: { behaviors: Array(9).fill(cand) } }, /^body\/user\/behaviors must NOT have more than 8 items$/],
    ['unknown key', { candidates: [cand], topk: 3 }, /^body must NOT have additional properties \("topk"\)$/],
    ['bad id type', { candidates: [{ id: { x: 1 } }] }, /^body\/candidates\/0\/id must be string or number$/],
    ['bad category element', { candidates: [{ category: ['a', null] }] }, /^body\/candidates\/0\/category\/1 must be string or number$/],
    ['negative bid', { candidates: [{ bid: -1 }] }, /^body\/candidates\/0\/bid must be >= 0$/],
    ['topK not an integer', { candidates: [cand], topK: 1.5 }, /^body\/topK must be integer$/],
    ['explain not a boolean', { candidates: [cand], explain: 'yes' }, /^body\/explain must be boolean$/],
    ['not an object', [1, 2], /^body must be object$/],
    ['engine refuses an unknown field name', { candidates: [{ fields: { no_such_field: 'x' } }] }, /no_such_field/],
  ];
  for (const [what, body, message] of cases) {
    const r = await s.app.inject({ method: 'POST', url: '/v1/rank', payload: body as object });
    assert.equal(r.statusCode, 400, `${what}: ${r.body}`);
    assert.match(r.json().message, message, what);
  }
  const bad = await s.app.inject({ method: 'POST', url: '/v1/rank', payload: '{"candidates": [', headers: { 'content-type': 'application/json' } });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.json().message, /not valid JSON/);
  // Five candidates and eight behaviours are fine.
  const ok = await s.app.inject({ method: 'POST', url: '/v1/rank', payload: { candidates: Array(5).fill(cand), user: { behaviors: Array(8).fill(cand) } } });
  assert.equal(ok.statusCode, 200, ok.body);
});

test('GET /metrics: Prometheus text with request counts, latency, batch sizes, queue depth, model info, shed count', async () => {
  const s = await serve();
  await s.app.inject({ method: 'POST', url: '/v1/rank', payload: example });
  await s.app.inject({ method: 'POST', url: '/v1/rank', payload: { candidates: [] } });
  await s.app.inject({ method: 'GET', url: '/no/such/path' });
  const m = await s.app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(m.statusCode, 200);
  assert.match(m.headers['content-type'] as string, /^text\/plain/);
  const text = m.body;
  assert.match(text, /din_http_requests_total\{route="\/v1\/rank",method="POST",status="200"\} 1/);
  assert.match(text, /din_http_requests_total\{route="\/v1\/rank",method="POST",status="400"\} 1/);
  assert.match(text, /din_http_requests_total\{route="unmatched",method="GET",status="404"\} 1/);
  assert.match(text, /din_http_request_duration_seconds_count\{route="\/v1\/rank"\} 2/);
  assert.match(text, /din_batch_requests_count 1/);
  assert.match(text, /din_queue_depth 0/);
  assert.ok(text.includes(`din_model_info{model="${s.engine.modelName}",version="${s.engine.modelVersion}"} 1`));
  assert.match(text, /din_shed_total 0/);
});

test('micro-batching over HTTP: concurrent requests share engine passes of at most maxBatch; --no-batching ranks one by one', async () => {
  const calls: number[] = [];
  const s = await serve({ loadEngine: recording(calls), batchWaitMs: 20, maxBatch: 8 });
  const base = await s.listen(0);
  const results = await Promise.all(Array.from({ length: 32 }, () => post(base, example)));
  for (const r of results) assert.equal(r.status, 200);
  assert.equal(calls.reduce((a, b) => a + b, 0), 32);
  assert.ok(Math.max(...calls) > 1, `some engine pass ranked several requests (${calls.join(',')})`);
  assert.ok(Math.max(...calls) <= 8, `no pass exceeded maxBatch (${calls.join(',')})`);
  const text = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(text, new RegExp(`din_batch_requests_count ${calls.length}\\b`));
  assert.match(text, /din_batch_requests_sum 32\b/);

  const single: number[] = [];
  const nb = await serve({ loadEngine: recording(single), batching: false });
  const nbase = await nb.listen(0);
  const r2 = await Promise.all(Array.from({ length: 8 }, () => post(nbase, example)));
  for (const r of r2) assert.equal(r.status, 200);
  assert.deepEqual(single, Array(8).fill(1));
});

test('one bad request in a micro-batch fails alone (400); the others of its batch get 200', async () => {
  const calls: number[] = [];
  const s = await serve({ loadEngine: recording(calls), batchWaitMs: 100 });
  const base = await s.listen(0);
  const bad = { candidates: [{ fields: { no_such_field: 1 } }] };
  const bodies = [example, example, bad, example, bad, example];
  const results = await Promise.all(bodies.map((b) => post(base, b)));
  assert.deepEqual(results.map((r) => r.status), [200, 200, 400, 200, 400, 200]);
  assert.match(results[2].body.message, /^candidates\[0\]\.fields\.no_such_field/, 'the message names the field, without a batch index');
  assert.ok(calls[0] > 1, `the requests were batched (${calls.join(',')})`);
});

test('load shedding: a full queue answers 503 with Retry-After, counted in din_shed_total', async () => {
  const s = await serve({ loadEngine: () => slowEngine(400), maxBatch: 1, queue: 2, batchWaitMs: 0 });
  const base = await s.listen(0);
  const results = await Promise.all(Array.from({ length: 12 }, () => post(base, { candidates: [{ id: 1 }] })));
  const shed = results.filter((r) => r.status === 503);
  const ok = results.filter((r) => r.status === 200);
  assert.equal(shed.length + ok.length, 12, `only 200 and 503: ${results.map((r) => r.status)}`);
  assert.ok(shed.length >= 1, 'some requests were shed');
  assert.ok(ok.length >= 3, 'the running one and the queued ones were answered');
  for (const r of shed) {
    assert.equal(r.headers.get('retry-after'), '1');
    assert.match(r.body.message, /queue is full/);
  }
  const text = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(text, new RegExp(`din_shed_total ${shed.length}\\b`));
  assert.match(text, new RegExp(`din_http_requests_total\\{route="/v1/rank",method="POST",status="503"\\} ${shed.length}\\b`));
});

test('reload under load: zero failed requests, the version changes with the weights; a failed reload keeps the old model', async () => {
  const served = join(dir, 'served');
  cpSync(modelA, served, { recursive: true });
  const s = await serve({ model: served, batchWaitMs: 1 });
  const base = await s.listen(0);
  const vA = s.engine.modelVersion;
  let stop = false;
  const statuses: number[] = [];
  const versions = new Set<string>();
  const worker = async () => {
    while (!stop) {
      const r = await post(base, example);
      statuses.push(r.status);
      if (r.status === 200) versions.add(r.body.modelVersion);
    }
  };
  const workers = Array.from({ length: 6 }, worker);
  const reloads: any[] = [];
  for (let i = 0; i < 6; i++) {
    await sleep(30);
    const body = i % 2 === 0 ? { model: modelB } : { model: served };
    const r = await post(base, body, '/admin/reload');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    reloads.push(r.body);
  }
  // The weights on disk change under the same directory: a plain reload (no body) picks them up.
  cpSync(modelB, served, { recursive: true });
  const plain = await fetch(base + '/admin/reload', { method: 'POST' });
  assert.equal(plain.status, 200);
  const p = await plain.json();
  await sleep(30);
  stop = true;
  await Promise.all(workers);

  assert.ok(statuses.length > 20, `a stream of requests ran during the reloads (${statuses.length})`);
  assert.deepEqual(statuses.filter((x) => x !== 200), [], 'every request during the reloads succeeded');
  const vB = reloads[0].modelVersion;
  assert.notEqual(vB, vA, 'other weights, other version');
  assert.equal(reloads[1].modelVersion, vA, 'the same checkpoint again, the same version');
  assert.ok(versions.has(vA) && versions.has(vB), `requests were answered by both models (${[...versions]})`);
  assert.equal(p.previousVersion, vA);
  assert.equal(p.modelVersion, vB);
  assert.equal(p.changed, true);

  const failed = await post(base, { model: join(dir, 'nope') }, '/admin/reload');
  assert.equal(failed.status, 500);
  assert.match(failed.body.message, /reload of .*nope failed, still serving/);
  assert.equal(s.engine.modelVersion, vB);
  const still = await post(base, example);
  assert.equal(still.status, 200);
  assert.equal(still.body.modelVersion, vB);
  const badBody = await post(base, { modle: 'x' }, '/admin/reload');
  assert.equal(badBody.status, 400);
  const text = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(text, /din_reloads_total\{result="ok"\} 7/);
  assert.match(text, /din_reloads_total\{result="failed"\} 1/);
  assert.ok(text.includes(`din_model_info{model="${s.engine.modelName}",version="${vB}"} 1`));
  assert.ok(!text.includes(`version="${vA}"`), 'the old version\'s info series is gone');
});

test('graceful shutdown: queued and in-flight requests are answered, then the port is closed', async () => {
  const s = await serve({ loadEngine: () => slowEngine(100), maxBatch: 2, batchWaitMs: 0 });
  let received = 0;
  s.app.addHook('onRequest', async () => void received++);
  const base = await s.listen(0);
  const pending = Array.from({ length: 8 }, () => post(base, { candidates: [{ id: 1 }] }));
  // Every request has reached the server (a request still on its way when the shutdown starts is rightly refused).
  const t0 = performance.now();
  while (received < 8 && performance.now() - t0 < 10_000) await sleep(2);
  assert.equal(received, 8);
  assert.ok(s.batcher!.depth >= 1 && s.batcher!.running, 'requests are in the engine and queued when the shutdown starts');
  const tc = performance.now();
  await s.close();
  // Not a speed check: kept-alive client connections must not hold the shutdown until their keep-alive timeout.
  assert.ok(performance.now() - tc < 20_000, 'close() does not wait for keep-alive timeouts');
  const results = await Promise.all(pending);
  assert.deepEqual(results.map((r) => r.status), Array(8).fill(200));
  await assert.rejects(fetch(base + '/healthz'), 'no longer listening');
});

/** Random JSON of bounded depth, with the nasty cases: huge/tiny numbers, unicode, lone surrogates, NUL. */
function randomJson(rng: Rng, depth: number): unknown {
  const k = rng.int(depth > 0 ? 9 : 6);
  switch (k) {
    case 0: return null;
    case 1: return rng.int(2) === 0;
    case 2: return [0, -1, 1e308, -1e308, 5e-324, 2 ** 53 + 1, 1.5, 7, 1e21][rng.int(9)];
    case 3: return ['', 'a', '😀', '\u0000', '\ud800', 'ünïcödé', 'x'.repeat(600), '__proto__', '0'][rng.int(9)];
    case 4: return rng.int(1000);
    case 5: return `id${rng.int(100000)}`;
    case 6: return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth - 1));
    default: {
      const o: Record<string, unknown> = {};
      const keys = ['id', 'candidates', 'user', 'behaviors', 'bid', 'category', 'fields', 'profile', 'context', 'alpha', 'topK', 'explain', 'zz'];
      for (let i = rng.int(4); i > 0; i--) o[keys[rng.int(keys.length)]] = randomJson(rng, depth - 1);
      return o;
    }
  }
}

/** A copy of `x` with one random node replaced, deleted or given an extra key. */
function mutate(rng: Rng, x: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(x));
  const paths: Array<[any, string | number]> = [];
  const walk = (v: any) => {
    if (v && typeof v === 'object') {
      for (const key of Object.keys(v)) {
        paths.push([v, Array.isArray(v) ? Number(key) : key]);
        walk(v[key]);
      }
    }
  };
  walk(copy);
  if (paths.length === 0) return randomJson(rng, 3);
  const [parent, key] = paths[rng.int(paths.length)];
  const op = rng.int(4);
  if (op === 0 && !Array.isArray(parent)) delete parent[key];
  else if (op === 1 && !Array.isArray(parent)) parent[`extra${rng.int(3)}`] = randomJson(rng, 2);
  else parent[key] = randomJson(rng, 3);
  return copy;
}

/** Valid requests with ids, categories and field values the model never saw. */
function unknownIds(rng: Rng): RankRequest {
  const item = () => ({ id: `never-seen-${rng.int(1e9)}`, category: [`cat-${rng.int(1e6)}`, rng.int(1e9)] });
  return {
    user: { id: `u${rng.int(1e9)}`, behaviors: Array.from({ length: rng.int(30) }, item) },
    candidates: Array.from({ length: 1 + rng.int(20) }, () => ({ ...item(), bid: rng.int(100) })),
    alpha: rng.int(3),
    topK: 1 + rng.int(5),
    explain: rng.int(2) === 1,
  };
}

test('fuzz: a few hundred random and mutated bodies only ever get 200 or 400; the server stays healthy', async () => {
  const s = await serve({ maxBehaviors: 50 });
  const rng = new Rng(12345);
  const bodies: string[] = [];
  for (let i = 0; i < 120; i++) bodies.push(JSON.stringify(mutate(rng, example)));
  for (let i = 0; i < 80; i++) bodies.push(JSON.stringify(randomJson(rng, 4)));
  for (let i = 0; i < 40; i++) bodies.push(JSON.stringify(unknownIds(rng)));
  for (let i = 0; i < 20; i++) bodies.push(JSON.stringify({ candidates: [{ id: 1, fields: { x: randomJson(rng, 3) } }], context: randomJson(rng, 2) }));
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  bodies.push(`{"candidates": [{"id": ${deep(5000)}}]}`, deep(100000), '{"candidates": [{"bid": 1e999}]}', '{"candidates": [{"id": -0}], "alpha": 1e-320}');
  bodies.push('{"candidates":[{"id":"a"}],"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"x":1}},"candidates":[{}]}');
  bodies.push('{"candidates": [{"category": []}], "user": {"behaviors": [{}]}}', '{"candidates": [{}], "topK": 1e300}', 'nul', '', '\u0000');
  const counts: Record<number, number> = {};
  // Concurrent, so fuzzed bodies share micro-batches with each other.
  for (let i = 0; i < bodies.length; i += 16) {
    const chunk = bodies.slice(i, i + 16);
    const res = await Promise.all(chunk.map((payload) => s.app.inject({ method: 'POST', url: '/v1/rank', payload, headers: { 'content-type': 'application/json' } })));
    res.forEach((r, j) => {
      counts[r.statusCode] = (counts[r.statusCode] ?? 0) + 1;
      assert.ok(r.statusCode === 200 || r.statusCode === 400, `body ${chunk[j].slice(0, 300)} → ${r.statusCode} ${r.body.slice(0, 300)}`);
      if (r.statusCode === 200) {
        const out = r.json() as RankResponse;
        for (const c of out.candidates) assert.ok(Number.isFinite(c.ctr) && c.ctr >= 0 && c.ctr <= 1);
      } else {
        assert.equal(typeof r.json().message, 'string');
      }
    });
  }
  assert.ok(bodies.length >= 250);
  process.stderr.write(`fuzz: ${bodies.length} bodies → ${JSON.stringify(counts)}\n`);
  assert.ok((counts[200] ?? 0) >= 40, `valid requests with unknown ids rank fine (${JSON.stringify(counts)})`);
  assert.ok((counts[400] ?? 0) >= 100, `most mutations are refused (${JSON.stringify(counts)})`);
  const h = await s.app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(h.statusCode, 200);
  const r = await s.app.inject({ method: 'POST', url: '/v1/rank', payload: example });
  assert.equal(r.statusCode, 200);
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
});

test('--workers 2: engine threads give the same answers as in process, rank two batches at once, keep 400s, and reload', async () => {
  const one = await serve();
  const pool = await serve({ workers: 2, batchWaitMs: 0, maxBatch: 2 });
  assert.equal(pool.engine.capacity, 2);
  assert.equal(pool.engine.modelVersion, one.engine.modelVersion);
  const base = await pool.listen(0);
  const bodies = Array.from({ length: 24 }, (_, i) => ({ ...example, explain: true, topK: 1 + (i % 3) }));
  const got = await Promise.all(bodies.map((b) => post(base, b)));
  for (let i = 0; i < bodies.length; i++) {
    assert.equal(got[i].status, 200);
    const want = (await one.app.inject({ method: 'POST', url: '/v1/rank', payload: bodies[i] })).json() as RankResponse;
    // Same answer from a worker thread as in process, to float32 rounding: the worker may run the relaxed-SIMD (FMA)
    // kernels where this test process runs the plain SIMD ones.
    const g = got[i].body as RankResponse;
    assert.equal(g.modelVersion, want.modelVersion);
    assert.deepEqual(g.candidates.map((c) => [c.index, c.rank]), want.candidates.map((c) => [c.index, c.rank]), `request ${i}`);
    g.candidates.forEach((c, k) => {
      assert.ok(Math.abs(c.ctr - want.candidates[k].ctr) < 1e-5, `request ${i}: ctr ${c.ctr} vs ${want.candidates[k].ctr}`);
      c.attention!.forEach((w, t) => assert.ok(Math.abs(w - want.candidates[k].attention![t]) < 1e-5));
    });
  }
  const text = (await pool.app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(text, /din_batch_requests_sum 24\b/);
  // An engine refusal crosses the thread boundary as the same 400.
  const badBody = { ...example, candidates: [{ id: 'x', fields: { no_such_field: '1' } }] };
  const bad = await post(base, badBody);
  const badOne = await one.app.inject({ method: 'POST', url: '/v1/rank', payload: badBody });
  assert.equal(bad.status, 400);
  assert.equal(badOne.statusCode, 400);
  assert.deepEqual(bad.body, badOne.json());
  // Reload swaps in a new pool; the old one's threads are released.
  const r = await pool.reload(modelB);
  assert.equal(r.changed, true);
  assert.equal(pool.engine.capacity, 2);
  const after = await post(base, example);
  assert.equal(after.status, 200);
  assert.equal(after.body.modelVersion, r.modelVersion);
  await assert.rejects(RankingServer.create({ model: join(dir, 'missing'), workers: 2, processMetrics: false }), /missing/);
});
