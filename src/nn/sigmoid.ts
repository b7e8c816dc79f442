import type { Backend, Float } from './backend.js';
import type { Layer, Mode } from './layer.js';
import type { Param } from './param.js';
import { FloatBuf } from './workspace.js';

/**
 * Logistic function. 1 / (1 + e^−x) is already safe over the whole range (e^−x overflows to ∞ ⇒ 0, underflows to
 * 0 ⇒ 1, never NaN) and branch-free, which matters in per-element loops over random-signed inputs.
 */
export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

const POW2 = new Float64Array(256).map((_, k) => 2 ** (k - 127));
const LN2_HI = 0.6931471803691238;
const LN2_LO = 1.9082149292705877e-10;

/**
 * e^x to ~1e-8 relative error (below float32 resolution), ~2× faster than Math.exp in V8: x = k·ln2 + r with
 * |r| ≤ ln2/2, e^r by its degree-7 Taylor polynomial, 2^k from a table. Clamped to [−87, 88] (the float32 range).
 * For float32 backends only: it is not smooth enough at the 1e-9 level for float64 finite-difference checks.
 */
export function expF32(x: number): number {
  x = x < -87 ? -87 : x > 88 ? 88 : x;
  const k = Math.floor(x * Math.LOG2E + 0.5);
  const r = x - k * LN2_HI - k * LN2_LO;
  const p = 1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (1 / 5040)))))));
  return POW2[k + 127] * p;
}

/** Logistic function at float32 accuracy (see {@link expF32}). */
export function sigmoidF32(x: number): number {
  return 1 / (1 + expF32(-x));
}

/** Elementwise sigmoid (an activation option of the local activation unit). No parameters. */
export class Sigmoid implements Layer {
  readonly inDim: number;
  private readonly y: FloatBuf;
  private readonly dx: FloatBuf;
  private n = 0;
  private readonly f32: boolean;

  constructor(backend: Backend, readonly name: string, readonly outDim: number) {
    this.inDim = outDim;
    this.f32 = backend.dtype === 'float32';
    this.y = new FloatBuf(backend, outDim);
    this.dx = new FloatBuf(backend, outDim);
  }

  forward(x: Float, n: number, _mode: Mode = 'train'): Float {
    const y = this.y.ensure(n);
    const m = n * this.outDim;
    const f32 = this.f32;
    for (let i = 0; i < m; i++) y[i] = f32 ? sigmoidF32(x[i]) : sigmoid(x[i]);
    this.n = n;
    return y;
  }

  backward(dy: Float): Float {
    const y = this.y.view;
    const dx = this.dx.ensure(this.n);
    const m = this.n * this.outDim;
    for (let i = 0; i < m; i++) dx[i] = dy[i] * y[i] * (1 - y[i]);
    return dx;
  }

  params(): Param[] {
    return [];
  }

  buffers(): Record<string, Float> {
    return {};
  }
}
