import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

// The compiled tree this test belongs to (dist/ or a --outDir copy): the `din` command is run from it, as bin/din.js
// runs dist/src/cli/main.js.
const distRoot = resolve(fileURLToPath(import.meta.url), '../../..');
const RUNNER = [
  `const { enableRelaxedSimd } = await import(${JSON.stringify(pathToFileURL(join(distRoot, 'src/kernels/relaxed-flag.js')).href)});`,
  'enableRelaxedSimd();',
  `const { main } = await import(${JSON.stringify(pathToFileURL(join(distRoot, 'src/cli/main.js')).href)});`,
  "await main([process.argv[0], 'din', ...process.argv.slice(1)]);",
].join('\n');

const dir = mkdtempSync(join(tmpdir(), 'din-cli-serve-'));
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
const env = { ...process.env, CI: '1', DIN_CACHE_DIR: join(dir, 'cache') };

function din(args: string[], input?: string) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', RUNNER, '--', ...args], { cwd: dir, encoding: 'utf8', env, input });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Starts `din serve`, resolves with the child and its base URL once it listens. */
async function startServe(args: string[]): Promise<{ child: ChildProcess; base: string; stderr: () => string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', RUNNER, '--', 'serve', '--port', '0', ...args], { cwd: dir, env });
  children.push(child);
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdout!.resume();
  const t0 = Date.now();
  for (;;) {
    const m = /listening on (http:\/\/\S+)/.exec(err);
    if (m) return { child, base: m[1], stderr: () => err };
    if (child.exitCode !== null) throw new Error(`din serve exited ${child.exitCode}: ${err}`);
    if (Date.now() - t0 > 60_000) throw new Error(`din serve did not start: ${err}`);
    await sleep(20);
  }
}

async function waitFor(cond: () => Promise<boolean> | boolean, what: string, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const exited = (c: ChildProcess) => new Promise<number | null>((res) => (c.exitCode !== null ? res(c.exitCode) : c.once('exit', (code) => res(code))));

async function rank(base: string, body: unknown) {
  const r = await fetch(`${base}/v1/rank`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

const modelA = join(dir, 'a');
const modelB = join(dir, 'b');

before(() => {
  for (const [out, seed] of [[modelA, '1'], [modelB, '2']]) {
    const r = din(['train', '--data', 'synthetic:small', '--model', 'din', '--epochs', '1', '--embedding-dim', '4', '--hidden', '16,8', '--seed', seed, '--max-history', '10', '--out', out]);
    assert.equal(r.code, 0, r.err);
  }
});

after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

test('din --help lists serve and rank; din serve --help lists its options', () => {
  const top = din(['--help']);
  assert.equal(top.code, 0);
  assert.match(top.out, /\bserve\b/);
  assert.match(top.out, /\brank\b/);
  const s = din(['serve', '--help']);
  for (const o of ['--model', '--port', '--host', '--max-candidates', '--max-behaviors', '--batch-wait-ms', '--max-batch', '--queue', '--no-batching']) {
    assert.ok(s.out.includes(o), `serve --help lists ${o}`);
  }
  const bad = din(['serve', '--model', join(dir, 'missing'), '--port', '0']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /missing/);
});

test('din serve: ranks, reloads on SIGHUP when the weights changed, drains queued requests on SIGTERM and exits 0', async () => {
  const served = join(dir, 'served');
  cpSync(modelA, served, { recursive: true });
  // A long batch window keeps requests queued long enough to SIGTERM while they wait.
  const { child, base, stderr } = await startServe(['--model', served, '--batch-wait-ms', '400']);
  const schema = await (await fetch(`${base}/v1/schema`)).json();
  const first = await rank(base, schema.example);
  assert.equal(first.status, 200);
  const v1 = first.body.modelVersion;

  cpSync(modelB, served, { recursive: true });
  child.kill('SIGHUP');
  await waitFor(async () => (await (await fetch(`${base}/healthz`)).json()).modelVersion !== v1, 'the SIGHUP reload');
  assert.match(stderr(), /SIGHUP: reloaded .*served/);
  const second = await rank(base, schema.example);
  assert.equal(second.status, 200);
  assert.notEqual(second.body.modelVersion, v1);

  const pending = Array.from({ length: 6 }, () => rank(base, schema.example));
  await waitFor(async () => /din_queue_depth 6\b/.test(await (await fetch(`${base}/metrics`)).text()), 'six queued requests');
  child.kill('SIGTERM');
  const results = await Promise.all(pending);
  assert.deepEqual(results.map((r) => r.status), Array(6).fill(200));
  assert.equal(await exited(child), 0, stderr());
  assert.match(stderr(), /SIGTERM: draining \(6 queued\)/);
  assert.match(stderr(), /stopped/);
});

test('din rank: one answer per line in order; bad lines become {"line", "error"} and the rest is ranked', async () => {
  // Requests built from the model's own example (the engine's describe(), through `din serve`'s schema route).
  const { child, base } = await startServe(['--model', modelA]);
  const example = (await (await fetch(`${base}/v1/schema`)).json()).example;
  child.kill('SIGTERM');
  assert.equal(await exited(child), 0);

  const lines = [
    JSON.stringify(example),
    JSON.stringify({ ...example, topK: 1 }),
    '{"candidates": [',
    JSON.stringify({ candidates: [{ bid: 'x' }] }),
    JSON.stringify({ candidates: [{ fields: { no_such_field: 1 } }] }),
    '',
    JSON.stringify({ ...example, candidates: example.candidates.slice(0, 1) }),
  ];
  const input = join(dir, 'requests.jsonl');
  writeFileSync(input, lines.join('\n') + '\n');
  const output = join(dir, 'answers.jsonl');
  const r = din(['rank', '--model', modelA, '--input', input, '--output', output, '--batch', '2']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /ranked 3 of 7 requests .*4 line\(s\) with errors/);
  const out = readFileSync(output, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
  assert.equal(out.length, 7);
  assert.equal(out[0].candidates.length, example.candidates.length);
  assert.equal(out[1].candidates.length, 1);
  assert.equal(out[6].candidates.length, 1);
  assert.deepEqual(Object.keys(out[2]), ['line', 'error']);
  assert.equal(out[2].line, 3);
  assert.match(out[2].error, /invalid JSON/);
  assert.deepEqual(out[3], { line: 4, error: 'request/candidates/0/bid must be number' });
  assert.equal(out[4].line, 5);
  assert.match(out[4].error, /no_such_field/);
  assert.deepEqual(out[5], { line: 6, error: 'empty line' });

  // Same answers on stdout, from stdin, and with another batch size.
  const viaStdout = din(['rank', '--model', modelA, '--input', '-', '--batch', '64'], lines.join('\n') + '\n');
  assert.equal(viaStdout.code, 0, viaStdout.err);
  assert.deepEqual(viaStdout.out.trimEnd().split('\n').map((l) => JSON.parse(l)), out);

  const missing = din(['rank', '--model', modelA, '--input', join(dir, 'nope.jsonl')]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.err, /nope\.jsonl/);
});
