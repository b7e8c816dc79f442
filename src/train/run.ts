import { validationSplit, validationSplitSet } from '../data/split.js';
import { isSharded, mapShards, type ShardedDataset } from '../data/shards.js';
import type { Dataset, SampleSet } from '../core/types.js';
import type { Backend } from '../kernels/backend.js';
import { createModel } from '../models/index.js';
import type { Model, ModelConfig } from '../models/model.js';
import { TrainedModel } from './trained-model.js';
import { dataFingerprint } from './fingerprint.js';
import { warmStart, type WarmStartReport } from './warm-start.js';
import { checkpointsDir, readLatestCheckpoint, writeTrainerCheckpoint, type TrainerState } from './resume.js';
import { evaluateSource, type EvalResult, type EvalSource } from './evaluator.js';
import type { Progress } from './progress.js';
import {
  testSource, trainModel, trainSize, trainSource, type CheckpointHook, type EpochRecord, type RegularizationRecord, type TrainData, type TrainOptions,
  type OptimizerInit, type TrainResult,
} from './trainer.js';
import { filterGoods, goodsRowSampleCounts } from '../data/goods-filter.js';
import type { ItemCatalog } from '../core/types.js';

/** The contents of DIR/metrics.json. */
export interface RunMetrics {
  /** Model kind (`config.model`), e.g. "din". */
  model: string;
  /** Short name of the dataset, e.g. "amazon-beauty". */
  dataset: string;
  /** Name of the backend it trained on, e.g. "wasm-relaxed-simd". */
  backend: string;
  /** The split `test` was computed on: "test", or "validation" when trained with a validation split. */
  evaluatedOn: string;
  /** Metrics of the kept weights (`bestEpoch`) on the split named by `evaluatedOn`. */
  test: EvalResult;
  /** Summary of the training. */
  train: {
    /** Samples trained on per epoch (without the held-out validation samples, unless refit). */
    samples: number;
    /** Training samples held out for early stopping (0 without it, or after a refit on all of them). */
    validationSamples: number;
    /** Training time, including the epoch-selection phase when refitting. */
    seconds: number;
    /** Training throughput of the final training (the refit's, when refitting). */
    samplesPerSecond: number;
    /**
     * The `epochs` option as given: an upper bound. The epochs actually run are `history.length` (and, with refit,
     * `selection.history.length`).
     */
    epochs: number;
  };
  /** One record per epoch of the final training (with refit: of the refit on all training data). */
  history: EpochRecord[];
  /** The epoch whose weights were kept (early stopping on the validation split), 1-based. */
  bestEpoch: number;
  /** Whether early stopping ended training before `options.epochs` (with refit: the selection phase). */
  stoppedEarly: boolean;
  /** With refit: the early-stopping phase on the validation split that chose the epoch count. */
  selection?: {
    /** Its epochs, validation metrics included. */
    history: EpochRecord[];
    /** The epoch with the best validation GAUC, 1-based: the refit's epoch count. */
    bestEpoch: number;
    /** Whether it stopped before `options.epochs`. */
    stoppedEarly: boolean;
    /** Its training time in seconds (evaluation not included). */
    seconds: number;
  };
  /** The regularizer and what it did (dropout counts, the goods filter's size). */
  regularization: RegularizationRecord;
  /** Rows or lines skipped while reading the data, by reason. */
  skipped: Record<string, number>;
  /** A few messages of skipped rows (file:line: what was expected). */
  skippedExamples?: string[];
  /** The model's architecture. */
  config: ModelConfig;
  /** The training options the run used. */
  options: TrainOptions;
  /** Warm-started runs (`--init-from`): what was carried over. */
  warmStart?: WarmStartReport;
  /** Runs with the tables in a row store (`din train --store`): where, and how many trainer processes. */
  store?: {
    /** `memory` or the Redis seed addresses (credentials removed). */
    url: string;
    /** The run's namespace in the store. */
    name?: string;
    /** Trainer processes. */
    workers: number;
    /** Wall time of rank 0's training, including waits for the other trainers. */
    wallSeconds: number;
    /** Rank 0's traffic with a Redis store: commands, round trips, bytes per sample, rows moved. */
    traffic?: Record<string, number>;
  };
}

export interface RunSpec {
  /** In memory, or sharded (`din data convert`): trained one shard at a time. */
  data: TrainData;
  dataPath?: string;
  config: ModelConfig;
  options: TrainOptions;
  backend: Backend;
  out?: string;
  log?: (line: string) => void;
  progress?: Progress;
  label?: string;
  /**
   * Resumable checkpoints into `out`/checkpoints (./resume.ts): at every epoch end, and every `everySteps` steps or
   * `everyMinutes` minutes; the newest `keep` (default 2) are kept. Needs `out`. Absent: none.
   */
  checkpoints?: { everySteps?: number; everyMinutes?: number; keep?: number };
  /** Continue from the newest checkpoint in `out` (written by the same run: same data, model and options). */
  resume?: boolean;
  /** Warm start (./warm-start.ts): begin from a trained model's weights, rows matched by key; optimizer kept or reset. */
  initFrom?: { dir: string; optimizer: 'keep' | 'reset' };
}

/**
 * The catalog a model is built with.
 *  - reg `filter`: the goods-id feature keeps the top-K goods of `train` (the data this model trains on: the selection
 *    phase never counts its validation samples); the rest share one row.
 *  - Otherwise, goods never seen in `train` (an item only in the test split, or a sampled negative nobody trained on)
 *    share one out-of-vocabulary row, initialized to zero, instead of keeping an untrained random row of their own.
 *    Catalogs that already map goods through a vocabulary (schema, taobao: OOV row built in) are left as they are.
 */
export function modelCatalog(catalog: ItemCatalog, train: SampleSet | Iterable<SampleSet>, options: TrainOptions): ItemCatalog {
  const goodsCounts = (): Float64Array => {
    if (!(Symbol.iterator in train)) return goodsRowSampleCounts(train, catalog, options.maxHistory);
    let total: Float64Array | null = null;
    for (const set of train) {
      const c = goodsRowSampleCounts(set, catalog, options.maxHistory);
      if (total === null) total = c;
      else for (let j = 0; j < c.length; j++) total[j] += c[j];
    }
    return total ?? goodsRowSampleCounts({ ...emptySet(), histValues: new Int32Array(0) }, catalog, options.maxHistory);
  };
  if (options.reg === 'filter') {
    return filterGoods(catalog, goodsCounts(), options.filterTop);
  }
  if (catalog.goodsRows) return catalog;
  const counts = goodsCounts();
  if (counts.every((c) => c > 0)) return catalog;
  return filterGoods(catalog, counts, catalog.numItems);
}

function emptySet(): SampleSet {
  const z = new Int32Array(0);
  return { size: 0, labels: new Uint8Array(0), users: z, items: z, histStart: z, histLen: z, histValues: z };
}

/**
 * The validation split of {@link validationSplit} for in-memory or sharded data: { train without the held-out samples,
 * the held-out samples }. Sharded: the rule is applied within each shard (a user's longest-history samples of that
 * shard are held out), read again each time it is needed.
 */
function carveValidation(data: TrainData): { train: TrainData; valid: EvalSource } {
  if (!isSharded(data)) {
    const split = validationSplit(data);
    return { train: { ...data, train: split.train }, valid: split.test };
  }
  const kept: ShardedDataset = mapShards(data, (p) => ({ train: validationSplitSet(p.train, data.numUsers).train, test: p.test }));
  const valid = function* (): Generator<SampleSet> {
    for (let k = 0; k < data.shards.length; k++) {
      if (data.shards[k].train === 0) continue;
      const held = validationSplitSet(data.readShard(k).train, data.numUsers).test;
      if (held.size > 0) yield held;
    }
  };
  return { train: kept, valid };
}

/** Train a model, evaluate it on the test split, and (with `out`) save checkpoint + metrics.json. */
export function runTraining(spec: RunSpec): { model: Model; metrics: RunMetrics; trained: TrainedModel } {
  const { data, config, options, backend } = spec;
  let warm: WarmStartReport | undefined;
  const build = (train: TrainData) => {
    const catalog = modelCatalog(data.catalog, trainSource(train), options);
    const model = createModel(config, { backend, catalog, seed: options.seed, sampleFields: data.sampleFields });
    let optimizer: OptimizerInit | undefined;
    if (spec.initFrom) {
      const w = warmStart(model, catalog, data.sampleFields, spec.initFrom.dir, spec.initFrom.optimizer, options.optimizer === 'adam' ? 2 : 0);
      warm = w.report;
      optimizer = w.optimizer;
      const t = Object.entries(w.report.tables).map(([n, c]) => `${n} ${c.kept} kept / ${c.fresh} new`).join(', ');
      spec.log?.(`warm start from ${spec.initFrom.dir} (optimizer ${spec.initFrom.optimizer}): ${t}`);
    }
    return { catalog, model, optimizer };
  };
  const evaluatedOn = data.buildOptions.split === 'validation' ? 'validation' : 'test';
  let trainData = data;
  let valid: EvalSource | undefined;
  if (options.patience > 0) {
    if (evaluatedOn === 'validation') {
      throw new Error('early stopping carves its own validation split: use either patience or a validation-split evaluation, not both');
    }
    ({ train: trainData, valid } = carveValidation(data));
  }
  const refitting = valid !== undefined && options.refit;
  // Resumable checkpoints and resuming (./resume.ts).
  if ((spec.checkpoints || spec.resume) && !spec.out) throw new Error('resumable checkpoints need an output directory (--out)');
  const fingerprint = spec.checkpoints || spec.resume ? dataFingerprint(data) : '';
  const hookFor = (phase: TrainerState['phase'], extra?: Partial<TrainerState>): CheckpointHook | undefined => {
    const c = spec.checkpoints;
    if (!c) return undefined;
    return {
      phase, data: fingerprint, extra,
      ...(c.everySteps ? { everySteps: c.everySteps } : {}),
      ...(c.everyMinutes ? { everyMs: c.everyMinutes * 60_000 } : {}),
      write: (ck) => {
        writeTrainerCheckpoint(spec.out!, ck, c.keep ?? 2);
      },
    };
  };
  let resumeFrom = spec.resume ? readLatestCheckpoint(spec.out!) : null;
  if (spec.resume && resumeFrom === null) throw new Error(`${spec.out}: no checkpoint to resume from (nothing in ${checkpointsDir(spec.out!)})`);
  if (resumeFrom) {
    const ph = resumeFrom.state.phase;
    const want = refitting ? ['select', 'refit'] : ['train'];
    if (!want.includes(ph)) throw new Error(`${spec.out}: its checkpoint is of a "${ph}" phase; this run's options have ${want.join(' and ')} (resume with the run's own options)`);
    if (resumeFrom.state.data !== fingerprint) throw new Error(`${spec.out}: its checkpoint was written on other training data (the data or its options changed)`);
    spec.log?.(`resuming ${spec.out}: ${ph} phase, epoch ${resumeFrom.state.epoch + 1}, step ${resumeFrom.state.step}`);
  }
  const hooks = { log: spec.log, progress: spec.progress, label: spec.label, evalName: evaluatedOn };
  let built = build(trainData);
  let model = built.model;
  let result: TrainResult;
  let selection: RunMetrics['selection'];
  if (resumeFrom?.state.phase === 'refit') {
    selection = resumeFrom.state.selection;
    if (!selection) throw new Error(`${spec.out}: its refit checkpoint does not record the selection phase`);
    valid = undefined;
  } else {
    result = trainModel(model, trainData, options, {
      ...hooks, valid, checkpoint: hookFor(refitting ? 'select' : 'train'), ...(resumeFrom ? { resume: resumeFrom } : {}),
      ...(built.optimizer ? { initialOptimizer: built.optimizer } : {}),
    });
    resumeFrom = null;
    if (refitting) selection = { history: result.history, bestEpoch: result.bestEpoch, stoppedEarly: result.stoppedEarly, seconds: result.seconds };
  }
  if (refitting) {
    // The held-out samples are each user's most recent training events — the most informative ones for the next
    // event — so after choosing the epoch count on them, train again from scratch on all training data for that many.
    spec.log?.(`refit: training again on all ${trainSize(data)} training samples for ${selection!.bestEpoch} epoch(s)`);
    built = build(data);
    model = built.model;
    result = trainModel(model, data, { ...options, epochs: selection!.bestEpoch, patience: 0 }, {
      ...hooks, label: `${config.model} refit`, checkpoint: hookFor('refit', { selection }), ...(resumeFrom ? { resume: resumeFrom } : {}),
      ...(built.optimizer ? { initialOptimizer: built.optimizer } : {}),
    });
    valid = undefined;
  }
  result = result!;
  const kept = result.history[result.bestEpoch - 1];
  const test = kept?.test ?? evaluateSource(model, testSource(data), { batchSize: options.evalBatchSize, maxHistory: options.maxHistory });
  const metrics: RunMetrics = {
    model: config.model,
    dataset: data.name,
    backend: backend.name,
    evaluatedOn,
    test,
    train: {
      samples: result.trainSamples,
      validationSamples: valid === undefined ? 0 : result.validSamples,
      seconds: result.seconds + (selection?.seconds ?? 0),
      samplesPerSecond: result.samplesPerSecond,
      epochs: options.epochs,
    },
    history: result.history,
    bestEpoch: selection?.bestEpoch ?? result.bestEpoch,
    stoppedEarly: selection?.stoppedEarly ?? result.stoppedEarly,
    ...(selection ? { selection } : {}),
    regularization: {
      ...result.regularization,
      ...(options.reg === 'filter' ? { filter: { top: options.filterTop, goodsRows: built.catalog.numGoodsRows! } } : {}),
    },
    skipped: data.skipped,
    ...(data.skippedExamples?.length ? { skippedExamples: data.skippedExamples } : {}),
    config,
    options,
    ...(warm ? { warmStart: warm } : {}),
  };
  const trained = new TrainedModel({
    model,
    catalog: built.catalog,
    sampleFields: data.sampleFields,
    trainOptions: { ...options },
    dataset: { name: data.name, format: data.format, path: spec.dataPath, buildOptions: data.buildOptions, skipped: data.skipped },
    metrics,
  });
  if (spec.out) trained.save(spec.out);
  return { model, metrics, trained };
}
