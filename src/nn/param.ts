import type { Float } from '../kernels/backend.js';
import type { Batch, SampleSet } from '../core/types.js';

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
  /**
   * External tables only (rows kept in a store, the model holding the current step's working set): the table row of
   * each working-set row, so `ids` (working-set rows) can be mapped back to table rows (MBA's per-row counts, the
   * store's keys).
   */
  global?: Int32Array;
}

/**
 * n_j per table row: in how many samples of a SampleSet row j is looked up at least once (as the model sees the
 * sample: histories truncated to the most recent maxHistory). Mini-batch-aware regularization scales row j's penalty
 * by 1/n_j. Set by the layer that owns the table, which alone knows how a sample's ids become table rows.
 */
export type RowCounter = (set: SampleSet, maxHistory: number) => Float64Array;

/**
 * A trainable tensor of a model: its values and gradient on the model's backend. Dense params have a gradient of the
 * same size; embedding tables (`sparse`) keep a compact gradient of the rows used this step.
 */
export interface Param {
  /** Unique, stable name (e.g. `att.0.weight`): the tensor's key in weights.safetensors. */
  name: string;
  /** Dimensions, row-major: [rows, dim] for embedding tables, [in, out] for linear weights. */
  shape: number[];
  /** The values (length = product of `shape`), updated in place by the optimizer. */
  value: Float;
  /** Gradient: same size as `value` when dense; for sparse params `sparse.count` compact rows of `shape[1]` values. */
  grad: Float;
  /** Present for embedding tables: gradient is compact (rows.count × shape[1]). */
  sparse?: SparseRows;
  /** False for parameters excluded from weight decay / regularization (biases, PReLU alphas). */
  decay?: boolean;
  /** Sparse tables: counts n_j of rows over a training set (for mini-batch-aware regularization). */
  countRows?: RowCounter;
  /**
   * Sparse tables: calls `emit(row)` for every table row a batch looks up (repeats allowed), so a trainer can bring
   * exactly those rows into an external table's working set before the step.
   */
  batchRows?: (batch: Batch, emit: (row: number) => void) => void;
  /** Set when the table lives outside the model (see `Embedding`'s `external` option): its working-set manager. */
  external?: ExternalTable;
}

/** What a trainer needs of an external table (implemented by `Embedding` with `external: true`). */
export interface ExternalTable {
  /** Initial value of any row (what a store gives a row never written). */
  readonly init: {
    /** The state of the table's generator before its first draw (row r, column c is `std · normalAt(state, r·dim + c)`). */
    state: number;
    /** Std of the normal draw (0: every row starts at zero). */
    std: number;
    /** Rows that start at zero whatever the draw. */
    zeroRows: readonly number[];
  };
  /** Rows in the current working set. */
  readonly workingRows: number;
  /** Table row of each working-set row, in admission order. */
  readonly workingSetRows: Int32Array;
  /** Empties the working set. */
  clearWorkingSet(): void;
  /** Adds a table row to the working set; returns its working-set row. */
  admit(row: number): number;
}

export function paramSize(p: Param): number {
  return p.shape.reduce((a, b) => a * b, 1);
}
