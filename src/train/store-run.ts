/**
 * `din train --store …`: a run whose embedding tables live in a row store — `memory` (JS typed arrays off the WASM
 * heap: tables larger than the WASM memory on one machine) or `redis://host:port[,…]` (a Redis Cluster: any number
 * of trainer processes, `--workers N --worker-index i` on each). Builds the model with external tables, opens the
 * store (checking that a store already there belongs to this model and data), trains (./store-trainer.ts), and on
 * rank 0 materializes the trained model into an ordinary one for the metrics, the checkpoint directory and serving.
 */
import { hostname } from 'node:os';
import { catalogToJson, type CheckpointInfo } from '../checkpoint/checkpoint.js';
import type { ItemCatalog } from '../core/types.js';
import type { Backend } from '../kernels/backend.js';
import { createModel } from '../models/index.js';
import type { ModelConfig } from '../models/model.js';
import { MemoryRowStore } from '../store/memory-store.js';
import type { Group, RowStore, StoreControl, StoreTable } from '../store/types.js';
import { dataFingerprint } from './fingerprint.js';
import { materialize } from './materialize.js';
import type { Progress } from './progress.js';
import { modelCatalog, type RunMetrics } from './run.js';
import { trainWithStore } from './store-trainer.js';
import { TrainedModel } from './trained-model.js';
import { trainSize, trainSource, type TrainData, type TrainOptions } from './trainer.js';
import { storeTables } from './working-set.js';

/** What a store-backed run needs. */
export interface StoreRunSpec {
  /** In memory or sharded; every trainer of a run must read the same data. */
  data: TrainData;
  /** Where the data was loaded from: recorded in the model description and the saved model's dataset record. */
  dataPath?: string;
  /** The model to build (its embedding tables are made external: their rows live in the store). */
  config: ModelConfig;
  /** Training options (the run trains on one thread per process whatever `threads` says). */
  options: TrainOptions;
  /** Numeric backend of the model's dense part, and of the materialized model rank 0 returns. */
  backend: Backend;
  /** `memory`, or `redis://host:port[,host:port…]`. */
  store: string;
  /** Namespace of the run in a Redis store (every trainer of the run gives the same). */
  storeName?: string;
  /** Trainer processes of the run (default 1; more than one needs a Redis store). */
  workers?: number;
  /** This process's rank, in 0 … workers − 1 (default 0); rank 0 checkpoints the dense part and returns the model. */
  workerIndex?: number;
  /** Checkpoint the dense part every this many steps (Redis store; epoch ends always). */
  checkpointEvery?: number;
  /** Continue from the store's checkpoint. */
  resume?: boolean;
  /** Delete what the store holds under this name first (a new run under an old name). */
  reset?: boolean;
  /**
   * Seconds a Redis store may be unreachable (a failover) before an operation fails, and a silent peer worker counts
   * as lost (default 30 and 15).
   */
  storeTimeoutSeconds?: number;
  /**
   * One worker on a Redis store: keep the rows it touched in a write-back cache in this process, written to the store
   * at every checkpoint (so the store always holds the last checkpoint's rows and a resume is exact). Default true;
   * false writes every step through (the store is at most one step behind; the cache's memory is not needed).
   */
  storeCache?: boolean;
  /** Rank 0 saves the trained model here (an ordinary checkpoint directory). */
  out?: string;
  /** Receives the run's log lines (store opened, epochs, store traffic); silent when absent. */
  log?: (line: string) => void;
  /** Progress display of the epochs (none when absent). */
  progress?: Progress;
  /** Prefix of the epoch log and progress lines (default: the model kind). */
  label?: string;
}

/** What the store holds about its run, compared by every trainer that joins or resumes it. */
export interface StoreRunMeta {
  /** Always `din-store-run`: a store holding anything else is refused. */
  kind: 'din-store-run';
  /** Layout version of this record (1). */
  version: 1;
  /** The model's configuration: a trainer with another one is refused. */
  config: ModelConfig;
  /** The optimizer's name (`sgd`, `adam`): it fixes the optimizer state kept with each row. */
  optimizer: string;
  /** The external tables in the store, in the model's order: their shapes and initial values must match. */
  tables: StoreTable[];
  /** The training data. */
  data: {
    /** The dataset's name. */
    name: string;
    /** The source format that produced it (`amazon-seq`, `movielens`, `synthetic`, …). */
    format: string;
    /** A hash of the training and test samples and the catalog: a trainer on other data is refused. */
    fingerprint: string;
    /** Training samples. */
    trainSize: number;
  };
  /** When the run's record was created (ISO 8601), shown when a store holds another run. */
  createdAt: string;
  /** Who created it: `<hostname> pid <pid>` of rank 0. */
  createdBy: string;
}

/** The store of a run, opened (./redis-run.ts opens a Redis one). */
export interface OpenedStore {
  store: RowStore;
  control?: StoreControl;
  group?: Group;
  close(): Promise<void>;
}

/** Differences between the meta a store holds and this run's, as "key: stored vs ours" lines. */
export function metaDifferences(stored: StoreRunMeta, ours: StoreRunMeta): string[] {
  const out: string[] = [];
  const cmp = (key: string, a: unknown, b: unknown) => {
    const sa = JSON.stringify(a);
    const sb = JSON.stringify(b);
    if (sa !== sb) out.push(`${key}: the store has ${sa.length > 120 ? `${sa.slice(0, 117)}…` : sa}, this run ${sb.length > 120 ? `${sb.slice(0, 117)}…` : sb}`);
  };
  cmp('kind', stored.kind, ours.kind);
  cmp('version', stored.version, ours.version);
  cmp('model config', stored.config, ours.config);
  cmp('optimizer', stored.optimizer, ours.optimizer);
  for (let i = 0; i < Math.max(stored.tables?.length ?? 0, ours.tables.length); i++) {
    const a = stored.tables?.[i];
    const b = ours.tables[i];
    cmp(`table ${b?.name ?? a?.name}`, a && { rows: a.rows, dim: a.dim, stateDim: a.stateDim, init: a.init }, b && { rows: b.rows, dim: b.dim, stateDim: b.stateDim, init: b.init });
  }
  cmp('data', stored.data?.fingerprint, ours.data.fingerprint);
  return out;
}

/** The model description a store keeps (model.json without buffers), so eval/export/serve can rebuild the model. */
export function modelDescription(spec: StoreRunSpec, catalog: ItemCatalog): Omit<CheckpointInfo, 'format' | 'version' | 'createdAt' | 'buffers'> {
  const { data } = spec;
  return {
    config: spec.config,
    train: { ...spec.options },
    dataset: { name: data.name, format: data.format, path: spec.dataPath, buildOptions: data.buildOptions, skipped: data.skipped },
    catalog: catalogToJson(catalog),
    ...(data.sampleFields?.length ? { sampleFields: data.sampleFields.map((f) => ({ ...f })) } : {}),
  };
}

/** A Redis store's counters over a run, per second and per sample (null for a store without counters). */
function storeTraffic(store: RowStore, samples: number, seconds: number): { line: string; numbers: Record<string, number> } | null {
  const st = (store as { stats?: () => Record<string, number> }).stats?.();
  if (!st) return null;
  const perSample = (x: number) => x / Math.max(1, samples);
  const numbers = {
    commands: st.commands, commandsPerSecond: st.commands / seconds, roundTrips: st.roundTrips,
    bytesSentPerSample: perSample(st.bytesSent), bytesReceivedPerSample: perSample(st.bytesReceived), rowsRead: st.rowsRead, rowsWritten: st.rowsWritten,
    retries: st.retries ?? 0,
  };
  const line = `${st.commands.toLocaleString('en-US')} commands (${Math.round(numbers.commandsPerSecond).toLocaleString('en-US')}/s), ` +
    `${st.roundTrips.toLocaleString('en-US')} round trips, ${Math.round(numbers.bytesSentPerSample)} B sent and ${Math.round(numbers.bytesReceivedPerSample)} B received per sample ` +
    `(this worker's share), ${st.rowsRead.toLocaleString('en-US')} rows read, ${st.rowsWritten.toLocaleString('en-US')} written`;
  return { line, numbers };
}

/** Opens the store named by `spec.store` (memory here; redis through ./redis-run.ts, loaded on demand). */
async function openStore(spec: StoreRunSpec, tables: StoreTable[], meta: StoreRunMeta, description: () => Uint8Array): Promise<OpenedStore> {
  if (spec.store === 'memory') {
    if ((spec.workers ?? 1) > 1) throw new Error('--store memory holds the tables in this process: several workers need a shared store (redis://…)');
    if (spec.resume) throw new Error('--store memory lives and dies with the process: there is nothing to resume (use a Redis store)');
    const store = new MemoryRowStore(tables);
    return { store, close: () => store.close() };
  }
  if (!/^redis:\/\//.test(spec.store)) throw new Error(`--store must be "memory" or redis://host:port[,host:port…], got "${spec.store}"`);
  const { openRedisRun } = await import('./redis-run.js');
  return openRedisRun(spec, tables, meta, description);
}

/** Trains with the tables in a store; on rank 0 returns the trained (materialized) model and its metrics. */
export async function runStoreTraining(spec: StoreRunSpec): Promise<{
  /** The run's metrics (test metrics of the last epoch, store traffic); null on ranks other than 0. */
  metrics: RunMetrics | null;
  /** The trained model, materialized from the store into an ordinary one (saved to `spec.out` when given); null on ranks other than 0. */
  trained: TrainedModel | null;
}> {
  const { data, config, options, backend } = spec;
  const rank = spec.workerIndex ?? 0;
  const workers = spec.workers ?? 1;
  if (!(Number.isInteger(workers) && workers >= 1)) throw new Error(`--workers must be an integer >= 1, got ${workers}`);
  if (!(Number.isInteger(rank) && rank >= 0 && rank < workers)) throw new Error(`--worker-index must be in 0..${workers - 1}, got ${rank}`);
  const catalog = modelCatalog(data.catalog, trainSource(data), options);
  const ctx = { catalog, seed: options.seed, sampleFields: data.sampleFields };
  const model = createModel(config, { ...ctx, backend, externalTables: true });
  const tables = storeTables(model, { stateSlots: options.optimizer === 'adam' ? 2 : 0 });
  const meta: StoreRunMeta = {
    kind: 'din-store-run', version: 1, config, optimizer: options.optimizer, tables,
    data: { name: data.name, format: data.format, fingerprint: dataFingerprint(data), trainSize: trainSize(data) },
    createdAt: new Date().toISOString(), createdBy: `${hostname()} pid ${process.pid}`,
  };
  const opened = await openStore(spec, tables, meta, () => Buffer.from(JSON.stringify(modelDescription(spec, catalog))));
  const log = spec.log ?? (() => {});
  log(`tables in ${opened.store.description}${workers > 1 ? `; worker ${rank} of ${workers}` : ''}`);
  try {
    const t0 = performance.now();
    const result = await trainWithStore(model, data, { ...options, threads: 1 }, {
      store: opened.store, group: opened.group, control: opened.control, checkpointEvery: spec.checkpointEvery, resume: spec.resume,
    }, { log: spec.log, progress: spec.progress, label: spec.label, evalName: 'test' });
    const wall = (performance.now() - t0) / 1000;
    const traffic = storeTraffic(opened.store, result.trainSamples * result.history.length, wall);
    if (traffic) log(`store traffic (worker ${rank}): ${traffic.line}`);
    if (rank !== 0) return { metrics: null, trained: null };
    const plain = await materialize(model, config, ctx, opened.store, backend);
    const test = result.history[result.history.length - 1]?.test;
    if (!test) throw new Error('no test metrics: the run trained no epoch');
    const metrics: RunMetrics = {
      model: config.model,
      dataset: data.name,
      backend: backend.name,
      evaluatedOn: 'test',
      test,
      train: {
        samples: result.trainSamples, validationSamples: 0, seconds: result.seconds, samplesPerSecond: result.samplesPerSecond, epochs: options.epochs,
      },
      history: result.history,
      bestEpoch: result.bestEpoch,
      stoppedEarly: false,
      regularization: result.regularization,
      skipped: data.skipped,
      ...(data.skippedExamples?.length ? { skippedExamples: data.skippedExamples } : {}),
      config,
      options: { ...options, threads: 1 },
      store: {
        url: spec.store.replace(/\/\/[^@]*@/, '//'), name: spec.storeName, workers, wallSeconds: wall,
        ...(traffic ? { traffic: traffic.numbers } : {}),
      },
    };
    const trained = new TrainedModel({
      model: plain, catalog, sampleFields: data.sampleFields, trainOptions: { ...options, threads: 1 },
      dataset: { name: data.name, format: data.format, path: spec.dataPath, buildOptions: data.buildOptions, skipped: data.skipped },
      metrics,
    });
    if (spec.out) trained.save(spec.out);
    return { metrics, trained };
  } catch (e) {
    await opened.group?.stop(`worker ${rank} failed: ${(e as Error).message}`).catch(() => {});
    if (e instanceof Error && /GroupStopped|PeerLost/.test(e.name)) {
      throw new Error(`${e.message}. Every worker of the run stops; continue it with the same command and --resume on every worker ` +
        '(the rows stay in the store; the dense part restarts from the last checkpoint)');
    }
    throw e;
  } finally {
    await opened.close();
  }
}
