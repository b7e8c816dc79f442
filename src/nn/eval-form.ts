/**
 * The eval forms of the layers: what a layer computes in eval mode, as plain data (weights and activation
 * parameters), like a Keras layer's `get_config()` + `get_weights()`. Every inference consumer — the serving engine
 * (src/serve/engine/), the ONNX export (src/export/onnx.ts), the report — reads these (through a model's
 * `inferencePlan()`, src/models/inference-plan.ts) instead of reaching into layer internals, so the eval forward is
 * described in one place: the layers themselves.
 *
 * Arrays are views of the layer's own parameters on its backend (no copies: a goods table can be most of the memory)
 * or, for derived values (DIN's folded first layer), arrays the layer owns; activation parameters are float64 copies
 * (Dice's 1/sqrt(var + ε) is computed when the form is taken). A form describes the layer as it is when taken: take a
 * new one after training further.
 */
import type { EvalActivation, Float } from '../kernels/backend.js';
import type { AttentionNorm } from './attention.js';

/** An embedding table in eval mode: `rows × dim`, row-major. */
export interface TableEval {
  /** The table's parameter name (its safetensors key), e.g. `goods_emb`, `field.shop`, `user.gender`. */
  readonly name: string;
  /** Rows (ids). */
  readonly rows: number;
  /** Width of a row. */
  readonly dim: number;
  /** The table: a view of the parameter's value (backend memory). */
  readonly value: Float;
}

/** A dense layer in eval mode: y = act(x·W + b). */
export interface DenseEval {
  /** Name of the linear layer (its params are `<name>.weight`, `<name>.bias`), e.g. `mlp.0`. */
  readonly name: string;
  /** Weight [inDim, outDim], row-major (a view of the parameter). */
  readonly W: Float;
  /** Bias [outDim] (a view of the parameter). */
  readonly b: Float;
  /** Input width. */
  readonly inDim: number;
  /** Output width (channels of the activation). */
  readonly outDim: number;
  /** The activation after the layer (`none` on an output layer). */
  readonly act: EvalActivation;
  /** Name of the activation layer (its params are `<actName>.alpha` …), e.g. `mlp.0.dice`; null for `none`. */
  readonly actName: string | null;
}

/**
 * DIN's local activation unit in eval mode, its first layer folded: [q, k, q − k, q ⊙ k]·W + b =
 * q·Wq + k·Wk + (q ⊙ k)·Wp + b with Wq = W1 + W3, Wk = W2 − W3, Wp = W4 (W1..W4 the D-row blocks of W), so the
 * candidate term, the behaviour term and the pair term can each be computed once where they vary.
 */
export interface AttentionEval {
  /** Width of q and k (an item's encoding). */
  readonly D: number;
  /** Width H of the first layer (1 when the unit has no hidden layers). */
  readonly H: number;
  /** The folded first layer; its arrays are [D, H] row-major. */
  readonly first: {
    /** Name of the unfolded layer (params `<name>.weight` [4D, H], `<name>.bias`), e.g. `att.0`. */
    readonly name: string;
    /** W1 + W3: the candidate's (q's) weight. */
    readonly Wq: Float;
    /** W2 − W3: the behaviour's (k's) weight. */
    readonly Wk: Float;
    /** W4: the weight of q ⊙ k. */
    readonly Wp: Float;
    /**
     * [Wk; Wp] as one [2D, H] array (Wk's rows, then Wp's: `Wk` and `Wp` are views of it), the weight of [k, q ⊙ k].
     */
    readonly Wkp: Float;
    /** Bias [H]. */
    readonly b: Float;
    /** Activation after the first layer (`none` when the unit has no hidden layers: the layer is then the score). */
    readonly act: EvalActivation;
    /** Name of that activation layer, null for `none`. */
    readonly actName: string | null;
  };
  /** The unit's remaining layers, ending in the 1-wide score layer; empty when the first layer is the score. */
  readonly rest: readonly DenseEval[];
  /** `none`: the raw scores are the weights (the paper); `softmax`: a masked softmax of score·scale per sample. */
  readonly norm: AttentionNorm;
  /** The softmax's score scale, 1/sqrt(D). */
  readonly scale: number;
}
