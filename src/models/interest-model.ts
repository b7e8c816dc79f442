import type { Backend, Float } from '../kernels/backend.js';
import type { Param } from '../nn/param.js';
import type { Batch } from '../core/types.js';
import { MAX_WIDE_BUCKETS, type AttentionWeights, type Mode, type Model, type ModelConfig, type ModelContext } from './model.js';
import { ItemEncoder, type ItemLookup } from '../nn/item-encoder.js';
import { SampleFieldEmbedding } from '../nn/sample-fields.js';
import { Mlp } from '../nn/mlp.js';
import { zeroDenseGrads } from '../nn/layer.js';
import { FloatBuf } from '../nn/workspace.js';
import { Rng } from '../util/rng.js';
import type { AttentionEval } from '../nn/eval-form.js';
import type { InferencePlan } from './inference-plan.js';
import type { BatchGroup } from '../nn/batch-group.js';

/** What a subclass adds to the skeleton, fixed at construction (the MLP's input width depends on it). */
export interface InterestModelOptions {
  /** Width E of the extra MLP input features (see {@link InterestModel.extraFeatures}); default 0. */
  extraInputDim?: number;
}

/**
 * The shape shared by BaseModel, DIN and the embedding-based competitors (paper Fig. 2, no user-profile features):
 *   q = e(candidate) [B, D], K = e(history) [B·T, D] from one shared item encoder,
 *   u = userVector(q, K) (pooling or attention),
 *   logit = MLP([u, q, (u ⊙ q), extraFeatures(q, u), user-profile and context field embeddings])
 *           (+ item bias of the candidate) (+ extraLogit(batch, q, u)).
 * Subclasses implement the user vector and its backward; the two optional hooks (extra MLP input features, an extra
 * logit term, each with its backward and their params) let PNN, DeepFM and Wide&Deep reuse the skeleton. With no
 * hooks the computation is exactly Base/DIN's.
 */
export abstract class InterestModel implements Model {
  readonly backend: Backend;
  readonly encoder: ItemEncoder;
  readonly mlp: Mlp;
  protected readonly cand: ItemLookup;
  protected readonly hist: ItemLookup;
  protected readonly D: number;
  /** Width of the extra MLP input features (0 for Base/DIN). */
  protected readonly E: number;
  /** Width of the u ⊙ q block of the MLP input (D with mlpInput 'concat-product', else 0). */
  private readonly P: number;
  /** User-profile and context field embeddings (null without sample fields), the last block of the MLP input. */
  readonly sampleFields: SampleFieldEmbedding | null;
  /** Width of that block. */
  private readonly S: number;
  private qRef: Float | null = null;
  private uRef: Float | null = null;
  private readonly x: FloatBuf;
  private readonly dE: FloatBuf | null;
  private readonly dS: FloatBuf | null;
  private readonly logits: FloatBuf;
  private readonly dq: FloatBuf;
  private readonly dK: FloatBuf;
  private readonly du: FloatBuf;
  private B = 0;
  private T = 0;
  private lastMode: Mode = 'eval';
  private hasExtraLogit = false;

  constructor(readonly config: ModelConfig, readonly context: ModelContext, opts: InterestModelOptions = {}) {
    const ctx = context;
    validateConfig(config);
    const E = opts.extraInputDim ?? 0;
    if (!Number.isInteger(E) || E < 0) throw new Error(`${config.model}: extra MLP input width must be a non-negative integer, got ${E}`);
    this.E = E;
    this.backend = ctx.backend;
    const rng = new Rng(ctx.seed);
    this.encoder = new ItemEncoder(ctx.backend, ctx.catalog, {
      goodsDim: config.goodsDim, attrDim: config.attrDim, itemBias: config.itemBias, external: ctx.externalTables,
    }, rng.fork(101));
    this.D = this.encoder.D;
    this.P = config.mlpInput === 'concat-product' ? this.D : 0;
    this.sampleFields = ctx.sampleFields?.length
      ? new SampleFieldEmbedding(ctx.backend, ctx.sampleFields, config.goodsDim, rng.fork(103), undefined, ctx.externalTables)
      : null;
    this.S = this.sampleFields?.width ?? 0;
    this.cand = this.encoder.lookup();
    this.hist = this.encoder.lookup();
    this.mlp = new Mlp(ctx.backend, 'mlp', 2 * this.D + this.P + E + this.S, config.hidden, config.activation, rng.fork(102));
    const be = ctx.backend;
    this.x = new FloatBuf(be, 2 * this.D + this.P + E + this.S);
    this.dE = E > 0 ? new FloatBuf(be, E) : null;
    this.dS = this.S > 0 ? new FloatBuf(be, this.S) : null;
    this.logits = new FloatBuf(be, 1);
    this.dq = new FloatBuf(be, this.D);
    this.dK = new FloatBuf(be, this.D);
    this.du = new FloatBuf(be, this.D);
  }

  protected abstract userVector(q: Float, K: Float, lengths: Int32Array, B: number, T: number, mode: Mode): Float;
  /** Accumulates into dq [B, D] and dK [B·T, D]. */
  protected abstract userBackward(du: Float, dq: Float, dK: Float): void;
  protected abstract userParams(): Param[];
  /** Hands the data-parallel group to the user vector's layers (DIN's attention unit); nothing to do for pooling. */
  protected userBatchGroup(_group: BatchGroup | null): void {}
  /** Eval form of the user vector for {@link inferencePlan}: DIN's attention unit, null for pooling. */
  protected abstract userVectorEval(): AttentionEval | null;
  protected abstract userBuffers(): Record<string, Float>;

  /**
   * Extra MLP input features [B, E] computed from q [B, D] and u [B, D] (E = options.extraInputDim). Called only
   * when E > 0; the result is copied, so a layer-owned buffer is fine.
   */
  protected extraFeatures(_q: Float, _u: Float, _B: number, _mode: Mode): Float {
    throw new Error(`${this.config.model}: extraInputDim > 0 needs extraFeatures()`);
  }

  /** Backward of {@link extraFeatures}: accumulates into dq and du (both [B, D]) for dExtra [B, E]. */
  protected extraFeaturesBackward(_dExtra: Float, _dq: Float, _du: Float): void {
    throw new Error(`${this.config.model}: extraInputDim > 0 needs extraFeaturesBackward()`);
  }

  /** A term [B] added to the logit (wide / first-order / FM parts), or null for none. Ids come from the batch. */
  protected extraLogit(_batch: Batch, _q: Float, _u: Float, _B: number, _mode: Mode): Float | null {
    return null;
  }

  /** Backward of {@link extraLogit} (called only if it returned a term): params' grads, and dq, du accumulation. */
  protected extraLogitBackward(_dLogits: Float, _dq: Float, _du: Float): void {}

  /** Params of the hooks, listed after the MLP's (so Base/DIN names and order are unchanged). */
  protected extraParams(): Param[] {
    return [];
  }

  forward(batch: Batch, mode: Mode): Float {
    const { size: B, T } = batch;
    const D = this.D;
    this.B = B;
    this.T = T;
    this.lastMode = mode;
    const q = this.cand.forward(batch.items, B);
    const K = this.hist.forwardPadded(batch.hist, batch.lengths, B, T);
    const u = this.userVector(q, K, batch.lengths, B, T, mode);
    const { E, P, S } = this;
    const W = 2 * D + P + E + S;
    const x = this.x.ensure(B);
    for (let b = 0; b < B; b++) {
      const o = b * W;
      for (let j = 0; j < D; j++) {
        x[o + j] = u[b * D + j];
        x[o + D + j] = q[b * D + j];
      }
      for (let j = 0; j < P; j++) x[o + 2 * D + j] = u[b * D + j] * q[b * D + j];
    }
    this.qRef = q;
    this.uRef = u;
    const out = this.logits.ensure(B);
    this.hasExtraLogit = false;
    if (B === 0) return out;
    if (this.sampleFields) {
      const sf = this.sampleFields.forward(batch.fieldValues, B);
      for (let b = 0; b < B; b++) {
        const o = b * W + 2 * D + P + E;
        for (let j = 0; j < S; j++) x[o + j] = sf[b * S + j];
      }
    }
    if (E > 0) {
      const e = this.extraFeatures(q, u, B, mode);
      for (let b = 0; b < B; b++) {
        const o = b * W + 2 * D + P;
        for (let j = 0; j < E; j++) x[o + j] = e[b * E + j];
      }
    }
    const y = this.mlp.forward(x, B, mode);
    for (let b = 0; b < B; b++) out[b] = y[b];
    if (this.config.itemBias) {
      const bias = this.cand.forwardBias();
      for (let b = 0; b < B; b++) out[b] += bias[b];
    }
    const extra = this.extraLogit(batch, q, u, B, mode);
    if (extra !== null) {
      this.hasExtraLogit = true;
      for (let b = 0; b < B; b++) out[b] += extra[b];
    }
    return out;
  }

  backward(dLogits: Float): void {
    if (this.lastMode !== 'train') throw new Error(`${this.config.model}: backward needs a forward in 'train' mode`);
    const { B, T } = this;
    const D = this.D;
    if (B === 0) return;
    const { E, P, S } = this;
    const W = 2 * D + P + E + S;
    const dx = this.mlp.backward(dLogits);
    if (this.sampleFields) {
      // dx is the MLP's own buffer; its sample-field block is copied out before anything else reuses it.
      const ds = this.dS!.ensure(B);
      for (let b = 0; b < B; b++) {
        const o = b * W + 2 * D + P + E;
        for (let j = 0; j < S; j++) ds[b * S + j] = dx[o + j];
      }
      this.sampleFields.backward(ds);
    }
    const du = this.du.ensure(B);
    const dq = this.dq.ensure(B);
    const q = this.qRef!;
    const u = this.uRef!;
    for (let b = 0; b < B; b++) {
      const o = b * W;
      for (let j = 0; j < D; j++) {
        du[b * D + j] = dx[o + j];
        dq[b * D + j] = dx[o + D + j];
      }
      for (let j = 0; j < P; j++) {
        const g = dx[o + 2 * D + j];
        du[b * D + j] += g * q[b * D + j];
        dq[b * D + j] += g * u[b * D + j];
      }
    }
    if (this.dE !== null) {
      const dE = this.dE.ensure(B);
      for (let b = 0; b < B; b++) {
        const o = b * W + 2 * D + P;
        for (let j = 0; j < E; j++) dE[b * E + j] = dx[o + j];
      }
      this.extraFeaturesBackward(dE, dq, du);
    }
    if (this.hasExtraLogit) this.extraLogitBackward(dLogits, dq, du);
    const dK = this.dK.ensure(B * T);
    dK.fill(0);
    this.userBackward(du, dq, dK);
    this.hist.backward(dK);
    this.cand.backward(dq);
    if (this.config.itemBias) this.cand.backwardBias(dLogits);
  }

  params(): Param[] {
    return [...this.encoder.params(), ...this.userParams(), ...this.mlp.params(), ...this.extraParams(),
      ...(this.sampleFields?.params() ?? [])];
  }

  buffers(): Record<string, Float> {
    return { ...this.userBuffers(), ...this.mlp.buffers() };
  }

  zeroGrad(): void {
    zeroDenseGrads(this.params());
    this.encoder.zeroGrad();
    this.sampleFields?.zeroGrad();
    // Sparse tables outside the encoder (wide / first-order weights): emptying the row list is their zeroGrad.
    for (const p of this.extraParams()) if (p.sparse) p.sparse.count = 0;
  }

  attention(): AttentionWeights | null {
    return null;
  }

  /** See `Model.setBatchGroup`: the MLP's and the user vector's Dice layers. */
  setBatchGroup(group: BatchGroup | null): void {
    this.mlp.setBatchGroup(group);
    this.userBatchGroup(group);
  }

  /**
   * The model's inference plan (src/models/inference-plan.ts): its eval forward as data, read by the serving engine,
   * the ONNX export and the report. Base and DIN only: a subclass with extra MLP features or logit terms (PNN,
   * DeepFM, Wide&Deep) has none and throws, as does a model whose tables live in a row store. The arrays are views of
   * the current parameters (and of arrays the layers own): take a new plan after training further.
   */
  inferencePlan(): InferencePlan {
    const kind = this.config.model;
    if (kind !== 'base' && kind !== 'din') {
      throw new Error(`inference plan: model "${kind}" is not base or din (its extra features have no plan)`);
    }
    const mlp = this.mlp.evalForm();
    const want = 2 * this.D + this.P + this.S;
    if (this.E !== 0 || mlp[0].inDim !== want) {
      throw new Error(`inference plan: the MLP input is ${mlp[0].inDim} wide, expected ${want} (extra features have no plan)`);
    }
    return {
      model: kind,
      backend: this.backend,
      D: this.D,
      items: this.encoder.evalForm(),
      sampleFields: this.sampleFields ? this.sampleFields.evalForm() : null,
      pooling: this.config.pooling,
      attention: this.userVectorEval(),
      mlpInput: this.config.mlpInput ?? 'concat',
      mlp,
    };
  }
}

export function validateConfig(c: ModelConfig): void {
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
  if (c.mlpInput !== undefined && c.mlpInput !== 'concat' && c.mlpInput !== 'concat-product') {
    bad(`mlpInput must be concat|concat-product, got ${c.mlpInput}`);
  }
  if (c.wideBuckets !== undefined && !(Number.isInteger(c.wideBuckets) && c.wideBuckets >= 1 && c.wideBuckets <= MAX_WIDE_BUCKETS)) {
    bad(`wideBuckets must be an integer in 1..${MAX_WIDE_BUCKETS}, got ${c.wideBuckets}`);
  }
  if (c.wideAttrCross !== undefined && typeof c.wideAttrCross !== 'boolean') bad(`wideAttrCross must be a boolean, got ${c.wideAttrCross}`);
}
