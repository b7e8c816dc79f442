import type { Backend, DiceStats, EvalActivation, Float } from '../kernels/backend.js';
import type { ActivationLayer, Mode } from './layer.js';
import type { Param } from './param.js';
import { FloatBuf } from './workspace.js';
import type { BatchGroup } from './batch-group.js';

export interface DiceOptions {
  /** Initial α (the original DIN code starts Dice's α at 0). */
  alphaInit?: number;
  /** Moving-average momentum (0.99 as in the paper's batch-norm setup). */
  momentum?: number;
  epsilon?: number;
}

/**
 * Dice (paper eq. 8–9): y = p(x)·x + (1 − p(x))·α·x, p(x) = sigmoid((x − E[x]) / sqrt(Var[x] + ε)), per channel.
 * Train mode uses the batch mean and (biased) variance over the n rows and back-propagates through them; it also
 * updates the moving averages (mean ← m·mean + (1−m)·batch mean, same for var), which eval mode uses instead.
 * Buffers `<name>.mean` (init 0) and `<name>.var` (init 1) are exposed for checkpoints. The loops are the backend's
 * (diceForward/diceBackward: plain TS in JsBackend, SIMD kernels in WasmBackend).
 *
 * In data-parallel training (a {@link BatchGroup} set with `setBatchGroup`) each worker holds a slice of the batch: the
 * statistics and their gradient terms are then sums over the whole group, so the result is the single-worker one up
 * to the order of the additions.
 */
export class Dice implements ActivationLayer {
  readonly alpha: Param;
  readonly inDim: number;
  readonly movingMean: Float;
  readonly movingVar: Float;
  readonly momentum: number;
  readonly epsilon: number;
  private readonly y: FloatBuf;
  private readonly dx: FloatBuf;
  private readonly p: FloatBuf;
  private readonly z: FloatBuf;
  // Per-channel statistics (float64 whatever the backend) kept by forward for backward.
  private readonly stats: DiceStats;
  private x: Float | null = null;
  private n = 0;
  private mode: Mode = 'train';
  /** The data-parallel group of the batches this layer sees (null: each batch is whole). */
  private batchGroup: BatchGroup | null = null;
  /** Group of the last train-mode forward (its backward sums over the same group), and the batch's row count. */
  private group: BatchGroup | undefined;
  private total = 0;
  private readonly red: Float64Array;
  /** Views of stats.data: the forward sums [0, 2C) and the backward sums [2C, 4C), and of red's first 2C. */
  private readonly sums: Float64Array;
  private readonly gzSums: Float64Array;
  private readonly red2: Float64Array;

  constructor(private readonly backend: Backend, readonly name: string, readonly outDim: number,
    opts: DiceOptions = {}) {
    this.inDim = outDim;
    this.momentum = opts.momentum ?? 0.99;
    this.epsilon = opts.epsilon ?? 1e-8;
    const a = backend.alloc(outDim).fill(opts.alphaInit ?? 0);
    this.alpha = { name: `${name}.alpha`, shape: [outDim], value: a, grad: backend.alloc(outDim), decay: false };
    this.movingMean = backend.alloc(outDim);
    this.movingVar = backend.alloc(outDim).fill(1);
    this.y = new FloatBuf(backend, outDim);
    this.dx = new FloatBuf(backend, outDim);
    this.p = new FloatBuf(backend, outDim);
    this.z = new FloatBuf(backend, outDim);
    this.stats = backend.diceStats(outDim);
    this.red = new Float64Array(2 * outDim + 1);
    this.red2 = this.red.subarray(0, 2 * outDim);
    this.sums = this.stats.data.subarray(0, 2 * outDim);
    this.gzSums = this.stats.data.subarray(2 * outDim, 4 * outDim);
  }

  forward(x: Float, n: number, mode: Mode = 'train'): Float {
    const C = this.outDim;
    const y = this.y.ensure(n);
    const p = this.p.ensure(n);
    const z = this.z.ensure(n);
    this.x = x;
    this.n = n;
    this.mode = mode;
    this.group = mode === 'train' && this.batchGroup !== null ? this.batchGroup : undefined;
    if (this.group) return this.forwardGroup(x, n, this.group, y, p, z);
    if (n === 0) return y;
    this.backend.diceForward(x, n, C, this.alpha.value, this.movingMean, this.movingVar, mode === 'train',
      this.momentum, this.epsilon, this.stats, y, p, z);
    return y;
  }

  /**
   * Train-mode forward of this worker's n rows with the statistics of the group's whole batch: one exchange of the
   * per-channel sums of (x − s) and (x − s)², s = the moving mean (the same on every worker, so no extra exchange).
   */
  private forwardGroup(x: Float, n: number, group: BatchGroup, y: Float, p: Float, z: Float): Float {
    const C = this.outDim;
    const be = this.backend;
    const d = this.stats.data;
    const red = this.red;
    be.diceSumShifted(x, n, C, this.movingMean, this.stats);
    red.set(this.sums);
    red[2 * C] = n;
    group.allReduce(red);
    const N = red[2 * C];
    this.total = N;
    if (N === 0) return y;
    for (let c = 0; c < C; c++) {
      const dm = red[c] / N;
      d[c] = this.movingMean[c] + dm;
      // Σ (x − mean)² = Σ (x − s)² − N·(mean − s)².
      d[C + c] = Math.max(0, red[C + c] - N * dm * dm);
    }
    be.diceForwardStats(x, n, C, N, this.alpha.value, this.movingMean, this.movingVar, this.momentum, this.epsilon,
      this.stats, y, p, z);
    return y;
  }

  backward(dy: Float): Float {
    const { n, x } = this;
    if (x === null) throw new Error(`${this.name}: backward before forward`);
    const dx = this.dx.ensure(n);
    if (this.group) {
      if (this.total === 0) return dx;
      const C = this.outDim;
      this.backend.diceBackwardSums(x, dy, n, C, this.alpha.value, this.stats, this.p.view, this.z.view, dx,
        this.alpha.grad);
      const g = this.red2;
      g.set(this.gzSums);
      this.group.allReduce(g);
      this.gzSums.set(g);
      this.backend.diceBackwardCorrect(n, C, this.total, this.stats, this.z.view, dx);
      return dx;
    }
    if (n === 0) return dx;
    this.backend.diceBackward(x, dy, n, this.outDim, this.alpha.value, this.mode === 'train', this.stats,
      this.p.view, this.z.view, dx, this.alpha.grad);
    return dx;
  }

  /**
   * Eval form: the moving mean and 1/sqrt(moving variance + ε), computed in float64 from the buffers exactly as the
   * eval forward (the backends' diceForward with train = false) computes it, and a copy of α.
   */
  evalActivation(): EvalActivation {
    const C = this.outDim;
    const invStd = new Float64Array(C);
    for (let c = 0; c < C; c++) invStd[c] = 1 / Math.sqrt(this.movingVar[c] + this.epsilon);
    return { kind: 'dice', alpha: Float64Array.from(this.alpha.value), mean: Float64Array.from(this.movingMean), invStd };
  }

  setBatchGroup(group: BatchGroup | null): void {
    this.batchGroup = group;
  }

  params(): Param[] {
    return [this.alpha];
  }

  buffers(): Record<string, Float> {
    return { [`${this.name}.mean`]: this.movingMean, [`${this.name}.var`]: this.movingVar };
  }
}
