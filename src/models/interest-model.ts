import type { Backend, Float } from '../nn/backend.js';
import type { Param } from '../nn/param.js';
import type { Batch } from '../data/types.js';
import type { AttentionWeights, Mode, Model, ModelConfig, ModelContext } from './model.js';
import { ItemEncoder, type ItemLookup } from '../nn/item-encoder.js';
import { Mlp } from '../nn/mlp.js';
import { zeroDenseGrads } from '../nn/layer.js';
import { FloatBuf } from '../nn/workspace.js';
import { Rng } from '../util/rng.js';

/**
 * The shape shared by BaseModel and DIN (paper Fig. 2, no user-profile features):
 *   q = e(candidate) [B, D], K = e(history) [B·T, D] from one shared item encoder,
 *   u = userVector(q, K) (pooling or attention), logit = MLP([u, q]) (+ item bias of the candidate).
 * Subclasses implement only the user vector and its backward.
 */
export abstract class InterestModel implements Model {
  readonly backend: Backend;
  readonly encoder: ItemEncoder;
  readonly mlp: Mlp;
  protected readonly cand: ItemLookup;
  protected readonly hist: ItemLookup;
  protected readonly D: number;
  private readonly x: FloatBuf;
  private readonly logits: FloatBuf;
  private readonly dq: FloatBuf;
  private readonly dK: FloatBuf;
  private readonly du: FloatBuf;
  private B = 0;
  private T = 0;
  private lastMode: Mode = 'eval';

  constructor(readonly config: ModelConfig, ctx: ModelContext) {
    validateConfig(config);
    this.backend = ctx.backend;
    const rng = new Rng(ctx.seed);
    this.encoder = new ItemEncoder(ctx.backend, ctx.catalog, {
      goodsDim: config.goodsDim, attrDim: config.attrDim, itemBias: config.itemBias,
    }, rng.fork(101));
    this.D = this.encoder.D;
    this.cand = this.encoder.lookup();
    this.hist = this.encoder.lookup();
    this.mlp = new Mlp(ctx.backend, 'mlp', 2 * this.D, config.hidden, config.activation, rng.fork(102));
    const be = ctx.backend;
    this.x = new FloatBuf(be, 2 * this.D);
    this.logits = new FloatBuf(be, 1);
    this.dq = new FloatBuf(be, this.D);
    this.dK = new FloatBuf(be, this.D);
    this.du = new FloatBuf(be, this.D);
  }

  protected abstract userVector(q: Float, K: Float, lengths: Int32Array, B: number, T: number, mode: Mode): Float;
  /** Accumulates into dq [B, D] and dK [B·T, D]. */
  protected abstract userBackward(du: Float, dq: Float, dK: Float): void;
  protected abstract userParams(): Param[];
  protected abstract userBuffers(): Record<string, Float>;

  forward(batch: Batch, mode: Mode): Float {
    const { size: B, T } = batch;
    const D = this.D;
    this.B = B;
    this.T = T;
    this.lastMode = mode;
    const q = this.cand.forward(batch.items, B);
    const K = this.hist.forwardPadded(batch.hist, batch.lengths, B, T);
    const u = this.userVector(q, K, batch.lengths, B, T, mode);
    const x = this.x.ensure(B);
    for (let b = 0; b < B; b++) {
      const o = b * 2 * D;
      for (let j = 0; j < D; j++) {
        x[o + j] = u[b * D + j];
        x[o + D + j] = q[b * D + j];
      }
    }
    const out = this.logits.ensure(B);
    if (B === 0) return out;
    const y = this.mlp.forward(x, B, mode);
    for (let b = 0; b < B; b++) out[b] = y[b];
    if (this.config.itemBias) {
      const bias = this.cand.forwardBias();
      for (let b = 0; b < B; b++) out[b] += bias[b];
    }
    return out;
  }

  backward(dLogits: Float): void {
    if (this.lastMode !== 'train') throw new Error(`${this.config.model}: backward needs a forward in 'train' mode`);
    const { B, T } = this;
    const D = this.D;
    if (B === 0) return;
    const dx = this.mlp.backward(dLogits);
    const du = this.du.ensure(B);
    const dq = this.dq.ensure(B);
    for (let b = 0; b < B; b++) {
      const o = b * 2 * D;
      for (let j = 0; j < D; j++) {
        du[b * D + j] = dx[o + j];
        dq[b * D + j] = dx[o + D + j];
      }
    }
    const dK = this.dK.ensure(B * T);
    dK.fill(0);
    this.userBackward(du, dq, dK);
    this.hist.backward(dK);
    this.cand.backward(dq);
    if (this.config.itemBias) this.cand.backwardBias(dLogits);
  }

  params(): Param[] {
    return [...this.encoder.params(), ...this.userParams(), ...this.mlp.params()];
  }

  buffers(): Record<string, Float> {
    return { ...this.userBuffers(), ...this.mlp.buffers() };
  }

  zeroGrad(): void {
    zeroDenseGrads(this.params());
    this.encoder.zeroGrad();
  }

  attention(): AttentionWeights | null {
    return null;
  }
}

function validateConfig(c: ModelConfig): void {
  const bad = (what: string): never => {
    throw new Error(`model config: ${what}`);
  };
  if (!Number.isInteger(c.goodsDim) || c.goodsDim < 1) bad(`goodsDim must be a positive integer, got ${c.goodsDim}`);
  if (!Number.isInteger(c.attrDim) || c.attrDim < 0) bad(`attrDim must be a non-negative integer, got ${c.attrDim}`);
  for (const h of [...c.hidden, ...c.attentionHidden]) {
    if (!Number.isInteger(h) || h < 1) bad(`hidden widths must be positive integers, got ${h}`);
  }
  if (c.activation !== 'prelu' && c.activation !== 'dice') bad(`activation must be prelu|dice, got ${c.activation}`);
  if (!['prelu', 'dice', 'sigmoid'].includes(c.attentionActivation)) {
    bad(`attentionActivation must be prelu|dice|sigmoid, got ${c.attentionActivation}`);
  }
  if (c.attentionNorm !== 'none' && c.attentionNorm !== 'softmax') bad(`attentionNorm must be none|softmax, got ${c.attentionNorm}`);
  if (c.pooling !== 'sum' && c.pooling !== 'avg') bad(`pooling must be sum|avg, got ${c.pooling}`);
}
