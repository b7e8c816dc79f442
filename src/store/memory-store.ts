/**
 * A row store in JS typed arrays, off the WASM heap: one machine, tables larger than the WASM memory (4 GiB at most,
 * which a model's whole tables plus Adam's moments must otherwise fit in). Rows are kept in chunks of 65,536 rows,
 * each allocated the first time one of its rows is written; a row never written reads as its initial value (computed
 * from the seed, `initialRow`) with zero state. Memory: 4·(dim + state) bytes per row of every chunk touched, plus a
 * bit per row.
 */
import { initialRow } from '../nn/embedding.js';
import { rowWidth, type RowStore, type StoreTable } from './types.js';

const CHUNK_BITS = 16;
const CHUNK = 1 << CHUNK_BITS;

interface TableData {
  spec: StoreTable;
  width: number;
  chunks: (Float32Array | undefined)[];
  written: (Uint8Array | undefined)[];
}

/** Rows in memory (JS heap, outside the WASM arena). */
export class MemoryRowStore implements RowStore {
  readonly description: string;
  private readonly data: TableData[];

  constructor(readonly tables: readonly StoreTable[]) {
    this.data = tables.map((spec) => ({
      spec, width: rowWidth(spec), chunks: new Array(Math.ceil(spec.rows / CHUNK)), written: new Array(Math.ceil(spec.rows / CHUNK)),
    }));
    this.description = `memory (${tables.length} tables, ${tables.reduce((a, t) => a + t.rows, 0).toLocaleString('en-US')} rows)`;
  }

  /** Bytes held in row chunks (for measurements). */
  get bytes(): number {
    let n = 0;
    for (const t of this.data) for (const c of t.chunks) if (c) n += c.byteLength;
    return n;
  }

  async read(t: number, ids: ArrayLike<number>, n: number, out: Float32Array): Promise<void> {
    this.readSync(t, ids, n, out);
  }

  /** {@link read} without a promise (the single-machine trainer calls it every step). */
  readSync(t: number, ids: ArrayLike<number>, n: number, out: Float32Array): void {
    const d = this.data[t];
    const { width, spec } = d;
    for (let i = 0; i < n; i++) {
      const row = ids[i];
      if (!(row >= 0 && row < spec.rows)) throw new RangeError(`${spec.name}: row ${row} is outside 0..${spec.rows - 1}`);
      const c = row >>> CHUNK_BITS;
      const r = row & (CHUNK - 1);
      const o = i * width;
      const w = d.written[c];
      if (w !== undefined && w[r] === 1) {
        const src = d.chunks[c]!;
        for (let k = 0, so = r * width; k < width; k++) out[o + k] = src[so + k];
      } else {
        initialRow(spec.init, row, spec.dim, out, o);
        out.fill(0, o + spec.dim, o + width);
      }
    }
  }

  async write(t: number, ids: ArrayLike<number>, n: number, rows: Float32Array, _step: number): Promise<void> {
    this.writeSync(t, ids, n, rows);
  }

  /** {@link write} without a promise. */
  writeSync(t: number, ids: ArrayLike<number>, n: number, rows: Float32Array): void {
    const d = this.data[t];
    const { width, spec } = d;
    for (let i = 0; i < n; i++) {
      const row = ids[i];
      if (!(row >= 0 && row < spec.rows)) throw new RangeError(`${spec.name}: row ${row} is outside 0..${spec.rows - 1}`);
      const c = row >>> CHUNK_BITS;
      const r = row & (CHUNK - 1);
      let chunk = d.chunks[c];
      if (chunk === undefined) {
        const rowsIn = Math.min(CHUNK, spec.rows - c * CHUNK);
        chunk = d.chunks[c] = new Float32Array(rowsIn * width);
        d.written[c] = new Uint8Array(rowsIn);
      }
      for (let k = 0, so = i * width, o = r * width; k < width; k++) chunk[o + k] = rows[so + k];
      d.written[c]![r] = 1;
    }
  }

  async close(): Promise<void> {
    for (const d of this.data) {
      d.chunks.fill(undefined);
      d.written.fill(undefined);
    }
  }
}
