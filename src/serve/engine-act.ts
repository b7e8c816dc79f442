/**
 * Eval-mode activations for the serving fast path, fused with the bias add, in place: x ← act(x + bias). Same function
 * as the layers' eval forward (src/nn/prelu.ts, dice.ts, sigmoid.ts); Dice uses its moving mean / variance.
 *
 * The work is laid out as a grid: row xRow0 + i·nB + j (i < nA, j < nB) of x gets the bias A[aOff + i·sA + c] +
 * B[bOff + j·sB + c]. A plain layer is one row of bias for every row (nA = 1, sB = 0 on a zero row); DIN's attention
 * first layer is the candidate term A (one row per candidate) plus the history term B (one row per behaviour) for
 * each (candidate, behaviour) pair.
 *
 * On a WasmBackend the WASM SIMD kernels of ./engine-simd.ts do it (float32, exp to ~3e-7 relative); elsewhere JS
 * loops, which on the float64 backend compute exactly what the layers compute (the reference the tests hold the
 * engine to at 1e-9). Each activation kind has its own loop, and PReLU is branch-free (activation signs are random).
 */
import type { Backend, Float } from '../nn/backend.js';
import type { Layer } from '../nn/layer.js';
import { PRelu } from '../nn/prelu.js';
import { Dice } from '../nn/dice.js';
import { Sigmoid, sigmoid, sigmoidF32 } from '../nn/sigmoid.js';
import { ActKernels } from './engine-simd.js';

export type ActKind = 'prelu' | 'dice' | 'sigmoid' | 'none';

export class ActEval {
  readonly kind: ActKind;
  readonly C: number;
  private readonly f32: boolean;
  /** PReLU / Dice α and 1 − α, Dice mean and 1/sqrt(var + ε): float64 for the JS loops … */
  private readonly a: Float64Array;
  private readonly a1: Float64Array;
  private readonly mean: Float64Array;
  private readonly inv: Float64Array;
  /** … and the same in backend memory for the kernels (null without them). */
  private readonly wasm: { k: ActKernels; a: number; a1: number; mean: number; inv: number; zero: number } | null;
  /** A zero bias row (backend memory). */
  readonly zero: Float;
  /** Scratch: one bias row (JS loops). */
  private readonly row: Float64Array;

  /** Snapshot of the layer's parameters (taken at engine load: weights do not change while serving). */
  constructor(layer: Layer | null, width: number, backend: Backend) {
    this.C = width;
    this.f32 = backend.dtype === 'float32';
    this.a = new Float64Array(width);
    this.a1 = new Float64Array(width);
    this.mean = new Float64Array(width);
    this.inv = new Float64Array(width);
    this.row = new Float64Array(width);
    if (layer === null) {
      this.kind = 'none';
    } else if (layer instanceof PRelu) {
      this.kind = 'prelu';
      this.a.set(layer.alpha.value);
    } else if (layer instanceof Dice) {
      this.kind = 'dice';
      this.a.set(layer.alpha.value);
      for (let c = 0; c < width; c++) {
        this.mean[c] = layer.movingMean[c];
        this.inv[c] = 1 / Math.sqrt(layer.movingVar[c] + layer.epsilon);
      }
    } else if (layer instanceof Sigmoid) {
      this.kind = 'sigmoid';
    } else {
      throw new Error(`serving: unsupported activation layer ${(layer as { name?: string }).name ?? layer.constructor.name}`);
    }
    if (layer !== null && layer.outDim !== width) throw new Error(`serving: activation width ${layer.outDim}, expected ${width}`);
    for (let c = 0; c < width; c++) this.a1[c] = 1 - this.a[c];
    this.zero = backend.alloc(width);
    const k = ActKernels.for(backend);
    if (k) {
      const put = (v: Float64Array): number => {
        const arr = backend.alloc(width);
        arr.set(v);
        return k.ptr(arr, 0, width);
      };
      this.wasm = { k, a: put(this.a), a1: put(this.a1), mean: put(this.mean), inv: put(this.inv), zero: k.ptr(this.zero, 0, width) };
    } else {
      this.wasm = null;
    }
  }

  /** Rows [r0, r1) of x ← act(x + b[bOff … bOff + C)). */
  apply(x: Float, r0: number, r1: number, b: Float, bOff = 0): void {
    this.grid(x, r0, 1, r1 - r0, b, bOff, 0, this.zero, 0, 0);
  }

  /** Rows xRow0 + i·nB + j of x ← act(x + A[aOff + i·sA …] + B[bOff + j·sB …]) for i < nA, j < nB. */
  grid(x: Float, xRow0: number, nA: number, nB: number, A: Float, aOff: number, sA: number, B: Float, bOff: number, sB: number): void {
    if (nA <= 0 || nB <= 0) return;
    const C = this.C;
    const w = this.wasm;
    if (w !== null) {
      const px = w.k.ptr(x, xRow0 * C, nA * nB * C);
      const pa = w.k.ptr(A, aOff, (nA - 1) * sA + C);
      const pb = w.k.ptr(B, bOff, (nB - 1) * sB + C);
      const k = w.k.k;
      switch (this.kind) {
        case 'none':
          return k.biasRows(px, nA, nB, C, pa, sA, pb, sB);
        case 'prelu':
          return k.preluRows(px, nA, nB, C, pa, sA, pb, sB, w.a, w.k.consts);
        case 'dice':
          return k.diceRows(px, nA, nB, C, pa, sA, pb, sB, w.mean, w.inv, w.a, w.a1, w.k.consts);
        case 'sigmoid':
          return k.sigmoidRows(px, nA, nB, C, pa, sA, pb, sB, w.k.consts);
      }
    }
    if (x.length < (xRow0 + nA * nB) * C) throw new RangeError(`serving: activation rows exceed an array of ${x.length}`);
    const row = this.row;
    for (let i = 0; i < nA; i++) {
      for (let j = 0; j < nB; j++) {
        const ao = aOff + i * sA;
        const bo = bOff + j * sB;
        for (let c = 0; c < C; c++) row[c] = A[ao + c] + B[bo + c];
        const o = (xRow0 + i * nB + j) * C;
        this.rowJs(x, o, row);
      }
    }
  }

  /** One row of x at offset o, biased by `row`. */
  private rowJs(x: Float, o: number, row: Float64Array): void {
    const C = this.C;
    const a = this.a;
    switch (this.kind) {
      case 'none':
        for (let c = 0; c < C; c++) x[o + c] += row[c];
        return;
      case 'prelu':
        // p + α(1 − p) is exactly 1 or α (p = [v > 0]), as in src/nn/prelu.ts.
        if (this.f32) {
          for (let c = 0; c < C; c++) {
            const v = Math.fround(x[o + c] + row[c]);
            const p = +(v > 0);
            x[o + c] = v * (p + a[c] * (1 - p));
          }
        } else {
          for (let c = 0; c < C; c++) {
            const v = x[o + c] + row[c];
            const p = +(v > 0);
            x[o + c] = v * (p + a[c] * (1 - p));
          }
        }
        return;
      case 'dice': {
        const { a1, mean, inv } = this;
        if (this.f32) {
          for (let c = 0; c < C; c++) {
            const v = Math.fround(x[o + c] + row[c]);
            x[o + c] = v * (a[c] + a1[c] * sigmoidF32((v - mean[c]) * inv[c]));
          }
        } else {
          for (let c = 0; c < C; c++) {
            const v = x[o + c] + row[c];
            x[o + c] = v * (a[c] + a1[c] * sigmoid((v - mean[c]) * inv[c]));
          }
        }
        return;
      }
      case 'sigmoid':
        if (this.f32) for (let c = 0; c < C; c++) x[o + c] = sigmoidF32(Math.fround(x[o + c] + row[c]));
        else for (let c = 0; c < C; c++) x[o + c] = sigmoid(x[o + c] + row[c]);
        return;
    }
  }
}
