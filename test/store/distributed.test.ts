/**
 * `din train --store redis://…` against a real local Redis Cluster (3 masters + 3 replicas, scripts/redis-cluster.sh):
 * one trainer equals in-memory training bit for bit; two trainer processes train together; a killed trainer stops the
 * run cleanly and `--resume` finishes it with no corrupted row; a killed Redis master fails over under a running
 * trainer; a store of another model, a second run under a used name, a wrong address: clear errors; eval and export
 * read the model back out of the store.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { decodeSafetensors } from '../../src/checkpoint/safetensors.js';
import { openRedisStore } from '../../src/store/redis-store.js';
import type { StoreTable } from '../../src/store/types.js';
import { startCluster, type TestCluster } from './cluster.js';

const BIN = fileURLToPath(new URL('../../../bin/din.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'din-dist-'));
let cluster: TestCluster;

before(async () => {
  cluster = await startCluster();
});
after(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const DATA = ['--data', 'synthetic:small', '--model', 'din', '--epochs', '2', '--embedding-dim', '8', '--hidden', '32,16', '--quiet', '--no-cache'];

function din(args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

function start(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> & { pid: number; output: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  const p = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((res) => child.on('exit', (code, signal) => res({ code, signal, out })));
  return Object.assign(p, { pid: child.pid!, output: () => out });
}

const store = (name: string) => ['--store', cluster.url, '--store-name', name];

function weights(d: string): Record<string, Float32Array | Float64Array> {
  const { tensors } = decodeSafetensors(readFileSync(join(d, 'weights.safetensors')));
  return Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, t.data]));
}

async function verifyRows(name: string): Promise<{ rows: number; bad: unknown[] }> {
  const probe = await openRedisStore(cluster.url, name, []);
  const meta = (await probe.getMeta()) as unknown as { tables: StoreTable[] };
  await probe.close();
  const s = await openRedisStore(cluster.url, name, meta.tables);
  try {
    return await s.verifyRows();
  } finally {
    await s.close();
  }
}

test('one trainer on the Redis store = in-memory training, bit for bit; eval and export read it back', () => {
  const mem = join(dir, 'mem');
  let r = din(['train', ...DATA, '--threads', '1', '--reg', 'mba', '--out', mem]);
  assert.equal(r.code, 0, r.out);
  const red = join(dir, 'redis-1');
  r = din(['train', ...DATA, '--reg', 'mba', ...store('one'), '--out', red]);
  assert.equal(r.code, 0, r.out);
  assert.ok(readFileSync(join(mem, 'weights.safetensors')).equals(readFileSync(join(red, 'weights.safetensors'))), 'bit-identical weights');
  assert.match(r.out, /write-back cache/);
  // Written through every step instead of cached until the checkpoints: the same model.
  const through = join(dir, 'redis-1-through');
  r = din(['train', ...DATA, '--reg', 'mba', ...store('one-through'), '--no-store-cache', '--out', through]);
  assert.equal(r.code, 0, r.out);
  assert.doesNotMatch(r.out, /write-back cache/);
  assert.ok(readFileSync(join(mem, 'weights.safetensors')).equals(readFileSync(join(through, 'weights.safetensors'))), 'bit-identical weights, write-through');
  r = din(['eval', ...store('one'), '--data', 'synthetic:small', '--no-cache']);
  assert.equal(r.code, 0, r.out);
  const m = JSON.parse(readFileSync(join(mem, 'metrics.json'), 'utf8'));
  assert.match(r.out, new RegExp(`gauc ${m.test.gauc.toFixed(4)}`));
  const exported = join(dir, 'exported');
  r = din(['export', ...store('one'), '--to', exported]);
  assert.equal(r.code, 0, r.out);
  assert.ok(readFileSync(join(mem, 'weights.safetensors')).equals(readFileSync(join(exported, 'weights.safetensors'))), 'export --to = the trained model');
});

test('two trainer processes train one model through the store: same result as two threads, up to rounding', async () => {
  const threads = join(dir, 'threads-2');
  let r = din(['train', ...DATA, '--threads', '2', '--out', threads]);
  assert.equal(r.code, 0, r.out);
  const w1 = start(['train', ...DATA, ...store('two'), '--workers', '2', '--worker-index', '1']);
  const out = join(dir, 'redis-2');
  const w0 = start(['train', ...DATA, ...store('two'), '--workers', '2', '--worker-index', '0', '--out', out]);
  const [a, b] = await Promise.all([w0, w1]);
  assert.equal(a.code, 0, a.out);
  assert.equal(b.code, 0, b.out);
  assert.match(b.out, /worker 1 of 2 done/);
  const x = weights(threads);
  const y = weights(out);
  let worst = 0;
  for (const [k, v] of Object.entries(x)) for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs(v[i] - y[k][i]));
  assert.ok(worst < 2e-3, `largest weight difference ${worst}`);
  const mt = JSON.parse(readFileSync(join(threads, 'metrics.json'), 'utf8'));
  const mr = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
  assert.ok(Math.abs(mt.test.gauc - mr.test.gauc) < 0.01, `GAUC ${mt.test.gauc} (2 threads) vs ${mr.test.gauc} (2 processes)`);
  assert.equal(mr.store.workers, 2);
  r = din(['train', ...DATA, ...store('two')]);
  assert.notEqual(r.code, 0);
  assert.match(r.out, /already holds this run .*continue it with --resume, or start over with --store-reset/);
});

test('kill -9 a trainer mid-epoch: the other stops naming it; --resume on both finishes; no row is corrupted', async () => {
  const args = ['train', ...DATA, ...store('kill'), '--workers', '2', '--checkpoint-every', '20', '--store-timeout', '5'];
  const w1 = start([...args, '--worker-index', '1']);
  const w0 = start([...args, '--worker-index', '0', '--out', join(dir, 'kill')]);
  // Let it train a while (past a checkpoint), then kill worker 1.
  await new Promise((r) => setTimeout(r, 200));
  const t0 = Date.now();
  for (;;) {
    const s = await openRedisStore(cluster.url, 'kill', []);
    const ck = await s.getBlob('checkpoint');
    await s.close();
    if (ck !== null || Date.now() - t0 > 120_000) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  let exited: { code: number | null; out: string } | null = null;
  void w1.then((x) => (exited = x));
  await new Promise((r) => setTimeout(r, 50));
  if (exited) assert.fail(`worker 1 ended before it could be killed: ${(exited as { out: string }).out}`);
  process.kill(w1.pid, 'SIGKILL');
  const [a, b] = await Promise.all([w0, w1]);
  assert.equal(b.signal, 'SIGKILL');
  assert.notEqual(a.code, 0, 'worker 0 stops');
  assert.match(a.out, /rank 1 \(pid \d+ on [^)]+\) lost: no heartbeat/);
  assert.match(a.out, /--resume/);
  const r1 = start([...args, '--worker-index', '1', '--resume']);
  const r0 = start([...args, '--worker-index', '0', '--resume', '--out', join(dir, 'kill')]);
  const [c, d] = await Promise.all([r0, r1]);
  assert.equal(c.code, 0, c.out);
  assert.equal(d.code, 0, d.out);
  assert.match(c.out, /resuming at epoch \d, step \d+/);
  const v = await verifyRows('kill');
  assert.ok(v.rows > 100, `${v.rows} rows in the store`);
  assert.deepEqual(v.bad, [], 'every row decodes (checksum, shape)');
});

test('kill -9 a Redis master under a running trainer: its replica takes over and training finishes', async () => {
  // Write-through (--no-store-cache): every step reads and writes the cluster, so the failover lands mid-traffic.
  const run = start(['train', ...DATA, '--epochs', '3', ...store('failover'), '--no-store-cache', '--store-timeout', '30', '--out', join(dir, 'failover')]);
  // Kill the master of the first seed port once training is under way (its first epoch is done).
  for (const t0 = Date.now(); !/epoch 1\/3:/.test(run.output()); ) {
    if (Date.now() - t0 > 120_000) assert.fail(`training did not get going: ${run.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const masters = spawnSync('redis-cli', ['-p', String(cluster.ports[0]), 'cluster', 'nodes'], { encoding: 'utf8' }).stdout;
  const port = masters.split('\n').filter((l) => / master /.test(l) && !/fail/.test(l)).map((l) => Number(l.split(' ')[1].split(':')[1].split('@')[0]))[0];
  cluster.killNode(port);
  try {
    const res = await run;
    assert.equal(res.code, 0, res.out);
    assert.match(res.out, /epoch 3\/3:/);
    assert.match(res.out, /store: .*(paus|unreachable|failover|retry)/i, 'the pause is reported');
    const v = await verifyRows('failover');
    assert.deepEqual(v.bad, []);
  } finally {
    await cluster.script('start'); // bring the killed node back as a replica for the next tests
  }
});

test('a store of another model, a wrong address, a missing run: clear errors, no hang', () => {
  let r = din(['train', ...DATA, '--hidden', '64', ...store('one')]);
  assert.notEqual(r.code, 0);
  assert.match(r.out, /holds another run .*model config: the store has .*"hidden":\[32,16\].*this run .*"hidden":\[64\]/);
  const t0 = Date.now();
  r = din(['train', ...DATA, '--store', 'redis://127.0.0.1:1', '--store-name', 'x']);
  assert.notEqual(r.code, 0);
  assert.match(r.out, /127\.0\.0\.1:1/);
  assert.ok(Date.now() - t0 < 30_000, 'fails within seconds');
  r = din(['eval', ...store('nothing-here'), '--data', 'synthetic:small']);
  assert.match(r.out, /no such run/);
  r = din(['train', ...DATA, ...store('fresh'), '--resume']);
  assert.match(r.out, /holds no run to resume/);
});
