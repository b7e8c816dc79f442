/**
 * One model's inference plan: everything its eval forward computes, as data — the item tables, the sample-field
 * tables, how the behaviours become the user vector (pooling, or DIN's folded attention unit), and the MLP as a list of
 * dense layers with their eval-mode activations. Made by `InterestModel.inferencePlan()` from the layers' own eval
 * forms (src/nn/eval-form.ts). Its three consumers read nothing else of the model:
 *  - the serving engine (src/serve/engine/interest.ts): the same function, batched per request;
 *  - the ONNX export (src/export/onnx.ts): the same function as a graph;
 *  - the report (src/report/build.ts), through the engine: attention weights and click probabilities.
 *
 * The function it describes (Base and DIN, paper Fig. 2), for a candidate q = e(candidate) and behaviours k_t = e(b_t):
 *   u = Σ_t k_t (pooling 'sum'), that / #behaviours ('avg'), or Σ_t w_t k_t with w_t = attention(q, k_t) (DIN);
 *   x = [u, q, (u ⊙ q if mlpInput is 'concat-product'), sample-field embeddings];
 *   logit = MLP(x) (+ item bias of the candidate).
 */
import type { Backend } from '../kernels/backend.js';
import type { AttentionEval, DenseEval } from '../nn/eval-form.js';
import type { ItemEncoderEval } from '../nn/item-encoder.js';
import type { SampleFieldsEval } from '../nn/sample-fields.js';

/** The inference plan of a Base or DIN model (see the file header). Arrays live on `backend`. */
export interface InferencePlan {
  /** The model kind. */
  readonly model: 'base' | 'din';
  /** The backend every array of the plan belongs to (the model's). */
  readonly backend: Backend;
  /** Width of an item's encoding (q, k, u). */
  readonly D: number;
  /** The item encoder: goods / attribute / item-field tables, the item bias, the widths. */
  readonly items: ItemEncoderEval;
  /** User-profile and context field tables (the last block of the MLP input), or null. */
  readonly sampleFields: SampleFieldsEval | null;
  /** Base: how the behaviours are pooled into u (DIN's config has one too, unused). */
  readonly pooling: 'sum' | 'avg';
  /** DIN: the local activation unit with its first layer folded; null for Base. */
  readonly attention: AttentionEval | null;
  /** The MLP input: [u, q] (`concat`) or [u, q, u ⊙ q] (`concat-product`), then the sample-field block. */
  readonly mlpInput: 'concat' | 'concat-product';
  /** The MLP, first layer first, ending in the 1-wide logit layer. */
  readonly mlp: readonly DenseEval[];
}
