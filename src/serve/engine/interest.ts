/**
 * The serving fast path of BaseModel and DIN: the user side once per request, every candidate in one batched pass.
 *
 * Same function as InterestModel.forward in eval mode (src/models/interest-model.ts) on the same parameters:
 *   logit = MLP([u, q, (u ⊙ q), user-profile / context embeddings]) + item bias,
 * with the item embedding e = [goods, mean of attributes, item fields] built straight from the tables (so items the
 * catalog does not know, described by the request, need no catalog row), and:
 *  - Base: u = sum (or average) of the request's behaviours, once per request; its MLP-input block and the sample-field
 *    block are folded into a per-request bias of the first MLP layer, so the per-candidate product is q (and u ⊙ q).
 *  - DIN: the local activation unit's first layer [q, k, q−k, q⊙k]·W = q·(W1+W3) + k·(W2−W3) + (q⊙k)·W4 is split:
 *    the history term once per request (one gemm over all behaviours of the group), the candidate term once per
 *    candidate (one gemm), and only (q⊙k)·W4 per (candidate, behaviour) pair (one gemm over all pairs); then the rest
 *    of the unit's MLP over the pairs, raw weights (or their masked softmax), u = Σ_t w_t k_t per candidate (a gemm per
 *    request), and the MLP. The folded weights W1+W3, W2−W3, W4 are the attention unit's eval form. The sample-field
 *    block of the MLP input is a per-request bias of its first layer.
 * Everything comes from the model's inference plan (src/models/inference-plan.ts), nothing from its layers; the
 * elementwise work (activations fused with bias adds, q ⊙ k) is the backend's eval-mode kernels (Backend.
 * evalActivationGrid, pairProducts: WASM SIMD on a WasmBackend, the float64 reference on `js`). Buffers are backend
 * arrays that grow to the largest group seen and are then reused: a request allocates no array storage, only a few
 * views and its answer.
 */
import type { Backend, Float, PreparedActivation } from '../../kernels/backend.js';
import type { DenseEval } from '../../nn/eval-form.js';
import { encodeItemsEval, type ItemEncoderEval } from '../../nn/item-encoder.js';
import type { InferencePlan } from '../../models/inference-plan.js';
import { FloatBuf } from '../../nn/workspace.js';
import type { RequestEncoder } from './request.js';

/** A dense layer of the plan with its activation prepared in the backend's memory. */
interface Dense {
  W: Float;
  b: Float;
  inDim: number;
  outDim: number;
  act: PreparedActivation;
}

function prepareDense(layers: readonly DenseEval[], be: Backend): Dense[] {
  return layers.map((l) => ({ W: l.W, b: l.b, inDim: l.inDim, outDim: l.outDim, act: be.prepareActivation(l.act, l.outDim) }));
}

/** The Base/DIN fast path on one model's inference plan (see the file header); not re-entrant. */
export class InterestScorer {
  readonly isDin: boolean;
  private readonly be: Backend;
  private readonly D: number;
  /** Width of the u ⊙ q block (0 or D). */
  private readonly P: number;
  /** Sample-field block: width, per-field embedding width, tables. */
  private readonly S: number;
  private readonly sk: number;
  private readonly sTables: Float[];
  /** The item encoder's eval form (tables and widths). */
  private readonly items: ItemEncoderEval;
  private readonly bias: Float | null;
  // MLP: first layer (custom input), then the rest
  private readonly W0: Float;
  private readonly b0: Float;
  private readonly H1: number;
  private readonly act0: PreparedActivation;
  private readonly mlpRest: Dense[];
  private readonly pooling: 'sum' | 'avg';
  // DIN attention
  private readonly H: number;
  private readonly Wq: Float | null = null;
  private readonly Wk: Float | null = null;
  private readonly Wp: Float | null = null;
  private readonly bAtt: Float | null = null;
  private readonly attAct0: PreparedActivation | null = null;
  private readonly attRest: Dense[] = [];
  private readonly softmax: boolean = false;
  private readonly scale: number = 1;
  // workspaces
  private readonly E: FloatBuf;
  private readonly A: FloatBuf;
  private readonly Bk: FloatBuf;
  private readonly Xp: FloatBuf;
  private readonly Yp: FloatBuf;
  private readonly Zp1: FloatBuf;
  private readonly Zp2: FloatBuf;
  private readonly Wt: FloatBuf;
  private readonly U: FloatBuf;
  private readonly X: FloatBuf;
  private readonly M1: FloatBuf;
  private readonly M2: FloatBuf;
  private readonly M3: FloatBuf;
  private readonly logitBuf: FloatBuf;
  private readonly reqBias: FloatBuf;
  private uReq = new Float64Array(0);
  private sfReq = new Float64Array(0);
  private rowAcc = new Float64Array(0);
  private w: Float;
  /** First pair of each candidate (C+1 entries), valid after score(). */
  pairStart = new Int32Array(0);

  /** A scorer of the model `plan` describes (on the plan's backend), its workspaces sized for `expected` up front. */
  constructor(readonly plan: InferencePlan, expected?: { candidates: number; pairs: number }) {
    const backend = plan.backend;
    this.be = backend;
    const buf = (): FloatBuf => new FloatBuf(backend, 1);
    this.E = buf();
    this.A = buf();
    this.Bk = buf();
    this.Xp = buf();
    this.Yp = buf();
    this.Zp1 = buf();
    this.Zp2 = buf();
    this.Wt = buf();
    this.U = buf();
    this.X = buf();
    this.M1 = buf();
    this.M2 = buf();
    this.M3 = buf();
    this.logitBuf = buf();
    this.reqBias = buf();
    this.w = this.Wt.view;
    this.D = plan.D;
    this.P = plan.mlpInput === 'concat-product' ? this.D : 0;
    this.items = plan.items;
    this.bias = plan.items.bias ? plan.items.bias.value : null;
    const sf = plan.sampleFields;
    this.sk = sf ? sf.k : 0;
    this.S = sf ? sf.width : 0;
    this.sTables = sf ? sf.tables.map((t) => t.value) : [];
    const [l0, ...rest] = plan.mlp;
    if (l0.inDim !== 2 * this.D + this.P + this.S) {
      throw new Error(`serving fast path: MLP input is ${l0.inDim} wide, expected ${2 * this.D + this.P + this.S} (extra features are not supported)`);
    }
    this.W0 = l0.W;
    this.b0 = l0.b;
    this.H1 = l0.outDim;
    this.act0 = backend.prepareActivation(l0.act, this.H1);
    this.mlpRest = prepareDense(rest, backend);
    this.pooling = plan.pooling;
    const att = plan.attention;
    this.isDin = att !== null;
    if (att !== null) {
      if (att.D !== this.D) throw new Error(`serving fast path: attention unit is ${att.D} wide, items ${this.D}`);
      this.H = att.H;
      this.Wq = att.first.Wq;
      this.Wk = att.first.Wk;
      this.Wp = att.first.Wp;
      this.bAtt = att.first.b;
      this.attAct0 = backend.prepareActivation(att.first.act, att.H);
      this.attRest = prepareDense(att.rest, backend);
      this.softmax = att.norm === 'softmax';
      this.scale = att.scale;
    } else {
      this.H = 0;
    }
    if (expected) this.reserve(expected.candidates, expected.pairs);
  }

  /** Grows the workspaces for a group of this size up front (so the first requests do not allocate). */
  reserve(candidates: number, pairs: number): void {
    const { D, H } = this;
    const items = candidates + Math.max(1, Math.ceil(pairs / Math.max(1, candidates)));
    this.E.ensure(items * D);
    this.X.ensure(candidates * (2 * D + this.P));
    const hMax = Math.max(this.H1, ...this.mlpRest.map((l) => l.outDim));
    this.M1.ensure(candidates * hMax);
    this.M2.ensure(candidates * hMax);
    this.M3.ensure(candidates * hMax);
    this.logitBuf.ensure(candidates);
    if (this.isDin) {
      const aMax = Math.max(H, ...this.attRest.map((l) => l.outDim));
      this.A.ensure(candidates * H);
      this.Xp.ensure(pairs * D);
      this.Yp.ensure(pairs * H);
      this.Zp1.ensure(pairs * aMax);
      this.Zp2.ensure(pairs * aMax);
      this.Wt.ensure(pairs);
      this.U.ensure(candidates * D);
    }
  }

  /** Attention weights of the last DIN score(): weight of pair p (see pairStart), no softmax unless configured. */
  get weights(): Float {
    return this.w;
  }

  /** Item embeddings [items × D] of the encoded group (candidates, then behaviours). */
  private embed(enc: RequestEncoder): Float {
    const n = enc.C + enc.Hn;
    const E = this.E.ensure(n * this.D);
    encodeItemsEval(this.items, n, enc.goodsRows, enc.attrStarts, enc.attrIds, enc.fieldIds, E);
    return E;
  }

  /**
   * Per-request bias of the first MLP layer: b0 + sample-field block · W0 rows (+ u · W0[0:D] for Base, whose u is one
   * vector per request). Rows [R × H1] of `reqBias` (accumulated in float64, stored in the backend's type).
   */
  private requestBias(enc: RequestEncoder, withU: boolean): Float {
    const { R, S: nS } = enc;
    const H1 = this.H1;
    const D = this.D;
    const rb = this.reqBias.ensure(R * H1);
    const W0 = this.W0;
    const sOff = 2 * D + this.P;
    const k = this.sk;
    const sIds = enc.sampleIds;
    if (this.sfReq.length < this.S) this.sfReq = new Float64Array(this.S);
    const sf = this.sfReq;
    const acc = this.rowAcc.length >= H1 ? this.rowAcc : (this.rowAcc = new Float64Array(H1));
    for (let r = 0; r < R; r++) {
      for (let h = 0; h < H1; h++) acc[h] = this.b0[h];
      for (let f = 0; f < nS; f++) {
        const id = sIds[r * nS + f];
        const T = this.sTables[f];
        for (let j = 0; j < k; j++) sf[f * k + j] = id >= 0 ? T[id * k + j] : 0;
      }
      for (let i = 0; i < this.S; i++) {
        const v = sf[i];
        if (v === 0) continue;
        const w = (sOff + i) * H1;
        for (let h = 0; h < H1; h++) acc[h] += v * W0[w + h];
      }
      if (withU) {
        const u = this.uReq;
        for (let d = 0; d < D; d++) {
          const v = u[r * D + d];
          if (v === 0) continue;
          const w = d * H1;
          for (let h = 0; h < H1; h++) acc[h] += v * W0[w + h];
        }
      }
      for (let h = 0; h < H1; h++) rb[r * H1 + h] = acc[h];
    }
    return rb;
  }

  /** Runs the rest of a dense stack on `rows` rows of x (ping-pong between two buffers); returns the last output. */
  private stack(layers: Dense[], x: Float, rows: number, b1: FloatBuf, b2: FloatBuf): Float {
    let h = x;
    let useFirst = true;
    for (const l of layers) {
      const y = (useFirst ? b1 : b2).ensure(rows * l.outDim);
      useFirst = !useFirst;
      this.be.gemm(false, false, rows, l.outDim, l.inDim, 1, h, l.W, 0, y);
      this.be.evalActivationGrid(l.act, y, 0, 1, rows, l.b, 0, 0, l.act.zero, 0, 0);
      h = y;
    }
    return h;
  }

  /** First MLP layer's activation on the candidates of each request r, with that request's bias row rb[r]. */
  private biasActivate(h1: Float, rb: Float, cs: Int32Array, R: number): void {
    const act = this.act0;
    const H1 = this.H1;
    for (let r = 0; r < R; r++) this.be.evalActivationGrid(act, h1, cs[r], 1, cs[r + 1] - cs[r], rb, r * H1, 0, act.zero, 0, 0);
  }

  /** Logits of every candidate of the encoded group (length enc.C; owned by the scorer, valid until the next call). */
  score(enc: RequestEncoder): Float {
    const C = enc.C;
    const logits = this.logitBuf.ensure(C);
    if (C === 0) return logits;
    const E = this.embed(enc);
    const { D, P } = this;
    const Q = E.subarray(0, C * D) as Float;
    const cs = enc.candStarts;
    const bs = enc.behStarts;
    const R = enc.R;
    let h1: Float;
    if (this.isDin) {
      const U = this.attention(enc, E);
      const Win = 2 * D + P;
      const X = this.X.ensure(C * Win);
      for (let c = 0; c < C; c++) {
        const o = c * Win;
        const qo = c * D;
        for (let d = 0; d < D; d++) {
          X[o + d] = U[qo + d];
          X[o + D + d] = Q[qo + d];
        }
        for (let d = 0; d < P; d++) X[o + 2 * D + d] = U[qo + d] * Q[qo + d];
      }
      const rb = this.requestBias(enc, false);
      h1 = this.M1.ensure(C * this.H1);
      this.be.gemm(false, false, C, this.H1, Win, 1, X, this.W0, 0, h1);
      this.biasActivate(h1, rb, cs, R);
    } else {
      // u per request (sum / average of its behaviours), folded with the sample fields into the first layer's bias.
      if (this.uReq.length < R * D) this.uReq = new Float64Array(R * D * 2);
      const u = this.uReq;
      for (let r = 0; r < R; r++) {
        const L = bs[r + 1] - bs[r];
        const k0 = (C + bs[r]) * D;
        for (let d = 0; d < D; d++) u[r * D + d] = 0;
        for (let t = 0; t < L; t++) for (let d = 0; d < D; d++) u[r * D + d] += E[k0 + t * D + d];
        if (this.pooling === 'avg' && L > 0) for (let d = 0; d < D; d++) u[r * D + d] /= L;
      }
      const rb = this.requestBias(enc, true);
      h1 = this.M1.ensure(C * this.H1);
      const Wq = this.W0.subarray(D * this.H1, (2 * D + P) * this.H1) as Float;
      if (P === 0) {
        this.be.gemm(false, false, C, this.H1, D, 1, Q, Wq, 0, h1);
      } else {
        const X = this.X.ensure(C * 2 * D);
        for (let r = 0; r < R; r++) {
          for (let c = cs[r]; c < cs[r + 1]; c++) {
            const o = c * 2 * D;
            for (let d = 0; d < D; d++) {
              const q = Q[c * D + d];
              X[o + d] = q;
              X[o + D + d] = u[r * D + d] * q;
            }
          }
        }
        this.be.gemm(false, false, C, this.H1, 2 * D, 1, X, Wq, 0, h1);
      }
      this.biasActivate(h1, rb, cs, R);
    }
    const y = this.stack(this.mlpRest, h1, C, this.M2, this.M3);
    for (let c = 0; c < C; c++) logits[c] = y[c];
    if (this.bias !== null) {
      const goodsRow = enc.goodsRows;
      const bias = this.bias;
      for (let c = 0; c < C; c++) {
        const g = goodsRow[c];
        if (g >= 0) logits[c] += bias[g];
      }
    }
    return logits;
  }

  /** DIN: attention weights of every (candidate, behaviour) pair and the user vectors U [C × D]. */
  private attention(enc: RequestEncoder, E: Float): Float {
    const be = this.be;
    const { D, H } = this;
    const C = enc.C;
    const Hn = enc.Hn;
    const R = enc.R;
    const cs = enc.candStarts;
    const bs = enc.behStarts;
    if (this.pairStart.length < C + 1) this.pairStart = new Int32Array(Math.max(2 * (C + 1), 64));
    const ps = this.pairStart;
    ps[0] = 0;
    for (let r = 0; r < R; r++) {
      const L = bs[r + 1] - bs[r];
      for (let c = cs[r]; c < cs[r + 1]; c++) ps[c + 1] = ps[c] + L;
    }
    const NP = ps[C];
    const U = this.U.ensure(C * D);
    if (NP === 0) {
      this.w = this.Wt.ensure(0);
      U.fill(0);
      return U;
    }
    const Q = E.subarray(0, C * D) as Float;
    const K = E.subarray(C * D, (C + Hn) * D) as Float;
    // Candidate term (with the layer's bias) once per candidate, history term once per behaviour.
    const A = this.A.ensure(C * H);
    be.gemm(false, false, C, H, D, 1, Q, this.Wq!, 0, A);
    be.addBias(A, this.bAtt!, C, H);
    const Bk = this.Bk.ensure(Hn * H);
    be.gemm(false, false, Hn, H, D, 1, K, this.Wk!, 0, Bk);
    // Pair term (q ⊙ k)·W4.
    const Xp = this.Xp.ensure(NP * D);
    for (let r = 0; r < R; r++) {
      const L = bs[r + 1] - bs[r];
      const c0 = cs[r];
      const n = cs[r + 1] - c0;
      if (L === 0 || n === 0) continue;
      be.pairProducts(Xp, ps[c0], E, c0, n, E, C + bs[r], L, D);
    }
    const Y = this.Yp.ensure(NP * H);
    be.gemm(false, false, NP, H, D, 1, Xp, this.Wp!, 0, Y);
    // act(pair term + candidate term + history term), per request over its (candidate, behaviour) grid.
    const act = this.attAct0!;
    for (let r = 0; r < R; r++) {
      const c0 = cs[r];
      be.evalActivationGrid(act, Y, ps[c0], cs[r + 1] - c0, bs[r + 1] - bs[r], A, c0 * H, H, Bk, bs[r] * H, H);
    }
    const s = this.stack(this.attRest, Y, NP, this.Zp1, this.Zp2);
    let w = s;
    if (this.softmax) {
      w = this.Wt.ensure(NP);
      const sc = this.scale;
      for (let c = 0; c < C; c++) {
        const p0 = ps[c];
        const p1 = ps[c + 1];
        let mx = -Infinity;
        for (let p = p0; p < p1; p++) mx = Math.max(mx, s[p] * sc);
        let sum = 0;
        for (let p = p0; p < p1; p++) sum += Math.exp(s[p] * sc - mx);
        for (let p = p0; p < p1; p++) w[p] = Math.exp(s[p] * sc - mx) / sum;
      }
    }
    this.w = w;
    // u_c = Σ_t w_ct k_t: per request, [N_r × L]·[L × D].
    for (let r = 0; r < R; r++) {
      const L = bs[r + 1] - bs[r];
      const c0 = cs[r];
      const n = cs[r + 1] - c0;
      if (n === 0) continue;
      if (L === 0) {
        U.fill(0, c0 * D, (c0 + n) * D);
        continue;
      }
      be.gemm(false, false, n, D, L, 1, w.subarray(ps[c0], ps[c0] + n * L) as Float, K.subarray(bs[r] * D, (bs[r] + L) * D) as Float,
        0, U.subarray(c0 * D, (c0 + n) * D) as Float);
    }
    return U;
  }
}
