import type { Backend, Float } from '../kernels/backend.js';
import type { ActivationLayer, Mode } from './layer.js';
import type { AttentionEval } from './eval-form.js';
import type { Param } from './param.js';
import type { Rng } from '../util/rng.js';
import { Linear } from './linear.js';
import { createActivation, Mlp, type ActivationKind } from './mlp.js';
import { FloatBuf, IntBuf } from './workspace.js';
import type { BatchGroup } from './batch-group.js';

export type AttentionNorm = 'none' | 'softmax';

export interface AttentionOptions {
  /** Hidden widths of the unit's MLP (paper: [80, 40]). */
  hidden: number[];
  activation: ActivationKind;
  /** 'none' = raw scores (paper), 'softmax' = masked softmax of scores/sqrt(D) (original code). */
  norm: AttentionNorm;
}

/**
 * DIN's local activation unit. For each valid history position (t < lengths[b]) the score is
 * MLP([q_b, k_bt, q_b − k_bt, q_b ⊙ k_bt]); the user vector is u_b = Σ_t w_bt·k_bt, with w = the raw scores
 * ('none') or their masked softmax after scaling by 1/sqrt(D) ('softmax').
 *
 * Only valid positions are scored (rows are compacted first), so padded positions cost nothing, get weight exactly 0
 * and receive no gradient, and Dice statistics inside the unit cover real behaviours only.
 *
 * The first layer (param `att.0.weight` [4D, H] = row blocks W1..W4 for q, k, q−k, q⊙k) is evaluated factorized:
 *   [q, k, q−k, q⊙k]·W = q·(W1 + W3) + [k, q⊙k]·[W2 − W3; W4],
 * the q term once per example instead of once per behaviour. Same function and parameters as the 4D-wide product
 * (the attnInput op), with about half its multiply-adds; this layer dominates a DIN step.
 */
export class AttentionUnit {
  /** att.0: 4D → hidden[0] (→ 1 when there are no hidden layers). */
  readonly first: Linear;
  readonly act0: ActivationLayer | null;
  /** att.1 … → 1, null when there are no hidden layers. */
  readonly rest: Mlp | null;
  private readonly H: number;
  private readonly rowIdx: IntBuf;
  private readonly rowB: IntBuf;
  private readonly x2: FloatBuf;
  private readonly dx2: FloatBuf;
  private readonly y: FloatBuf;
  private readonly p: FloatBuf;
  private readonly dp: FloatBuf;
  private readonly wq: Float;
  private readonly wkp: Float;
  private readonly dwq: Float;
  private readonly dwkp: Float;
  private readonly w: FloatBuf;
  private readonly dw: FloatBuf;
  private readonly ds: FloatBuf;
  private readonly u: FloatBuf;
  private readonly scale: number;
  private q: Float | null = null;
  private K: Float | null = null;
  private B = 0;
  private T = 0;
  private N = 0;
  private mode: Mode = 'train';
  /** The data-parallel group of the batches (null: each batch is whole); see {@link AttentionUnit.setBatchGroup}. */
  private batchGroup: BatchGroup | null = null;

  constructor(private readonly backend: Backend, readonly name: string, readonly D: number,
    readonly opts: AttentionOptions, rng: Rng) {
    const hidden = opts.hidden;
    const H = hidden.length > 0 ? hidden[0] : 1;
    this.H = H;
    this.first = new Linear(backend, `${name}.0`, 4 * D, H, rng.fork(1));
    this.act0 = hidden.length > 0 ? createActivation(backend, opts.activation, `${name}.0`, H) : null;
    this.rest = hidden.length > 0
      ? new Mlp(backend, name, H, hidden.slice(1), opts.activation, rng.fork(2), { firstIndex: 1 })
      : null;
    this.scale = 1 / Math.sqrt(D);
    this.rowIdx = new IntBuf(backend);
    this.rowB = new IntBuf(backend);
    this.x2 = new FloatBuf(backend, 2 * D);
    this.dx2 = new FloatBuf(backend, 2 * D);
    this.y = new FloatBuf(backend, H);
    this.p = new FloatBuf(backend, H);
    this.dp = new FloatBuf(backend, H);
    this.wq = backend.alloc(D * H);
    this.wkp = backend.alloc(2 * D * H);
    this.dwq = backend.alloc(D * H);
    this.dwkp = backend.alloc(2 * D * H);
    this.w = new FloatBuf(backend, 1);
    this.dw = new FloatBuf(backend, 1);
    this.ds = new FloatBuf(backend, 1);
    this.u = new FloatBuf(backend, D);
  }

  /** q [B, D], K [B·T, D]; returns u [B, D] (owned by the unit). */
  forward(q: Float, K: Float, lengths: ArrayLike<number>, B: number, T: number, mode: Mode): Float {
    const be = this.backend;
    const { D, H } = this;
    let N = 0;
    for (let b = 0; b < B; b++) N += Math.min(Math.max(lengths[b], 0), T);
    const rowIdx = this.rowIdx.ensure(N);
    const rowB = this.rowB.ensure(N);
    for (let b = 0, i = 0; b < B; b++) {
      const len = Math.min(Math.max(lengths[b], 0), T);
      for (let t = 0; t < len; t++, i++) {
        rowIdx[i] = b * T + t;
        rowB[i] = b;
      }
    }
    this.q = q;
    this.K = K;
    this.B = B;
    this.T = T;
    this.N = N;
    const w = this.w.ensure(B * T);
    const u = this.u.ensure(B);
    w.fill(0);
    this.mode = mode;
    if (N === 0) {
      u.fill(0);
      // Data-parallel training: layers that sum batch statistics over the group (Dice) must run on every worker,
      // so a worker whose slice has no behaviours runs them on zero rows.
      if (mode === 'train' && this.act0 && this.rest && this.batchGroup) this.rest.forward(this.act0.forward(this.y.ensure(0), 0, mode), 0, mode);
      return u;
    }
    this.fold();
    const { wq, wkp } = this;
    const P = this.p.ensure(B);
    be.gemm(false, false, B, H, D, 1, q, wq, 0, P);
    be.addBias(P, this.first.bias.value, B, H);
    const x2 = this.x2.ensure(N);
    be.attnPairs(q, K, rowIdx, rowB, N, B, T, D, x2);
    const y = this.y.ensure(N);
    be.gather(P, H, rowB, N, y);
    be.gemm(false, false, N, H, 2 * D, 1, x2, wkp, 1, y);
    let s = y;
    if (this.act0 && this.rest) s = this.rest.forward(this.act0.forward(y, N, mode), N, mode);
    if (this.opts.norm === 'none') {
      for (let i = 0; i < N; i++) w[rowIdx[i]] = s[i];
    } else {
      // Masked softmax per history row; valid positions of row b are contiguous in the compact order.
      const c = this.scale;
      for (let i = 0; i < N;) {
        const b = rowB[i];
        let j = i;
        let mx = -Infinity;
        for (; j < N && rowB[j] === b; j++) mx = Math.max(mx, s[j] * c);
        let sum = 0;
        for (let k = i; k < j; k++) sum += Math.exp(s[k] * c - mx);
        for (let k = i; k < j; k++) w[rowIdx[k]] = Math.exp(s[k] * c - mx) / sum;
        i = j;
      }
    }
    be.weightedSum(w, K, B, T, D, u);
    return u;
  }

  /** Accumulates into dq [B, D] and dK [B·T, D] (padded rows of dK are left untouched). */
  backward(du: Float, dq: Float, dK: Float): void {
    const { B, T, N, K, q } = this;
    if (K === null || q === null) throw new Error(`${this.name}: backward before forward`);
    const be = this.backend;
    if (N === 0) {
      if (this.mode === 'train' && this.act0 && this.rest && this.batchGroup) this.act0.backward(this.rest.backward(this.ds.ensure(0)));
      return;
    }
    const { D, H } = this;
    const w = this.w.view;
    const dw = this.dw.ensure(B * T);
    be.weightedSumBackward(w, K, du, B, T, D, dw, dK);
    const rowIdx = this.rowIdx.view;
    const rowB = this.rowB.view;
    const ds = this.ds.ensure(N);
    if (this.opts.norm === 'none') {
      for (let i = 0; i < N; i++) ds[i] = dw[rowIdx[i]];
    } else {
      const c = this.scale;
      for (let i = 0; i < N;) {
        const b = rowB[i];
        let j = i;
        let dot = 0;
        for (; j < N && rowB[j] === b; j++) dot += w[rowIdx[j]] * dw[rowIdx[j]];
        for (let k = i; k < j; k++) ds[k] = c * w[rowIdx[k]] * (dw[rowIdx[k]] - dot);
        i = j;
      }
    }
    let dy = ds;
    if (this.act0 && this.rest) dy = this.act0.backward(this.rest.backward(ds));
    // First layer, factorized: gradients of Wq and Wkp, folded back into W1..W4.
    const x2 = this.x2.view;
    const { wq, wkp, dwq, dwkp } = this;
    be.gemm(true, false, 2 * D, H, N, 1, x2, dy, 0, dwkp);
    const dP = this.dp.ensure(B);
    dP.fill(0);
    be.scatterAddRows(dP, H, rowB, N, dy);
    be.gemm(true, false, D, H, B, 1, q, dP, 0, dwq);
    be.sumRows(dP, B, H, this.first.bias.grad);
    const G = this.first.weight.grad;
    for (let d = 0; d < D; d++) {
      for (let h = 0; h < H; h++) {
        const gq = dwq[d * H + h];
        const gk = dwkp[d * H + h];
        G[d * H + h] += gq;
        G[(D + d) * H + h] += gk;
        G[(2 * D + d) * H + h] += gq - gk;
        G[(3 * D + d) * H + h] += dwkp[(D + d) * H + h];
      }
    }
    const dx2 = this.dx2.ensure(N);
    be.gemm(false, true, N, 2 * D, H, 1, dy, wkp, 0, dx2);
    be.gemm(false, true, B, D, H, 1, dP, wq, 1, dq);
    be.attnPairsBackward(q, K, dx2, rowIdx, rowB, N, B, T, D, dq, dK);
  }

  /**
   * Folds the first layer's weight W [4D, H] (row blocks W1..W4 for q, k, q−k, q⊙k) into wq = W1 + W3 and
   * wkp = [W2 − W3; W4]: the one place the folding is written (training, serving and the ONNX export all use it).
   */
  private fold(): void {
    const { D, H, wq, wkp } = this;
    const W = this.first.weight.value;
    for (let d = 0; d < D; d++) {
      for (let h = 0; h < H; h++) {
        const w3 = W[(2 * D + d) * H + h];
        wq[d * H + h] = W[d * H + h] + w3;
        wkp[d * H + h] = W[(D + d) * H + h] - w3;
        wkp[(D + d) * H + h] = W[(3 * D + d) * H + h];
      }
    }
  }

  /**
   * Eval form (src/nn/eval-form.ts): the first layer folded from the current weights into arrays the unit owns (the
   * ones its forward folds into, so the form follows the weights only until they change: take a new one then), the
   * rest of the unit's MLP, the normalization and its scale.
   */
  evalForm(): AttentionEval {
    const { D, H } = this;
    this.fold();
    const act0 = this.act0;
    return {
      D, H,
      first: {
        name: this.first.name, Wq: this.wq, Wk: this.wkp.subarray(0, D * H) as Float, Wp: this.wkp.subarray(D * H, 2 * D * H) as Float,
        Wkp: this.wkp, b: this.first.bias.value, act: act0 ? act0.evalActivation() : { kind: 'none' }, actName: act0 ? act0.name : null,
      },
      rest: this.rest ? this.rest.evalForm() : [],
      norm: this.opts.norm,
      scale: this.scale,
    };
  }

  /**
   * Data-parallel training: the group this unit's batches are split over (its Dice layers sum their statistics over
   * it, and a worker whose slice has no behaviours still runs them on zero rows); null: each batch is whole.
   */
  setBatchGroup(group: BatchGroup | null): void {
    this.batchGroup = group;
    this.act0?.setBatchGroup?.(group);
    this.rest?.setBatchGroup(group);
  }

  /** Weights of the last forward, w[b·T + t] (0 at padded positions). Valid until the next forward. */
  weights(): { weights: Float; B: number; T: number } {
    return { weights: this.w.view, B: this.B, T: this.T };
  }

  params(): Param[] {
    return [...this.first.params(), ...(this.act0?.params() ?? []), ...(this.rest?.params() ?? [])];
  }

  buffers(): Record<string, Float> {
    return { ...(this.act0?.buffers() ?? {}), ...(this.rest?.buffers() ?? {}) };
  }
}
