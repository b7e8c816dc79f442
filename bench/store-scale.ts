/**
 * Training with the tables in a store (issue 15), measured against in-memory training on the same data and machine:
 *
 *   node dist/bench/store-scale.js throughput [--data ../shared/data/amazon-beauty] [--batches 32,256] [--workers 1,2,4]
 *   node dist/bench/store-scale.js gauc       [--data …] [--seeds 1,2,3] [--workers 1,2,4] [--epochs 3] [--batch 32]
 *
 * Starts its own Redis Cluster (scripts/redis-cluster.sh, 3 masters + 3 replicas on this machine, AOF everysec) in a
 * temporary directory and stops it at the end. Every configuration is the real `din train` (one process per worker).
 *   throughput: one epoch of DIN per configuration — in memory on 1 and 2 threads, `--store memory`, and the Redis
 *               store with 1, 2, 4 trainer processes (and one trainer writing through, `--no-store-cache`) — samples/s, where a step's time goes, the store traffic (commands
 *               per second, bytes and round trips per sample); then the memory of a row in Redis (INFO memory over the
 *               row keys) against its bytes in the WASM arena.
 *   gauc:       3 epochs × seeds, test GAUC in memory vs the Redis store with 1, 2, 4 trainers, at one global batch size
 *               (several trainers split each batch: the same synchronous step as one trainer).
 * Results go to bench/results/store-scale-<mode>.json and are printed as Markdown tables.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeJsonAtomic } from '../src/util/fs.js';

const HERE = fileURLToPath(import.meta.url);
const ROOT = join(HERE, '..', '..', '..');
const BIN = join(ROOT, 'bin', 'din.js');
const SCRIPT = join(ROOT, 'scripts', 'redis-cluster.sh');
const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
};
const list = (s: string) => s.split(',').map(Number);

interface Run {
  label: string;
  batch: number;
  workers: number;
  samplesPerSecond: number;
  gauc?: number;
  stepTimes?: Record<string, number>;
  traffic?: Record<string, number>;
  wallSeconds: number;
}

function runOne(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [BIN, 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('exit', (code) => res({ code, out }));
  });
}

async function train(label: string, common: string[], opts: { batch: number; workers: number; store?: string; url?: string; name?: string; seed: number; extra?: string[] }): Promise<Run> {
  const out = mkdtempSync(join(tmpdir(), 'din-scale-run-'));
  const args = [...common, '--batch-size', String(opts.batch), '--seed', String(opts.seed), '--quiet', ...(opts.extra ?? [])];
  const t0 = performance.now();
  let results: Array<{ code: number | null; out: string }>;
  if (opts.store === 'redis') {
    const s = ['--store', opts.url!, '--store-name', opts.name!, '--store-reset', '--workers', String(opts.workers)];
    results = await Promise.all(Array.from({ length: opts.workers }, (_, w) =>
      runOne([...args, ...s, '--worker-index', String(w), ...(w === 0 ? ['--out', out] : [])])));
  } else {
    results = [await runOne([...args, ...(opts.store ? ['--store', opts.store] : []), '--out', out])];
  }
  const wall = (performance.now() - t0) / 1000;
  for (const r of results) if (r.code !== 0) throw new Error(`${label} failed:\n${r.out.slice(-3000)}`);
  const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
  rmSync(out, { recursive: true, force: true });
  const last = m.history[m.history.length - 1];
  return {
    label, batch: opts.batch, workers: opts.workers, samplesPerSecond: m.train.samplesPerSecond, gauc: m.test.gauc,
    stepTimes: last.stepTimes, traffic: m.store?.traffic, wallSeconds: wall,
  };
}

function redisInfo(port: number): Record<string, string> {
  const text = spawnSync('redis-cli', ['-p', String(port), 'info', 'memory'], { encoding: 'utf8' }).stdout;
  return Object.fromEntries(text.split('\n').filter((l) => l.includes(':')).map((l) => l.trim().split(':') as [string, string]));
}

function masters(port: number): number[] {
  const text = spawnSync('redis-cli', ['-p', String(port), 'cluster', 'nodes'], { encoding: 'utf8' }).stdout;
  return text.split('\n').filter((l) => / master /.test(l) && !/fail/.test(l)).map((l) => Number(l.split(' ')[1].split(':')[1].split('@')[0]));
}

async function main(): Promise<void> {
  const mode = process.argv[2] === 'gauc' ? 'gauc' : 'throughput';
  const data = resolve(arg('data', join(ROOT, '..', 'shared', 'data', 'amazon-beauty')));
  const workersList = list(arg('workers', '1,2,4'));
  const base = Number(arg('port', '7800'));
  const dir = mkdtempSync(join(tmpdir(), 'din-scale-cluster-'));
  const up = spawnSync('bash', [SCRIPT, 'start', dir, String(base)], { encoding: 'utf8' });
  if (up.status !== 0) throw new Error(`cluster start failed: ${up.stderr}`);
  const url = `redis://127.0.0.1:${base},127.0.0.1:${base + 1},127.0.0.1:${base + 2}`;
  const runs: Run[] = [];
  const say = (r: Run) => process.stderr.write(`${r.label} B=${r.batch}: ${Math.round(r.samplesPerSecond)} samples/s` +
    `${r.gauc !== undefined ? `, GAUC ${r.gauc.toFixed(4)}` : ''}${r.stepTimes ? `, step ${JSON.stringify(r.stepTimes)}` : ''}\n`);
  try {
    if (mode === 'throughput') {
      const common = ['--data', data, '--model', 'din', '--epochs', '1'];
      for (const batch of list(arg('batches', '32,256'))) {
        for (const [label, extra] of [['in memory, 1 thread', ['--threads', '1']], ['in memory, 2 threads', ['--threads', '2']]] as const) {
          const r = await train(label, [...common, ...extra], { batch, workers: 1, seed: 1 });
          runs.push(r);
          say(r);
        }
        const m = await train('--store memory', common, { batch, workers: 1, store: 'memory', seed: 1 });
        runs.push(m);
        say(m);
        for (const w of workersList) {
          const r = await train(`Redis, ${w} trainer${w > 1 ? 's' : ''}`, common, { batch, workers: w, store: 'redis', url, name: `scale-b${batch}-w${w}`, seed: 1 });
          runs.push(r);
          say(r);
          if (w === 1) {
            const t = await train('Redis, 1 trainer, write-through', common, { batch, workers: 1, store: 'redis', url, name: `scale-b${batch}-w1-through`, seed: 1, extra: ['--no-store-cache'] });
            runs.push(t);
            say(t);
          }
        }
      }
      // Memory of a row: the store of the last one-worker run holds every row trained.
      const mem = masters(base).map((p) => ({ port: p, info: redisInfo(p), keys: Number(spawnSync('redis-cli', ['-p', String(p), 'dbsize'], { encoding: 'utf8' }).stdout) }));
      const used = mem.reduce((a, m) => a + Number(m.info.used_memory_dataset ?? m.info.used_memory), 0);
      const keys = mem.reduce((a, m) => a + m.keys, 0);
      const memory = { masters: mem.map((m) => ({ port: m.port, keys: m.keys, usedMemory: Number(m.info.used_memory), usedMemoryDataset: Number(m.info.used_memory_dataset) })), keys, bytesPerKey: used / Math.max(1, keys) };
      process.stderr.write(`Redis: ${keys} keys over the masters, ${(used / 2 ** 20).toFixed(1)} MiB dataset, ${Math.round(memory.bytesPerKey)} B per key\n`);
      writeJsonAtomic(join(ROOT, 'bench', 'results', 'store-scale-throughput.json'), { createdAt: new Date().toISOString(), data, runs, memory });
      console.log('| B | configuration | samples/s | vs in memory, 1 thread | read / compute / exchange / update / write (% of step) | store commands/s | B sent + received per sample |');
      console.log('|---|---|---|---|---|---|---|');
      for (const r of runs) {
        const ref = runs.find((x) => x.batch === r.batch && x.label === 'in memory, 1 thread')!;
        const st = r.stepTimes;
        const tot = st ? Object.values(st).reduce((a, b) => a + b, 0) || 1 : 1;
        const share = st ? ['read', 'compute', 'exchange', 'update', 'write'].map((k) => ((100 * (st[k] ?? 0)) / tot).toFixed(0)).join(' / ') : '-';
        const t = r.traffic;
        console.log(`| ${r.batch} | ${r.label} | ${Math.round(r.samplesPerSecond).toLocaleString('en-US')} | ${(r.samplesPerSecond / ref.samplesPerSecond).toFixed(2)} | ${share} | ` +
          `${t ? Math.round(t.commandsPerSecond).toLocaleString('en-US') : '-'} | ${t ? Math.round(t.bytesSentPerSample + t.bytesReceivedPerSample).toLocaleString('en-US') : '-'} |`);
      }
    } else {
      const epochs = arg('epochs', '3');
      const common = ['--data', data, '--model', 'din', '--epochs', epochs];
      const batch = Number(arg('batch', '32'));
      for (const seed of list(arg('seeds', '1,2,3'))) {
        const r = await train('in memory, 1 thread', [...common, '--threads', '1'], { batch, workers: 1, seed });
        runs.push(r);
        say(r);
        for (const w of workersList) {
          const x = await train(`Redis, ${w} trainer${w > 1 ? 's' : ''}`, common, { batch, workers: w, store: 'redis', url, name: `gauc-b${batch}-s${seed}-w${w}`, seed });
          runs.push(x);
          say(x);
        }
      }
      writeJsonAtomic(join(ROOT, 'bench', 'results', 'store-scale-gauc.json'), { createdAt: new Date().toISOString(), data, runs });
      const labels = [...new Set(runs.map((r) => r.label))];
      console.log('| configuration | test GAUC per seed | mean | samples/s |');
      console.log('|---|---|---|---|');
      for (const l of labels) {
        const rs = runs.filter((r) => r.label === l);
        const g = rs.map((r) => r.gauc!);
        console.log(`| ${l} | ${g.map((x) => x.toFixed(4)).join(', ')} | ${(g.reduce((a, b) => a + b, 0) / g.length).toFixed(4)} | ${Math.round(rs.reduce((a, r) => a + r.samplesPerSecond, 0) / rs.length).toLocaleString('en-US')} |`);
      }
    }
  } finally {
    spawnSync('bash', [SCRIPT, 'stop', dir], { encoding: 'utf8' });
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
