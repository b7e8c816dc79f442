/**
 * Helpers shared by the benchmarks: the synthetic catalog and fixed-shape batches of bench/train-speed.ts, the timed
 * training loop (on one thread with `trainStep`, or data-parallel on several with `DataParallel`) and scoring latency,
 * and how the PyTorch peer (bench/peers/) is found and started.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Batch } from '../src/core/types.js';
import type { Model } from '../src/models/model.js';
import type { Backend, Float } from '../src/kernels/backend.js';
import { createOptimizer, type Optimizer, type Regularizer } from '../src/optim/index.js';
import { DataParallel } from '../src/train/data-parallel.js';
import { trainStep } from '../src/train/trainer.js';
import type { Rng } from '../src/util/rng.js';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface SyntheticCatalog {
  numItems: number;
  numAttrs: number;
  attrOffsets: Int32Array;
  attrValues: Int32Array;
}

/** numItems items with 1–3 attributes each (uniform over numAttrs), like Beauty's brand + category terms. */
export function makeCatalog(rng: Rng, numItems: number, numAttrs: number): SyntheticCatalog {
  const attrOffsets = new Int32Array(numItems + 1);
  const attrList: number[] = [];
  for (let i = 0; i < numItems; i++) {
    const k = 1 + rng.int(3);
    for (let j = 0; j < k; j++) attrList.push(rng.int(numAttrs));
    attrOffsets[i + 1] = attrList.length;
  }
  return { numItems, numAttrs, attrOffsets, attrValues: Int32Array.from(attrList) };
}

/** A batch of B rows with every history full (length T), uniform random items and 0/1 labels. */
export function makeBatch(rng: Rng, numItems: number, B: number, T: number): Batch {
  const b: Batch = {
    size: B,
    T,
    labels: new Float32Array(B),
    users: new Int32Array(B),
    items: new Int32Array(B),
    hist: new Int32Array(B * T),
    lengths: new Int32Array(B).fill(T),
    index: new Int32Array(B),
  };
  for (let i = 0; i < B; i++) {
    b.labels[i] = rng.int(2);
    b.users[i] = i;
    b.items[i] = rng.int(numItems);
    b.index[i] = i;
  }
  for (let i = 0; i < B * T; i++) b.hist[i] = rng.int(numItems);
  return b;
}

/** Training steps per timed run of bench/train-speed.ts at batch size B (≈ 20,000 samples). */
export function stepsPerRun(B: number): number {
  return Math.max(20, Math.round(20000 / B));
}

/**
 * Training steps per timed run at B × T: ≈ 20,000 samples at T = 20 (what {@link stepsPerRun} gives) and the same
 * number of behaviours at other T (≈ 4,000 samples at T = 100), at least 20 steps. The peer uses the same rule.
 */
export function stepsPerRunAt(B: number, T: number): number {
  return Math.max(20, Math.round((20000 * 20) / (T * B)));
}

/**
 * A model being timed on fixed batches with Adam (lr 1e-3, clip 5), as training runs it: `trainStep` on one thread,
 * or a {@link DataParallel} over `threads` ≥ 2 threads (built once here: it starts threads − 1 workers, ~100 ms, and
 * copies the model into them, so the model must come from createModel and must not be stepped by anything else).
 * `warmup(n)` runs untimed steps; `run(steps)` returns samples/s of one timed run. Each call cycles through the
 * batches from the first. `close()` lets the worker threads go (call it, e.g. in `finally`).
 */
export class TrainTimer {
  private readonly opt: Optimizer;
  private readonly dLogits: Float | null;
  private readonly dp: DataParallel | null;

  constructor(readonly model: Model, readonly batches: Batch[], readonly reg?: Regularizer, readonly threads = 1) {
    this.opt = createOptimizer('adam', model.backend);
    this.dp = threads > 1 ? DataParallel.create(model, threads, this.opt, reg?.spec, 5) : null;
    this.dLogits = this.dp ? null : model.backend.alloc(Math.max(...batches.map((b) => b.size)));
  }

  warmup(steps: number): void {
    for (let s = 0; s < steps; s++) this.step(s);
  }

  run(steps: number): number {
    let samples = 0;
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) samples += this.step(s);
    return samples / ((performance.now() - t0) / 1000);
  }

  /** Data-parallel: throws if a worker's replica drifted from the model. One thread: nothing to check. */
  verify(): void {
    this.dp?.verify();
  }

  /** Lets the worker threads go (idempotent; nothing to do on one thread). */
  close(): void {
    this.dp?.close();
  }

  private step(i: number): number {
    const b = this.batches[i % this.batches.length];
    if (this.dp) this.dp.step(b, 1e-3);
    else trainStep(this.model, b, this.opt, 1e-3, 5, this.dLogits!, this.reg);
    return b.size;
  }
}

/**
 * Floating-point operations of the gemms in one training step, per sample (2·M·N·K per gemm call, counted on a
 * throwaway step of `model`): the arithmetic that GFLOP/s figures refer to. The other work (gathers, activations,
 * Adam) is not counted.
 */
export function gemmFlopsPerSample(model: Model, batch: Batch): number {
  const be = model.backend as Backend & { gemm: Backend['gemm'] };
  const orig = be.gemm;
  let flops = 0;
  (be as { gemm: Backend['gemm'] }).gemm = function (this: Backend, tA, tB, M, N, K, alpha, A, B, beta, C) {
    flops += 2 * M * N * K;
    return orig.call(this, tA, tB, M, N, K, alpha, A, B, beta, C);
  };
  try {
    trainStep(model, batch, createOptimizer('sgd'), 0, 0, model.backend.alloc(batch.size));
  } finally {
    delete (be as { gemm?: unknown }).gemm;
  }
  return flops / batch.size;
}

/** Median samples/s of `runs` timed runs after 10 warm-up steps (bench/train-speed.ts), on `threads` threads. */
export function trainSpeed(model: Model, batches: Batch[], runs: number, steps: number, reg?: Regularizer, threads = 1): number {
  const timer = new TrainTimer(model, batches, reg, threads);
  try {
    timer.warmup(10);
    const rates: number[] = [];
    for (let r = 0; r < runs; r++) rates.push(timer.run(steps));
    timer.verify();
    return median(rates);
  } finally {
    timer.close();
  }
}

/**
 * One visitor scored against `candidates` items: the batch's first history row repeated for every row (the ranking
 * engine of a later issue computes the user side once; this measures the plain batched forward).
 */
export function servingBatch(rng: Rng, numItems: number, candidates: number, T: number): Batch {
  const b = makeBatch(rng, numItems, candidates, T);
  for (let i = 1; i < candidates; i++) b.hist.copyWithin(i * T, 0, T);
  return b;
}

/** Eval-mode forward latencies (ms) of `times` calls after `warmup` untimed ones. */
export function forwardTimes(model: Model, b: Batch, times: number, warmup = 20): number[] {
  for (let i = 0; i < warmup; i++) model.forward(b, 'eval');
  const out: number[] = [];
  for (let r = 0; r < times; r++) {
    const t0 = performance.now();
    model.forward(b, 'eval');
    out.push(performance.now() - t0);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------ the PyTorch peer

/** The Python that runs the peer: env DIN_PEER_PYTHON, else Debian's /usr/bin/python3 (where python3-torch lives). */
export function peerPython(): string {
  return process.env.DIN_PEER_PYTHON || '/usr/bin/python3';
}

/** Path of bench/peers/<name>: searched upward from this module (dist/bench/ or a --outDir copy), then from cwd. */
export function peerScript(name: string): string {
  const starts = [dirname(fileURLToPath(import.meta.url)), process.cwd()];
  for (const start of starts) {
    let dir = resolve(start);
    for (;;) {
      const candidate = join(dir, 'bench', 'peers', name);
      if (existsSync(candidate)) return candidate;
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  throw new Error(`bench/peers/${name} not found above ${starts.join(' or ')}`);
}

export interface PeerInfo {
  python: string;
  torch: string;
  numpy: string;
  blas: string;
}

/**
 * Checks that the peer's Python has torch and numpy; throws a clear error otherwise. `blas` is the BLAS library the
 * torch process actually mapped after a matrix product (Debian's torch links the generic libblas.so.3, which the
 * alternatives system points at OpenBLAS).
 */
export function checkPeerPython(): PeerInfo {
  const python = peerPython();
  const probe = [
    'import json, torch, numpy',
    'a = torch.ones(64, 64); (a @ a).sum()',
    "libs = sorted({l.split()[-1] for l in open('/proc/self/maps') if 'blas' in l.lower()})",
    "print(json.dumps({'torch': torch.__version__, 'numpy': numpy.__version__, 'blas': ' '.join(libs) or 'unknown'}))",
  ].join('\n');
  const r = spawnSync(python, ['-c', probe], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr || '').trim().split('\n').pop();
    throw new Error(`the PyTorch peer needs torch and numpy in ${python}, which failed: ${why}\n` +
      '  install them with `apt-get install -y python3-torch libopenblas0-openmp` (Debian), ' +
      'or set DIN_PEER_PYTHON to a Python that has torch');
  }
  const info = JSON.parse(r.stdout.trim().split('\n').pop()!);
  return { python, ...info };
}
