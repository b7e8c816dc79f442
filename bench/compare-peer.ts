/**
 * Our training speed against the PyTorch peer (bench/peers/bench_torch.py, same models, same synthetic shapes as
 * bench/train-speed.ts: 20,000 items, 1,000 attributes, 1–3 attributes per item, every history full, 8 fixed batches,
 * Adam lr 1e-3 with clipping at 5).
 *
 * For every (config, model, B, T) cell, repetitions alternate between ours and the peer (ours at each of
 * --our-threads in turn, then the peer at each of --threads in turn; which side goes first alternates too), so slow
 * drifts of the machine hit both alike. A repetition is one timed run of max(20, round(20000·20 / (T·B))) steps after
 * warm-up (10 steps for a new cell, 3 before each later run). Reported: medians over repetitions; the best thread count
 * of each side (ours, oursThreads, oursByThreads; peer, peerThreads, peerByThreads); ratio = best ours / best peer
 * (> 1: we are faster). Serving: eval-mode forward of 1 user × 200 candidates, median over repetitions of the median
 * of --serve-times calls (ours on one thread; the peer under torch.no_grad, best thread count). Last: the peak RSS of
 * our process (worker threads included) and of the peer's (both also in the JSON, peakRssKiB).
 *
 *   npm run bench                                                    (builds; writes bench/results/latest.json)
 *   node dist/bench/compare-peer.js --runs 3 --models din --configs default --histories 20 --our-threads 1,2
 *
 * Ours trains on --our-threads (default 1,2): 1 = `trainStep` on this thread (the WASM kernels are single-threaded);
 * ≥ 2 = data-parallel (`DataParallel`, as `trainModel(…, { threads })`: each batch split over that many replicas in
 * worker threads, built once per cell and reused across its repetitions). The peer gets torch.set_num_threads for
 * each of --threads (default 1,2).
 * The peer runs with glibc malloc tuned to keep freed memory (bench_torch.py sets MALLOC_MMAP_THRESHOLD_ and
 * MALLOC_TRIM_THRESHOLD_; otherwise every large temporary tensor is a fresh mmap whose page faults cost more than the
 * arithmetic; DIN_PEER_MALLOC=default turns that off). It needs
 * torch in /usr/bin/python3 (env DIN_PEER_PYTHON overrides) and fails with a clear message without it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createBackend, backendInfo, type BackendKind } from '../src/kernels/backends.js';
import { createModel } from '../src/models/index.js';
import { DEFAULT_MODEL_CONFIG, type ModelConfig, type ModelKind } from '../src/models/model.js';
import { Rng } from '../src/util/rng.js';
import type { ItemCatalog } from '../src/core/types.js';
import { RankingEngine } from '../src/serve/engine/engine.js';
import type { RankRequest } from '../src/serve/types.js';
import { enableRelaxedSimd } from '../src/kernels/relaxed-flag.js';
import { checkPeerPython, forwardTimes, gemmFlopsPerSample, makeBatch, makeCatalog, median, peerScript, servingBatch, stepsPerRunAt, TrainTimer } from './common.js';

enableRelaxedSimd();

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    backend: { type: 'string', default: 'auto' },
    items: { type: 'string', default: '20000' },
    attrs: { type: 'string', default: '1000' },
    models: { type: 'string', default: 'base,din' },
    configs: { type: 'string', default: 'default,issue' },
    batches: { type: 'string', default: '32,256' },
    histories: { type: 'string', default: '20,100' },
    threads: { type: 'string', default: '1,2' },
    'our-threads': { type: 'string', default: '1,2' },
    candidates: { type: 'string', default: '200' },
    'serve-times': { type: 'string', default: '20' },
    emb: { type: 'string', default: 'rows' },
    att: { type: 'string', default: 'factorized' },
    out: { type: 'string', default: 'bench/results/latest.json' },
    'no-serve': { type: 'boolean', default: false },
  },
});

const ints = (s: string) => s.split(',').map((x) => x.trim()).filter((x) => x !== '').map(Number);
const RUNS = Number(args.runs);
const numItems = Number(args.items);
const numAttrs = Number(args.attrs);
const MODELS = args.models.split(',').map((m) => m.trim()) as ModelKind[];
const CONFIG_NAMES = args.configs.split(',').map((c) => c.trim());
const BATCHES = ints(args.batches);
const HISTORIES = ints(args.histories);
const THREADS = ints(args.threads);
const OUR_THREADS = ints(args['our-threads']);
for (const t of OUR_THREADS) if (!(Number.isInteger(t) && t >= 1)) throw new Error(`--our-threads: expected positive integers, got "${args['our-threads']}"`);
if (OUR_THREADS.length === 0) throw new Error('--our-threads: at least one thread count');
const CANDIDATES = Number(args.candidates);
const SERVE_TIMES = Number(args['serve-times']);

/** Ours; the peer has the same two (bench/peers/din_torch.py CONFIGS). */
const CONFIGS: Record<string, { suffix: string; config: Omit<ModelConfig, 'model'>; describe: string }> = {
  default: {
    suffix: '',
    config: { ...DEFAULT_MODEL_CONFIG },
    describe: 'goods+attr 32+32, attention 256→80→40→1 PReLU, MLP [u,q] 128→200→80→1 PReLU',
  },
  issue: {
    suffix: '-issue',
    config: { ...DEFAULT_MODEL_CONFIG, goodsDim: 18, attrDim: 18, activation: 'dice', mlpInput: 'concat-product' },
    describe: 'goods+attr 18+18, attention 144→80→40→1 PReLU, MLP [u,q,u⊙q] 108→200→80→1 Dice',
  },
};
for (const m of MODELS) if (m !== 'base' && m !== 'din') throw new Error(`--models: the peer has base and din, not "${m}"`);
for (const c of CONFIG_NAMES) if (!CONFIGS[c]) throw new Error(`--configs: unknown "${c}" (expected ${Object.keys(CONFIGS).join(', ')})`);

/** The peer's bench_torch.py --worker: one JSON request per line, one JSON reply per line. */
class PeerWorker {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly waiting: ((line: string) => void)[] = [];
  private readonly lines: string[] = [];
  private exited: string | null = null;

  constructor(python: string, script: string, extra: string[]) {
    this.proc = spawn(python, [script, '--worker', ...extra], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.proc.stderr.on('data', (d) => process.stderr.write(d));
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const w = this.waiting.shift();
      if (w) w(line);
      else this.lines.push(line);
    });
    this.proc.on('exit', (code, signal) => {
      this.exited = `the peer worker exited (code ${code}, signal ${signal})`;
      for (const w of this.waiting.splice(0)) w(JSON.stringify({ error: this.exited }));
    });
  }

  private next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.exited) return Promise.resolve(JSON.stringify({ error: this.exited }));
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async ready(): Promise<Record<string, unknown>> {
    const r = JSON.parse(await this.next());
    if (!r.ready) throw new Error(`peer worker: ${r.error ?? 'did not start'}`);
    return r;
  }

  async request(req: Record<string, unknown>): Promise<any> {
    this.proc.stdin.write(JSON.stringify(req) + '\n');
    const r = JSON.parse(await this.next());
    if (r.error) throw new Error(`peer worker: ${r.error} (request ${JSON.stringify(req)})`);
    return r;
  }

  close(): void {
    this.proc.stdin.end(JSON.stringify({ cmd: 'quit' }) + '\n');
  }
}

interface TrainRow {
  model: string;
  config: string;
  batch: number;
  history: number;
  /** Best of our thread counts (samples/s). */
  ours: number;
  peer: number;
  ratio: number;
  oursThreads: number;
  oursByThreads: Record<string, number>;
  /** Gemm floating-point operations per training sample (forward + backward), and ours in GFLOP/s at the best count. */
  gemmFlopsPerSample: number;
  oursGflops: number;
  oursGflopsPerCore: number;
  peerThreads: number;
  peerByThreads: Record<string, number>;
  steps: number;
  oursRuns: Record<string, number[]>;
  peerRuns: Record<string, number[]>;
}

interface ServeRow {
  model: string;
  config: string;
  candidates: number;
  history: number;
  /** Ours: RankingEngine.rank() (what `din serve` runs: user side once, split attention first layer), 1 thread. */
  oursMedianMs: number;
  /** Ours: the training model's batched eval forward (history repeated per candidate), for reference. */
  oursForwardMedianMs: number;
  peerMedianMs: number;
  peerThreads: number;
  peerByThreads: Record<string, number>;
}

function bestThreads(byThreads: Record<string, number>, better: (a: number, b: number) => boolean): [number, number] {
  let best: [number, number] = [NaN, NaN];
  for (const [t, v] of Object.entries(byThreads)) if (Number.isNaN(best[1]) || better(v, best[1])) best = [Number(t), v];
  return best;
}

async function main(): Promise<void> {
  const peerInfo = checkPeerPython();
  const worker = new PeerWorker(peerInfo.python, peerScript('bench_torch.py'),
    ['--items', String(numItems), '--attrs', String(numAttrs), '--emb', args.emb, '--att', args.att]);
  const ready = await worker.ready();
  const started = new Date().toISOString();
  const loadStart = loadavg();
  console.log(`ours: ${backendInfo(args.backend as BackendKind)}, node ${process.version}, threads ${OUR_THREADS.join('/')} ` +
    `(≥ 2: data-parallel; serving on 1); ` +
    `peer: torch ${peerInfo.torch} (${ready.blas}), threads ${THREADS.join('/')}, emb ${args.emb}, attention ${args.att}`);
  console.log(`${numItems} items, ${numAttrs} attrs, every history full; ${RUNS} alternating repetitions per cell; ` +
    `load average at start ${loadStart.map((x) => x.toFixed(2)).join(' ')}`);
  const rng = new Rng(7);
  const catalog = makeCatalog(rng, numItems, numAttrs);
  const keyed: ItemCatalog = {
    ...catalog,
    itemKeys: Array.from({ length: numItems }, (_, i) => `item${i}`),
    attrKeys: Array.from({ length: numAttrs }, (_, i) => `cat${i}`),
  };
  const train: TrainRow[] = [];
  const serve: ServeRow[] = [];
  const num = (x: number, w = 8) => (Number.isFinite(x) ? Math.round(x).toString() : '-').padStart(w);
  const head = `${'model'.padEnd(5)} ${'config'.padEnd(7)} ${'B'.padStart(4)} ${'T'.padStart(4)}  ${'ours/s'.padStart(8)} ` +
    `${OUR_THREADS.map((t) => `ours@${t}`.padStart(8)).join(' ')}  ${'peer/s'.padStart(8)} ${'thr'.padStart(3)}  ${'ratio'.padStart(6)}  ${'GF/s'.padStart(6)} ${'/core'.padStart(6)}`;
  console.log(`\ntraining samples/s (median of ${RUNS}); ours/s, peer/s = best thread count of each (thr: the peer's); ` +
    `ratio = ours / peer; GF/s = our gemm GFLOP/s (counted gemm arithmetic of a step × steps/s), /core = per thread ` +
    `(WASM SIMD peak ≈ 56 GFLOP/s per core)\n${head}`);
  for (const cname of CONFIG_NAMES) {
    const cdef = CONFIGS[cname];
    for (const kind of MODELS) {
      const name = `${kind}${cdef.suffix}`;
      const config: ModelConfig = { ...cdef.config, model: kind };
      for (const B of BATCHES) {
        for (const T of HISTORIES) {
          const steps = stepsPerRunAt(B, T);
          const batches = Array.from({ length: 8 }, () => makeBatch(rng, numItems, B, T));
          // Per thread count, a model on its own backend (its arena holds this cell's model and workspaces only; a
          // data-parallel group attaches to its backend) and a timer; ≥ 2 threads start their workers here, once.
          const timers: TrainTimer[] = [];
          const flopsPerSample = gemmFlopsPerSample(createModel(config, { backend: createBackend(args.backend as BackendKind), catalog, seed: 1 }), batches[0]);
          try {
            for (const t of OUR_THREADS) {
              const model = createModel(config, { backend: createBackend(args.backend as BackendKind), catalog, seed: 1 });
              timers.push(new TrainTimer(model, batches, undefined, t));
            }
            const oursRuns: Record<string, number[]> = Object.fromEntries(OUR_THREADS.map((t) => [String(t), []]));
            const peerRuns: Record<string, number[]> = Object.fromEntries(THREADS.map((t) => [String(t), []]));
            for (let r = 0; r < RUNS; r++) {
              const runOurs = () => {
                for (const timer of timers) {
                  timer.warmup(r === 0 ? 10 : 3);
                  oursRuns[String(timer.threads)].push(timer.run(steps));
                }
              };
              const runPeer = async () => {
                for (const t of THREADS) {
                  const res = await worker.request({ cmd: 'train', model: kind, config: cname, batch: B, history: T, threads: t, runs: 1, steps });
                  peerRuns[String(t)].push(res.samplesPerSec[0]);
                }
              };
              if (r % 2 === 0) {
                runOurs();
                await runPeer();
              } else {
                await runPeer();
                runOurs();
              }
            }
            for (const timer of timers) timer.verify();
            const oursByThreads = Object.fromEntries(Object.entries(oursRuns).map(([t, xs]) => [t, median(xs)]));
            const [oursThreads, ours] = bestThreads(oursByThreads, (a, b) => a > b);
            const peerByThreads = Object.fromEntries(Object.entries(peerRuns).map(([t, xs]) => [t, median(xs)]));
            const [peerThreads, peer] = bestThreads(peerByThreads, (a, b) => a > b);
            const gflops = (ours * flopsPerSample) / 1e9;
            const row: TrainRow = { model: name, config: cname, batch: B, history: T, ours, peer, ratio: ours / peer,
              oursThreads, oursByThreads, peerThreads, peerByThreads, gemmFlopsPerSample: flopsPerSample,
              oursGflops: gflops, oursGflopsPerCore: gflops / Number(oursThreads), steps, oursRuns, peerRuns };
            train.push(row);
            console.log(`${kind.padEnd(5)} ${cname.padEnd(7)} ${String(B).padStart(4)} ${String(T).padStart(4)}  ${num(ours)} ` +
              `${OUR_THREADS.map((t) => num(oursByThreads[String(t)])).join(' ')}  ${num(peer)} ${String(peerThreads).padStart(3)}  ` +
              `${row.ratio.toFixed(2).padStart(6)}  ${gflops.toFixed(1).padStart(6)} ${(gflops / Number(oursThreads)).toFixed(1).padStart(6)}`);
          } finally {
            for (const timer of timers) timer.close();
          }
        }
      }
    }
  }
  if (!args['no-serve']) {
    console.log(`\nserving 1 user × ${CANDIDATES} candidates, median ms (ours: RankingEngine.rank, what din serve runs, on 1 ` +
      `thread; fwd: our training model's eval forward; peer: eval forward, best of its threads, then each)\n` +
      `${'model'.padEnd(5)} ${'config'.padEnd(7)} ${'T'.padStart(4)}  ${'ours'.padStart(8)}  ${'fwd'.padStart(8)}  ${'peer'.padStart(8)} ` +
      `${THREADS.map((t) => `peer@${t}`.padStart(8)).join(' ')}  ${'peer/ours'.padStart(9)}`);
    for (const cname of CONFIG_NAMES) {
      const cdef = CONFIGS[cname];
      for (const kind of MODELS) {
        const name = `${kind}${cdef.suffix}`;
        const config: ModelConfig = { ...cdef.config, model: kind };
        for (const T of HISTORIES) {
          const model = createModel(config, { backend: createBackend(args.backend as BackendKind), catalog, seed: 1 });
          const b = servingBatch(rng, numItems, CANDIDATES, T);
          const engine = RankingEngine.fromModel(model, { catalog: keyed, maxHistory: T });
          const req: RankRequest = {
            user: { id: 'u1', behaviors: Array.from({ length: T }, () => ({ id: keyed.itemKeys[rng.int(numItems)] })) },
            candidates: Array.from({ length: CANDIDATES }, () => ({ id: keyed.itemKeys[rng.int(numItems)], bid: 1 })),
          };
          const ours: number[] = [];
          const oursForward: number[] = [];
          const peerMs: Record<string, number[]> = Object.fromEntries(THREADS.map((t) => [String(t), []]));
          for (let r = 0; r < RUNS; r++) {
            oursForward.push(median(forwardTimes(model, b, SERVE_TIMES, r === 0 ? 20 : 3)));
            for (let i = 0; i < (r === 0 ? 20 : 3); i++) engine.rank(req);
            const ms: number[] = [];
            for (let i = 0; i < SERVE_TIMES; i++) {
              const t0 = performance.now();
              engine.rank(req);
              ms.push(performance.now() - t0);
            }
            ours.push(median(ms));
            for (const t of THREADS) {
              const res = await worker.request({ cmd: 'serve', model: kind, config: cname, candidates: CANDIDATES, history: T, threads: t, times: SERVE_TIMES });
              peerMs[String(t)].push(median(res.ms));
            }
          }
          const peerByThreads = Object.fromEntries(Object.entries(peerMs).map(([t, xs]) => [t, median(xs)]));
          const [peerThreads, peerMedianMs] = bestThreads(peerByThreads, (a, c) => a < c);
          const row: ServeRow = { model: name, config: cname, candidates: CANDIDATES, history: T, oursMedianMs: median(ours),
            oursForwardMedianMs: median(oursForward), peerMedianMs,
            peerThreads, peerByThreads };
          serve.push(row);
          console.log(`${kind.padEnd(5)} ${cname.padEnd(7)} ${String(T).padStart(4)}  ${row.oursMedianMs.toFixed(3).padStart(8)}  ${row.oursForwardMedianMs.toFixed(3).padStart(8)}  ${peerMedianMs.toFixed(3).padStart(8)} ` +
            `${THREADS.map((t) => peerByThreads[String(t)].toFixed(3).padStart(8)).join(' ')}  ${(peerMedianMs / row.oursMedianMs).toFixed(2).padStart(9)}`);
        }
      }
    }
  }
  // Peak resident set sizes (KiB): ours includes the data-parallel worker threads (same process).
  const oursMaxRssKiB = process.resourceUsage().maxRSS;
  let peerMaxRssKiB: number | null = null;
  try {
    const inf = await worker.request({ cmd: 'info' });
    peerMaxRssKiB = typeof inf.maxRssKiB === 'number' ? inf.maxRssKiB : null;
  } catch (e) {
    console.error(`compare-peer: the peer did not report its peak RSS: ${(e as Error).message}`);
  }
  worker.close();
  const mib = (k: number | null) => (k === null ? 'unknown' : `${(k / 1024).toFixed(0)} MiB`);
  console.log(`\npeak RSS: ours ${mib(oursMaxRssKiB)} (node process, worker threads included), peer ${mib(peerMaxRssKiB)} (python process)`);
  const loadEnd = loadavg();
  console.log(`load average at end ${loadEnd.map((x) => x.toFixed(2)).join(' ')}`);
  const result = {
    meta: {
      started,
      finished: new Date().toISOString(),
      command: `node ${process.argv.slice(1).join(' ')}`,
      ours: { backend: backendInfo(args.backend as BackendKind), node: process.version, threads: OUR_THREADS,
        parallel: 'threads >= 2: data-parallel (DataParallel, one replica per thread); serving on 1 thread' },
      peer: { torch: peerInfo.torch, numpy: peerInfo.numpy, blas: ready.blas, python: peerInfo.python, threads: THREADS,
        emb: args.emb, att: args.att },
      cpu: cpus()[0]?.model, cores: cpus().length, loadavgStart: loadStart, loadavgEnd: loadEnd,
      shapes: { items: numItems, attrs: numAttrs, attrsPerItem: '1-3', historiesFull: true, optimizer: 'adam lr 1e-3, clip 5' },
      configs: Object.fromEntries(CONFIG_NAMES.map((c) => [c, CONFIGS[c].describe])),
      repetitions: RUNS,
      ratio: 'ours / peer samples/s (each: best thread count); > 1 means ours is faster',
    },
    train,
    serve,
    peakRssKiB: { ours: oursMaxRssKiB, peer: peerMaxRssKiB },
  };
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, JSON.stringify(result, null, 1) + '\n');
  console.log(`wrote ${args.out}`);
}

main().catch((e) => {
  console.error(`compare-peer: ${(e as Error).message}`);
  process.exit(1);
});
