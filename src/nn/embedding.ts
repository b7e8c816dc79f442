import type { Backend, Float } from '../kernels/backend.js';
import type { Param, SparseRows } from './param.js';
import { normalAt, type Rng } from '../util/rng.js';
import { IntBuf } from './workspace.js';
import { RowMap } from './row-map.js';
import type { TableEval } from './eval-form.js';

/** Options of an {@link Embedding}. */
export interface EmbeddingOptions {
  /** Std of the normal init; 0 gives an all-zero table (biases). Default 0.01. */
  initStd?: number;
  /** Whether regularizers apply (false for per-item biases). Default true. */
  decay?: boolean;
  /** Rows that start at zero whatever `initStd` (the shared out-of-vocabulary row of a filtered goods table). */
  zeroRows?: readonly number[];
  /**
   * Keep the table outside the model (in a row store): the model then holds only the rows of the current step, in
   * a working set the trainer fills before each step ({@link Embedding.admit}, then the store writes the rows). The
   * table may then be far larger than the WASM memory. Default false: the whole table lives in the backend.
   */
  external?: boolean;
}

/**
 * How every row of a table starts, computable row by row: row r, column c is `std · normalAt(state, r·dim + c)` —
 * exactly the values the table's generator gives when the whole table is drawn in order — except `zeroRows`, which
 * are zero. A store admitting a row lazily, the first time a step touches it, gives it this value.
 */
export interface RowInit {
  /** The state of the table's generator before its first draw. */
  state: number;
  /** Std of the normal draw (0: all zeros). */
  std: number;
  /** Rows that start at zero. */
  zeroRows: readonly number[];
}

/** Writes the initial value of `row` (width `dim`) into out[at … at+dim). */
export function initialRow(init: RowInit, row: number, dim: number, out: Float | Float32Array, at = 0): void {
  if (init.std === 0 || init.zeroRows.includes(row)) {
    out.fill(0, at, at + dim);
    return;
  }
  const base = row * dim;
  for (let c = 0; c < dim; c++) out[at + c] = normalAt(init.state, base + c) * init.std;
}

/**
 * An embedding table [rows, dim] with a sparse gradient: only rows looked up since the last `zeroGrad` get a compact
 * gradient row (`param.sparse.ids[s]` ↔ `param.grad[s·dim …]`). A table-sized gradient is never materialized.
 *
 * Lookups are stateless (the caller passes the same backend-owned ids to `forward` and `backward`), so several call
 * sites — history and candidate items, say — can share one table: every `backward` accumulates into the same compact
 * rows until `zeroGrad`.
 *
 * Row → slot membership uses the sparse-set trick: `slotOf[row]` is trusted only if `slot < count` and
 * `ids[slot] === row`, so resetting is O(1) (`count = 0`) and stays correct even if an optimizer zeroes `count`
 * itself.
 *
 * External tables (`external: true`) hold no table: `param.value` is the working set of the current step — the rows
 * {@link Embedding.admit}ted for it, in admission order — and lookups translate table rows to working-set rows on the
 * way in. Gradients, optimizers and regularizers then see working-set rows (`param.sparse.ids` index `param.value`),
 * and `param.sparse.global` maps each back to its table row.
 */
export class Embedding {
  readonly param: Param;
  /** How each row starts (what a store gives a row it has never seen). */
  readonly init: RowInit;
  /** Whether the table lives outside the model (see the class comment). */
  readonly external: boolean;
  private readonly sparse: SparseRows;
  private slotOf: Int32Array;
  private cap: number;
  private readonly slots: IntBuf;
  /** External tables: table row → working-set row of this step. */
  private readonly map: RowMap | null;
  private readonly local: IntBuf | null;
  /** Rows the backend arrays (value, slotOf) are sized for: `rows`, or the working set's capacity when external. */
  private localRows: number;

  constructor(private readonly backend: Backend, readonly name: string, readonly rows: number, readonly dim: number,
    rng: Rng, opts: EmbeddingOptions = {}) {
    const std = opts.initStd ?? 0.01;
    this.init = { state: rng.state, std, zeroRows: [...(opts.zeroRows ?? [])] };
    this.external = opts.external ?? false;
    this.localRows = this.external ? Math.min(rows, 64) : rows;
    const value = backend.alloc(this.external ? Math.max(1, this.localRows * dim) : rows * dim);
    if (!this.external) {
      if (std > 0) for (let i = 0; i < rows * dim; i++) value[i] = normalAt(this.init.state, i) * std;
      for (const r of this.init.zeroRows) value.fill(0, r * dim, (r + 1) * dim);
    }
    this.cap = Math.min(this.localRows, 64);
    this.sparse = { ids: backend.allocInt(Math.max(1, this.cap)), count: 0 };
    this.param = { name, shape: [rows, dim], value, grad: backend.alloc(Math.max(1, this.cap * dim)),
      sparse: this.sparse, decay: opts.decay ?? true };
    this.slotOf = new Int32Array(this.localRows);
    this.slots = new IntBuf(backend);
    this.map = this.external ? new RowMap() : null;
    this.local = this.external ? new IntBuf(backend) : null;
    if (this.external) {
      this.sparse.global = new Int32Array(this.localRows);
      this.param.external = this;
    }
    this.sparse.expandAll = this.external ? undefined : () => this.expandAll();
    this.sparse.index = this.slotOf;
    this.sparse.reserve = (n: number) => {
      if (n > this.cap) this.grow(n);
    };
  }

  /** Eval form: the whole table (a view of the parameter). An external table holds no table and throws. */
  evalForm(): TableEval {
    if (this.external) {
      throw new Error(`${this.name}: the table lives in a row store, not in the model (load the model from the store first)`);
    }
    return { name: this.name, rows: this.rows, dim: this.dim, value: this.param.value };
  }

  /** Adds every row not yet in the sparse list, with a zero gradient (O(rows): full-L2 regularization only). */
  expandAll(): void {
    if (this.external) throw new Error(`${this.name}: an external table cannot list all its rows (full L2 needs the whole table in memory)`);
    const sp = this.sparse;
    const dim = this.dim;
    if (this.cap < this.rows) this.grow(this.rows);
    for (let id = 0; id < this.rows; id++) {
      const s = this.slotOf[id];
      if (s < sp.count && sp.ids[s] === id) continue;
      const n = sp.count;
      sp.ids[n] = id;
      this.slotOf[id] = n;
      sp.count = n + 1;
      this.param.grad.fill(0, n * dim, (n + 1) * dim);
    }
  }

  // ---- external tables: the working set of a step ----

  /** External tables: empties the working set (call before admitting the rows of the next step). */
  clearWorkingSet(): void {
    this.requireExternal();
    this.map!.clear();
    this.sparse.count = 0;
  }

  /** External tables: adds table row `row` to this step's working set (once); returns its working-set row. */
  admit(row: number): number {
    const map = this.map!;
    let s = map.get(row);
    if (s >= 0) return s;
    if (!(row >= 0 && row < this.rows)) throw new RangeError(`${this.name}: row ${row} is outside 0..${this.rows - 1}`);
    s = map.size;
    if (s >= this.localRows) this.growWorkingSet(s + 1);
    map.set(row, s);
    this.sparse.global![s] = row;
    return s;
  }

  /** External tables: rows in this step's working set (`param.value` holds that many rows, in admission order). */
  get workingRows(): number {
    return this.map?.size ?? 0;
  }

  /** External tables: the table row of each working-set row, in admission order (valid until the next clear). */
  get workingSetRows(): Int32Array {
    this.requireExternal();
    return this.sparse.global!.subarray(0, this.map!.size);
  }

  private requireExternal(): void {
    if (!this.external) throw new Error(`${this.name}: not an external table`);
  }

  private growWorkingSet(need: number): void {
    const rows = Math.min(this.rows, Math.max(need, this.localRows * 2));
    const be = this.backend;
    const value = be.alloc(rows * this.dim);
    value.set(this.param.value.subarray(0, this.map!.size * this.dim));
    be.free(this.param.value);
    this.param.value = value;
    const g = new Int32Array(rows);
    g.set(this.sparse.global!.subarray(0, this.map!.size));
    this.sparse.global = g;
    this.slotOf = new Int32Array(rows);
    this.sparse.index = this.slotOf;
    this.sparse.count = 0;
    this.localRows = rows;
  }

  /** Table rows → working-set rows (external tables); the ids themselves otherwise. */
  private toLocal(ids: Int32Array, n: number): Int32Array {
    const map = this.map;
    if (map === null) return ids;
    const out = this.local!.ensure(n);
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      if (id < 0) {
        out[i] = -1;
        continue;
      }
      const s = map.get(id);
      if (s < 0) throw new Error(`${this.name}: row ${id} was not admitted to this step's working set`);
      out[i] = s;
    }
    return out;
  }

  // ---- lookups ----

  /** out[i,:] = table[ids[i],:], zeros where ids[i] < 0. `ids` must be backend-owned and in range. */
  forward(ids: Int32Array, n: number, out: Float): void {
    if (n > 0) this.backend.gather(this.param.value, this.dim, this.toLocal(ids, n), n, out);
  }

  /** Accumulates dOut[i,:] into the compact gradient row of ids[i] (ids < 0 are skipped). */
  backward(ids: Int32Array, n: number, dOut: Float): void {
    if (n === 0) return;
    const local = this.toLocal(ids, n);
    const slots = this.slots.ensure(n);
    const sp = this.sparse;
    const slotOf = this.slotOf;
    const dim = this.dim;
    for (let i = 0; i < n; i++) {
      const id = local[i];
      if (id < 0) {
        slots[i] = -1;
        continue;
      }
      let s = slotOf[id];
      if (!(s < sp.count && sp.ids[s] === id)) {
        s = sp.count;
        if (s >= this.cap) this.grow(s + 1);
        sp.ids[s] = id;
        slotOf[id] = s;
        sp.count = s + 1;
        this.param.grad.fill(0, s * dim, (s + 1) * dim);
      }
      slots[i] = s;
    }
    this.backend.scatterAddRows(this.param.grad, dim, slots, n, dOut);
  }

  /** Empties the sparse row list (the compact rows are re-zeroed when reused). */
  zeroGrad(): void {
    this.sparse.count = 0;
  }

  private grow(need: number): void {
    const cap = Math.min(this.localRows, Math.max(need, this.cap * 2));
    const be = this.backend;
    const count = this.sparse.count;
    const ids = be.allocInt(cap);
    ids.set(this.sparse.ids.subarray(0, count));
    const grad = be.alloc(cap * this.dim);
    grad.set(this.param.grad.subarray(0, count * this.dim));
    be.free(this.sparse.ids);
    be.free(this.param.grad);
    this.sparse.ids = ids;
    this.param.grad = grad;
    this.cap = cap;
  }
}
