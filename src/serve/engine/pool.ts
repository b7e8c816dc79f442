/**
 * Several RankingEngines in worker threads, so ranking uses more than one core (`din serve --workers N`). Each worker
 * loads the checkpoint itself (N copies of the weights) and ranks one batch at a time; the pool sends each batch to
 * the worker with the fewest batches in flight. The micro-batcher reads `capacity` and keeps up to that many batches
 * in flight (./micro-batcher.ts), so with N workers N batches are ranked at once.
 *
 * Errors keep their meaning across the thread boundary: an Error the engine throws for a request (a field it cannot
 * accept) comes back as an Error with the same name and message, so the HTTP layer answers 400 exactly as in process.
 * A worker that dies fails its in-flight batches with an Error (500-class for the server) and is replaced.
 */
import { Worker } from 'node:worker_threads';
import type { BackendKind } from '../../kernels/backends.js';
import type { RankRequest, RankResponse } from '../types.js';

interface Slot {
  worker: Worker;
  inFlight: Map<number, { resolve: (r: RankResponse[]) => void; reject: (e: Error) => void }>;
}

interface Ready {
  modelName: string;
  modelVersion: string;
  maxHistory: number;
  schema: unknown;
}

export interface EnginePoolOptions {
  workers: number;
  limits: { maxCandidates: number; maxBehaviors: number };
  backend?: BackendKind;
}

const WORKER_URL = new URL('./worker.js', import.meta.url);

function start(dir: string, o: EnginePoolOptions): Promise<{ worker: Worker; ready: Ready }> {
  return new Promise((resolve, reject) => {
    // execArgv []: the parent's (e.g. `--input-type=module -e …` of a launcher) are not valid for a worker; V8 flags
    // are process-wide anyway, and the worker turns relaxed SIMD on itself.
    const worker = new Worker(WORKER_URL, { workerData: { dir, limits: o.limits, ...(o.backend ? { backend: o.backend } : {}) }, execArgv: [] });
    // Only our own listeners are removed: removeAllListeners() would also drop the Worker's internal ones.
    const off = () => {
      worker.off('error', fail);
      worker.off('exit', exited);
      worker.off('message', first);
    };
    const fail = (e: Error) => {
      off();
      void worker.terminate();
      reject(e);
    };
    const exited = (code: number) => fail(new Error(`engine worker exited (code ${code}) while loading ${dir}`));
    const first = (m: { type: string; message?: string } & Ready) => {
      off();
      if (m.type === 'ready') resolve({ worker, ready: m });
      else fail(new Error(m.message ?? 'engine worker failed to load'));
    };
    worker.on('error', fail);
    worker.on('exit', exited);
    worker.on('message', first);
  });
}

export class EnginePool {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly maxHistory: number;
  private readonly schema: unknown;
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closed = false;

  private constructor(readonly dir: string, private readonly opts: EnginePoolOptions, first: Ready) {
    this.modelName = first.modelName;
    this.modelVersion = first.modelVersion;
    this.maxHistory = first.maxHistory;
    this.schema = first.schema;
  }

  /** Starts `workers` engine threads on the checkpoint; rejects (and stops them) if any fails to load. */
  static async create(dir: string, opts: EnginePoolOptions): Promise<EnginePool> {
    if (!(Number.isInteger(opts.workers) && opts.workers >= 1)) throw new Error(`workers must be an integer >= 1, got ${opts.workers}`);
    const started = await Promise.allSettled(Array.from({ length: opts.workers }, () => start(dir, opts)));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) {
      for (const s of started) if (s.status === 'fulfilled') void s.value.worker.terminate();
      throw (failed as PromiseRejectedResult).reason;
    }
    const ok = started.map((s) => (s as PromiseFulfilledResult<{ worker: Worker; ready: Ready }>).value);
    const versions = new Set(ok.map((s) => s.ready.modelVersion));
    if (versions.size > 1) {
      for (const s of ok) void s.worker.terminate();
      throw new Error(`${dir}: the checkpoint changed while the workers loaded it (versions ${[...versions].join(', ')}); reload again`);
    }
    const pool = new EnginePool(dir, opts, ok[0].ready);
    for (const s of ok) pool.attach(s.worker);
    return pool;
  }

  /** Batches that can be ranked at once. */
  get capacity(): number {
    return this.slots.length;
  }

  describe(): unknown {
    return this.schema;
  }

  rank(req: RankRequest): Promise<RankResponse> {
    return this.send([req], false).then((r) => r[0]);
  }

  rankMany(reqs: RankRequest[]): Promise<RankResponse[]> {
    return this.send(reqs, true);
  }

  /** Stops the workers once their in-flight batches are answered; later calls reject. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map(async (s) => {
      while (s.inFlight.size > 0) await new Promise((r) => setTimeout(r, 5));
      await s.worker.terminate();
    }));
  }

  private attach(worker: Worker): void {
    const slot: Slot = { worker, inFlight: new Map() };
    worker.on('message', (m: { id: number; ok: boolean; results?: RankResponse[]; name?: string; message?: string }) => {
      const p = slot.inFlight.get(m.id);
      if (!p) return;
      slot.inFlight.delete(m.id);
      if (m.ok) p.resolve(m.results!);
      else {
        const e = new Error(m.message);
        e.name = m.name ?? 'Error';
        p.reject(e);
      }
    });
    const died = (why: string) => {
      const i = this.slots.indexOf(slot);
      if (i < 0) return;
      this.slots.splice(i, 1);
      for (const p of slot.inFlight.values()) p.reject(new Error(`engine worker ${why}`));
      slot.inFlight.clear();
      if (!this.closed) {
        // Replace it (the checkpoint directory is read again; a reload is the way to change models).
        start(this.dir, this.opts).then((s) => (this.closed ? void s.worker.terminate() : this.attach(s.worker)), () => undefined);
      }
    };
    worker.on('error', (e) => died(`failed: ${e.message}`));
    worker.on('exit', (code) => died(`exited with code ${code}`));
    this.slots.push(slot);
  }

  private send(reqs: RankRequest[], many: boolean): Promise<RankResponse[]> {
    if (this.closed) return Promise.reject(new Error('the engine pool is closed'));
    if (this.slots.length === 0) return Promise.reject(new Error('no engine worker is running'));
    let slot = this.slots[0];
    for (const s of this.slots) if (s.inFlight.size < slot.inFlight.size) slot = s;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      slot.inFlight.set(id, { resolve, reject });
      slot.worker.postMessage({ id, reqs, many });
    });
  }
}
