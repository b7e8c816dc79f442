import type { Backend, Float } from './backend.js';
import type { Layer, Mode } from './layer.js';
import type { Param } from './param.js';
import { sigmoid, sigmoidF32 } from './sigmoid.js';
import { FloatBuf } from './workspace.js';

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
 * Buffers `<name>.mean` (init 0) and `<name>.var` (init 1) are exposed for checkpoints.
 */
export class Dice implements Layer {
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
  // Per-channel statistics in float64 whatever the backend (sums over thousands of rows; never kernel operands).
  private readonly inv: Float64Array;
  private readonly sumG: Float64Array;
  private readonly sumGZ: Float64Array;
  private readonly f32: boolean;
  private x: Float | null = null;
  private n = 0;
  private mode: Mode = 'train';

  constructor(backend: Backend, readonly name: string, readonly outDim: number, opts: DiceOptions = {}) {
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
    this.inv = new Float64Array(outDim);
    this.sumG = new Float64Array(outDim);
    this.sumGZ = new Float64Array(outDim);
    this.f32 = backend.dtype === 'float32';
  }

  forward(x: Float, n: number, mode: Mode = 'train'): Float {
    const C = this.outDim;
    const y = this.y.ensure(n);
    const p = this.p.ensure(n);
    const z = this.z.ensure(n);
    const inv = this.inv;
    const mean = this.sumG; // scratch: per-channel mean for this forward
    this.x = x;
    this.n = n;
    this.mode = mode;
    if (n === 0) return y;
    if (mode === 'train') {
      mean.fill(0);
      inv.fill(0);
      for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) mean[c] += x[i * C + c];
      for (let c = 0; c < C; c++) mean[c] /= n;
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < C; c++) {
          const d = x[i * C + c] - mean[c];
          inv[c] += d * d;
        }
      }
      const m = this.momentum;
      for (let c = 0; c < C; c++) {
        const v = inv[c] / n;
        this.movingMean[c] = m * this.movingMean[c] + (1 - m) * mean[c];
        this.movingVar[c] = m * this.movingVar[c] + (1 - m) * v;
        inv[c] = 1 / Math.sqrt(v + this.epsilon);
      }
    } else {
      for (let c = 0; c < C; c++) {
        mean[c] = this.movingMean[c];
        inv[c] = 1 / Math.sqrt(this.movingVar[c] + this.epsilon);
      }
    }
    const a = this.alpha.value;
    const f32 = this.f32;
    for (let i = 0; i < n; i++) {
      const o = i * C;
      for (let c = 0; c < C; c++) {
        const v = x[o + c];
        const zz = (v - mean[c]) * inv[c];
        const pp = f32 ? sigmoidF32(zz) : sigmoid(zz);
        z[o + c] = zz;
        p[o + c] = pp;
        y[o + c] = v * (a[c] + (1 - a[c]) * pp);
      }
    }
    return y;
  }

  backward(dy: Float): Float {
    const { n, x } = this;
    if (x === null) throw new Error(`${this.name}: backward before forward`);
    const C = this.outDim;
    const dx = this.dx.ensure(n);
    if (n === 0) return dx;
    const p = this.p.view;
    const z = this.z.view;
    const a = this.alpha.value;
    const ga = this.alpha.grad;
    const sumG = this.sumG;
    const sumGZ = this.sumGZ;
    const inv = this.inv;
    sumG.fill(0);
    sumGZ.fill(0);
    for (let i = 0; i < n; i++) {
      const o = i * C;
      for (let c = 0; c < C; c++) {
        const v = x[o + c];
        const g = dy[o + c];
        const pp = p[o + c];
        ga[c] += g * v * (1 - pp);
        dx[o + c] = g * (a[c] + (1 - a[c]) * pp);
        // dL/dz, then dL/dx through z = (x − μ)·inv.
        const gz = g * (1 - a[c]) * v * pp * (1 - pp);
        dx[o + c] += gz * inv[c];
        sumG[c] += gz;
        sumGZ[c] += gz * z[o + c];
      }
    }
    if (this.mode === 'train') {
      // Batch statistics: μ and σ² depend on every row.
      for (let c = 0; c < C; c++) {
        sumG[c] = (sumG[c] / n) * inv[c];
        sumGZ[c] = (sumGZ[c] / n) * inv[c];
      }
      for (let i = 0; i < n; i++) {
        const o = i * C;
        for (let c = 0; c < C; c++) dx[o + c] -= sumG[c] + z[o + c] * sumGZ[c];
      }
    }
    return dx;
  }

  params(): Param[] {
    return [this.alpha];
  }

  buffers(): Record<string, Float> {
    return { [`${this.name}.mean`]: this.movingMean, [`${this.name}.var`]: this.movingVar };
  }
}
