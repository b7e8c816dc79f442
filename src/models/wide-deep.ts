import type { Float } from '../kernels/backend.js';
import type { Param } from '../nn/param.js';
import type { Batch } from '../core/types.js';
import { DEFAULT_WIDE_BUCKETS, type Mode, type ModelConfig, type ModelContext } from './model.js';
import { FirstOrderTerms } from '../nn/first-order.js';
import { HashedCross } from '../nn/cross.js';
import { BaseModel } from './base.js';

/**
 * Wide & Deep (Cheng et al. 2016) as the paper's competitor: logit = deep + wide, where
 *  - deep = the Base model (pooled behaviours, MLP on [u, q], item bias if configured);
 *  - wide = the LR terms over every id (params `wide.bias`, `wide.cand_goods`, …) + hashed cross-product features of
 *    each valid behaviour with the candidate (goods × goods, and attribute × attribute unless wideAttrCross is false)
 *    in `wide.cross` [wideBuckets, 1].
 */
export class WideDeepModel extends BaseModel {
  private readonly first: FirstOrderTerms;
  private readonly cross: HashedCross;

  constructor(config: ModelConfig, ctx: ModelContext) {
    super(config, ctx);
    this.first = new FirstOrderTerms(ctx.backend, 'wide', ctx.catalog, ctx.sampleFields);
    this.cross = new HashedCross(ctx.backend, 'wide.cross', config.wideBuckets ?? DEFAULT_WIDE_BUCKETS, ctx.catalog,
      config.wideAttrCross ?? true);
  }

  protected override extraLogit(batch: Batch, _q: Float, _u: Float, B: number, _mode: Mode): Float {
    const lin = this.first.forward(batch.items, batch.hist, batch.lengths, B, batch.T, batch.fieldValues);
    const cross = this.cross.forward(batch.items, batch.hist, batch.lengths, B, batch.T);
    for (let b = 0; b < B; b++) lin[b] += cross[b];
    return lin;
  }

  protected override extraLogitBackward(dLogits: Float, _dq: Float, _du: Float): void {
    this.first.backward(dLogits);
    this.cross.backward(dLogits);
  }

  protected override extraParams(): Param[] {
    return [...this.first.params(), ...this.cross.params()];
  }
}
