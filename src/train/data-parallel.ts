/**
 * Data-parallel training on the cores of one machine: synchronous, with one replica of the model per thread.
 *
 * Every step, rank 0 (the thread running trainModel) builds the batch as usual and cuts it into R slices of rows;
 * ranks 1..R−1 are worker threads, each with its own backend (its own WASM instance) and a replica of the model. Each
 * rank runs forward and backward on its slice — Dice layers sum their batch statistics over the group, the loss
 * gradient is divided by the whole batch's size — then the ranks exchange gradients through shared memory: dense
 * gradients are summed, the embedding tables' compact rows are merged (the same rows in the same order on every
 * rank). Every rank then clips, regularizes and steps its own optimizer on the same numbers, so the replicas stay
 * bit-identical without copying weights (`verify` checks it). The step is the single-thread step up to the order of
 * additions: the same batch size, learning rate and statistics.
 *
 * Why this and not Hogwild or a loader thread (measured on 2 cores, README "Training on both cores"): building a
 * batch is ~1% of a step, so a loader thread cannot give more; Hogwild would need the kernels on one shared WASM
 * memory and gives up reproducibility. Synchronous slices keep `same seed ⇒ same model` for a given thread count.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { Batch } from '../core/types.js';
import type { Float } from '../kernels/backend.js';
import { backendSpec, type BackendSpec } from '../kernels/backends.js';
import { sigmoidLogLoss } from '../nn/loss.js';
import type { Param } from '../nn/param.js';
import type { Model, ModelConfig, ModelContext } from '../models/model.js';
import { regularizerFromSpec, type Optimizer, type OptimizerName, type Regularizer, type RegularizerSpec } from '../optim/index.js';
import { gradSumSquares, scaleToNorm } from '../optim/optimizer.js';
import { createGroupShared, createRegions, Group, MAX_RANKS, type GroupShared } from './collective.js';

/**
 * Regions: GRADS of every rank holds its gradients, WEIGHTS its updated share; BATCH (rank 0's) the step header and
 * the workers' slices. Gradients and weights need their own regions: a rank may publish its weights while a slower
 * one still reads its gradients.
 */
const GRADS = 0;
const BATCH = 1;
const WEIGHTS = 2;

const CMD_STEP = 1;
const CMD_VERIFY = 2;
const CMD_STOP = 3;
/** Every rank writes its share of the optimizer's state to its STATE region (a checkpoint). */
const CMD_GET_STATE = 4;
/** Every rank takes its share of the optimizer's state from rank 0's STATE region (a resume). */
const CMD_SET_STATE = 5;
/** Region of optimizer state exchanges (checkpoints and resumes only). */
const STATE = 3;

/** Header (rank 0's BATCH region): i32 [0] cmd, [1] N, [2] T, [3] fields, [4] solo, [8 + 2r] start, [9 + 2r] rows. */
const H_CMD = 0;
const H_N = 1;
const H_T = 2;
const H_F = 3;
const H_SOLO = 4;
const H_PART = 8;
/** f64 index of the learning rate. */
const H_LR = 24;
/** Int32 index where the slices start. */
const H_DATA = 64;

/** What a worker needs to build its replica (sent once, in workerData). */
export interface WorkerInit {
  rank: number;
  shared: GroupShared;
  regions: SharedArrayBuffer[][];
  inPorts: (MessagePort | null)[];
  outPorts: (MessagePort | null)[];
  backend: BackendSpec;
  config: ModelConfig;
  ctx: Omit<ModelContext, 'backend'>;
  values: Float[];
  buffers: Float[];
  optimizer: OptimizerName;
  clipNorm: number;
  reg: RegularizerSpec;
}

/**
 * The per-rank part of a step. Gradients: every rank publishes all of its own; rank r then sums only its share —
 * a contiguous range of the dense weights (all dense params laid end to end) and the embedding rows with
 * id % R === r — clips with the global norm (one allReduce), regularizes and steps its optimizer on that share alone,
 * and publishes the updated weights of its share, which every other rank copies in. So the optimizer's work and state
 * are split over the ranks rather than repeated on each.
 */
export class Replica {
  private readonly params: Param[];
  private readonly dense: Param[];
  private readonly sparse: Param[];
  private readonly denseLen: number;
  /** Dense ranges [lo[r], lo[r + 1]) of every rank. */
  private readonly lo: number[];
  /** This rank's share as params: views of its dense range, and the tables (whose row lists hold its rows only). */
  private readonly share: Param[];
  private readonly shareDense: Param[];
  private readonly es: number;
  private dLogits: Float;
  private readonly norm = new Float64Array(1);
  private readonly reg: Regularizer | undefined;

  constructor(readonly model: Model, readonly group: Group, private readonly optimizer: Optimizer,
    reg: RegularizerSpec | undefined, private readonly clipNorm: number) {
    this.params = model.params();
    this.dense = this.params.filter((p) => !p.sparse);
    this.sparse = this.params.filter((p) => p.sparse);
    for (const p of this.sparse) {
      if (!p.sparse!.reserve || !p.sparse!.index) throw new Error(`data-parallel: table "${p.name}" cannot merge gradient rows`);
    }
    this.denseLen = this.dense.reduce((a, p) => a + p.grad.length, 0);
    const R = group.size;
    this.lo = Array.from({ length: R + 1 }, (_, r) => Math.floor((this.denseLen * r) / R));
    this.shareDense = [];
    let off = 0;
    const a = this.lo[group.rank];
    const b = this.lo[group.rank + 1];
    for (const p of this.dense) {
      const n = p.value.length;
      const s = Math.max(a, off) - off;
      const e = Math.min(b, off + n) - off;
      if (e > s) {
        this.shareDense.push({ name: p.name, shape: [e - s], value: p.value.subarray(s, e), grad: p.grad.subarray(s, e),
          ...(p.decay !== undefined ? { decay: p.decay } : {}) });
      }
      off += n;
    }
    this.share = [...this.shareDense, ...this.sparse];
    this.reg = reg ? regularizerFromSpec(reg, this.share) : undefined;
    this.es = model.backend.dtype === 'float64' ? 8 : 4;
    this.dLogits = model.backend.alloc(1);
  }

  /**
   * Forward/backward on this rank's slice (null: none this step), then the gradient exchange: afterwards this rank's
   * share of the params holds the whole batch's gradient. `group` false: the slice is the whole batch (Dice uses its
   * own statistics). Returns the batch's mean loss.
   */
  computeGradients(part: Batch | null, N: number, group: boolean): number {
    const model = this.model;
    model.zeroGrad();
    let lossSum = 0;
    if (part !== null && part.size > 0) {
      model.setBatchGroup?.(group ? this.group : null);
      const logits = model.forward(part, 'train');
      if (this.dLogits.length < part.size) {
        model.backend.free(this.dLogits);
        this.dLogits = model.backend.alloc(part.size);
      }
      lossSum = sigmoidLogLoss(logits, part.labels, part.size, this.dLogits, N) * part.size;
      model.backward(this.dLogits.subarray(0, part.size));
    }
    this.publishGradients(lossSum);
    this.group.barrier();
    return this.mergeShare() / N;
  }

  /**
   * Clip (global norm), regularize and step this rank's share, then exchange the updated weights. `solo`: rank 0
   * trained the batch alone, so its buffers (Dice moving averages) go to the others too.
   */
  update(lr: number, solo = false): void {
    if (this.clipNorm > 0) {
      this.norm[0] = gradSumSquares(this.share, this.model.backend);
      this.group.allReduce(this.norm);
      scaleToNorm(this.share, Math.sqrt(this.norm[0]), this.clipNorm);
    }
    this.reg?.apply();
    this.optimizer.step(this.share, lr);
    this.publishWeights(solo);
    this.group.barrier();
    this.gatherWeights(solo);
  }

  /**
   * The optimizer state of this rank's share, into our STATE region: f64 step count, then per dense share view its
   * state arrays, then per table its state rows of the rows this rank updates (id % R = rank), in id order.
   */
  publishState(): void {
    const slots = this.optimizer.stateSlots;
    const R = this.group.size;
    const me = this.group.rank;
    let n = 0;
    for (const p of this.shareDense) n += slots * p.value.length;
    for (const p of this.sparse) n += slots * ownedRows(p.shape[0], me, R) * p.shape[1];
    const r = this.group.own(STATE, 8 + n * 4);
    r.f64[0] = this.optimizer.steps;
    const f = r.f32;
    let o = 2;
    for (const p of this.shareDense) {
      const st = this.optimizer.stateOf(p);
      for (let k = 0; k < slots; k++) {
        if (st) f.set(st[k].subarray(0, p.value.length), o);
        else f.fill(0, o, o + p.value.length);
        o += p.value.length;
      }
    }
    for (const p of this.sparse) {
      const st = this.optimizer.stateOf(p);
      const dim = p.shape[1];
      for (let k = 0; k < slots; k++) {
        for (let id = me; id < p.shape[0]; id += R) {
          if (st) for (let d = 0; d < dim; d++) f[o + d] = st[k][id * dim + d];
          else f.fill(0, o, o + dim);
          o += dim;
        }
      }
    }
  }

  /**
   * The whole optimizer state (every rank's share; call after the ranks published theirs and a barrier), as one
   * optimizer on one thread would hold it: per model param, stateSlots full-size arrays.
   */
  collectState(): { steps: number; arrays: Map<string, Float32Array[]> } {
    const slots = this.optimizer.stateSlots;
    const R = this.group.size;
    const out = new Map<string, Float32Array[]>();
    for (const p of this.params) out.set(p.name, Array.from({ length: slots }, () => new Float32Array(p.value.length)));
    let steps = 0;
    for (let r = 0; r < R; r++) {
      const reg = this.group.peer(r, STATE);
      if (r === 0) steps = reg.f64[0];
      const f = reg.f32;
      let o = 2;
      // Dense: rank r's range [lo[r], lo[r+1]) of the dense params laid end to end, state array by state array.
      const a = this.lo[r];
      const b = this.lo[r + 1];
      const pieces: Array<{ p: Param; s: number; e: number }> = [];
      let off = 0;
      for (const p of this.dense) {
        const len = p.value.length;
        const s = Math.max(a, off) - off;
        const e = Math.min(b, off + len) - off;
        if (e > s) pieces.push({ p, s, e });
        off += len;
      }
      for (const { p, s, e } of pieces) {
        const dst = out.get(p.name)!;
        for (let k = 0; k < slots; k++) {
          dst[k].set(f.subarray(o, o + e - s), s);
          o += e - s;
        }
      }
      for (const p of this.sparse) {
        const dst = out.get(p.name)!;
        const dim = p.shape[1];
        for (let k = 0; k < slots; k++) {
          for (let id = r; id < p.shape[0]; id += R) {
            dst[k].set(f.subarray(o, o + dim), id * dim);
            o += dim;
          }
        }
      }
    }
    return { steps, arrays: out };
  }

  /** Rank 0: writes a whole optimizer state (as collectState returns it) into our STATE region for the others. */
  publishFullState(steps: number, arrays: Map<string, Float32Array[]>): void {
    const slots = this.optimizer.stateSlots;
    let n = 0;
    for (const p of this.params) n += slots * p.value.length;
    const r = this.group.own(STATE, 8 + n * 4);
    r.f64[0] = steps;
    let o = 2;
    for (const p of this.params) {
      const src = arrays.get(p.name);
      for (let k = 0; k < slots; k++) {
        if (src) r.f32.set(src[k], o);
        else r.f32.fill(0, o, o + p.value.length);
        o += p.value.length;
      }
    }
  }

  /** Takes this rank's share of the whole state rank 0 published (call after the barrier). */
  adoptState(): void {
    const slots = this.optimizer.stateSlots;
    const reg = this.group.peer(0, STATE);
    const f = reg.f32;
    this.optimizer.steps = reg.f64[0];
    if (slots === 0) return;
    const be = this.model.backend;
    const full = new Map<string, number>();
    let o = 2;
    for (const p of this.params) {
      full.set(p.name, o);
      o += slots * p.value.length;
    }
    // Dense share views: their slice of each param's arrays.
    const a = this.lo[this.group.rank];
    let off = 0;
    const views = new Map(this.shareDense.map((v) => [v, 0]));
    for (const p of this.dense) {
      const len = p.value.length;
      for (const v of views.keys()) {
        if (v.name !== p.name) continue;
        const s = Math.max(a, off) - off;
        const base = full.get(p.name)!;
        const arrays = Array.from({ length: slots }, (_, k) => {
          const x = be.alloc(v.value.length);
          x.set(f.subarray(base + k * len + s, base + k * len + s + v.value.length));
          return x;
        });
        this.optimizer.bindState(v, arrays);
      }
      off += len;
    }
    for (const p of this.sparse) {
      const base = full.get(p.name)!;
      const len = p.value.length;
      const arrays = Array.from({ length: slots }, (_, k) => {
        const x = be.alloc(len);
        x.set(f.subarray(base + k * len, base + (k + 1) * len));
        return x;
      });
      this.optimizer.bindState(p, arrays);
    }
  }

  /** A hash of every weight and buffer (equal on every rank while the replicas agree). */
  hash(): number {
    let h = 0x811c9dc5;
    const words = (a: Float) => new Uint32Array(a.buffer, a.byteOffset, (a.length * a.BYTES_PER_ELEMENT) >> 2);
    for (const a of [...this.params.map((p) => p.value), ...Object.values(this.model.buffers())]) {
      const w = words(a);
      for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w[i], 16777619) >>> 0;
    }
    return h;
  }

  /** Region layout: f64 lossSum, dense values from byte 64, then per table: count, ids (8-aligned), rows. */
  private publishGradients(lossSum: number): void {
    const es = this.es;
    let bytes = 64 + this.denseLen * es;
    for (const p of this.sparse) bytes = align8(bytes + 8 + p.sparse!.count * 4) + p.sparse!.count * p.shape[1] * es;
    const r = this.group.own(GRADS, bytes);
    const fv = es === 8 ? r.f64 : r.f32;
    r.f64[0] = lossSum;
    let o = 64 / es;
    for (const p of this.dense) {
      fv.set(p.grad, o);
      o += p.grad.length;
    }
    this.publishRows(r.i32, fv, o * es, (p) => p.grad);
  }

  /** The tables' compact rows (ids, then rows of `rows(p)`: gradients, or for weights the rows' values). */
  private publishRows(i32: Int32Array, fv: Float, at: number, rows: (p: Param) => Float | null): number {
    const es = this.es;
    let b = at;
    for (const p of this.sparse) {
      const sp = p.sparse!;
      const c = sp.count;
      const dim = p.shape[1];
      i32[b >> 2] = c;
      i32.set(sp.ids.subarray(0, c), (b >> 2) + 2);
      b = align8(b + 8 + c * 4);
      const src = rows(p);
      if (src !== null) {
        fv.set(src.subarray(0, c * dim), b / es);
      } else {
        // Row by row without subarray views (an allocation each).
        const w = p.value;
        const ids = sp.ids;
        let o = b / es;
        for (let j = 0; j < c; j++) {
          const from = ids[j] * dim;
          for (let d = 0; d < dim; d++) fv[o + d] = w[from + d];
          o += dim;
        }
      }
      b += c * dim * es;
    }
    return b;
  }

  /** Sums every rank's gradients of this rank's share into the params, in rank order; returns the summed loss. */
  private mergeShare(): number {
    const R = this.group.size;
    const me = this.group.rank;
    const es = this.es;
    const regions = Array.from({ length: R }, (_, r) => this.group.peer(r, GRADS));
    const fvs = regions.map((r) => (es === 8 ? r.f64 : r.f32));
    let loss = 0;
    for (let r = 0; r < R; r++) loss += regions[r].f64[0];
    const base = 64 / es;
    let at = base + this.lo[me];
    for (const p of this.shareDense) {
      const g = p.grad;
      const n = g.length;
      const f0 = fvs[0];
      if (R === 2) {
        const f1 = fvs[1];
        for (let i = 0; i < n; i++) g[i] = f0[at + i] + f1[at + i];
      } else {
        for (let i = 0; i < n; i++) {
          let s = f0[at + i];
          for (let r = 1; r < R; r++) s += fvs[r][at + i];
          g[i] = s;
        }
      }
      at += n;
    }
    const pos = new Array<number>(R).fill((base + this.denseLen) * es);
    for (const p of this.sparse) {
      const sp = p.sparse!;
      const dim = p.shape[1];
      let total = 0;
      for (let r = 0; r < R; r++) total += regions[r].i32[pos[r] >> 2];
      sp.reserve!(Math.min(total, p.shape[0]));
      const ids = sp.ids;
      const index = sp.index!;
      const g = p.grad;
      let count = 0;
      for (let r = 0; r < R; r++) {
        const i32 = regions[r].i32;
        const fv = fvs[r];
        const b = pos[r];
        const c = i32[b >> 2];
        const idAt = (b >> 2) + 2;
        const rowAt = align8(b + 8 + c * 4) / es;
        for (let j = 0; j < c; j++) {
          const id = i32[idAt + j];
          if (id % R !== me) continue;
          let s = index[id];
          const src = rowAt + j * dim;
          if (s < count && ids[s] === id) {
            const dst = s * dim;
            for (let d = 0; d < dim; d++) g[dst + d] += fv[src + d];
          } else {
            s = count++;
            ids[s] = id;
            index[id] = s;
            const dst = s * dim;
            for (let d = 0; d < dim; d++) g[dst + d] = fv[src + d];
          }
        }
        pos[r] = align8(b + 8 + c * 4) + c * dim * es;
      }
      sp.count = count;
    }
    return loss;
  }

  /** This rank's updated share: its dense range from byte 64, then its rows of every table. */
  private publishWeights(solo: boolean): void {
    const es = this.es;
    const me = this.group.rank;
    const buffers = solo && me === 0 ? Object.values(this.model.buffers()) : [];
    let bytes = 64 + (this.lo[me + 1] - this.lo[me]) * es;
    for (const p of this.sparse) bytes = align8(bytes + 8 + p.sparse!.count * 4) + p.sparse!.count * p.shape[1] * es;
    for (const b of buffers) bytes += b.length * es;
    const r = this.group.own(WEIGHTS, bytes);
    const fv = es === 8 ? r.f64 : r.f32;
    let o = 64 / es;
    for (const p of this.shareDense) {
      fv.set(p.value, o);
      o += p.value.length;
    }
    let end = this.publishRows(r.i32, fv, o * es, () => null) / es;
    for (const b of buffers) {
      fv.set(b, end);
      end += b.length;
    }
  }

  /** Copies every other rank's updated share into our params. */
  private gatherWeights(solo: boolean): void {
    const R = this.group.size;
    const me = this.group.rank;
    const es = this.es;
    for (let r = 0; r < R; r++) {
      if (r === me) continue;
      const reg = this.group.peer(r, WEIGHTS);
      const fv = es === 8 ? reg.f64 : reg.f32;
      // Dense: the range [lo[r], lo[r + 1]) of the params laid end to end.
      const a = this.lo[r];
      const b = this.lo[r + 1];
      let off = 0;
      const base = 64 / es;
      for (const p of this.dense) {
        const n = p.value.length;
        const s = Math.max(a, off);
        const e = Math.min(b, off + n);
        if (e > s) p.value.set(fv.subarray(base + s - a, base + e - a), s - off);
        off += n;
      }
      let at = (base + b - a) * es;
      for (const p of this.sparse) {
        const dim = p.shape[1];
        const c = reg.i32[at >> 2];
        const idAt = (at >> 2) + 2;
        const rowAt = align8(at + 8 + c * 4) / es;
        const w = p.value;
        const i32 = reg.i32;
        let o = rowAt;
        for (let j = 0; j < c; j++) {
          const to = i32[idAt + j] * dim;
          for (let d = 0; d < dim; d++) w[to + d] = fv[o + d];
          o += dim;
        }
        at = align8(at + 8 + c * 4) + c * dim * es;
      }
      if (solo && r === 0) {
        let o = at / es;
        for (const buf of Object.values(this.model.buffers())) {
          buf.set(fv.subarray(o, o + buf.length));
          o += buf.length;
        }
      }
    }
  }
}

/** Rows id < rows with id % R === r. */
function ownedRows(rows: number, r: number, R: number): number {
  return r < rows ? Math.floor((rows - 1 - r) / R) + 1 : 0;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** A batch slice: rows [start, start + n) of `b` as views (same T). */
export function sliceBatch(b: Batch, start: number, n: number): Batch {
  const T = b.T;
  return {
    size: n,
    T,
    labels: b.labels.subarray(start, start + n),
    users: b.users.subarray(start, start + n),
    items: b.items.subarray(start, start + n),
    lengths: b.lengths.subarray(start, start + n),
    index: b.index.subarray(start, start + n),
    hist: b.hist.subarray(start * T, (start + n) * T),
    ...(b.fieldValues ? { fieldValues: b.fieldValues.map((f) => f.subarray(start, start + n)) } : {}),
  };
}

/** Int32 slots a slice of n rows takes in the BATCH region. */
function sliceInts(n: number, T: number, F: number): number {
  return n * (5 + T + F);
}

/** The slice of `rank` as views into rank 0's BATCH region (after the step's first barrier). */
export function readSlice(i32: Int32Array, f32: Float32Array, rank: number): Batch {
  const T = i32[H_T];
  const F = i32[H_F];
  let o = H_DATA;
  for (let r = 1; r < rank; r++) o += sliceInts(i32[H_PART + 2 * r + 1], T, F);
  const n = i32[H_PART + 2 * rank + 1];
  const take = (k: number) => i32.subarray(o + k * n, o + (k + 1) * n);
  const fieldAt = o + 5 * n + n * T;
  return {
    size: n,
    T,
    labels: f32.subarray(o, o + n),
    users: take(1),
    items: take(2),
    lengths: take(3),
    index: take(4),
    hist: i32.subarray(o + 5 * n, o + 5 * n + n * T),
    ...(F > 0 ? { fieldValues: Array.from({ length: F }, (_, f) => i32.subarray(fieldAt + f * n, fieldAt + (f + 1) * n)) } : {}),
  };
}

/** Rank 0: the worker threads and the step protocol. */
export class DataParallel {
  private closed = false;

  private constructor(private readonly replica: Replica, private readonly workers: Worker[]) {}

  get size(): number {
    return this.replica.group.size;
  }

  /**
   * Starts threads − 1 worker threads, each with a replica of `model` (its weights and buffers copied now), and
   * waits until they are ready. The model must come from createModel (its context is what a replica is built from).
   */
  static create(model: Model, threads: number, optimizer: Optimizer, reg: RegularizerSpec | undefined, clipNorm: number,
    timeoutMs?: number): DataParallel {
    if (!(Number.isInteger(threads) && threads >= 2 && threads <= MAX_RANKS)) {
      throw new Error(`data-parallel training needs 2..${MAX_RANKS} threads, got ${threads}`);
    }
    const optimizerName = optimizer.name as OptimizerName;
    if (optimizerName !== 'adam' && optimizerName !== 'sgd') throw new Error(`data-parallel training: unknown optimizer "${optimizer.name}" (expected adam or sgd)`);
    const ctx = model.context;
    if (!ctx) throw new Error('data-parallel training: the model does not record the context it was made with, so it cannot be replicated');
    const backend = backendSpec(model.backend);
    const shared = createGroupShared(threads);
    const es = model.backend.dtype === 'float64' ? 8 : 4;
    const denseBytes = model.params().filter((p) => !p.sparse).reduce((a, p) => a + p.grad.length, 0) * es;
    const regions = createRegions(threads, [denseBytes + 65536, 65536, denseBytes / threads + 65536, 65536]);
    // ports[r][s]: the channel r → s (port1 held by r, port2 by s).
    const ports: (MessageChannel | null)[][] = Array.from({ length: threads }, (_, r) =>
      Array.from({ length: threads }, (_, s) => (r === s ? null : new MessageChannel())));
    const outOf = (r: number) => ports[r].map((c) => c?.port1 ?? null);
    const inOf = (s: number) => ports.map((row) => row[s]?.port2 ?? null);
    const { backend: _b, ...ctxRest } = ctx;
    const catalog = ctxRest.catalog;
    const group = new Group(shared, 0, inOf(0), outOf(0), regions, timeoutMs);
    const workers: Worker[] = [];
    try {
      for (let rank = 1; rank < threads; rank++) {
        const inPorts = inOf(rank);
        const outPorts = outOf(rank);
        const init: WorkerInit = {
          rank, shared, regions, inPorts, outPorts, backend,
          config: model.config,
          ctx: {
            ...ctxRest,
            catalog: {
              numItems: catalog.numItems, numAttrs: catalog.numAttrs, attrOffsets: catalog.attrOffsets.slice(),
              attrValues: catalog.attrValues.slice(), goodsRows: catalog.goodsRows?.slice(), numGoodsRows: catalog.numGoodsRows,
              goodsOov: catalog.goodsOov, itemFields: catalog.itemFields,
            },
          },
          // Copies: a view would drag its whole buffer (the WASM arena) into the message.
          values: model.params().map((p) => p.value.slice()),
          buffers: Object.values(model.buffers()).map((b) => b.slice()),
          optimizer: optimizerName,
          clipNorm,
          reg: reg ?? { opts: { reg: 'none', lambda: 0, denseL2: 0 }, inverseCounts: {} },
        };
        const transfer = [...inPorts, ...outPorts].filter((p): p is MessagePort => p !== null);
        // execArgv []: a launcher's own (`-e …` of `node -e`, say) would make the worker run the launcher again; V8
        // flags (relaxed SIMD) are process-wide and already set.
        const w = new Worker(new URL('./train-worker.js', import.meta.url), { workerData: init, transferList: transfer as never, execArgv: [] });
        w.unref();
        // Errors are reported through the group (the worker catches them); this only keeps them from crashing us.
        w.on('error', () => {});
        workers.push(w);
      }
      group.barrier(); // every replica built
    } catch (e) {
      group.stop();
      for (const w of workers) void w.terminate();
      throw e;
    }
    return new DataParallel(new Replica(model, group, optimizer, reg, clipNorm), workers);
  }

  /** One optimization step on `batch` over every thread; returns the batch's mean log loss. */
  step(batch: Batch, lr: number): number {
    const R = this.size;
    const group = this.replica.group;
    const N = batch.size;
    const T = batch.T;
    const F = batch.fieldValues?.length ?? 0;
    const solo = N < R;
    const starts: number[] = [];
    const sizes: number[] = [];
    let at = 0;
    for (let r = 0; r < R; r++) {
      const n = solo ? (r === 0 ? N : 0) : Math.floor(N / R) + (r < N % R ? 1 : 0);
      starts.push(at);
      sizes.push(n);
      at += n;
    }
    let ints = H_DATA;
    for (let r = 1; r < R; r++) ints += sliceInts(sizes[r], T, F);
    const reg = group.own(BATCH, ints * 4);
    const i32 = reg.i32;
    i32[H_CMD] = CMD_STEP;
    i32[H_N] = N;
    i32[H_T] = T;
    i32[H_F] = F;
    i32[H_SOLO] = solo ? 1 : 0;
    reg.f64[H_LR] = lr;
    let o = H_DATA;
    for (let r = 0; r < R; r++) {
      i32[H_PART + 2 * r] = starts[r];
      i32[H_PART + 2 * r + 1] = sizes[r];
      if (r === 0) continue;
      const s = starts[r];
      const n = sizes[r];
      reg.f32.set(batch.labels.subarray(s, s + n), o);
      i32.set(batch.users.subarray(s, s + n), o + n);
      i32.set(batch.items.subarray(s, s + n), o + 2 * n);
      i32.set(batch.lengths.subarray(s, s + n), o + 3 * n);
      i32.set(batch.index.subarray(s, s + n), o + 4 * n);
      i32.set(batch.hist.subarray(s * T, (s + n) * T), o + 5 * n);
      for (let f = 0; f < F; f++) i32.set(batch.fieldValues![f].subarray(s, s + n), o + 5 * n + n * T + f * n);
      o += sliceInts(n, T, F);
    }
    group.post();
    const loss = this.replica.computeGradients(sizes[0] === N ? batch : sliceBatch(batch, 0, sizes[0]), N, !solo);
    this.replica.update(lr, solo);
    return loss;
  }

  /** The whole optimizer state, gathered from every thread (for a checkpoint): as one thread's optimizer would hold it. */
  optimizerState(): { steps: number; arrays: Map<string, Float32Array[]> } {
    const group = this.replica.group;
    group.own(BATCH, H_DATA * 4).i32[H_CMD] = CMD_GET_STATE;
    group.post();
    this.replica.publishState();
    group.barrier();
    const state = this.replica.collectState();
    group.barrier(); // nobody overwrites its STATE region before we read it
    return state;
  }

  /** Gives every thread its share of a whole optimizer state (a resume). */
  setOptimizerState(steps: number, arrays: Map<string, Float32Array[]>): void {
    const group = this.replica.group;
    this.replica.publishFullState(steps, arrays);
    group.own(BATCH, H_DATA * 4).i32[H_CMD] = CMD_SET_STATE;
    group.post();
    group.barrier();
    this.replica.adoptState();
    group.barrier();
  }

  /** Throws if a worker's weights or buffers differ from ours (they must not: every rank does the same update). */
  verify(): void {
    const group = this.replica.group;
    group.own(BATCH, H_DATA * 4).i32[H_CMD] = CMD_VERIFY;
    group.post();
    const hashes = group.gather(this.replica.hash());
    const bad = hashes.findIndex((h) => h !== hashes[0]);
    if (bad > 0) throw new Error(`data-parallel training: the replica in worker ${bad} has drifted from the model (hash ${hashes[bad]} ≠ ${hashes[0]})`);
  }

  /** Lets the workers go (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const group = this.replica.group;
    this.replica.model.setBatchGroup?.(null);
    try {
      group.own(BATCH, H_DATA * 4).i32[H_CMD] = CMD_STOP;
      group.stop();
    } finally {
      for (const w of this.workers) void w.terminate();
    }
  }
}

export const COMMANDS = { CMD_STEP, CMD_VERIFY, CMD_STOP, CMD_GET_STATE, CMD_SET_STATE, H_CMD, H_N, H_SOLO, H_LR } as const;
export const REGIONS = { GRADS, BATCH } as const;
