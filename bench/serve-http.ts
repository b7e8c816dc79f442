/**
 * Throughput and latency of `din serve` over HTTP, with the micro-batcher on and off.
 *
 * Builds a DIN checkpoint of the paper's shape (goods and attribute embeddings 18 + 18, attention 80→40 Dice, MLP
 * 200→80 Dice; random weights: speed does not depend on them) over a synthetic catalog, starts the server in a child
 * process (the `din serve` command of the compiled tree this file belongs to, as bin/din.js runs it), and drives it
 * with autocannon's programmatic API: one visitor with 20 behaviours and 200 candidates per request, at 1, 16 and 64
 * concurrent connections. Prints requests/s, p50/p99 latency and the mean micro-batch size; writes
 * bench/results/serve-http.json.
 *
 *   node dist/bench/serve-http.js                      (10 s per cell; --workers 1,2: engine threads of the server)
 *   node dist/bench/serve-http.js --duration 3 --connections 1,16
 *   node dist/bench/serve-http.js --soak 600           (RSS of the server at start and end of 10 minutes at 16 conns;
 *                                                       added to the same JSON, next to the table of an earlier run)
 *
 * The load generator shares the machine with the server: on a small box its own CPU use caps what is measured.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createModel } from '../src/models/index.js';
import { DEFAULT_MODEL_CONFIG, type ModelConfig } from '../src/models/model.js';
import { createBackend } from '../src/kernels/backends.js';
import type { RankRequest } from '../src/serve/types.js';
import { catalogToJson, saveCheckpoint } from '../src/checkpoint/checkpoint.js';
import { Rng } from '../src/util/rng.js';
import { makeCatalog } from './common.js';

// autocannon ships no types: the part of its API used here.
interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  '2xx': number;
  duration: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '1,16,64' },
    modes: { type: 'string', default: 'batching,no-batching' },
    workers: { type: 'string', default: '1,2' },
    soak: { type: 'string' },
    candidates: { type: 'string', default: '200' },
    history: { type: 'string', default: '20' },
    items: { type: 'string', default: '20000' },
    attrs: { type: 'string', default: '1000' },
    'batch-wait-ms': { type: 'string', default: '1' },
    'max-batch': { type: 'string', default: '64' },
    warmup: { type: 'string', default: '2' },
    out: { type: 'string', default: 'bench/results/serve-http.json' },
  },
});
const DURATION = Number(args.duration);
const CONNECTIONS = args.connections.split(',').map(Number);
const WORKERS = args.workers.split(',').map(Number);
for (const w of WORKERS) if (!(Number.isInteger(w) && w >= 1)) throw new Error(`--workers: expected a list of integers >= 1, got "${args.workers}"`);
const MODES = args.modes.split(',').map((m) => m.trim()) as Array<'batching' | 'no-batching'>;
for (const m of MODES) if (m !== 'batching' && m !== 'no-batching') throw new Error(`--modes: unknown mode "${m}" (batching, no-batching)`);
const CANDIDATES = Number(args.candidates);
const HISTORY = Number(args.history);
const NUM_ITEMS = Number(args.items);
const NUM_ATTRS = Number(args.attrs);

// The compiled tree (dist/ or a --outDir copy) that holds this file: its src/cli/main.js is `din`.
const distRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUNNER = [
  `const { enableRelaxedSimd } = await import(${JSON.stringify(pathToFileURL(join(distRoot, 'src/kernels/relaxed-flag.js')).href)});`,
  'enableRelaxedSimd();',
  `const { main } = await import(${JSON.stringify(pathToFileURL(join(distRoot, 'src/cli/main.js')).href)});`,
  "await main([process.argv[0], 'din', ...process.argv.slice(1)]);",
].join('\n');

/** A DIN checkpoint of the benchmark's shape with random weights. */
function buildModel(dir: string): string[] {
  const rng = new Rng(7);
  const catalog = { ...makeCatalog(rng, NUM_ITEMS, NUM_ATTRS), itemKeys: [] as string[], attrKeys: [] as string[] };
  catalog.itemKeys = Array.from({ length: NUM_ITEMS }, (_, i) => `item${i}`);
  catalog.attrKeys = Array.from({ length: NUM_ATTRS }, (_, i) => `attr${i}`);
  const config: ModelConfig = {
    ...DEFAULT_MODEL_CONFIG,
    model: 'din',
    goodsDim: 18,
    attrDim: 18,
    attentionHidden: [80, 40],
    attentionActivation: 'dice',
    hidden: [200, 80],
    activation: 'dice',
  };
  const model = createModel(config, { backend: createBackend('auto'), catalog, seed: 1 });
  saveCheckpoint(dir, model, {
    train: { maxHistory: HISTORY },
    dataset: { name: 'bench-serve-http', format: 'synthetic', buildOptions: {}, skipped: {} },
    catalog: catalogToJson(catalog),
  });
  return catalog.itemKeys;
}

/** `n` different request bodies: one visitor, HISTORY behaviours, CANDIDATES candidates with bids. */
function requestBodies(itemKeys: string[], n: number): string[] {
  const rng = new Rng(11);
  const pick = () => itemKeys[rng.int(itemKeys.length)];
  return Array.from({ length: n }, (_, i) => {
    const req: RankRequest = {
      user: { id: `u${i}`, behaviors: Array.from({ length: HISTORY }, () => ({ id: pick() })) },
      candidates: Array.from({ length: CANDIDATES }, () => ({ id: pick(), bid: 1 + rng.int(100) / 10 })),
      topK: 10,
    };
    return JSON.stringify(req);
  });
}

interface Server {
  child: ChildProcess;
  base: string;
  stop(): Promise<number | null>;
}

async function startServer(modelDir: string, batching: boolean, workers: number): Promise<Server> {
  const flags = ['serve', '--model', modelDir, '--port', '0', '--queue', '4096',
    '--batch-wait-ms', args['batch-wait-ms'], '--max-batch', args['max-batch'], ...(batching ? [] : ['--no-batching']), '--workers', String(workers)];
  const child = spawn(process.execPath, ['--input-type=module', '-e', RUNNER, '--', ...flags], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const t0 = Date.now();
  for (;;) {
    const m = /listening on (http:\/\/\S+)/.exec(err);
    if (m) {
      return {
        child,
        base: m[1],
        stop: async () => {
          child.kill('SIGTERM');
          return exited;
        },
      };
    }
    if (child.exitCode !== null) throw new Error(`din serve exited with ${child.exitCode}:\n${err}`);
    if (Date.now() - t0 > 60_000) throw new Error(`din serve did not start within 60 s:\n${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resident set size of a process in MiB (Linux: /proc/<pid>/status VmRSS). */
function rssMiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Requests per engine pass so far (din_batch_requests sum / count on /metrics). */
async function batchStats(base: string): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const num = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { sum: num('din_batch_requests_sum'), count: num('din_batch_requests_count') };
}

function load(base: string, bodies: string[], connections: number, duration: number): Promise<AutocannonResult> {
  return autocannon({
    url: base,
    connections,
    duration,
    requests: bodies.map((body) => ({ method: 'POST', path: '/v1/rank', headers: { 'content-type': 'application/json' }, body })),
  });
}

interface Row {
  mode: string;
  workers: number;
  connections: number;
  requestsPerSecond: number;
  p50ms: number;
  p99ms: number;
  meanMs: number;
  ok: number;
  non2xx: number;
  errors: number;
  meanBatch: number;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'din-bench-serve-'));
  const modelDir = join(work, 'model');
  try {
    const itemKeys = buildModel(modelDir);
    const bodies = requestBodies(itemKeys, 32);
    const header = `node ${process.version}, ${cpus().length} CPUs (load generator on the same machine), DIN 18+18, ` +
      `attention 80→40 Dice, MLP 200→80 Dice; ${CANDIDATES} candidates, ${HISTORY} behaviours per request`;
    console.log(header);

    if (args.soak !== undefined) {
      const seconds = Number(args.soak);
      if (!(seconds > 0)) throw new Error(`--soak must be a number of seconds > 0, got "${args.soak}"`);
      const server = await startServer(modelDir, true, WORKERS[WORKERS.length - 1]);
      await load(server.base, bodies, 16, Math.min(5, seconds));
      const start = rssMiB(server.child.pid!);
      // RSS every 30 s, to tell a plateau (heap reaching its working size) from a leak (growth that does not stop).
      const samples: Array<{ s: number; rssMiB: number | null }> = [{ s: 0, rssMiB: start }];
      const t0 = Date.now();
      const sampler = setInterval(() => samples.push({ s: Math.round((Date.now() - t0) / 1000), rssMiB: rssMiB(server.child.pid!) }), 30_000);
      const r = await load(server.base, bodies, 16, seconds);
      clearInterval(sampler);
      const end = rssMiB(server.child.pid!);
      samples.push({ s: seconds, rssMiB: end });
      console.log(`RSS (MiB) by time: ${samples.map((x) => `${x.s}s ${x.rssMiB?.toFixed(0)}`).join(', ')}`);
      const code = await server.stop();
      const soak = {
        seconds, connections: 16, rssStartMiB: start, rssEndMiB: end, rssSamples: samples, requests: r.requests.total,
        requestsPerSecond: r.requests.average, p99ms: r.latency.p99, non2xx: r.non2xx, errors: r.errors, exitCode: code,
      };
      console.log(`soak ${seconds}s at 16 connections: ${r.requests.total} requests (${r.requests.average.toFixed(0)}/s, p99 ${r.latency.p99} ms, ` +
        `${r.non2xx} non-2xx, ${r.errors} errors); server RSS ${start?.toFixed(1)} MiB → ${end?.toFixed(1)} MiB; exit ${code}`);
      // Keep the throughput table of an earlier run in the same file.
      let previous: Record<string, unknown> = {};
      try {
        previous = JSON.parse(readFileSync(resolve(args.out), 'utf8'));
      } catch {
        previous = {};
      }
      write({ ...previous, soakHeader: header, soak });
      return;
    }

    const rows: Row[] = [];
    for (const workers of WORKERS) for (const mode of MODES) {
      const server = await startServer(modelDir, mode === 'batching', workers);
      try {
        if (Number(args.warmup) > 0) await load(server.base, bodies, 16, Number(args.warmup));
        for (const connections of CONNECTIONS) {
          const b0 = await batchStats(server.base);
          const r = await load(server.base, bodies, connections, DURATION);
          const b1 = await batchStats(server.base);
          const row: Row = {
            mode,
            workers,
            connections,
            requestsPerSecond: r.requests.average,
            p50ms: r.latency.p50,
            p99ms: r.latency.p99,
            meanMs: r.latency.average,
            ok: r['2xx'],
            non2xx: r.non2xx,
            errors: r.errors + r.timeouts,
            meanBatch: (b1.sum - b0.sum) / Math.max(1, b1.count - b0.count),
          };
          rows.push(row);
          console.log(`${mode.padEnd(12)} workers ${workers} ${String(connections).padStart(5)} conns  ${row.requestsPerSecond.toFixed(0).padStart(7)} req/s  ` +
            `p50 ${row.p50ms.toFixed(1).padStart(6)} ms  p99 ${row.p99ms.toFixed(1).padStart(6)} ms  batch ${row.meanBatch.toFixed(1).padStart(5)}  ` +
            `non-2xx ${row.non2xx}  errors ${row.errors}`);
        }
      } finally {
        const code = await server.stop();
        if (code !== 0) console.log(`(server of mode ${mode} exited with ${code})`);
      }
    }
    console.log('\n| mode | workers | connections | req/s | p50 ms | p99 ms | mean batch | non-2xx | errors |\n|---|---|---|---|---|---|---|---|---|');
    for (const r of rows) {
      console.log(`| ${r.mode} | ${r.workers} | ${r.connections} | ${r.requestsPerSecond.toFixed(0)} | ${r.p50ms.toFixed(1)} | ${r.p99ms.toFixed(1)} | ` +
        `${r.meanBatch.toFixed(1)} | ${r.non2xx} | ${r.errors} |`);
    }
    let soak: unknown;
    try {
      soak = JSON.parse(readFileSync(resolve(args.out), 'utf8')).soak;
    } catch {
      soak = undefined;
    }
    write({ header, durationSeconds: DURATION, batchWaitMs: Number(args['batch-wait-ms']), maxBatch: Number(args['max-batch']), rows, ...(soak ? { soak } : {}) });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function write(result: Record<string, unknown>): void {
  const out = resolve(args.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), ...result }, null, 2) + '\n');
  console.log(`wrote ${out}`);
}

await main();
