import type { Float } from '../kernels/backend.js';
import type { Param } from '../nn/param.js';
import type { AttentionWeights, Mode, ModelConfig, ModelContext } from './model.js';
import { AttentionUnit } from '../nn/attention.js';
import { Rng } from '../util/rng.js';
import { InterestModel } from './interest-model.js';
import type { AttentionEval } from '../nn/eval-form.js';
import type { BatchGroup } from '../nn/batch-group.js';

/** Deep Interest Network: the user vector is the candidate-aware weighted sum of the history (local activation unit). */
export class DinModel extends InterestModel {
  readonly att: AttentionUnit;

  constructor(config: ModelConfig, ctx: ModelContext) {
    super(config, ctx);
    this.att = new AttentionUnit(ctx.backend, 'att', this.D, {
      hidden: config.attentionHidden, activation: config.attentionActivation, norm: config.attentionNorm,
    }, new Rng(ctx.seed).fork(103));
  }

  protected userVector(q: Float, K: Float, lengths: Int32Array, B: number, T: number, mode: Mode): Float {
    return this.att.forward(q, K, lengths, B, T, mode);
  }

  protected userBackward(du: Float, dq: Float, dK: Float): void {
    this.att.backward(du, dq, dK);
  }

  protected userParams(): Param[] {
    return this.att.params();
  }

  protected override userBatchGroup(group: BatchGroup | null): void {
    this.att.setBatchGroup(group);
  }

  protected userVectorEval(): AttentionEval {
    return this.att.evalForm();
  }

  protected userBuffers(): Record<string, Float> {
    return this.att.buffers();
  }

  override attention(): AttentionWeights | null {
    return this.att.weights();
  }
}
