import type { Float } from '../kernels/backend.js';
import type { Param } from '../nn/param.js';
import type { Mode, ModelConfig, ModelContext } from './model.js';
import { MaskedPooling } from '../nn/pooling.js';
import { InterestModel, type InterestModelOptions } from './interest-model.js';

/** Embedding & MLP baseline (paper §4.2): the user vector is the sum (or average) of the history embeddings. */
export class BaseModel extends InterestModel {
  private readonly pool: MaskedPooling;

  /** `opts` is for subclasses that add features to the deep part (PNN, DeepFM, Wide&Deep). */
  constructor(config: ModelConfig, ctx: ModelContext, opts: InterestModelOptions = {}) {
    super(config, ctx, opts);
    this.pool = new MaskedPooling(ctx.backend, config.pooling, this.D);
  }

  protected userVector(_q: Float, K: Float, lengths: Int32Array, B: number, T: number, _mode: Mode): Float {
    return this.pool.forward(K, lengths, B, T);
  }

  protected userBackward(du: Float, _dq: Float, dK: Float): void {
    this.pool.backward(du, dK);
  }

  protected userParams(): Param[] {
    return [];
  }

  protected userVectorEval(): null {
    return null;
  }

  protected userBuffers(): Record<string, Float> {
    return {};
  }
}
