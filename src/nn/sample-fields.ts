import type { Backend, Float } from '../kernels/backend.js';
import type { Param } from './param.js';
import type { SampleField } from '../core/fields.js';
import type { Rng } from '../util/rng.js';
import { Embedding } from './embedding.js';
import { countPerSample } from '../core/occurrence.js';
import { FloatBuf, IntBuf } from './workspace.js';
import type { TableEval } from './eval-form.js';

/** The sample-field block of an MLP input in eval mode: [emb_1(id_1) … emb_F(id_F)], `k` columns per field. */
export interface SampleFieldsEval {
  /** The fields, in block order. */
  readonly fields: readonly SampleField[];
  /** Width of each field's embedding. */
  readonly k: number;
  /** Width of the block, F·k. */
  readonly width: number;
  /** One table per field (`user.<name>` / `ctx.<name>`), rows = the field's size. */
  readonly tables: readonly TableEval[];
}

/**
 * Embeddings of the per-sample one-hot fields (user profile and context: gender, age, pid, hour …): out [B, F·k] =
 * [emb_1(id_1) … emb_F(id_F)], one table per field named `user.<name>` or `ctx.<name>`. These are the paper's
 * "user profile features" and "context features", concatenated into the MLP input.
 */
export class SampleFieldEmbedding {
  readonly tables: Embedding[];
  readonly width: number;
  private readonly ids: IntBuf[];
  private readonly tmp: FloatBuf;
  private readonly out: FloatBuf;
  private B = 0;

  constructor(private readonly backend: Backend, readonly fields: readonly SampleField[], readonly k: number, rng: Rng,
    initStd?: number, external = false) {
    const names = new Set<string>();
    this.tables = fields.map((f, i) => {
      const name = `${f.group === 'user' ? 'user' : 'ctx'}.${f.name}`;
      if (names.has(name)) throw new Error(`sample fields: duplicate field "${name}"`);
      names.add(name);
      if (!(Number.isInteger(f.size) && f.size >= 1)) throw new Error(`sample field "${name}": size ${f.size}`);
      const emb = new Embedding(backend, name, f.size, k, rng.fork(200 + i), { initStd, external });
      emb.param.batchRows = (batch, emit) => {
        const col = batch.fieldValues?.[i];
        if (!col) return;
        for (let b = 0; b < batch.size; b++) if (col[b] >= 0) emit(col[b]);
      };
      emb.param.countRows = (set) => {
        const col = set.fieldValues?.[i];
        if (!col) throw new Error(`sample field "${name}": the training set has no values for it`);
        return countPerSample(set, f.size, (s, emit) => emit(col[s]));
      };
      return emb;
    });
    this.width = fields.length * k;
    this.ids = fields.map(() => new IntBuf(backend));
    this.tmp = new FloatBuf(backend, k);
    this.out = new FloatBuf(backend, Math.max(1, this.width));
  }

  /** [B, F·k] for the batch's field ids (one Int32Array of length ≥ B per field). */
  forward(values: readonly Int32Array[] | undefined, B: number): Float {
    const F = this.fields.length;
    if ((values?.length ?? 0) !== F) throw new Error(`sample fields: the batch has ${values?.length ?? 0} fields, the model expects ${F} (${this.fields.map((f) => f.name).join(', ')})`);
    this.B = B;
    const out = this.out.ensure(B);
    const k = this.k;
    const W = this.width;
    const tmp = this.tmp.ensure(B);
    for (let f = 0; f < F; f++) {
      const col = values![f];
      const size = this.fields[f].size;
      if (col.length < B) throw new RangeError(`sample field "${this.fields[f].name}": ${col.length} ids given, ${B} expected`);
      const ids = this.ids[f].ensure(B);
      for (let b = 0; b < B; b++) {
        const id = col[b];
        if (!(id >= 0 && id < size)) throw new RangeError(`sample field "${this.fields[f].name}": id ${id} at row ${b} is outside 0..${size - 1}`);
        ids[b] = id;
      }
      this.tables[f].forward(ids, B, tmp);
      for (let b = 0; b < B; b++) for (let j = 0; j < k; j++) out[b * W + f * k + j] = tmp[b * k + j];
    }
    return out;
  }

  /** Accumulates dOut [B, F·k] of the last forward into the tables' sparse gradients. */
  backward(dOut: Float): void {
    const B = this.B;
    const k = this.k;
    const W = this.width;
    const tmp = this.tmp.ensure(B);
    for (let f = 0; f < this.fields.length; f++) {
      for (let b = 0; b < B; b++) for (let j = 0; j < k; j++) tmp[b * k + j] = dOut[b * W + f * k + j];
      this.tables[f].backward(this.ids[f].view, B, tmp);
    }
  }

  /** Eval form: the fields and their tables (views), in the order of the MLP input block. */
  evalForm(): SampleFieldsEval {
    return { fields: this.fields, k: this.k, width: this.width, tables: this.tables.map((t) => t.evalForm()) };
  }

  params(): Param[] {
    return this.tables.map((t) => t.param);
  }

  zeroGrad(): void {
    for (const t of this.tables) t.zeroGrad();
  }
}
