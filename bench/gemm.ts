// GEMM throughput of the WASM kernels on the shapes of a CTR model, against a plain-TS float32 loop.
//   node dist/bench/gemm.js                                       plain SIMD build (+ TS reference)
//   node --experimental-wasm-relaxed-simd dist/bench/gemm.js      also the relaxed-SIMD (FMA) build
//   ... dist/bench/gemm.js --wall                                 time by the wall clock instead of CPU time
// Prints the median GFLOP/s of 7 timed runs (after warm-up); each run repeats the product for >= ~40 ms.
// Runs are timed by the process's CPU time (user + system) by default: on a shared machine the wall clock also counts
// the time the thread waits for a core, which made one shape look 2–3× slower than another from run to run; CPU time
// does not (cache contention from the other processes remains). The process is single-threaded once warmed up.
import { WasmBackend, relaxedSimdSupported } from '../src/kernels/wasm-backend.js';
import { Rng } from '../src/util/rng.js';
import { enableRelaxedSimd } from '../src/kernels/relaxed-flag.js';

enableRelaxedSimd();

type Layout = 'NN' | 'NT' | 'TN';
const SHAPES: [number, number, number][] = [
  // [M, K, N]
  [5120, 144, 80],
  [256, 64, 200],
  [256, 200, 80],
];
// Shapes backward produces from the ones above, reported for information.
const EXTRA: [Layout, number, number, number][] = [
  ['TN', 144, 5120, 80], // dW = Xᵀ·dY with the batch as the reduction
  ['NT', 5120, 80, 144], // dX = dY·Wᵀ
  ['NN', 5120, 80, 40], // the attention unit's second layer: forward, dX, dW
  ['NT', 5120, 40, 80],
  ['TN', 80, 5120, 40],
  ['NN', 5120, 40, 1], // attention unit's last layer (N = 1) and its backward: K = 1, and a K×1 weight gradient
  ['NT', 5120, 1, 40],
  ['TN', 40, 5120, 1],
  ['NN', 32, 144, 80], // small batch (serving)
  ['NN', 1, 200, 80], // a single row
];
const WALL = process.argv.includes('--wall');

/** Seconds elapsed since `start` (from `now()`): CPU time of this process, or the wall clock with --wall. */
function now(): number {
  if (WALL) return performance.now() / 1000;
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
const RUNS = 7;
const MIN_RUN_S = 0.04;

/** The straightforward fast loop a TS programmer writes: i-k-j with a hoisted scalar, float32 storage. */
function tsGemm(transA: boolean, transB: boolean, M: number, N: number, K: number, A: Float32Array, B: Float32Array,
  C: Float32Array): void {
  C.fill(0, 0, M * N);
  if (!transB) {
    for (let i = 0; i < M; i++) {
      const c = i * N;
      for (let k = 0; k < K; k++) {
        const a = transA ? A[k * M + i] : A[i * K + k];
        const b = k * N;
        for (let j = 0; j < N; j++) C[c + j] += a * B[b + j];
      }
    }
  } else {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        const b = j * K;
        if (transA) for (let k = 0; k < K; k++) s += A[k * M + i] * B[b + k];
        else for (let k = 0, a = i * K; k < K; k++) s += A[a + k] * B[b + k];
        C[i * N + j] = s;
      }
    }
  }
}

/**
 * Median GFLOP/s of each of `fns` (the same product on different kernels). Their runs are interleaved, so that a
 * burst of load from other processes costs every column alike instead of whichever one happens to be running.
 */
function medianGflops(flops: number, fns: (() => void)[]): number[] {
  const reps = fns.map((fn) => {
    for (let i = 0; i < 3; i++) fn();
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) fn();
    const once = Math.max((performance.now() - t0) / 3000, 1e-6);
    return Math.max(1, Math.ceil(MIN_RUN_S / once));
  });
  const rates: number[][] = fns.map(() => []);
  for (let r = 0; r < RUNS; r++) {
    fns.forEach((fn, f) => {
      const s = now();
      for (let i = 0; i < reps[f]; i++) fn();
      rates[f].push((flops * reps[f]) / Math.max(now() - s, 1e-6) / 1e9);
    });
  }
  return rates.map((rs) => rs.sort((a, b) => a - b)[RUNS >> 1]);
}

function main(): void {
  const backends = [new WasmBackend({ relaxed: false, memoryMB: 256 })];
  if (relaxedSimdSupported()) backends.push(new WasmBackend({ relaxed: true, memoryMB: 256 }));
  // V8 starts wasm in its baseline tier and optimizes hot functions in the background: warm up every layout first.
  for (const be of backends) {
    const A = be.alloc(256 * 256), B = be.alloc(256 * 256), C = be.alloc(256 * 256);
    const until = performance.now() + 300;
    while (performance.now() < until) {
      for (const [tA, tB] of [[false, false], [false, true], [true, false]]) be.gemm(tA, tB, 64, 64, 64, 1, A, B, 0, C);
      be.gemm(false, false, 64, 1, 64, 1, A, B, 0, C); // N = 1, both layouts of A
      be.gemm(true, false, 64, 1, 64, 1, A, B, 0, C);
      be.gemm(false, false, 64, 64, 1, 1, A, B, 0, C); // K = 1
      be.gemm(false, false, 1, 64, 64, 1, A, B, 0, C); // M = 1
    }
    be.free(A); be.free(B); be.free(C);
  }
  const rng = new Rng(7);
  const cases: [Layout, number, number, number][] = [];
  for (const [M, K, N] of SHAPES) for (const l of ['NN', 'NT', 'TN'] as Layout[]) cases.push([l, M, K, N]);
  cases.push(...EXTRA);

  const header = ['layout', 'M', 'K', 'N', ...backends.map((b) => b.name), 'ts-f32 loop'];
  console.log(`GEMM GFLOP/s, median of ${RUNS} runs timed by ${WALL ? 'the wall clock' : 'CPU time'} ` +
    `(node ${process.version}, 1 thread)`);
  console.log(header.map((h, i) => (i === 0 ? h.padEnd(6) : h.padStart(i < 4 ? 6 : 18))).join(' '));
  for (const [layout, M, K, N] of cases) {
    const transA = layout[0] === 'T';
    const transB = layout[1] === 'T';
    const flops = 2 * M * N * K;
    const a = Float32Array.from({ length: M * K }, () => rng.next() - 0.5);
    const b = Float32Array.from({ length: K * N }, () => rng.next() - 0.5);
    const row: string[] = [layout.padEnd(6), String(M).padStart(6), String(K).padStart(6), String(N).padStart(6)];
    const ops = backends.map((be) => {
      const A = be.alloc(M * K), B = be.alloc(K * N), C = be.alloc(M * N);
      A.set(a);
      B.set(b);
      return { be, A, B, C };
    });
    const g = medianGflops(flops, ops.map(({ be, A, B, C }) => () => be.gemm(transA, transB, M, N, K, 1, A, B, 0, C)));
    for (const x of g) row.push(x.toFixed(1).padStart(18));
    for (const { be, A, B, C } of ops) { be.free(A); be.free(B); be.free(C); }
    const C = new Float32Array(M * N);
    row.push(medianGflops(flops, [() => tsGemm(transA, transB, M, N, K, a, b, C)])[0].toFixed(1).padStart(18));
    console.log(row.join(' '));
  }
  if (backends.length === 1) {
    console.log('(relaxed SIMD not available: run with node --experimental-wasm-relaxed-simd to include it)');
  }
}

/** RSS cost of the arena: reserved-but-untouched pages should cost nothing (printed, not asserted). */
function arenaRss() {
  const before = process.memoryUsage().rss;
  const w = new WasmBackend({ memoryMB: 1024 });
  const big = w.alloc(128 << 20);
  const after = process.memoryUsage().rss;
  big.fill(1, 0, 4 << 20);
  const touched = process.memoryUsage().rss;
  console.log(
    `arena RSS: +${((after - before) / 2 ** 20).toFixed(1)} MiB for a 1024 MiB arena with 512 MiB allocated, ` +
      `+${((touched - after) / 2 ** 20).toFixed(1)} MiB after writing 16 MiB`,
  );
}

main();
arenaRss();
