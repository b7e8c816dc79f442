/**
 * Where embedding rows live when they are not in the model: a row store holds, per table, every row's value and its
 * optimizer state (Adam's two moments), keyed by table and row. A trainer brings the rows of a step into the model's
 * working set (`Embedding` with `external: true`), trains, and writes back the rows it updated. Rows a store has never
 * been written are read as their initial value (`RowInit`: computable per row from the seed) with zero optimizer
 * state: ids are admitted lazily, the first time a step touches them.
 *
 * Two stores implement it: ./memory-store.ts (JS typed arrays off the WASM heap: one machine, tables larger than the
 * WASM memory) and ./redis-store.ts (a Redis Cluster: several trainer processes on several machines).
 */
import type { RowInit } from '../nn/embedding.js';

/** One table of a store. */
export interface StoreTable {
  /** The model's parameter name (`goods_emb`, `attr_emb`, `item_bias`, `field.<name>`, `user.<name>`, …). */
  name: string;
  /** Rows of the table (its vocabulary size). */
  rows: number;
  /** Width of a row's value. */
  dim: number;
  /** Floats of optimizer state per row (Adam: 2·dim; SGD: 0). */
  stateDim: number;
  /** How a row never written starts. */
  init: RowInit;
}

/** Rows of embedding tables, outside the model. */
export interface RowStore {
  /** What and where it is, for log lines (`memory`, `redis://127.0.0.1:7000 (3 masters) din:run1`). */
  readonly description: string;
  /** The tables; `t` in read/write indexes this list. */
  readonly tables: readonly StoreTable[];
  /**
   * Reads rows `ids[0..n)` of table `t` into `out`: n × (dim + stateDim) float32 per row, the value then the optimizer
   * state. A row never written reads as its initial value and zero state. Throws on a row that fails its checksum
   * or belongs to another table shape, naming the row.
   */
  read(t: number, ids: ArrayLike<number>, n: number, out: Float32Array): Promise<void>;
  /** Writes rows `ids[0..n)` of table `t` from `rows` (the layout of `read`); `step` is recorded with each row. */
  write(t: number, ids: ArrayLike<number>, n: number, rows: Float32Array, step: number): Promise<void>;
  /**
   * Writes rows held back in memory to where they persist (a write-back cache; absent on stores that write through);
   * returns the rows written. A trainer calls it before every checkpoint, so the store's rows are the checkpoint's.
   */
  flush?(step: number): Promise<number>;
  /** Releases connections / memory. */
  close(): Promise<void>;
}

/** Floats per row of a table in read/write buffers. */
export function rowWidth(t: StoreTable): number {
  return t.dim + t.stateDim;
}

/**
 * The trainer processes of one run (ranks 0..size−1), exchanging messages every step (./redis-group.ts). Every call
 * takes a tag that increases over the run; every member must make the same calls with the same tags.
 */
export interface Group {
  /** This process's rank. */
  readonly rank: number;
  /** Number of trainer processes. */
  readonly size: number;
  /** Sends payloads[j] to rank j; returns what every rank sent to this one, in rank order (own payload included). */
  allToAll(tag: number, payloads: Uint8Array[]): Promise<Uint8Array[]>;
  /** Sends one payload to every rank; returns every rank's, in rank order. */
  allGather(tag: number, payload: Uint8Array): Promise<Uint8Array[]>;
  /** Returns once every rank has reached this tag. */
  barrier(tag: number): Promise<void>;
  /** Tells every rank to stop (their next wait throws with this reason). */
  stop(reason: string): Promise<void>;
}

/** What a trainer stores besides rows: checkpoints of the dense part, the model description (Redis store). */
export interface StoreControl {
  /** Writes a named blob (atomically: readers see the old or the new one whole). */
  putBlob(key: string, bytes: Uint8Array): Promise<void>;
  /** Reads a named blob, or null when it was never written. */
  getBlob(key: string): Promise<Uint8Array | null>;
  /** Waits until every master's writes so far reached a replica (or timeoutMs); per master, replicas that acknowledged. */
  waitReplicas(timeoutMs: number): Promise<Array<{
    /** The master, as `host:port`. */
    address: string;
    /** How many of its replicas acknowledged its writes before the timeout (0 when it has none or its WAIT failed). */
    replicasAcked: number;
  }>>;
}
