import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareEvalActivation, type Backend, type DiceStats, type EvalActivation, type Float, type PreparedActivation } from './backend.js';
import { Arena, type ArenaStats } from './arena.js';

/**
 * The fast Backend: AssemblyScript SIMD kernels (src/kernels/assembly, built by `npm run build:wasm`) over one
 * WebAssembly.Memory that is created at its full size up front and never grows, so the typed-array views layers keep
 * stay valid. Untouched pages of that memory cost no RSS on Linux, so a generous size is cheap.
 *
 * Two builds of the same kernels exist: plain SIMD128 and relaxed SIMD (fused multiply-add). The relaxed one is used
 * only where the engine validates a relaxed-SIMD module (Node 20 needs `--experimental-wasm-relaxed-simd`).
 */

const PAGE = 65536;
/** Low memory left unused so that byte offset 0 is never a valid array. */
const RESERVED_LOW = PAGE;
const DEFAULT_MEMORY_MB = 1024;
const MEMORY_ENV = 'DIN_WASM_MEMORY_MB';
const RELAXED_ENV = 'DIN_WASM_RELAXED';

/** Options of the WASM backend (`createBackend('wasm' | 'auto', opts)`; ignored by the JS backends). */
export interface WasmBackendOptions {
  /** 'auto' (default): relaxed SIMD where supported; true: require it; false: plain SIMD. Env DIN_WASM_RELAXED=0|1
   * overrides 'auto'. */
  relaxed?: 'auto' | boolean;
  /** Arena size in MiB (default: env DIN_WASM_MEMORY_MB, else 1024). Fixed for the backend's lifetime. */
  memoryMB?: number;
}

interface Kernels {
  setScratch(ptr: number, bytes: number): number;
  scratchBytes(): number;
  gemm(transA: number, transB: number, M: number, N: number, K: number, alpha: number, A: number, B: number,
    beta: number, C: number): void;
  sumSquares(x: number, n: number): number;
  addBias(Y: number, b: number, M: number, N: number): void;
  sumRows(dY: number, M: number, N: number, db: number): void;
  gather(table: number, dim: number, rows: number, ids: number, n: number, out: number): number;
  scatterAddRows(grad: number, dim: number, rows: number, slots: number, n: number, dOut: number): number;
  attnInput(q: number, K: number, B: number, T: number, D: number, out: number): void;
  attnInputBackward(q: number, K: number, dOut: number, B: number, T: number, D: number, dq: number, dK: number): void;
  attnPairs(q: number, K: number, rowIdx: number, rowB: number, N: number, D: number, x2: number): void;
  attnPairsBackward(q: number, K: number, dx2: number, rowIdx: number, rowB: number, N: number, D: number, dq: number,
    dK: number): void;
  weightedSum(w: number, K: number, B: number, T: number, D: number, out: number): void;
  weightedSumBackward(w: number, K: number, dOut: number, B: number, T: number, D: number, dw: number,
    dK: number): void;
  preluForward(x: number, alpha: number, n: number, C: number, y: number): void;
  preluBackward(x: number, alpha: number, dy: number, n: number, C: number, dx: number, dAlpha: number): void;
  diceStatsPerChannel(): number;
  diceForward(x: number, n: number, C: number, alpha: number, movingMean: number, movingVar: number, train: number,
    momentum: number, eps: number, stats: number, y: number, p: number, z: number): void;
  diceBackward(x: number, dy: number, n: number, C: number, alpha: number, train: number, stats: number, p: number,
    z: number, dx: number, dAlpha: number): void;
  diceSumShifted(x: number, n: number, C: number, shift: number, stats: number): void;
  diceForwardStats(x: number, n: number, C: number, N: number, alpha: number, movingMean: number, movingVar: number,
    momentum: number, eps: number, stats: number, y: number, p: number, z: number): void;
  diceBackwardSums(x: number, dy: number, n: number, C: number, alpha: number, stats: number, p: number, z: number,
    dx: number, dAlpha: number): void;
  diceBackwardCorrect(n: number, C: number, N: number, stats: number, z: number, dx: number): void;
  adamUpdate(w: number, g: number, m: number, v: number, ids: number, n: number, dim: number, rows: number, b1: number,
    b2: number, lr: number, ic1: number, ic2: number, eps: number): number;
  evalActivationGrid(kind: number, x: number, nA: number, nB: number, C: number, A: number, sA: number, B: number, sB: number,
    p0: number, p1: number, p2: number, p3: number): void;
  pairProducts(out: number, Q: number, nA: number, K: number, nB: number, D: number): void;
}

const ACT_KIND = { none: 0, prelu: 1, dice: 2, sigmoid: 3 } as const;

/** The WASM kernels' Dice workspace: an arena array (float64 sums, then float32 copies the SIMD loops read). */
class WasmDiceStats implements DiceStats {
  constructor(readonly channels: number, readonly data: Float64Array, readonly owner: WasmBackend) {}
}

// (module (func (result v128) v128.const 0 v128.const 0 v128.const 0 f32x4.relaxed_madd))
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00,
  0x0a, 0x3d, 0x01, 0x3b, 0x00,
  0xfd, 0x0c, ...new Array<number>(16).fill(0),
  0xfd, 0x0c, ...new Array<number>(16).fill(0),
  0xfd, 0x0c, ...new Array<number>(16).fill(0),
  0xfd, 0x85, 0x02,
  0x0b,
]);
// (module (func (result v128) v128.const 0))
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00,
  0x0a, 0x16, 0x01, 0x14, 0x00,
  0xfd, 0x0c, ...new Array<number>(16).fill(0),
  0x0b,
]);

/** Whether this engine accepts relaxed-SIMD modules (Node 20: only with --experimental-wasm-relaxed-simd). */
export function relaxedSimdSupported(): boolean {
  return WebAssembly.validate(RELAXED_PROBE);
}

/** Whether this engine accepts SIMD128 modules (every Node >= 16.4). */
export function simdSupported(): boolean {
  return WebAssembly.validate(SIMD_PROBE);
}

/** Which kernel build `relaxed` resolves to here. */
export function resolveVariant(relaxed: 'auto' | boolean = 'auto'): 'relaxed' | 'simd' {
  if (relaxed === 'auto') {
    const env = process.env[RELAXED_ENV];
    if (env === '0') return 'simd';
    if (env === '1') relaxed = true;
  }
  if (relaxed === true) {
    if (!relaxedSimdSupported()) {
      throw new Error('WasmBackend: relaxed SIMD was requested but this engine does not support it ' +
        '(on Node 20 run node with --experimental-wasm-relaxed-simd, or use relaxed: \'auto\')');
    }
    return 'relaxed';
  }
  if (relaxed === false) return 'simd';
  return relaxedSimdSupported() ? 'relaxed' : 'simd';
}

let wasmDirCache: string | undefined;

/** The directory holding kernels-*.wasm: env DIN_WASM_DIR, else the first `build/` above this module that has them. */
export function wasmDir(): string {
  if (wasmDirCache) return wasmDirCache;
  const override = process.env.DIN_WASM_DIR;
  if (override) return (wasmDirCache = override);
  // Source lives in src/kernels/, compiled JS in dist/src/kernels/; the wasm is in build/ at the package root.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'build');
    if (existsSync(join(candidate, 'kernels-simd.wasm'))) return (wasmDirCache = candidate);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error('WasmBackend: build/kernels-simd.wasm not found above ' +
    `${dirname(fileURLToPath(import.meta.url))}: run \`npm run build:wasm\` (or set DIN_WASM_DIR)`);
}

const moduleCache = new Map<string, WebAssembly.Module>();

function loadModule(variant: 'relaxed' | 'simd'): WebAssembly.Module {
  let mod = moduleCache.get(variant);
  if (mod) return mod;
  const file = join(wasmDir(), variant === 'relaxed' ? 'kernels-relaxed.wasm' : 'kernels-simd.wasm');
  if (!existsSync(file)) throw new Error(`WasmBackend: ${file} not found: run \`npm run build:wasm\``);
  mod = new WebAssembly.Module(readFileSync(file));
  moduleCache.set(variant, mod);
  return mod;
}

function memoryMBFromEnv(): number {
  const env = process.env[MEMORY_ENV];
  if (env === undefined || env === '') return DEFAULT_MEMORY_MB;
  const v = Number(env);
  if (!Number.isFinite(v)) throw new Error(`${MEMORY_ENV}=${env} is not a number (MiB of WASM arena)`);
  return v;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

export class WasmBackend implements Backend {
  readonly name: 'wasm-simd' | 'wasm-relaxed-simd';
  readonly dtype = 'float32' as const;
  readonly memory: WebAssembly.Memory;
  /** Arena size in MiB. */
  readonly memoryMB: number;
  private readonly buffer: ArrayBuffer;
  private readonly k: Kernels;
  private readonly arena: Arena;

  /** Synchronous: compiles (once per process and variant) and instantiates the kernels. */
  constructor(opts: WasmBackendOptions = {}) {
    if (!simdSupported()) throw new Error('WasmBackend: this engine does not support WebAssembly SIMD');
    const variant = resolveVariant(opts.relaxed ?? 'auto');
    const memoryMB = opts.memoryMB ?? memoryMBFromEnv();
    if (!(memoryMB >= 16 && memoryMB <= 4096)) {
      throw new Error(`WasmBackend: arena size ${memoryMB} MiB is out of range [16, 4096] (${MEMORY_ENV})`);
    }
    const pages = Math.min(65536, Math.ceil((memoryMB * 2 ** 20) / PAGE));
    this.memoryMB = memoryMB;
    this.name = variant === 'relaxed' ? 'wasm-relaxed-simd' : 'wasm-simd';
    try {
      this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    } catch (e) {
      throw new Error(`WasmBackend: cannot reserve a ${memoryMB} MiB WASM memory (${(e as Error).message}); ` +
        `lower ${MEMORY_ENV}`);
    }
    this.buffer = this.memory.buffer;
    const instance = new WebAssembly.Instance(loadModule(variant), { env: { memory: this.memory } });
    this.k = instance.exports as unknown as Kernels;
    const total = pages * PAGE;
    this.arena = new Arena(RESERVED_LOW, total, (bytes, s) => new Error(
      `WasmBackend: out of WASM memory: requested ${mib(bytes)} with ${mib(s.used)} in use ` +
      `(${s.allocations} arrays) of a ${mib(s.capacity)} arena; raise ${MEMORY_ENV} (now ${memoryMB}) ` +
      'or free unused arrays'));
    const scratch = this.k.scratchBytes();
    const { ptr } = this.arena.alloc(scratch);
    if (!this.k.setScratch(ptr, scratch)) throw new Error('WasmBackend: kernel scratch setup failed');
  }

  alloc(n: number): Float32Array {
    const { ptr, needsZero } = this.arena.alloc(4 * checkCount(n));
    const a = new Float32Array(this.buffer, ptr, n);
    if (needsZero) a.fill(0);
    return a;
  }

  allocInt(n: number): Int32Array {
    const { ptr, needsZero } = this.arena.alloc(4 * checkCount(n));
    const a = new Int32Array(this.buffer, ptr, n);
    if (needsZero) a.fill(0);
    return a;
  }

  allocF64(n: number): Float64Array {
    const { ptr, needsZero } = this.arena.alloc(8 * checkCount(n));
    const a = new Float64Array(this.buffer, ptr, n);
    if (needsZero) a.fill(0);
    return a;
  }

  free(a: Float | Int32Array): void {
    if (a.buffer !== this.buffer) throw foreign('free', 'array', a);
    this.arena.free(a.byteOffset);
  }

  /** Arena usage (bytes), for logs and tests. */
  memoryStats(): ArenaStats {
    return this.arena.stats();
  }

  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: Float, B: Float,
    beta: number, C: Float): void {
    dim('gemm', 'M', M); dim('gemm', 'N', N); dim('gemm', 'K', K);
    const pa = this.f('gemm', 'A', A, M * K);
    const pb = this.f('gemm', 'B', B, K * N);
    const pc = this.f('gemm', 'C', C, M * N);
    this.k.gemm(transA ? 1 : 0, transB ? 1 : 0, M, N, K, alpha, pa, pb, beta, pc);
  }

  sumSquares(x: Float, n: number): number {
    dim('sumSquares', 'n', n);
    return n === 0 ? 0 : this.k.sumSquares(this.f('sumSquares', 'x', x, n), n);
  }

  addBias(Y: Float, b: Float, M: number, N: number): void {
    dim('addBias', 'M', M); dim('addBias', 'N', N);
    this.k.addBias(this.f('addBias', 'Y', Y, M * N), this.f('addBias', 'b', b, N), M, N);
  }

  sumRows(dY: Float, M: number, N: number, db: Float): void {
    dim('sumRows', 'M', M); dim('sumRows', 'N', N);
    this.k.sumRows(this.f('sumRows', 'dY', dY, M * N), M, N, this.f('sumRows', 'db', db, N));
  }

  gather(table: Float, dim_: number, ids: Int32Array, n: number, out: Float): void {
    dim('gather', 'dim', dim_); dim('gather', 'n', n);
    const pt = this.f('gather', 'table', table, 0);
    const pi = this.i('gather', 'ids', ids, n);
    const po = this.f('gather', 'out', out, n * dim_);
    const rows = dim_ === 0 ? 0 : Math.floor(table.length / dim_);
    const bad = this.k.gather(pt, dim_, rows, pi, n, po);
    if (bad >= 0) throw new RangeError(`gather: ids[${bad}] = ${ids[bad]} is out of range for a table of ${rows} rows`);
  }

  scatterAddRows(grad: Float, dim_: number, slots: Int32Array, n: number, dOut: Float): void {
    dim('scatterAddRows', 'dim', dim_); dim('scatterAddRows', 'n', n);
    const pg = this.f('scatterAddRows', 'grad', grad, 0);
    const ps = this.i('scatterAddRows', 'slots', slots, n);
    const pd = this.f('scatterAddRows', 'dOut', dOut, n * dim_);
    const rows = dim_ === 0 ? 0 : Math.floor(grad.length / dim_);
    const bad = this.k.scatterAddRows(pg, dim_, rows, ps, n, pd);
    if (bad >= 0) {
      throw new RangeError(`scatterAddRows: slots[${bad}] = ${slots[bad]} is out of range for a gradient of ` +
        `${rows} rows`);
    }
  }

  attnInput(q: Float, K: Float, B: number, T: number, D: number, out: Float): void {
    dim('attnInput', 'B', B); dim('attnInput', 'T', T); dim('attnInput', 'D', D);
    this.k.attnInput(this.f('attnInput', 'q', q, B * D), this.f('attnInput', 'K', K, B * T * D), B, T, D,
      this.f('attnInput', 'out', out, B * T * 4 * D));
  }

  attnInputBackward(q: Float, K: Float, dOut: Float, B: number, T: number, D: number, dq: Float, dK: Float): void {
    const op = 'attnInputBackward';
    dim(op, 'B', B); dim(op, 'T', T); dim(op, 'D', D);
    this.k.attnInputBackward(this.f(op, 'q', q, B * D), this.f(op, 'K', K, B * T * D),
      this.f(op, 'dOut', dOut, B * T * 4 * D), B, T, D, this.f(op, 'dq', dq, B * D), this.f(op, 'dK', dK, B * T * D));
  }

  attnPairs(q: Float, K: Float, rowIdx: Int32Array, rowB: Int32Array, N: number, B: number, T: number, D: number,
    x2: Float): void {
    const op = 'attnPairs';
    dim(op, 'N', N); dim(op, 'B', B); dim(op, 'T', T); dim(op, 'D', D);
    if (N > B * T) throw new RangeError(`${op}: N = ${N} rows but B·T = ${B * T}`);
    this.k.attnPairs(this.f(op, 'q', q, B * D), this.f(op, 'K', K, B * T * D), this.i(op, 'rowIdx', rowIdx, N),
      this.i(op, 'rowB', rowB, N), N, D, this.f(op, 'x2', x2, N * 2 * D));
  }

  attnPairsBackward(q: Float, K: Float, dx2: Float, rowIdx: Int32Array, rowB: Int32Array, N: number, B: number,
    T: number, D: number, dq: Float, dK: Float): void {
    const op = 'attnPairsBackward';
    dim(op, 'N', N); dim(op, 'B', B); dim(op, 'T', T); dim(op, 'D', D);
    if (N > B * T) throw new RangeError(`${op}: N = ${N} rows but B·T = ${B * T}`);
    this.k.attnPairsBackward(this.f(op, 'q', q, B * D), this.f(op, 'K', K, B * T * D), this.f(op, 'dx2', dx2, N * 2 * D),
      this.i(op, 'rowIdx', rowIdx, N), this.i(op, 'rowB', rowB, N), N, D, this.f(op, 'dq', dq, B * D),
      this.f(op, 'dK', dK, B * T * D));
  }

  weightedSum(w: Float, K: Float, B: number, T: number, D: number, out: Float): void {
    dim('weightedSum', 'B', B); dim('weightedSum', 'T', T); dim('weightedSum', 'D', D);
    this.k.weightedSum(this.f('weightedSum', 'w', w, B * T), this.f('weightedSum', 'K', K, B * T * D), B, T, D,
      this.f('weightedSum', 'out', out, B * D));
  }

  weightedSumBackward(w: Float, K: Float, dOut: Float, B: number, T: number, D: number, dw: Float, dK: Float): void {
    const op = 'weightedSumBackward';
    dim(op, 'B', B); dim(op, 'T', T); dim(op, 'D', D);
    this.k.weightedSumBackward(this.f(op, 'w', w, B * T), this.f(op, 'K', K, B * T * D),
      this.f(op, 'dOut', dOut, B * D), B, T, D, this.f(op, 'dw', dw, B * T), this.f(op, 'dK', dK, B * T * D));
  }

  preluForward(x: Float, alpha: Float, n: number, C: number, y: Float): void {
    const op = 'preluForward';
    dim(op, 'n', n); dim(op, 'C', C);
    this.k.preluForward(this.f(op, 'x', x, n * C), this.f(op, 'alpha', alpha, C), n, C, this.f(op, 'y', y, n * C));
  }

  preluBackward(x: Float, alpha: Float, dy: Float, n: number, C: number, dx: Float, dAlpha: Float): void {
    const op = 'preluBackward';
    dim(op, 'n', n); dim(op, 'C', C);
    this.k.preluBackward(this.f(op, 'x', x, n * C), this.f(op, 'alpha', alpha, C), this.f(op, 'dy', dy, n * C), n, C,
      this.f(op, 'dx', dx, n * C), this.f(op, 'dAlpha', dAlpha, C));
  }

  diceStats(C: number): DiceStats {
    dim('diceStats', 'C', C);
    const len = Math.max(1, this.k.diceStatsPerChannel() * C);
    const { ptr, needsZero } = this.arena.alloc(8 * len);
    const data = new Float64Array(this.buffer, ptr, len);
    if (needsZero) data.fill(0);
    return new WasmDiceStats(C, data, this);
  }

  diceForward(x: Float, n: number, C: number, alpha: Float, movingMean: Float, movingVar: Float, train: boolean,
    momentum: number, epsilon: number, stats: DiceStats, y: Float, p: Float, z: Float): void {
    const op = 'diceForward';
    dim(op, 'n', n); dim(op, 'C', C);
    const m = n * C;
    this.k.diceForward(this.f(op, 'x', x, m), n, C, this.f(op, 'alpha', alpha, C),
      this.f(op, 'movingMean', movingMean, C), this.f(op, 'movingVar', movingVar, C), train ? 1 : 0, momentum, epsilon,
      this.stats(op, stats, C), this.f(op, 'y', y, m), this.f(op, 'p', p, m), this.f(op, 'z', z, m));
  }

  diceBackward(x: Float, dy: Float, n: number, C: number, alpha: Float, train: boolean, stats: DiceStats, p: Float,
    z: Float, dx: Float, dAlpha: Float): void {
    const op = 'diceBackward';
    dim(op, 'n', n); dim(op, 'C', C);
    const m = n * C;
    this.k.diceBackward(this.f(op, 'x', x, m), this.f(op, 'dy', dy, m), n, C, this.f(op, 'alpha', alpha, C),
      train ? 1 : 0, this.stats(op, stats, C), this.f(op, 'p', p, m), this.f(op, 'z', z, m), this.f(op, 'dx', dx, m),
      this.f(op, 'dAlpha', dAlpha, C));
  }

  diceSumShifted(x: Float, n: number, C: number, shift: Float, stats: DiceStats): void {
    const op = 'diceSumShifted';
    dim(op, 'n', n); dim(op, 'C', C);
    this.k.diceSumShifted(this.f(op, 'x', x, n * C), n, C, this.f(op, 'shift', shift, C), this.stats(op, stats, C));
  }

  diceForwardStats(x: Float, n: number, C: number, N: number, alpha: Float, movingMean: Float, movingVar: Float,
    momentum: number, epsilon: number, stats: DiceStats, y: Float, p: Float, z: Float): void {
    const op = 'diceForwardStats';
    dim(op, 'n', n); dim(op, 'C', C);
    if (!(N >= n && N > 0)) throw new RangeError(`${op}: N = ${N} rows in the batch but n = ${n} here`);
    const m = n * C;
    this.k.diceForwardStats(this.f(op, 'x', x, m), n, C, N, this.f(op, 'alpha', alpha, C),
      this.f(op, 'movingMean', movingMean, C), this.f(op, 'movingVar', movingVar, C), momentum, epsilon,
      this.stats(op, stats, C), this.f(op, 'y', y, m), this.f(op, 'p', p, m), this.f(op, 'z', z, m));
  }

  diceBackwardSums(x: Float, dy: Float, n: number, C: number, alpha: Float, stats: DiceStats, p: Float, z: Float,
    dx: Float, dAlpha: Float): void {
    const op = 'diceBackwardSums';
    dim(op, 'n', n); dim(op, 'C', C);
    const m = n * C;
    this.k.diceBackwardSums(this.f(op, 'x', x, m), this.f(op, 'dy', dy, m), n, C, this.f(op, 'alpha', alpha, C),
      this.stats(op, stats, C), this.f(op, 'p', p, m), this.f(op, 'z', z, m), this.f(op, 'dx', dx, m),
      this.f(op, 'dAlpha', dAlpha, C));
  }

  diceBackwardCorrect(n: number, C: number, N: number, stats: DiceStats, z: Float, dx: Float): void {
    const op = 'diceBackwardCorrect';
    dim(op, 'n', n); dim(op, 'C', C);
    if (!(N >= n && N > 0)) throw new RangeError(`${op}: N = ${N} rows in the batch but n = ${n} here`);
    this.k.diceBackwardCorrect(n, C, N, this.stats(op, stats, C), this.f(op, 'z', z, n * C), this.f(op, 'dx', dx, n * C));
  }

  adamUpdate(w: Float, g: Float, m: Float, v: Float, ids: Int32Array | null, n: number, dim_: number,
    b1: number, b2: number, lr: number, ic1: number, ic2: number, eps: number): void {
    const op = 'adamUpdate';
    dim(op, 'n', n); dim(op, 'dim', dim_);
    const dense = ids === null;
    if (!dense && dim_ === 0) return;
    const pw = this.f(op, 'w', w, dense ? n : 0);
    const pg = this.f(op, 'g', g, dense ? n : n * dim_);
    const pm = this.f(op, 'm', m, w.length);
    const pv = this.f(op, 'v', v, w.length);
    const pi = dense ? 0 : this.i(op, 'ids', ids, n);
    const rows = dense || dim_ === 0 ? 0 : Math.floor(w.length / dim_);
    const bad = this.k.adamUpdate(pw, pg, pm, pv, pi, n, dim_, rows, b1, b2, lr, ic1, ic2, eps);
    if (bad >= 0) throw new RangeError(`adamUpdate: ids[${bad}] = ${ids![bad]} is out of range for a table of ${rows} rows`);
  }

  private stats(op: string, s: DiceStats, C: number): number {
    if (!(s instanceof WasmDiceStats) || s.owner !== this || s.channels !== C) {
      throw new TypeError(`${op}: stats is not this WasmBackend's Dice workspace for ${C} channels ` +
        '(make it with diceStats(C))');
    }
    return s.data.byteOffset;
  }

  prepareActivation(a: EvalActivation, C: number): PreparedActivation {
    return prepareEvalActivation(this, a, C);
  }

  evalActivationGrid(act: PreparedActivation, x: Float, xRow0: number, nA: number, nB: number, A: Float, aOff: number,
    sA: number, B: Float, bOff: number, sB: number): void {
    const op = 'evalActivationGrid';
    const C = act.C;
    dim(op, 'C', C); dim(op, 'nA', nA); dim(op, 'nB', nB); dim(op, 'xRow0', xRow0);
    dim(op, 'aOff', aOff); dim(op, 'sA', sA); dim(op, 'bOff', bOff); dim(op, 'sB', sB);
    if (nA === 0 || nB === 0 || C === 0) return;
    const px = this.f(op, 'x', x, (xRow0 + nA * nB) * C) + 4 * xRow0 * C;
    const pa = this.f(op, 'A', A, aOff + (nA - 1) * sA + C) + 4 * aOff;
    const pb = this.f(op, 'B', B, bOff + (nB - 1) * sB + C) + 4 * bOff;
    const k = act.kind;
    const dice = k === 'dice';
    this.k.evalActivationGrid(ACT_KIND[k], px, nA, nB, C, pa, sA, pb, sB,
      dice ? this.f(op, 'mean', act.mean, C) : k === 'prelu' ? this.f(op, 'alpha', act.alpha, C) : 0,
      dice ? this.f(op, 'invStd', act.invStd, C) : 0,
      dice ? this.f(op, 'alpha', act.alpha, C) : 0,
      dice ? this.f(op, 'oneMinusAlpha', act.oneMinusAlpha, C) : 0);
  }

  pairProducts(out: Float, outRow0: number, Q: Float, qRow0: number, nA: number, K: Float, kRow0: number, nB: number,
    D: number): void {
    const op = 'pairProducts';
    dim(op, 'D', D); dim(op, 'nA', nA); dim(op, 'nB', nB); dim(op, 'outRow0', outRow0); dim(op, 'qRow0', qRow0);
    dim(op, 'kRow0', kRow0);
    if (nA === 0 || nB === 0 || D === 0) return;
    this.k.pairProducts(this.f(op, 'out', out, (outRow0 + nA * nB) * D) + 4 * outRow0 * D, this.f(op, 'Q', Q, (qRow0 + nA) * D) + 4 * qRow0 * D,
      nA, this.f(op, 'K', K, (kRow0 + nB) * D) + 4 * kRow0 * D, nB, D);
  }

  /** Pointer of a float operand, after checking it is a Float32Array view of this arena with >= `need` elements. */
  private f(op: string, name: string, a: Float, need: number): number {
    if (a.buffer !== this.buffer || !(a instanceof Float32Array)) throw foreign(op, name, a);
    if (a.length < need) throw new RangeError(`${op}: ${name} has ${a.length} elements, needs ${need}`);
    return a.byteOffset;
  }

  private d(op: string, name: string, a: Float64Array, need: number): number {
    if (a.buffer !== this.buffer || !(a instanceof Float64Array)) throw foreign(op, name, a);
    if (a.length < need) throw new RangeError(`${op}: ${name} has ${a.length} elements, needs ${need}`);
    return a.byteOffset;
  }

  private i(op: string, name: string, a: Int32Array, need: number): number {
    if (a.buffer !== this.buffer || !(a instanceof Int32Array)) throw foreign(op, name, a);
    if (a.length < need) throw new RangeError(`${op}: ${name} has ${a.length} elements, needs ${need}`);
    return a.byteOffset;
  }
}

function checkCount(n: number): number {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`alloc: element count must be an integer >= 0, got ${n}`);
  return n;
}

function dim(op: string, name: string, v: number): void {
  if ((v | 0) !== v || v < 0) throw new RangeError(`${op}: ${name} must be an int32 >= 0, got ${v}`);
}

function foreign(op: string, name: string, a: ArrayBufferView): Error {
  const kind = a?.constructor?.name ?? typeof a;
  return new TypeError(`${op}: ${name} (${kind}) is not an array of this WasmBackend's memory: allocate operands ` +
    'with backend.alloc/allocInt (plain typed arrays and arrays of another backend cannot be passed)');
}

/** Synchronous creation (the constructor); compiled modules are cached per process. */
export function createWasmBackendSync(opts: WasmBackendOptions = {}): WasmBackend {
  return new WasmBackend(opts);
}

export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  return new WasmBackend(opts);
}
