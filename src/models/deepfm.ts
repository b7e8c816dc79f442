import type { Float } from '../kernels/backend.js';
import type { Param } from '../nn/param.js';
import type { Batch } from '../core/types.js';
import type { Mode, ModelConfig, ModelContext } from './model.js';
import { FirstOrderTerms } from '../nn/first-order.js';
import { FmSecondOrder } from '../nn/fm.js';
import { BaseModel } from './base.js';
import { FieldStack, fieldLayout } from './fields.js';

/**
 * DeepFM (Guo et al. 2017): logit = FM + deep, where
 *  - FM = first order (the LR terms over every id, params `fm.*`) + second order ½[(Σ_f v_f)² − Σ_f v_f²] over the
 *    field embeddings of {@link fieldLayout} (pooled behaviours are one field), which are the deep part's embeddings;
 *  - deep = the Base model (MLP on [u, q], item bias if configured).
 */
export class DeepFmModel extends BaseModel {
  private readonly first: FirstOrderTerms;
  private readonly fields: FieldStack;
  private readonly fm: FmSecondOrder;
  private rows = 0;

  constructor(config: ModelConfig, ctx: ModelContext) {
    super(config, ctx);
    const { F, k } = fieldLayout(config, ctx.catalog.itemFields?.length ?? 0);
    this.first = new FirstOrderTerms(ctx.backend, 'fm', ctx.catalog, ctx.sampleFields);
    this.fields = new FieldStack(ctx.backend, this.D);
    this.fm = new FmSecondOrder(ctx.backend, F, k);
  }

  protected override extraLogit(batch: Batch, q: Float, u: Float, B: number, _mode: Mode): Float {
    this.rows = B;
    const lin = this.first.forward(batch.items, batch.hist, batch.lengths, B, batch.T, batch.fieldValues);
    const second = this.fm.forward(this.fields.forward(q, u, B), B);
    // lin is the first-order layer's own buffer; adding the second order into it is safe (backward needs neither).
    for (let b = 0; b < B; b++) lin[b] += second[b];
    return lin;
  }

  protected override extraLogitBackward(dLogits: Float, dq: Float, du: Float): void {
    this.first.backward(dLogits);
    this.fields.backward(this.fm.backward(dLogits), this.rows, dq, du);
  }

  protected override extraParams(): Param[] {
    return this.first.params();
  }
}
