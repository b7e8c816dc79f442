import type { Float } from '../kernels/backend.js';
import type { Mode, ModelConfig, ModelContext } from './model.js';
import { InnerProduct } from '../nn/product.js';
import { BaseModel } from './base.js';
import { FieldStack, fieldLayout } from './fields.js';

/**
 * Product-based Neural Network (Qu et al. 2016), inner-product variant, as the paper's competitor: the Base model
 * whose MLP input [u, q] is extended by the pairwise inner products of the field embeddings (see {@link fieldLayout}:
 * 6 products of 4 fields when goodsDim == attrDim, else the single ⟨q, u⟩). Same embeddings, pooling, MLP and
 * params as Base (mlp.0.weight is wider); the product layer has no params.
 */
export class PnnModel extends BaseModel {
  private readonly fields: FieldStack;
  private readonly product: InnerProduct;
  private rows = 0;

  constructor(config: ModelConfig, ctx: ModelContext) {
    const { F, k } = fieldLayout(config, ctx.catalog.itemFields?.length ?? 0);
    super(config, ctx, { extraInputDim: (F * (F - 1)) / 2 });
    this.fields = new FieldStack(ctx.backend, this.D);
    this.product = new InnerProduct(ctx.backend, F, k);
  }

  protected override extraFeatures(q: Float, u: Float, B: number, _mode: Mode): Float {
    this.rows = B;
    return this.product.forward(this.fields.forward(q, u, B), B);
  }

  protected override extraFeaturesBackward(dExtra: Float, dq: Float, du: Float): void {
    this.fields.backward(this.product.backward(dExtra), this.rows, dq, du);
  }
}
