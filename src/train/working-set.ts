/**
 * The embedding tables of a model built with `externalTables`: before each step the rows the batch looks up are
 * admitted to each table's working set and read from the row store — value into the model's param, optimizer state
 * into the state arrays bound to it — and after the step the rows that got a gradient are written back.
 *
 * With one trainer this is exactly in-memory training (same kernels on the same rows in the same order: the tests
 * check bit-identity); several trainers use {@link WorkingSets.rowsWithGradient} to route gradients to the rows'
 * owners instead (./store-trainer.ts).
 */
import type { Batch } from '../core/types.js';
import type { Backend, Float } from '../kernels/backend.js';
import type { ExternalTable, Param } from '../nn/param.js';
import type { Model } from '../models/model.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { RowStore, StoreTable } from '../store/types.js';

/** One external table of the model. */
export interface WorkingTable {
  /** Index of the table in the store. */
  t: number;
  param: Param;
  ext: ExternalTable;
  dim: number;
  /** Floats of optimizer state per row. */
  stateDim: number;
  /** The optimizer's state arrays bound to the param (stateSlots of them), sized to the working set's capacity. */
  state: Float[];
  /** Read/write buffer: rows × (dim + stateDim) float32. */
  staging: Float32Array;
}

/** The store tables of a model with external tables, in `model.params()` order (what a store is opened with). */
export function storeTables(model: Model, optimizer: Pick<Optimizer, 'stateSlots'>): StoreTable[] {
  const out: StoreTable[] = [];
  for (const p of model.params()) {
    if (!p.sparse) continue;
    if (!p.external) throw new Error(`table "${p.name}" is not external: the model was not built with externalTables`);
    if (!p.batchRows) throw new Error(`table "${p.name}" cannot tell which rows a batch needs (its layer sets no batchRows)`);
    const [rows, dim] = p.shape;
    out.push({ name: p.name, rows, dim, stateDim: optimizer.stateSlots * dim, init: { ...p.external.init, zeroRows: [...p.external.init.zeroRows] } });
  }
  return out;
}

/** The working sets of every external table of a model, and their traffic with a row store. */
export class WorkingSets {
  readonly tables: WorkingTable[];
  private readonly backend: Backend;

  constructor(private readonly model: Model, private readonly optimizer: Optimizer) {
    this.backend = model.backend;
    if (this.backend.dtype !== 'float32') throw new Error(`external tables need a float32 backend (rows are stored as float32), got ${this.backend.name}`);
    const specs = storeTables(model, optimizer);
    const sparse = model.params().filter((p) => p.sparse);
    this.tables = sparse.map((param, t) => ({
      t, param, ext: param.external!, dim: specs[t].dim, stateDim: specs[t].stateDim, state: [], staging: new Float32Array(0),
    }));
  }

  /** Empties every working set and admits the rows `batch` looks up (in the order the batch names them). */
  admit(batch: Batch): void {
    for (const w of this.tables) {
      w.ext.clearWorkingSet();
      const ext = w.ext;
      w.param.batchRows!(batch, (row) => {
        ext.admit(row);
      });
    }
  }

  /** Reads the admitted rows from the store into the params (values) and the optimizer's state (bound per step). */
  async load(store: RowStore): Promise<void> {
    await Promise.all(this.tables.map((w) => {
      const n = w.ext.workingRows;
      const staging = this.stagingFor(w, n);
      return store.read(w.t, w.ext.workingSetRows, n, staging);
    }));
    for (const w of this.tables) this.unstage(w, w.ext.workingRows);
  }

  /** Writes back every row that has a gradient this step (value and optimizer state), recording `step`. */
  async saveUpdated(store: RowStore, step: number): Promise<number> {
    let rows = 0;
    await Promise.all(this.tables.map((w) => {
      const sp = w.param.sparse!;
      const n = sp.count;
      rows += n;
      if (n === 0) return Promise.resolve();
      const staging = this.stagingFor(w, n);
      const width = w.dim + w.stateDim;
      const value = w.param.value;
      const dim = w.dim;
      const ids = new Int32Array(n);
      const global = sp.global!;
      const state = w.state;
      for (let i = 0; i < n; i++) {
        const local = sp.ids[i];
        ids[i] = global[local];
        let o = i * width;
        const lo = local * dim;
        for (let k = 0; k < dim; k++) staging[o + k] = value[lo + k];
        for (let j = 0; j < state.length; j++) {
          o += dim;
          const a = state[j];
          for (let k = 0; k < dim; k++) staging[o + k] = a[lo + k];
        }
      }
      return store.write(w.t, ids, n, staging, step);
    }));
    return rows;
  }

  /** A staging buffer of at least n rows for table w. */
  private stagingFor(w: WorkingTable, n: number): Float32Array {
    const need = n * (w.dim + w.stateDim);
    if (w.staging.length < need) w.staging = new Float32Array(Math.max(need, w.staging.length * 2));
    return w.staging;
  }

  /** Copies n staged rows into the param's working set and the state arrays (grown and re-bound as needed). */
  private unstage(w: WorkingTable, n: number): void {
    const { dim } = w;
    const width = dim + w.stateDim;
    const value = w.param.value;
    const slots = this.optimizer.stateSlots;
    if (slots > 0 && (w.state.length !== slots || w.state[0].length < value.length)) {
      for (const a of w.state) this.backend.free(a);
      w.state = Array.from({ length: slots }, () => this.backend.alloc(value.length));
    }
    if (slots > 0) this.optimizer.bindState(w.param, w.state);
    const staging = w.staging;
    const state = w.state;
    for (let i = 0; i < n; i++) {
      let o = i * width;
      const lo = i * dim;
      for (let k = 0; k < dim; k++) value[lo + k] = staging[o + k];
      for (let j = 0; j < state.length; j++) {
        o += dim;
        const a = state[j];
        for (let k = 0; k < dim; k++) a[lo + k] = staging[o + k];
      }
    }
  }
}
