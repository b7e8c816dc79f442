import type { Backend, Float } from './backend.js';
import type { Param, SparseRows } from './param.js';
import type { Rng } from '../util/rng.js';
import { IntBuf } from './workspace.js';

export interface EmbeddingOptions {
  /** Std of the normal init; 0 gives an all-zero table (biases). Default 0.01. */
  initStd?: number;
  /** Whether regularizers apply (false for per-item biases). Default true. */
  decay?: boolean;
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
 */
export class Embedding {
  readonly param: Param;
  private readonly sparse: SparseRows;
  private readonly slotOf: Int32Array;
  private cap: number;
  private readonly slots: IntBuf;

  constructor(private readonly backend: Backend, readonly name: string, readonly rows: number, readonly dim: number,
    rng: Rng, opts: EmbeddingOptions = {}) {
    const std = opts.initStd ?? 0.01;
    const value = backend.alloc(rows * dim);
    if (std > 0) for (let i = 0; i < value.length; i++) value[i] = rng.normal() * std;
    this.cap = Math.min(rows, 64);
    this.sparse = { ids: backend.allocInt(Math.max(1, this.cap)), count: 0 };
    this.param = { name, shape: [rows, dim], value, grad: backend.alloc(Math.max(1, this.cap * dim)),
      sparse: this.sparse, decay: opts.decay ?? true };
    this.slotOf = new Int32Array(rows);
    this.slots = new IntBuf(backend);
    this.sparse.expandAll = () => this.expandAll();
    this.sparse.index = this.slotOf;
    this.sparse.reserve = (n: number) => {
      if (n > this.cap) this.grow(n);
    };
  }

  /** Adds every row not yet in the sparse list, with a zero gradient (O(rows): full-L2 regularization only). */
  expandAll(): void {
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

  /** out[i,:] = table[ids[i],:], zeros where ids[i] < 0. `ids` must be backend-owned and in range. */
  forward(ids: Int32Array, n: number, out: Float): void {
    if (n > 0) this.backend.gather(this.param.value, this.dim, ids, n, out);
  }

  /** Accumulates dOut[i,:] into the compact gradient row of ids[i] (ids < 0 are skipped). */
  backward(ids: Int32Array, n: number, dOut: Float): void {
    if (n === 0) return;
    const slots = this.slots.ensure(n);
    const sp = this.sparse;
    const slotOf = this.slotOf;
    const dim = this.dim;
    for (let i = 0; i < n; i++) {
      const id = ids[i];
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
    const cap = Math.min(this.rows, Math.max(need, this.cap * 2));
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
