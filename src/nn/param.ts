import type { Float } from './backend.js';

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
}

export interface Param {
  name: string;
  shape: number[];
  value: Float;
  grad: Float;
  /** Present for embedding tables: gradient is compact (rows.count × shape[1]). */
  sparse?: SparseRows;
  /** False for parameters excluded from weight decay / regularization (biases, PReLU alphas). */
  decay?: boolean;
}

export function paramSize(p: Param): number {
  return p.shape.reduce((a, b) => a * b, 1);
}
