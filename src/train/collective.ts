/**
 * The shared-memory plumbing of data-parallel training (./data-parallel.ts): R ranks (rank 0 is the thread that
 * calls trainModel, ranks 1..R−1 are worker threads) meet at barriers on a SharedArrayBuffer and exchange data
 * through shared regions. Everything is synchronous (Atomics.wait), so a training loop stays a plain loop.
 *
 * - `barrier()`: a generation barrier; waiters spin briefly (steps are short and the ranks in lockstep), then sleep.
 *   A rank that fails writes its error into the group and every waiter throws it.
 * - `allReduce(a)`: sum of a over the ranks, added in rank order on every rank, so every rank gets the same bits.
 * - Regions: one growable shared buffer per (rank, purpose) written by that rank alone and read by the others
 *   after a barrier. A writer that needs more room makes a new SharedArrayBuffer and posts it to the other ranks
 *   before the barrier; a reader picks it up after the barrier with receiveMessageOnPort (synchronous).
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

/** ctl Int32 slots. */
const COUNT = 0;
const GEN = 1;
const FAILED = 2;
const STOP = 3;
/** Never written: Atomics.wait on it is a sleep. */
const SLEEP = 4;
/** Commands posted by rank 0 (see post / awaitPost). */
const SEQ = 5;
/** Region generations: REGION_GEN + rank·MAX_REGIONS + region. */
const REGION_GEN = 8;
export const MAX_RANKS = 16;
const MAX_REGIONS = 4;
const CTL_INTS = REGION_GEN + MAX_RANKS * MAX_REGIONS;
/** f64 per rank per parity in the reduce area. */
const REDUCE_CAP = 8192;
const ERROR_BYTES = 8192;
/** Spin iterations before sleeping in a barrier (~0.1 ms: steps are milliseconds long and the ranks in lockstep). */
const SPIN = 20000;

/** What rank 0 makes and every rank is given (through workerData). */
export interface GroupShared {
  size: number;
  ctl: SharedArrayBuffer;
  reduce: SharedArrayBuffer;
  error: SharedArrayBuffer;
}

/** The regions of every rank, made by rank 0 ([rank][region]). */
export function createRegions(size: number, bytes: number[]): SharedArrayBuffer[][] {
  return Array.from({ length: size }, () => bytes.map((b) => new SharedArrayBuffer(roundUp(Math.max(b, 64)))));
}

export function createGroupShared(size: number): GroupShared {
  if (!(Number.isInteger(size) && size >= 1 && size <= MAX_RANKS)) throw new Error(`threads must be an integer in [1, ${MAX_RANKS}], got ${size}`);
  return {
    size,
    ctl: new SharedArrayBuffer(CTL_INTS * 4),
    reduce: new SharedArrayBuffer(2 * size * REDUCE_CAP * 8),
    error: new SharedArrayBuffer(ERROR_BYTES),
  };
}

export class GroupFailed extends Error {}

/** A shared buffer with views; `gen` counts replacements. */
export class Region {
  sab: SharedArrayBuffer;
  u8!: Uint8Array;
  i32!: Int32Array;
  f32!: Float32Array;
  f64!: Float64Array;
  gen = 0;
  constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.views();
  }
  adopt(sab: SharedArrayBuffer): void {
    this.sab = sab;
    this.views();
    this.gen++;
  }
  private views(): void {
    const b = this.sab;
    this.u8 = new Uint8Array(b);
    this.i32 = new Int32Array(b);
    this.f32 = new Float32Array(b);
    this.f64 = new Float64Array(b);
  }
}

function roundUp(n: number): number {
  return Math.ceil(n / 64) * 64;
}

interface RegionMessage {
  from: number;
  region: number;
  sab: SharedArrayBuffer;
}

export class Group {
  readonly size: number;
  readonly rank: number;
  private readonly ctl: Int32Array;
  private readonly reduceArea: Float64Array;
  private readonly errorBytes: Uint8Array;
  private parity = 0;
  /** Posts seen (ranks ≥ 1). */
  private posts = 0;
  /** regions[r][k]: rank r's region k (ours to write when r === rank). */
  private readonly regions: Region[][];
  /** ports[r]: from rank r to us (receive) / from us to rank r (send), one MessagePort each way per pair. */
  private readonly inPorts: (MessagePort | null)[];
  private readonly outPorts: (MessagePort | null)[];
  /** Rank 0: give up on a barrier after this long (a worker that died without a word). */
  private readonly timeoutMs: number;

  constructor(shared: GroupShared, rank: number, inPorts: (MessagePort | null)[], outPorts: (MessagePort | null)[],
    regions: SharedArrayBuffer[][], timeoutMs = 600_000) {
    this.size = shared.size;
    this.rank = rank;
    this.ctl = new Int32Array(shared.ctl);
    this.reduceArea = new Float64Array(shared.reduce);
    this.errorBytes = new Uint8Array(shared.error);
    this.inPorts = inPorts;
    this.outPorts = outPorts;
    this.timeoutMs = timeoutMs;
    if (regions.length !== this.size || regions.some((row) => row.length > MAX_REGIONS)) {
      throw new Error(`collective: expected regions for ${this.size} ranks, at most ${MAX_REGIONS} each`);
    }
    this.regions = regions.map((row) => row.map((sab) => new Region(sab)));
  }

  /** Our region k with room for `bytes` (grown and announced to the others when too small: call before the barrier). */
  own(k: number, bytes: number): Region {
    const r = this.regions[this.rank][k];
    if (r.sab.byteLength >= bytes) return r;
    const sab = new SharedArrayBuffer(roundUp(Math.max(bytes, 2 * r.sab.byteLength)));
    r.adopt(sab);
    for (let s = 0; s < this.size; s++) {
      if (s === this.rank) continue;
      const msg: RegionMessage = { from: this.rank, region: k, sab };
      this.outPorts[s]!.postMessage(msg);
    }
    Atomics.add(this.ctl, REGION_GEN + this.rank * MAX_REGIONS + k, 1);
    return r;
  }

  /** Rank r's region k as it is after the last barrier. */
  peer(r: number, k: number): Region {
    const reg = this.regions[r][k];
    if (r === this.rank) return reg;
    const want = Atomics.load(this.ctl, REGION_GEN + r * MAX_REGIONS + k);
    while (reg.gen !== want) {
      const m = receiveMessageOnPort(this.inPorts[r]!);
      if (m === undefined) {
        // Posted before the barrier we passed, so it is in flight: give the port a moment.
        Atomics.wait(this.ctl, SLEEP, 0, 1);
        continue;
      }
      const msg = m.message as RegionMessage;
      this.regions[msg.from][msg.region].adopt(msg.sab);
    }
    return reg;
  }

  barrier(): void {
    const ctl = this.ctl;
    const g = Atomics.load(ctl, GEN);
    if (Atomics.add(ctl, COUNT, 1) === this.size - 1) {
      Atomics.store(ctl, COUNT, 0);
      Atomics.add(ctl, GEN, 1);
      Atomics.notify(ctl, GEN);
      this.checkFailed();
      return;
    }
    for (let i = 0; i < SPIN; i++) if (Atomics.load(ctl, GEN) !== g) return;
    const t0 = Date.now();
    while (Atomics.load(ctl, GEN) === g) {
      this.checkFailed();
      Atomics.wait(ctl, GEN, g, 100);
      if (this.rank === 0 && Date.now() - t0 > this.timeoutMs) {
        throw new GroupFailed(`data-parallel training: a worker thread did not answer within ${Math.round(this.timeoutMs / 1000)} s ` +
          '(it may have run out of memory); rerun with --threads 1');
      }
    }
    this.checkFailed();
  }

  /**
   * Rank 0: announces a new command (written to its regions before this call). Unlike a barrier, rank 0 does not wait
   * for the others: whatever they still read of the last step lives in other regions.
   */
  post(): void {
    Atomics.add(this.ctl, SEQ, 1);
    Atomics.notify(this.ctl, SEQ);
  }

  /** Ranks ≥ 1: waits for rank 0's next post (spinning briefly, then sleeping). */
  awaitPost(): void {
    const ctl = this.ctl;
    const want = ++this.posts;
    for (let i = 0; i < SPIN; i++) if (Atomics.load(ctl, SEQ) >= want) return;
    for (;;) {
      const seq = Atomics.load(ctl, SEQ);
      if (seq >= want) return;
      this.checkFailed();
      Atomics.wait(ctl, SEQ, seq, 100);
    }
  }

  /** Sums a (length ≤ 8192) over the ranks, in rank order; every rank gets the same values. */
  allReduce(a: Float64Array): void {
    const n = a.length;
    if (n > REDUCE_CAP) throw new RangeError(`allReduce: ${n} values, at most ${REDUCE_CAP}`);
    const area = this.reduceArea;
    const base = this.parity * this.size * REDUCE_CAP;
    this.parity ^= 1;
    area.set(a, base + this.rank * REDUCE_CAP);
    this.barrier();
    for (let i = 0; i < n; i++) {
      let s = area[base + i];
      for (let r = 1; r < this.size; r++) s += area[base + r * REDUCE_CAP + i];
      a[i] = s;
    }
  }

  /** One number from every rank (index = rank). */
  gather(x: number): number[] {
    const base = this.parity * this.size * REDUCE_CAP;
    this.parity ^= 1;
    this.reduceArea[base + this.rank * REDUCE_CAP] = x;
    this.barrier();
    return Array.from({ length: this.size }, (_, r) => this.reduceArea[base + r * REDUCE_CAP]);
  }

  /** Marks the group failed with this rank's error (the others throw it at their next barrier). */
  fail(message: string): void {
    const bytes = new TextEncoder().encode(`worker ${this.rank}: ${message}`).subarray(0, ERROR_BYTES - 4);
    if (Atomics.compareExchange(this.ctl, FAILED, 0, this.rank + 1) === 0) {
      new DataView(this.errorBytes.buffer).setUint32(0, bytes.length, true);
      this.errorBytes.set(bytes, 4);
    }
    Atomics.notify(this.ctl, GEN);
    Atomics.notify(this.ctl, SEQ);
  }

  /** Asks the workers to leave (seen by a worker waiting in a barrier or for a post). */
  stop(): void {
    Atomics.store(this.ctl, STOP, 1);
    Atomics.notify(this.ctl, GEN);
    Atomics.notify(this.ctl, SEQ);
  }

  get stopped(): boolean {
    return Atomics.load(this.ctl, STOP) !== 0;
  }

  private checkFailed(): void {
    const f = Atomics.load(this.ctl, FAILED);
    if (f !== 0 && f !== this.rank + 1) {
      const len = new DataView(this.errorBytes.buffer).getUint32(0, true);
      const msg = new TextDecoder().decode(this.errorBytes.slice(4, 4 + len));
      throw new GroupFailed(`data-parallel training failed in ${msg}`);
    }
    if (this.rank !== 0 && Atomics.load(this.ctl, STOP) !== 0) throw new GroupStopped('stopped');
  }
}

/** Thrown in a worker waiting at a barrier when rank 0 has stopped the group. */
export class GroupStopped extends Error {}
