/**
 * Merges concurrent ranking requests into one `engine.rankMany` call. The engine's cost per pass is dominated by fixed
 * work (kernel dispatch, user-side activations, the MLP's weight reads), so ranking 16 requests together costs far
 * less than 16 separate passes; under load the batcher trades at most `batchWaitMs` of latency for that.
 *
 * Rules:
 *  - The first request of a batch waits at most `batchWaitMs` for others; a batch closes earlier when it reaches
 *    `maxBatch` requests. Requests that queued while the engine was busy have already waited, so they go at once.
 *  - One batch is in the engine at a time (the engine is not re-entrant: it reuses its WASM buffers), or up to the
 *    engine's `capacity` batches for an engine that ranks several at once (the worker-thread pool of ./engine/pool.ts).
 *  - At most `queue` requests wait (not counting the batch in the engine); more are refused with
 *    {@link QueueFullError} at once (the HTTP layer answers 503 + Retry-After) instead of letting latency and memory
 *    grow without bound.
 *  - A failed `rankMany` is retried request by request, so one bad request fails alone (its own error) and the others
 *    of the batch still get their answer.
 *  - The engine is fetched per batch (`getEngine`), so swapping it (a reload) takes effect at the next batch while the
 *    batch already in the engine finishes on the old one.
 */
import type { RankRequest, RankResponse } from './types.js';

/** What the batcher needs of an engine. Results may be a promise (test doubles; a future worker-thread engine). */
export interface BatchEngine {
  rankMany(reqs: RankRequest[]): RankResponse[] | Promise<RankResponse[]>;
  /** One request alone (used for batches of one and the one-by-one retry: its errors name fields without a batch index). */
  rank?(req: RankRequest): RankResponse | Promise<RankResponse>;
  /** Batches it can rank at once (default 1). */
  readonly capacity?: number;
}

export interface MicroBatcherOptions {
  /** Longest wait of a batch's first request for others, in ms (0: only what arrived in the same event-loop turn). */
  batchWaitMs: number;
  /** Most requests per engine call. */
  maxBatch: number;
  /** Most requests waiting (not yet in the engine); beyond it, submit rejects with QueueFullError. */
  queue: number;
  /** Called after each engine pass with the number of requests it ranked (metrics). */
  onBatch?: (size: number, seconds: number) => void;
  /** Called whenever the number of waiting requests changes (metrics). */
  onDepth?: (depth: number) => void;
}

/** The queue is full: the request was not accepted (answer 503, retry later). */
export class QueueFullError extends Error {
  constructor(readonly limit: number) {
    super(`the ranking queue is full (${limit} requests waiting): retry later`);
    this.name = 'QueueFullError';
  }
}

/** The batcher was closed before the request was accepted. */
export class BatcherClosedError extends Error {
  constructor() {
    super('the server is shutting down');
    this.name = 'BatcherClosedError';
  }
}

interface Pending {
  req: RankRequest;
  at: number;
  resolve: (r: RankResponse) => void;
  reject: (e: unknown) => void;
}

export function checkBatcherOptions(o: Pick<MicroBatcherOptions, 'batchWaitMs' | 'maxBatch' | 'queue'>): void {
  if (!(Number.isFinite(o.batchWaitMs) && o.batchWaitMs >= 0)) throw new Error(`batch wait must be a number ≥ 0 ms, got ${o.batchWaitMs}`);
  if (!(Number.isInteger(o.maxBatch) && o.maxBatch >= 1)) throw new Error(`max batch must be an integer ≥ 1, got ${o.maxBatch}`);
  if (!(Number.isInteger(o.queue) && o.queue >= 1)) throw new Error(`queue must be an integer ≥ 1, got ${o.queue}`);
}

async function rankChecked(engine: BatchEngine, reqs: RankRequest[]): Promise<RankResponse[]> {
  const results = reqs.length === 1 && engine.rank ? [await engine.rank(reqs[0])] : await engine.rankMany(reqs);
  if (!Array.isArray(results) || results.length !== reqs.length || results.some((r) => typeof r !== 'object' || r === null)) {
    throw new Error(`engine returned ${Array.isArray(results) ? results.length : typeof results} results for ${reqs.length} requests`);
  }
  return results;
}

export class MicroBatcher {
  private pending: Pending[] = [];
  /** Batches in the engine. */
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly getEngine: () => BatchEngine, private readonly opts: MicroBatcherOptions) {
    checkBatcherOptions(opts);
  }

  /** Requests waiting for the engine (not counting the batch being ranked). */
  get depth(): number {
    return this.pending.length;
  }

  /** Whether a batch is being ranked. */
  get running(): boolean {
    return this.inFlight > 0;
  }

  /** Whether another batch may go to the engine now. */
  private get full(): boolean {
    return this.inFlight >= Math.max(1, this.getEngine().capacity ?? 1);
  }

  submit(req: RankRequest): Promise<RankResponse> {
    if (this.closed) return Promise.reject(new BatcherClosedError());
    if (this.pending.length >= this.opts.queue) return Promise.reject(new QueueFullError(this.opts.queue));
    return new Promise<RankResponse>((resolve, reject) => {
      this.pending.push({ req, at: performance.now(), resolve, reject });
      this.opts.onDepth?.(this.pending.length);
      this.schedule();
    });
  }

  /** Refuse new requests; resolves once every accepted request has been answered. */
  close(): Promise<void> {
    this.closed = true;
    return this.idle();
  }

  /** Resolves when nothing is waiting or running. */
  idle(): Promise<void> {
    if (this.inFlight === 0 && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Decides when the next batch runs: now (full, or its first request waited long enough), or at the deadline. */
  private schedule(): void {
    if (this.full || this.pending.length === 0) return;
    const waited = performance.now() - this.pending[0].at;
    const due = this.pending.length >= this.opts.maxBatch || waited >= this.opts.batchWaitMs;
    if (due) {
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
      // setImmediate, not a synchronous run: requests parsed in the same event-loop turn join this batch.
      this.immediate ??= setImmediate(() => {
        this.immediate = undefined;
        void this.runBatch();
      });
    } else if (!this.timer && !this.immediate) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.runBatch();
      }, this.opts.batchWaitMs - waited);
    }
  }

  private async runBatch(): Promise<void> {
    if (this.full || this.pending.length === 0) return;
    this.inFlight++;
    const batch = this.pending.splice(0, this.opts.maxBatch);
    this.opts.onDepth?.(this.pending.length);
    const engine = this.getEngine();
    // An engine with room for more batches (a worker pool) takes the next one while this one runs.
    if (this.pending.length > 0) this.schedule();
    const t0 = performance.now();
    try {
      let results: RankResponse[] | undefined;
      try {
        results = await rankChecked(engine, batch.map((p) => p.req));
      } catch (e) {
        results = undefined;
        if (batch.length === 1) batch[0].reject(e);
      }
      if (results) {
        for (let i = 0; i < batch.length; i++) batch[i].resolve(results[i]);
      } else if (batch.length > 1) {
        // Find the culprit(s): each request alone, on the same engine the batch was given.
        for (const p of batch) {
          try {
            const [r] = await rankChecked(engine, [p.req]);
            p.resolve(r);
          } catch (e) {
            p.reject(e);
          }
        }
      }
    } catch (e) {
      // Only reachable through a bug above: never leave a request hanging.
      for (const p of batch) p.reject(e);
    } finally {
      this.opts.onBatch?.(batch.length, (performance.now() - t0) / 1000);
      this.inFlight--;
    }
    if (this.pending.length > 0) this.schedule();
    else if (this.inFlight === 0) this.notifyIdle();
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
