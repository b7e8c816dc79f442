import type { Backend, Float } from '../kernels/backend.js';
import type { Mode } from '../nn/layer.js';
import type { BatchGroup } from '../nn/batch-group.js';
import type { Param } from '../nn/param.js';
import type { Batch, ItemCatalog } from '../core/types.js';
import type { SampleField } from '../core/fields.js';

export type { Mode };
/** Activation of the MLP hidden layers: PReLU, or Dice (paper eq. 8–9: PReLU with a data-adaptive rectifier point). */
export type Activation = 'prelu' | 'dice';
/** Activation of the local activation unit's hidden layers: those of {@link Activation}, or a plain sigmoid. */
export type AttentionActivation = 'prelu' | 'dice' | 'sigmoid';

/**
 * The model families of the paper's comparison: `lr` (logistic regression over the ids), `base` (Embedding&MLP with
 * sum/avg pooling of the behaviours), `wide-deep`, `pnn` and `deepfm` (Base plus a wide, product or FM part), and
 * `din` (Base with the local activation unit instead of pooling).
 */
export type ModelKind = 'lr' | 'base' | 'wide-deep' | 'pnn' | 'deepfm' | 'din';
/** Every {@link ModelKind}, in the order of the paper's comparison (what `createModel` accepts). */
export const MODEL_KINDS: readonly ModelKind[] = ['lr', 'base', 'wide-deep', 'pnn', 'deepfm', 'din'];

/** Default size of the hashed cross-product table of Wide&Deep. */
export const DEFAULT_WIDE_BUCKETS = 2 ** 20;
/** Upper bound on wideBuckets (a 1-dim table of that many rows plus its optimizer state must fit in memory). */
export const MAX_WIDE_BUCKETS = 2 ** 26;

/**
 * A model's architecture: its kind, embedding and layer widths, activations and attention. Stored as `config` in a
 * checkpoint's model.json, so a checkpoint rebuilds the same network.
 */
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
  /** Activation of the local activation unit's hidden layers (DIN only). */
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

/**
 * Defaults of every {@link ModelConfig} field but `model`: 32-wide goods and attribute embeddings, the paper's MLP
 * [200, 80] and attention unit [80, 40], PReLU everywhere, raw attention weights (no softmax), sum pooling and an item
 * bias. The optional fields are absent (`mlpInput` 'concat', wide-deep's defaults).
 */
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
  /** B·T weights, row-major: weights[b*T + t] is behaviour t of sample b. A view the next forward overwrites. */
  weights: Float;
  /** Samples in the batch. */
  B: number;
  /** History positions per sample: the batch's padded history length. */
  T: number;
}

/**
 * A CTR model: parameters on one backend, a forward pass from a batch to logits and its backward pass. Made by
 * `createModel`; trained by `trainModel` (or `train()`), saved as a checkpoint, served by `RankingEngine`.
 */
export interface Model {
  /** The architecture it was built with. */
  readonly config: ModelConfig;
  /** The backend its parameters, buffers and outputs live on. */
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
  /**
   * The context the model was made with (every built-in model keeps it): what a replica of it needs besides its
   * weights (data-parallel training builds one per worker thread).
   */
  readonly context?: ModelContext;
  /**
   * Data-parallel training: the group of workers the training batches are split over, handed to the layers whose
   * train-mode output depends on the whole batch (Dice); null: each batch is whole. Absent on models without such
   * layers.
   * @internal
   */
  setBatchGroup?(group: BatchGroup | null): void;
}

/** Everything a model factory needs. */
export interface ModelContext {
  /** Backend the parameters, buffers and workspaces are allocated on. */
  backend: Backend;
  /**
   * The item catalog the tables are sized from: items, their attribute bags, the goods-id rows (goods filter / OOV row)
   * and item fields. Batches must use the same item ids.
   */
  catalog: Pick<ItemCatalog, 'numItems' | 'numAttrs' | 'attrOffsets' | 'attrValues' | 'goodsRows' | 'numGoodsRows' | 'goodsOov' | 'itemFields'>;
  /** Seed of the parameter initialization: the same config, catalog and seed give the same initial weights. */
  seed: number;
  /** User-profile and context fields of the data (Dataset.sampleFields): each gets a table; absent = none. */
  sampleFields?: readonly SampleField[];
  /**
   * Keep the embedding tables outside the model, in a row store, holding only each step's rows (tables larger than
   * the WASM memory; several trainer processes sharing them). Models whose every table supports it: base, din, pnn.
   * Default false.
   */
  externalTables?: boolean;
}

/** Model kinds whose every embedding table can live in a row store ({@link ModelContext.externalTables}). */
export const EXTERNAL_TABLE_MODELS: readonly ModelKind[] = ['base', 'din', 'pnn'];
