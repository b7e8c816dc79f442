/**
 * An ordinary model (every table in the backend's memory) from a model whose tables live in a row store: the dense
 * weights and buffers are copied, each table is read from the store row by row in chunks. This is how a model
 * trained on a store is saved as a plain checkpoint, evaluated, exported or served. The tables must fit in the
 * backend's memory (a WASM backend: its arena); the error says so when they do not.
 */
import type { Backend } from '../kernels/backend.js';
import type { Model, ModelConfig, ModelContext } from '../models/model.js';
import { createModel } from '../models/index.js';
import type { RowStore } from '../store/types.js';
import { rowWidth } from '../store/types.js';

/** Rows read per store call while materializing a table. */
const CHUNK_ROWS = 8192;

/** Copies the dense parameters and buffers of `from` into `to` (same config: same names and shapes). */
export function copyDense(from: Model, to: Model): void {
  const src = new Map(from.params().map((p) => [p.name, p]));
  for (const p of to.params()) {
    if (p.sparse) continue;
    const q = src.get(p.name);
    if (!q || q.value.length !== p.value.length) throw new Error(`materialize: no dense parameter "${p.name}" of ${p.value.length} values in the trained model`);
    p.value.set(q.value);
  }
  const bufs = from.buffers();
  for (const [name, b] of Object.entries(to.buffers())) {
    const s = bufs[name];
    if (!s || s.length !== b.length) throw new Error(`materialize: no buffer "${name}" of ${b.length} values in the trained model`);
    b.set(s);
  }
}

/**
 * Fills every table of `model` (an ordinary model of the store's tables) from `store`. Tables the model has but the
 * store does not, or of another shape, are errors naming the table.
 */
export async function readTables(model: Model, store: RowStore): Promise<void> {
  for (const p of model.params()) {
    if (!p.sparse) continue;
    const t = store.tables.findIndex((s) => s.name === p.name);
    if (t < 0) throw new Error(`materialize: the store has no table "${p.name}" (tables: ${store.tables.map((s) => s.name).join(', ')})`);
    const spec = store.tables[t];
    const [rows, dim] = p.shape;
    if (spec.rows !== rows || spec.dim !== dim) throw new Error(`materialize: table "${p.name}" is ${spec.rows} × ${spec.dim} in the store, the model expects ${rows} × ${dim}`);
    const width = rowWidth(spec);
    const buf = new Float32Array(Math.min(CHUNK_ROWS, rows) * width);
    const ids = new Int32Array(Math.min(CHUNK_ROWS, rows));
    for (let r0 = 0; r0 < rows; r0 += CHUNK_ROWS) {
      const n = Math.min(CHUNK_ROWS, rows - r0);
      for (let i = 0; i < n; i++) ids[i] = r0 + i;
      await store.read(t, ids, n, buf);
      for (let i = 0; i < n; i++) p.value.set(buf.subarray(i * width, i * width + dim), (r0 + i) * dim);
    }
  }
}

/** An ordinary model with the weights of `trained` (built with externalTables) and the rows of `store`. */
export async function materialize(trained: Model, config: ModelConfig, ctx: Omit<ModelContext, 'externalTables' | 'backend'>, store: RowStore,
  backend: Backend): Promise<Model> {
  let model: Model;
  try {
    model = createModel(config, { ...ctx, backend });
  } catch (e) {
    if (e instanceof Error && /out of WASM memory/.test(e.message)) {
      const bytes = store.tables.reduce((a, t) => a + 4 * t.rows * t.dim, 0);
      throw new Error(`the model's tables (${(bytes / 2 ** 30).toFixed(2)} GiB) do not fit in the WASM memory (${e.message}); ` +
        'keep using the store (din eval --store …) or raise DIN_WASM_MEMORY_MB (at most 4096)');
    }
    throw e;
  }
  copyDense(trained, model);
  await readTables(model, store);
  return model;
}
