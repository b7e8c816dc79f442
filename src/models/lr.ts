import type { Backend, Float } from '../kernels/backend.js';
import type { Param } from '../nn/param.js';
import type { Batch } from '../core/types.js';
import type { AttentionWeights, Mode, Model, ModelConfig, ModelContext } from './model.js';
import { FirstOrderTerms } from '../nn/first-order.js';
import { zeroDenseGrads } from '../nn/layer.js';
import { FloatBuf } from '../nn/workspace.js';
import { validateConfig } from './interest-model.js';

/**
 * Logistic regression over every id of a sample (the paper's LR competitor): logit = the {@link FirstOrderTerms}
 * (bias, candidate goods and attributes, summed history goods and attributes), params `lr.bias`, `lr.cand_goods`,
 * `lr.cand_attr`, `lr.hist_goods`, `lr.hist_attr`. The embedding/MLP fields of the config are not used.
 */
export class LrModel implements Model {
  readonly backend: Backend;
  readonly terms: FirstOrderTerms;
  private readonly logits: FloatBuf;
  private lastMode: Mode = 'eval';

  constructor(readonly config: ModelConfig, readonly context: ModelContext) {
    const ctx = context;
    validateConfig(config);
    this.backend = ctx.backend;
    this.terms = new FirstOrderTerms(ctx.backend, 'lr', ctx.catalog, ctx.sampleFields);
    this.logits = new FloatBuf(ctx.backend, 1);
  }

  forward(batch: Batch, mode: Mode): Float {
    this.lastMode = mode;
    const B = batch.size;
    const z = this.terms.forward(batch.items, batch.hist, batch.lengths, B, batch.T, batch.fieldValues);
    const out = this.logits.ensure(B);
    out.set(z);
    return out;
  }

  backward(dLogits: Float): void {
    if (this.lastMode !== 'train') throw new Error(`lr: backward needs a forward in 'train' mode`);
    this.terms.backward(dLogits);
  }

  params(): Param[] {
    return this.terms.params();
  }

  buffers(): Record<string, Float> {
    return {};
  }

  zeroGrad(): void {
    const ps = this.params();
    zeroDenseGrads(ps);
    for (const p of ps) if (p.sparse) p.sparse.count = 0;
  }

  attention(): AttentionWeights | null {
    return null;
  }
}
