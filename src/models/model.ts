import type { Backend, Float } from '../nn/backend.js';
import type { Param } from '../nn/param.js';
import type { Batch, ItemCatalog } from '../data/types.js';
import type { SampleField } from '../data/fields.js';

export type Mode = 'train' | 'eval';
export type Activation = 'prelu' | 'dice';
export type AttentionActivation = 'prelu' | 'dice' | 'sigmoid';

export type ModelKind = 'lr' | 'base' | 'wide-deep' | 'pnn' | 'deepfm' | 'din';
export const MODEL_KINDS: readonly ModelKind[] = ['lr', 'base', 'wide-deep', 'pnn', 'deepfm', 'din'];

/** Default size of the hashed cross-product table of Wide&Deep. */
export const DEFAULT_WIDE_BUCKETS = 2 ** 20;
/** Upper bound on wideBuckets (a 1-dim table of that many rows plus its optimizer state must fit in memory). */
export const MAX_WIDE_BUCKETS = 2 ** 26;

export interface ModelConfig {
  /** lr ignores every embedding/MLP field; the other models share them so the comparison is fair. */
  model: ModelKind;
  /** Goods-id embedding width. */
  goodsDim: number;
  /** Attribute/category embedding width (an item's attributes are mean-pooled into one vector of this width). */
  attrDim: number;
  /** MLP hidden widths (output layer of width 1 is added). Paper: [200, 80]. */
  hidden: number[];
  /** Activation of the MLP hidden layers. */
  activation: Activation;
  /** DIN local activation unit hidden widths. Paper: [80, 40]. */
  attentionHidden: number[];
  attentionActivation: AttentionActivation;
  /** 'none' = the paper (raw weights, interest intensity kept); 'softmax' = the original code (masked softmax). */
  attentionNorm: 'none' | 'softmax';
  /** Pooling of behaviours of BaseModel (and of the deep parts of wide-deep, pnn, deepfm). */
  pooling: 'sum' | 'avg';
  /** Per-item bias added to the logit (the original code has one). */
  itemBias: boolean;
  /**
   * MLP input of Base/DIN (and the models built on Base): 'concat' = [u, q] as in the paper's Fig. 2;
   * 'concat-product' = [u, q, u ⊙ q] as the original DIN code does. Default 'concat'.
   */
  mlpInput?: 'concat' | 'concat-product';
  /** wide-deep: rows of the hashed cross-product weight table (default {@link DEFAULT_WIDE_BUCKETS}). */
  wideBuckets?: number;
  /** wide-deep: also cross each behaviour's attributes with the candidate's attributes (default true). */
  wideAttrCross?: boolean;
}

export const DEFAULT_MODEL_CONFIG: Omit<ModelConfig, 'model'> = {
  goodsDim: 32,
  attrDim: 32,
  hidden: [200, 80],
  activation: 'prelu',
  attentionHidden: [80, 40],
  attentionActivation: 'prelu',
  attentionNorm: 'none',
  pooling: 'sum',
  itemBias: true,
};

/** The attention weights of the last forward pass (DIN only): weights[b*T + t], 0 on padded positions. */
export interface AttentionWeights {
  weights: Float;
  B: number;
  T: number;
}

export interface Model {
  readonly config: ModelConfig;
  readonly backend: Backend;
  /** Trainable parameters, stable order and unique names (used as safetensors keys). */
  params(): Param[];
  /** Non-trainable state saved with the model (Dice moving mean/var), stable names. */
  buffers(): Record<string, Float>;
  /** Logits (pre-sigmoid), length batch.size. The returned array is reused by the next forward. */
  forward(batch: Batch, mode: Mode): Float;
  /** Accumulates parameter gradients for dLogits (length batch.size) of the last forward in 'train' mode. */
  backward(dLogits: Float): void;
  /** Resets dense gradients to 0 and sparse row lists to empty. */
  zeroGrad(): void;
  /** Attention weights of the last forward (DIN), null for models without attention. */
  attention(): AttentionWeights | null;
}

/** Everything a model factory needs. */
export interface ModelContext {
  backend: Backend;
  catalog: Pick<ItemCatalog, 'numItems' | 'numAttrs' | 'attrOffsets' | 'attrValues' | 'goodsRows' | 'numGoodsRows' | 'goodsOov' | 'itemFields'>;
  seed: number;
  /** User-profile and context fields of the data (Dataset.sampleFields): each gets a table; absent = none. */
  sampleFields?: readonly SampleField[];
}
