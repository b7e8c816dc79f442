/**
 * Training with the embedding tables in a row store (../store/): one trainer process (tables larger than the WASM
 * memory, in a MemoryRowStore or a Redis Cluster) or several (the same `din train` on each, ranks 0..N−1, tables in
 * a Redis Cluster, dense weights replicated).
 *
 * Consistency — synchronous, like the in-process data-parallel trainer (./data-parallel.ts), across processes:
 *  - Every rank walks the same global batches (same data, same seed) and trains rows [rank·B/N …) of each: one step
 *    is the one-process step on the whole batch, up to the order of additions (Dice layers use their own slice's
 *    statistics; PReLU models are exact).
 *  - Each step, each rank reads the rows its slice looks up (value + optimizer state) from the store, runs forward
 *    and backward, then sends every other rank its dense gradient and, for each table row it touched, the row's
 *    gradient to the row's owner (rows are owned by hash: one writer per row, so no update is ever lost and no lock
 *    is needed). Every rank sums the dense gradients in rank order (identical replicas, identical Adam); each owner
 *    sums its rows' gradients in rank order, reads the rows it did not touch itself, applies clipping (global norm,
 *    one more exchange of a number per rank), the regularizer and the optimizer, and writes the rows back. A barrier
 *    ends the step, so the next step reads every update.
 *  - With one trainer there is no exchange: the step is exactly the in-memory step (same kernels, same rows, same
 *    order; tested bit for bit).
 * Checkpoints (Redis store): rank 0 writes the dense weights, their optimizer state, the Dice averages and the data
 * position as one blob at every epoch end and every `checkpointEvery` steps, after the step's barrier and a WAIT on
 * every master (so a failover cannot lose what the checkpoint refers to). Several trainers write rows every step, so
 * the store's rows may be ahead of the last checkpoint by the steps since — the staleness a resume accepts (docs in
 * the README). One trainer keeps its rows in a write-back cache (../store/cached-store.ts) flushed before every
 * checkpoint: its store holds exactly the checkpoint's rows, so a resume starts from one consistent state.
 */
import { Batcher } from '../data/batcher.js';
import { BehaviourDropout } from '../data/id-dropout.js';
import type { Batch, SampleSet } from '../core/types.js';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../checkpoint/safetensors.js';
import type { Float } from '../kernels/backend.js';
import { sigmoidLogLoss } from '../nn/loss.js';
import type { Param } from '../nn/param.js';
import type { Model } from '../models/model.js';
import { evaluate } from '../metrics/index.js';
import { clipGradNorm, createOptimizer, createRegularizer, learningRate, regularizerFromSpec, type Optimizer, type Regularizer } from '../optim/index.js';
import { gradSumSquares, scaleToNorm } from '../optim/optimizer.js';
import type { Group, RowStore, StoreControl } from '../store/types.js';
import { Rng } from '../util/rng.js';
import { evaluateParts, type EvalResult, type EvalSource } from './evaluator.js';
import { sliceBatch } from './data-parallel.js';
import { createProgress } from './progress.js';
import {
  defaultLambda, epochBatches, testSource, trainSize, trainSource, type EpochRecord, type TrainData, type TrainHooks, type TrainOptions,
  type TrainResult,
} from './trainer.js';
import { WorkingSets, type WorkingTable } from './working-set.js';
import { isSharded } from '../data/shards.js';

/** How a run uses its store. */
export interface StoreRunOptions {
  /** The rows of every embedding table. */
  store: RowStore;
  /** The other trainer processes (absent: this process alone). */
  group?: Group;
  /** Checkpoints of the dense part (Redis store); absent: none (a MemoryRowStore lives and dies with the process). */
  control?: StoreControl;
  /** Write a checkpoint every this many steps (besides every epoch end); 0 = epoch ends only. Default 0. */
  checkpointEvery?: number;
  /** Continue from the store's last checkpoint instead of starting at epoch 1 (the rows are the store's). */
  resume?: boolean;
  /** Replication wait of a checkpoint, ms (default 5000). */
  waitReplicasMs?: number;
}

/** Where a store-backed step spends its time, in milliseconds (summed over the epoch; `din train` logs it). */
export class StepTimes {
  /** Reading the step's rows from the store. */
  read = 0;
  /** Forward and backward (and, alone, the update). */
  compute = 0;
  /** Exchanges with the other trainers (gradients, norm, barrier), including waiting for them. */
  exchange = 0;
  /** Owners: reading the rows others touched, summing contributions, regularizer and optimizer on them. */
  update = 0;
  /** Writing updated rows. */
  write = 0;
  private t = performance.now();
  /** Adds the time since the last mark to `phase`. */
  mark(phase: 'read' | 'compute' | 'exchange' | 'update' | 'write'): void {
    const now = performance.now();
    this[phase] += now - this.t;
    this.t = now;
  }
  /** Restarts the clock (after work that is not part of a step). */
  reset(): void {
    this.t = performance.now();
  }
  /** One line: each phase's share of the total. */
  summary(): string {
    const parts = ['read', 'compute', 'exchange', 'update', 'write'] as const;
    const total = parts.reduce((a, k) => a + this[k], 0) || 1;
    return parts.filter((k) => this[k] > 0).map((k) => `${k} ${((100 * this[k]) / total).toFixed(0)}%`).join(', ');
  }
}

/** The blob key of the dense checkpoint. */
export const CHECKPOINT_BLOB = 'checkpoint';

/** Where training stands, saved with every checkpoint. */
interface Position {
  /** Epoch (0-based) and global batches done in it. */
  epoch: number;
  step: number;
  /** Steps done over the run (every rank counts the same). */
  globalStep: number;
  dropoutState?: number;
  dropoutSeen?: number;
  dropoutDropped?: number;
  history: EpochRecord[];
  lossSum: number;
  seen: number;
  trainSeconds: number;
}


/** The rows of a global batch of n that rank r of R trains (contiguous, sizes differing by at most one). */
export function sliceRange(n: number, r: number, R: number): { start: number; size: number } {
  const base = Math.floor(n / R);
  const extra = n % R;
  return { start: r * base + Math.min(r, extra), size: base + (r < extra ? 1 : 0) };
}

/** The owner rank of row `row` of table `t`. */
export function rowOwner(t: number, row: number, R: number): number {
  let h = Math.imul(row ^ Math.imul(t + 1, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % R;
}

/**
 * Logits of every sample of a set, in sample order, in eval mode, with the tables' rows read from the store batch by
 * batch (read only).
 */
export async function predictWithStore(model: Model, ws: WorkingSets, store: RowStore, set: SampleSet,
  opts: { batchSize: number; maxHistory: number }): Promise<Float64Array> {
  const out = new Float64Array(set.size);
  const batcher = new Batcher(set, { batchSize: opts.batchSize, maxHistory: opts.maxHistory, shuffle: false, seed: 0 });
  for (const batch of batcher.epoch(0)) {
    ws.admit(batch);
    await ws.load(store);
    const logits = model.forward(batch, 'eval');
    for (let i = 0; i < batch.size; i++) out[batch.index[i]] = logits[i];
  }
  return out;
}

/** GAUC/AUC/log loss of a set or of parts (shards), tables read from the store. */
export async function evaluateWithStore(model: Model, ws: WorkingSets, store: RowStore, src: EvalSource,
  opts: { batchSize: number; maxHistory: number }): Promise<EvalResult> {
  const sets = typeof src === 'function' ? src() : [src];
  const parts = [];
  // copies: a view would keep the whole shard buffer alive while the next parts are read
  for (const set of sets) parts.push({ logits: await predictWithStore(model, ws, store, set, opts), labels: set.labels.slice(), users: set.users.slice() });
  return evaluateParts(parts);
}

/** One external table's rows this rank owns and updates this step (several trainers). */
interface UpdateTable {
  w: WorkingTable;
  /** A Param over the compact update rows: the optimizer and regularizer run on it. */
  param: Param;
  rows: Int32Array;
  count: number;
  value: Float32Array;
  grad: Float32Array;
  state: Float32Array[];
  staging: Float32Array;
}

/** Trains `model` (built with externalTables) on `data`, its tables in `run.store`. */
export async function trainWithStore(model: Model, data: TrainData, opts: TrainOptions, run: StoreRunOptions,
  hooks: TrainHooks = {}): Promise<TrainResult> {
  const log = hooks.log ?? (() => {});
  if (opts.patience > 0) throw new Error('early stopping (patience) is not supported with a row store yet: train a fixed number of epochs');
  if (opts.reg === 'l2') throw new Error('--reg l2 updates every row of every table each step: it cannot run on a row store (use mba)');
  const group = run.group;
  const rank = group?.rank ?? 0;
  const R = group?.size ?? 1;
  const store = run.store;
  const optimizer = createOptimizer(opts.optimizer, model.backend);
  const ws = new WorkingSets(model, optimizer);
  if (ws.tables.length !== store.tables.length) throw new Error(`the store has ${store.tables.length} tables, the model ${ws.tables.length}`);
  const lambda = opts.lambda ?? defaultLambda(opts.reg);
  const reg = createRegularizer({ reg: opts.reg, lambda, denseL2: opts.denseL2 }, model.params(), trainSource(data), opts.maxHistory);
  const dropout = opts.reg === 'dropout' ? new BehaviourDropout(opts.dropoutRate, new Rng(opts.seed).fork(7)) : null;
  const batcher = isSharded(data) ? null : new Batcher(data.train, { batchSize: opts.batchSize, maxHistory: opts.maxHistory, shuffle: true, seed: opts.seed });
  const nTrain = trainSize(data);
  const test = testSource(data);
  const evalOpts = { batchSize: opts.evalBatchSize, maxHistory: opts.maxHistory };
  const progress = hooks.progress ?? createProgress({ quiet: true });
  const evalEachEpoch = hooks.evalEachEpoch ?? true;
  const dLogits = model.backend.alloc(opts.batchSize);
  const params = model.params();
  const dense = params.filter((p) => !p.sparse);
  const times = new StepTimes();
  const multi = R > 1 ? new MultiStep(model, ws, optimizer, reg, store, group!, opts.clipNorm, times) : null;
  let pos: Position = { epoch: 0, step: 0, globalStep: 0, history: [], lossSum: 0, seen: 0, trainSeconds: 0 };
  if (run.resume) {
    if (!run.control) throw new Error('resume needs a store with checkpoints (a Redis store)');
    const restored = await restoreCheckpoint(run.control, model, optimizer, dense);
    if (restored === null) throw new Error(`${store.description}: no checkpoint to resume from`);
    pos = restored;
    if (dropout && pos.dropoutState !== undefined) dropout.restore(pos.dropoutState, pos.dropoutSeen ?? 0, pos.dropoutDropped ?? 0);
    log(`resuming at epoch ${pos.epoch + 1}, step ${pos.step} (global step ${pos.globalStep}) from the store's checkpoint`);
  }
  /** Rank 0 saves the dense part at position `at` (rows are already in the store, replicated first). */
  const checkpoint = async (at: Position): Promise<void> => {
    if (!run.control || rank !== 0) return;
    if (store.flush) await store.flush(at.globalStep);
    await run.control.waitReplicas(run.waitReplicasMs ?? 5000);
    const d = dropout?.state();
    await run.control.putBlob(CHECKPOINT_BLOB, encodeCheckpoint(model, optimizer, dense, {
      ...at,
      ...(d ? { dropoutState: d.state, dropoutSeen: d.seen, dropoutDropped: d.dropped } : {}),
    }));
  };
  const tagOf = (k: number) => pos.globalStep * 4 + k;
  // One trainer: a step's row writes are not waited for: the next step's reads go out behind them on the same
  // connections (the store keeps read-after-write order), so writing overlaps the next step instead of adding to it.
  let pendingWrite: Promise<unknown> | null = null;
  const settleWrites = async (): Promise<void> => {
    if (pendingWrite) {
      const p = pendingWrite;
      pendingWrite = null;
      await p;
    }
  };
  for (; pos.epoch < opts.epochs; pos.epoch++, pos.step = 0, pos.lossSum = 0, pos.seen = 0) {
    const epoch = pos.epoch;
    const lr = learningRate(opts.lr, opts.lrDecay, epoch);
    const label = `${hooks.label ?? model.config.model} epoch ${epoch + 1}/${opts.epochs}${R > 1 ? ` (rank ${rank}/${R})` : ''}`;
    progress.start(nTrain, label);
    const t0 = performance.now();
    let i = 0;
    const skip = pos.step;
    times.reset();
    for (const batch of epochBatches(data, batcher, opts, epoch)) {
      if (i++ < skip) continue;
      dropout?.apply(batch);
      let loss: number;
      if (multi) {
        const { start, size } = sliceRange(batch.size, rank, R);
        loss = await multi.step(sliceBatch(batch, start, size), batch.size, lr, pos.globalStep, tagOf(0));
      } else {
        ws.admit(batch);
        await ws.load(store);
        times.mark('read');
        model.zeroGrad();
        const logits = model.forward(batch, 'train');
        loss = sigmoidLogLoss(logits, batch.labels, batch.size, dLogits);
        if (Number.isFinite(loss)) {
          model.backward(dLogits.subarray(0, batch.size));
          if (opts.clipNorm > 0) clipGradNorm(params, opts.clipNorm, model.backend);
          reg.apply();
          optimizer.step(params, lr);
          times.mark('compute');
          await settleWrites();
          times.mark('write');
          pendingWrite = ws.saveUpdated(store, pos.globalStep);
          times.mark('write');
        }
      }
      if (!Number.isFinite(loss)) {
        await settleWrites();
        await group?.stop(`training diverged at epoch ${epoch + 1}, step ${pos.step}`);
        throw new Error(`training diverged at epoch ${epoch + 1}, step ${pos.step}: loss is ${loss} (lower --lr or keep --clip-norm)`);
      }
      pos.lossSum += loss * batch.size;
      pos.seen += batch.size;
      pos.step++;
      pos.globalStep++;
      if ((pos.step & 31) === 0) progress.update(pos.seen, { loss: (pos.lossSum / pos.seen).toFixed(4) });
      if (run.checkpointEvery && pos.globalStep % run.checkpointEvery === 0) {
        await settleWrites();
        await checkpoint(pos);
      }
    }
    await settleWrites();
    const seconds = (performance.now() - t0) / 1000;
    progress.update(pos.seen, { loss: (pos.lossSum / Math.max(pos.seen, 1)).toFixed(4) });
    progress.stop();
    pos.trainSeconds += seconds;
    const rec: EpochRecord = {
      epoch: epoch + 1, lr, trainLoss: pos.lossSum / Math.max(pos.seen, 1), seconds, samplesPerSecond: pos.seen / seconds,
    };
    // Rank 0 evaluates with every rank's writes in the store; the others wait for it at the barrier.
    if (evalEachEpoch && rank === 0) rec.test = await evaluateWithStore(model, ws, store, test, evalOpts);
    pos.history.push(rec);
    const show = (name: string, r: EvalResult | undefined) =>
      r ? ` | ${name} gauc ${r.gauc.toFixed(4)} auc ${r.auc.toFixed(4)} logloss ${r.logloss.toFixed(4)}` : '';
    log(`${label}: loss ${rec.trainLoss.toFixed(4)} | ${Math.round(rec.samplesPerSecond)} samples/s | ${seconds.toFixed(1)}s` + show(hooks.evalName ?? 'test', rec.test));
    log(`${label}: step time: ${times.summary()}`);
    rec.stepTimes = { read: times.read / 1000, compute: times.compute / 1000, exchange: times.exchange / 1000, update: times.update / 1000, write: times.write / 1000 };
    Object.assign(times, { read: 0, compute: 0, exchange: 0, update: 0, write: 0 });
    await checkpoint({ ...pos, epoch: epoch + 1, step: 0, lossSum: 0, seen: 0 });
    if (group) await group.barrier(pos.globalStep * 4 - 1);
  }
  const trainSamples = nTrain;
  return {
    history: pos.history,
    bestEpoch: pos.history.length,
    stoppedEarly: false,
    seconds: pos.trainSeconds,
    samplesPerSecond: (trainSamples * pos.history.length) / Math.max(pos.trainSeconds, 1e-9),
    trainSamples,
    validSamples: 0,
    regularization: {
      reg: opts.reg,
      ...(opts.reg === 'mba' || opts.reg === 'difacto' ? { lambda } : {}),
      ...(opts.denseL2 > 0 ? { denseL2: opts.denseL2 } : {}),
      ...(dropout ? { dropout: { rate: dropout.rate, behaviours: dropout.seen, dropped: dropout.dropped } } : {}),
    },
  };
}

// ---- several trainers: one step ----

const MAGIC = 0x44494e53; // "DINS"

/** The per-step exchange of a rank with the others (see the file header). */
class MultiStep {
  private readonly dense: Param[];
  private readonly denseLen: number;
  private readonly flat: Float32Array;
  private readonly updates: UpdateTable[];
  private readonly updateParams: Param[];
  private readonly reg: Regularizer;
  private dLogits: Float;

  constructor(private readonly model: Model, private readonly ws: WorkingSets, private readonly optimizer: Optimizer,
    reg: Regularizer, private readonly store: RowStore, private readonly group: Group, private readonly clipNorm: number,
    private readonly times: StepTimes) {
    const params = model.params();
    this.dense = params.filter((p) => !p.sparse);
    this.denseLen = this.dense.reduce((a, p) => a + p.grad.length, 0);
    this.flat = new Float32Array(this.denseLen);
    this.updates = ws.tables.map((w) => {
      const be = model.backend;
      const value = be.alloc(w.dim) as Float32Array;
      const grad = be.alloc(w.dim) as Float32Array;
      const param: Param = {
        name: w.param.name, shape: w.param.shape, value, grad, decay: w.param.decay,
        sparse: { ids: be.allocInt(1), count: 0, global: new Int32Array(1) },
      };
      return { w, param, rows: new Int32Array(0), count: 0, value, grad, state: [], staging: new Float32Array(0) };
    });
    this.updateParams = this.updates.map((u) => u.param);
    // Same penalty, on the dense params and on the compact update rows (per-row 1/n_j by table row).
    this.reg = regularizerFromSpec(reg.spec, [...this.dense, ...this.updateParams]);
    this.dLogits = model.backend.alloc(1);
  }

  /** One step on this rank's slice of a global batch of `total` samples; returns the global batch's mean loss. */
  async step(slice: Batch, total: number, lr: number, globalStep: number, tag: number): Promise<number> {
    const { model, ws, group } = this;
    const R = group.size;
    const me = group.rank;
    model.zeroGrad();
    let lossSum = 0;
    if (slice.size > 0) {
      ws.admit(slice);
      await ws.load(this.store);
      this.times.mark('read');
      const logits = model.forward(slice, 'train');
      if (this.dLogits.length < slice.size) {
        model.backend.free(this.dLogits);
        this.dLogits = model.backend.alloc(slice.size);
      }
      lossSum = sigmoidLogLoss(logits, slice.labels, slice.size, this.dLogits, total) * slice.size;
      if (Number.isFinite(lossSum)) model.backward(this.dLogits.subarray(0, slice.size));
    } else {
      for (const w of ws.tables) w.ext.clearWorkingSet();
    }
    // Round 1: dense gradients to everyone, each touched row's gradient to its owner.
    const payloads: Uint8Array[] = [];
    for (let j = 0; j < R; j++) payloads.push(j === me ? new Uint8Array(0) : this.encode(j, lossSum, globalStep));
    const own = this.encode(me, lossSum, globalStep);
    this.times.mark('compute');
    const msgs = await group.allToAll(tag, payloads);
    this.times.mark('exchange');
    msgs[me] = own;
    const decoded = msgs.map((m, k) => decodeMessage(m, k, globalStep, this.denseLen, ws.tables));
    let loss = 0;
    for (const d of decoded) loss += d.lossSum;
    // Dense: the sum in rank order (every rank computes the same bits).
    this.flat.fill(0);
    for (const d of decoded) for (let i = 0; i < this.denseLen; i++) this.flat[i] += d.dense[i];
    let o = 0;
    for (const p of this.dense) {
      p.grad.set(this.flat.subarray(o, o + p.grad.length));
      o += p.grad.length;
    }
    // Owned rows: contributions summed in rank order; values and state of rows this rank did not read, from the store.
    await this.mergeOwned(decoded);
    // Round 2: the global gradient norm for clipping (this rank's owned rows; the dense part is the same everywhere).
    if (this.clipNorm > 0) {
      const be = model.backend;
      const denseSq = gradSumSquares(this.dense, be);
      const mine = new Float64Array([gradSumSquares(this.updateParams, be)]);
      this.times.mark('update');
      const all = await group.allGather(tag + 1, new Uint8Array(mine.buffer));
      this.times.mark('exchange');
      let sq = denseSq;
      for (const b of all) sq += new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + 8))[0];
      scaleToNorm([...this.dense, ...this.updateParams], Math.sqrt(sq), this.clipNorm);
    }
    this.reg.apply();
    for (const u of this.updates) if (this.optimizer.stateSlots > 0) this.optimizer.bindState(u.param, u.state);
    this.optimizer.step([...this.dense, ...this.updateParams], lr);
    this.times.mark('update');
    await Promise.all(this.updates.map((u) => this.writeUpdates(u, globalStep)));
    this.times.mark('write');
    // Round 3: every owner has written this step's rows before anyone reads the next step's.
    await group.barrier(tag + 2);
    this.times.mark('exchange');
    return loss / total;
  }

  /** Round-1 message for rank j: header, dense gradient, then per table the rows j owns with their gradients. */
  private encode(j: number, lossSum: number, globalStep: number): Uint8Array {
    const R = this.group.size;
    const tables = this.ws.tables.map((w) => {
      const sp = w.param.sparse!;
      const picks: number[] = [];
      for (let s = 0; s < sp.count; s++) if (rowOwner(w.t, sp.global![sp.ids[s]], R) === j) picks.push(s);
      return { w, picks };
    });
    let bytes = 24 + 4 * this.denseLen;
    for (const { w, picks } of tables) bytes += 4 + picks.length * 4 * (1 + w.dim);
    const buf = new ArrayBuffer(bytes);
    const dv = new DataView(buf);
    dv.setUint32(0, MAGIC, true);
    dv.setUint32(4, globalStep >>> 0, true);
    dv.setFloat64(8, lossSum, true);
    dv.setUint32(16, this.denseLen, true);
    dv.setUint32(20, tables.length, true);
    const f = new Float32Array(buf, 24, this.denseLen);
    let o = 0;
    for (const p of this.dense) {
      f.set(p.grad, o);
      o += p.grad.length;
    }
    let at = 24 + 4 * this.denseLen;
    for (const { w, picks } of tables) {
      const sp = w.param.sparse!;
      dv.setUint32(at, picks.length, true);
      at += 4;
      const ids = new Int32Array(buf, at, picks.length);
      at += 4 * picks.length;
      const rows = new Float32Array(buf, at, picks.length * w.dim);
      at += 4 * picks.length * w.dim;
      const g = w.param.grad;
      picks.forEach((s, k) => {
        ids[k] = sp.global![sp.ids[s]];
        rows.set(g.subarray(s * w.dim, (s + 1) * w.dim), k * w.dim);
      });
    }
    return new Uint8Array(buf);
  }

  /** Builds each table's update rows from every rank's contributions (rank order), with values and state. */
  private async mergeOwned(decoded: DecodedMessage[]): Promise<void> {
    const be = this.model.backend;
    const reads: Promise<void>[] = [];
    for (const u of this.updates) {
      const { w } = u;
      const dim = w.dim;
      let n = 0;
      for (const d of decoded) n += d.tables[w.t].ids.length;
      const index = new Map<number, number>();
      const rows = new Int32Array(n);
      this.ensureCapacity(u, n);
      let count = 0;
      for (const d of decoded) {
        const t = d.tables[w.t];
        for (let k = 0; k < t.ids.length; k++) {
          const row = t.ids[k];
          let s = index.get(row);
          if (s === undefined) {
            s = count++;
            index.set(row, s);
            rows[s] = row;
            u.grad.fill(0, s * dim, (s + 1) * dim);
          }
          const go = s * dim;
          const src = t.rows;
          for (let c = 0; c < dim; c++) u.grad[go + c] += src[k * dim + c];
        }
      }
      u.rows = rows.subarray(0, count);
      u.count = count;
      const sp = u.param.sparse!;
      for (let s = 0; s < count; s++) sp.ids[s] = s;
      sp.count = count;
      sp.global = u.rows;
      u.param.value = u.value;
      u.param.grad = u.grad;
      // Values and state: from this rank's working set when it read the row, else from the store.
      const width = dim + w.stateDim;
      const missing: number[] = [];
      const ext = w.ext;
      const wsRows = ext.workingSetRows;
      const local = new Map<number, number>();
      for (let i = 0; i < wsRows.length; i++) local.set(wsRows[i], i);
      for (let s = 0; s < count; s++) {
        const l = local.get(u.rows[s]);
        if (l === undefined) {
          missing.push(s);
          continue;
        }
        u.value.set(w.param.value.subarray(l * dim, (l + 1) * dim), s * dim);
        w.state.forEach((a, k) => u.state[k].set(a.subarray(l * dim, (l + 1) * dim), s * dim));
      }
      if (missing.length > 0) {
        if (u.staging.length < missing.length * width) u.staging = new Float32Array(missing.length * width * 2);
        const ids = Int32Array.from(missing, (s) => u.rows[s]);
        reads.push(this.store.read(w.t, ids, missing.length, u.staging).then(() => {
          missing.forEach((s, k) => {
            const o = k * width;
            u.value.set(u.staging.subarray(o, o + dim), s * dim);
            u.state.forEach((a, j) => a.set(u.staging.subarray(o + dim + j * dim, o + dim + (j + 1) * dim), s * dim));
          });
        }));
      }
      void be;
    }
    await Promise.all(reads);
  }

  private ensureCapacity(u: UpdateTable, n: number): void {
    const { dim } = u.w;
    const be = this.model.backend;
    if (u.value.length >= Math.max(1, n) * dim && u.param.sparse!.ids.length >= n) return;
    const cap = Math.max(n, 64) * 2;
    be.free(u.value);
    be.free(u.grad);
    be.free(u.param.sparse!.ids);
    for (const a of u.state) be.free(a);
    u.value = be.alloc(cap * dim) as Float32Array;
    u.grad = be.alloc(cap * dim) as Float32Array;
    u.state = Array.from({ length: this.optimizer.stateSlots }, () => be.alloc(cap * dim) as Float32Array);
    u.param.sparse!.ids = be.allocInt(cap);
  }

  private async writeUpdates(u: UpdateTable, globalStep: number): Promise<void> {
    const { w, count } = u;
    if (count === 0) return;
    const dim = w.dim;
    const width = dim + w.stateDim;
    if (u.staging.length < count * width) u.staging = new Float32Array(count * width * 2);
    for (let s = 0; s < count; s++) {
      const o = s * width;
      u.staging.set(u.value.subarray(s * dim, (s + 1) * dim), o);
      u.state.forEach((a, j) => u.staging.set(a.subarray(s * dim, (s + 1) * dim), o + dim + j * dim));
    }
    await this.store.write(w.t, u.rows, count, u.staging, globalStep);
  }
}

interface DecodedMessage {
  lossSum: number;
  dense: Float32Array;
  tables: Array<{ ids: Int32Array; rows: Float32Array }>;
}

function decodeMessage(m: Uint8Array, from: number, globalStep: number, denseLen: number, tables: WorkingTable[]): DecodedMessage {
  // Copy into an aligned buffer when the message sits at an unaligned offset (Buffer.slice would only be a view).
  const aligned = m.byteOffset % 4 === 0;
  const buf = aligned ? m.buffer : new Uint8Array(m).buffer;
  const base = aligned ? m.byteOffset : 0;
  const dv = new DataView(buf, base, m.byteLength);
  const where = `message from rank ${from}`;
  if (m.byteLength < 24 || dv.getUint32(0, true) !== MAGIC) throw new Error(`${where}: not a din gradient message`);
  const step = dv.getUint32(4, true);
  if (step !== (globalStep >>> 0)) throw new Error(`${where}: for step ${step}, this rank is at step ${globalStep} (the trainers are out of step)`);
  const dl = dv.getUint32(16, true);
  if (dl !== denseLen) throw new Error(`${where}: ${dl} dense values, this model has ${denseLen} (another model shape?)`);
  const nt = dv.getUint32(20, true);
  if (nt !== tables.length) throw new Error(`${where}: ${nt} tables, this model has ${tables.length}`);
  const dense = new Float32Array(buf, base + 24, denseLen);
  let at = 24 + 4 * denseLen;
  const out: DecodedMessage['tables'] = [];
  for (const w of tables) {
    const n = dv.getUint32(at, true);
    at += 4;
    const ids = new Int32Array(buf, base + at, n);
    at += 4 * n;
    const rows = new Float32Array(buf, base + at, n * w.dim);
    at += 4 * n * w.dim;
    out.push({ ids, rows });
  }
  return { lossSum: dv.getFloat64(8, true), dense, tables: out };
}

// ---- checkpoints of the dense part ----

function encodeCheckpoint(model: Model, optimizer: Optimizer, dense: Param[], pos: Position): Buffer {
  const tensors: Record<string, NamedTensor> = {};
  const f32 = (a: Float): Float32Array => (a instanceof Float32Array ? a : Float32Array.from(a));
  for (const p of dense) {
    tensors[p.name] = { shape: p.shape, data: f32(p.value) };
    optimizer.stateOf(p)?.forEach((a, k) => {
      tensors[`optimizer.${k}.${p.name}`] = { shape: p.shape, data: f32(a.subarray(0, p.value.length)) };
    });
  }
  for (const [name, b] of Object.entries(model.buffers())) tensors[`buffer.${name}`] = { shape: [b.length], data: f32(b) };
  return encodeSafetensors(tensors, {
    format: 'din-store-checkpoint', model: model.config.model, optimizerSteps: String(optimizer.steps), position: JSON.stringify(pos),
  });
}

async function restoreCheckpoint(control: StoreControl, model: Model, optimizer: Optimizer, dense: Param[]): Promise<Position | null> {
  const blob = await control.getBlob(CHECKPOINT_BLOB);
  if (blob === null) return null;
  const { tensors, metadata } = decodeSafetensors(Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength), 'the store checkpoint');
  if (metadata.format !== 'din-store-checkpoint') throw new Error('the store checkpoint is not a din checkpoint');
  if (metadata.model !== model.config.model) throw new Error(`the store checkpoint is of model "${metadata.model}", this run trains "${model.config.model}"`);
  for (const p of dense) {
    const t = tensors[p.name];
    if (!t || t.data.length !== p.value.length) throw new Error(`the store checkpoint has no tensor "${p.name}" of ${p.value.length} values (another model shape?)`);
    p.value.set(t.data);
    if (optimizer.stateSlots > 0) {
      const arrays: Float[] = [];
      for (let k = 0; k < optimizer.stateSlots; k++) {
        const s = tensors[`optimizer.${k}.${p.name}`];
        const a = model.backend.alloc(p.value.length);
        if (s) a.set(s.data);
        arrays.push(a);
      }
      optimizer.bindState(p, arrays);
    }
  }
  for (const [name, b] of Object.entries(model.buffers())) {
    const t = tensors[`buffer.${name}`];
    if (!t || t.data.length !== b.length) throw new Error(`the store checkpoint has no buffer "${name}" of ${b.length} values`);
    b.set(t.data);
  }
  optimizer.steps = Number(metadata.optimizerSteps);
  return JSON.parse(metadata.position) as Position;
}
