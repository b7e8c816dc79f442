/**
 * A write-back cache in front of a row store, for a trainer that is the only writer of the rows it caches (one
 * trainer on a Redis store): a row is read from the backing store the first time it is needed, then served from
 * memory; writes stay in memory, marked dirty, until `flush()` writes every dirty row back (at each checkpoint, so
 * the rows in the store are always those of the last checkpoint — a resume continues from a consistent state).
 * Memory: the rows touched so far, 4·(dim + state) bytes each, in chunks of 65,536 rows (as MemoryRowStore).
 */
import { rowWidth, type RowStore, type StoreTable } from './types.js';

const CHUNK_BITS = 16;
const CHUNK = 1 << CHUNK_BITS;

interface TableCache {
  spec: StoreTable;
  width: number;
  chunks: (Float32Array | undefined)[];
  /** 1: cached, 2: cached and dirty (per row of a chunk). */
  state: (Uint8Array | undefined)[];
  dirty: number;
}

/** A row store whose reads and writes go to memory, written back to `backing` by {@link CachedRowStore.flush}. */
export class CachedRowStore implements RowStore {
  readonly description: string;
  readonly tables: readonly StoreTable[];
  private readonly cache: TableCache[];
  /** Rows read from the backing store (first touches), for measurements. */
  rowsFetched = 0;

  constructor(readonly backing: RowStore) {
    this.tables = backing.tables;
    this.description = `${backing.description}, write-back cache`;
    this.cache = backing.tables.map((spec) => ({
      spec, width: rowWidth(spec), chunks: new Array(Math.ceil(spec.rows / CHUNK)), state: new Array(Math.ceil(spec.rows / CHUNK)), dirty: 0,
    }));
  }

  /** Rows written since the last flush, over every table. */
  get dirtyRows(): number {
    return this.cache.reduce((a, c) => a + c.dirty, 0);
  }

  private slot(c: TableCache, row: number): { chunk: Float32Array; state: Uint8Array; r: number } {
    if (!(row >= 0 && row < c.spec.rows)) throw new RangeError(`${c.spec.name}: row ${row} is outside 0..${c.spec.rows - 1}`);
    const k = row >>> CHUNK_BITS;
    let chunk = c.chunks[k];
    if (chunk === undefined) {
      const rows = Math.min(CHUNK, c.spec.rows - k * CHUNK);
      chunk = c.chunks[k] = new Float32Array(rows * c.width);
      c.state[k] = new Uint8Array(rows);
    }
    return { chunk, state: c.state[k]!, r: row & (CHUNK - 1) };
  }

  async read(t: number, ids: ArrayLike<number>, n: number, out: Float32Array): Promise<void> {
    const c = this.cache[t];
    const w = c.width;
    const missing: number[] = [];
    for (let i = 0; i < n; i++) {
      const { chunk, state, r } = this.slot(c, ids[i]);
      if (state[r] === 0) {
        missing.push(i);
        continue;
      }
      for (let k = 0, so = r * w, o = i * w; k < w; k++) out[o + k] = chunk[so + k];
    }
    if (missing.length === 0) return;
    const miss = Int32Array.from(missing, (i) => ids[i]);
    const buf = new Float32Array(missing.length * w);
    await this.backing.read(t, miss, missing.length, buf);
    this.rowsFetched += missing.length;
    missing.forEach((i, j) => {
      const { chunk, state, r } = this.slot(c, ids[i]);
      for (let k = 0; k < w; k++) {
        const v = buf[j * w + k];
        out[i * w + k] = v;
        if (state[r] === 0) chunk[r * w + k] = v;
      }
      if (state[r] === 0) state[r] = 1;
    });
  }

  async write(t: number, ids: ArrayLike<number>, n: number, rows: Float32Array, _step: number): Promise<void> {
    const c = this.cache[t];
    const w = c.width;
    for (let i = 0; i < n; i++) {
      const { chunk, state, r } = this.slot(c, ids[i]);
      for (let k = 0, so = i * w, o = r * w; k < w; k++) chunk[o + k] = rows[so + k];
      if (state[r] !== 2) c.dirty++;
      state[r] = 2;
    }
  }

  /** Writes every dirty row to the backing store (recording `step`), in chunks; afterwards none is dirty. */
  async flush(step: number): Promise<number> {
    let written = 0;
    for (let t = 0; t < this.cache.length; t++) {
      const c = this.cache[t];
      if (c.dirty === 0) continue;
      const w = c.width;
      const BATCH = 16_384;
      const ids = new Int32Array(BATCH);
      const buf = new Float32Array(BATCH * w);
      let n = 0;
      const send = async () => {
        if (n === 0) return;
        await this.backing.write(t, ids, n, buf, step);
        written += n;
        n = 0;
      };
      for (let k = 0; k < c.chunks.length; k++) {
        const st = c.state[k];
        if (!st) continue;
        const chunk = c.chunks[k]!;
        for (let r = 0; r < st.length; r++) {
          if (st[r] !== 2) continue;
          ids[n] = k * CHUNK + r;
          for (let j = 0; j < w; j++) buf[n * w + j] = chunk[r * w + j];
          n++;
          st[r] = 1;
          if (n === BATCH) await send();
        }
      }
      await send();
      c.dirty = 0;
    }
    return written;
  }

  /** The backing store's traffic counters (when it keeps them), with the rows fetched and held dirty here. */
  stats(): Record<string, number> | undefined {
    const inner = (this.backing as { stats?: () => Record<string, number> }).stats?.();
    return inner ? { ...inner, cacheRowsFetched: this.rowsFetched, cacheDirtyRows: this.dirtyRows } : undefined;
  }

  async close(): Promise<void> {
    await this.backing.close();
  }
}
