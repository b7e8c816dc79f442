import type { Backend, Float } from '../kernels/backend.js';
import type { Param } from './param.js';
import { Embedding } from './embedding.js';
import { Rng } from '../util/rng.js';
import { FloatBuf, IntBuf } from './workspace.js';

/**
 * A bag of scalar weights: out[rows[i]] += w[ids[i]] over a ragged list of lookups (an EmbeddingBag of width 1 in
 * sum mode). It is the building block of the linear parts of LR, Wide&Deep and DeepFM: each active id of a row —
 * a candidate attribute, a history item, a hashed cross feature — adds its weight, repeated ids count repeatedly.
 * The table is an {@link Embedding} (init 0), so its gradient is sparse: only looked-up ids get a row.
 *
 * Usage per step: `prepare(n)` returns the ids/rows arrays to fill, `forwardAdd(out)` adds the weights, `backward`
 * pushes dOut[rows[i]] to every lookup.
 */
export class WeightBag {
  readonly table: Embedding;
  private readonly ids: IntBuf;
  private readonly rows: IntBuf;
  private readonly vals: FloatBuf;
  private n = 0;

  constructor(backend: Backend, name: string, size: number, opts: { decay?: boolean } = {}) {
    // Linear weights start at 0 (the usual LR init); the rng is unused then.
    this.table = new Embedding(backend, name, size, 1, new Rng(0), { initStd: 0, decay: opts.decay });
    this.ids = new IntBuf(backend);
    this.rows = new IntBuf(backend);
    this.vals = new FloatBuf(backend, 1);
  }

  get param(): Param {
    return this.table.param;
  }

  /** Arrays (backend-owned) to receive n lookups: table row ids[i] (must be in range, ≥ 0) adds to output row rows[i]. */
  prepare(n: number): { ids: Int32Array; rows: Int32Array } {
    this.n = n;
    return { ids: this.ids.ensure(n), rows: this.rows.ensure(n) };
  }

  /** out[rows[i]] += w[ids[i]] for the prepared lookups. */
  forwardAdd(out: Float): void {
    const n = this.n;
    if (n === 0) return;
    const v = this.vals.ensure(n);
    this.table.forward(this.ids.view, n, v);
    const rows = this.rows.view;
    for (let i = 0; i < n; i++) out[rows[i]] += v[i];
  }

  /** Accumulates dOut[rows[i]] into the gradient row of ids[i]. */
  backward(dOut: ArrayLike<number>): void {
    const n = this.n;
    if (n === 0) return;
    const d = this.vals.ensure(n);
    const rows = this.rows.view;
    for (let i = 0; i < n; i++) d[i] = dOut[rows[i]];
    this.table.backward(this.ids.view, n, d);
  }
}
