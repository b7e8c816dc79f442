import type { Float } from './backend.js';
import type { SampleSet } from '../data/types.js';

/**
 * A trainable tensor. Dense params have `grad` of the same size as `value`.
 * Sparse (embedding) params keep a compact gradient: `grad` holds `rows.count` rows of `dim` values, row r of `grad`
 * belongs to table row `rows.ids[r]`. Optimizers and regularizers visit only those rows, never the whole table.
 */
export interface SparseRows {
  /** Table row index of each compact gradient row. */
  ids: Int32Array;
  /** Number of valid compact rows this step. */
  count: number;
  /**
   * Adds every table row that is not yet in the list (with a zero gradient), so the optimizer visits the whole table.
   * Only the full-L2 regularizer uses it: it costs O(table size) per step on purpose.
   */
  expandAll?: () => void;
  /**
   * Makes room for n compact rows (the arrays `ids` and the param's `grad` may be replaced; their first `count` rows
   * are kept). Data-parallel training merges the workers' rows into these arrays.
   */
  reserve?: (n: number) => void;
  /**
   * Row → slot of the compact list (the layer's sparse-set index, trusted only where `ids[index[row]] === row` and
   * `index[row] < count`), so whoever rewrites the list keeps it consistent.
   */
  index?: Int32Array;
}

/**
 * n_j per table row: in how many samples of a SampleSet row j is looked up at least once (as the model sees the
 * sample: histories truncated to the most recent maxHistory). Mini-batch-aware regularization scales row j's penalty
 * by 1/n_j. Set by the layer that owns the table, which alone knows how a sample's ids become table rows.
 */
export type RowCounter = (set: SampleSet, maxHistory: number) => Float64Array;

export interface Param {
  name: string;
  shape: number[];
  value: Float;
  grad: Float;
  /** Present for embedding tables: gradient is compact (rows.count × shape[1]). */
  sparse?: SparseRows;
  /** False for parameters excluded from weight decay / regularization (biases, PReLU alphas). */
  decay?: boolean;
  /** Sparse tables: counts n_j of rows over a training set (for mini-batch-aware regularization). */
  countRows?: RowCounter;
}

export function paramSize(p: Param): number {
  return p.shape.reduce((a, b) => a * b, 1);
}
