import { Batcher } from '../data/batcher.js';
import type { Batch, Dataset, SampleSet } from '../core/types.js';
import type { Float } from '../kernels/backend.js';
import type { Model } from '../models/model.js';
import { sigmoidLogLoss } from '../nn/loss.js';
import { clipGradNorm, createOptimizer, createRegularizer, learningRate, type Optimizer, type OptimizerName, type RegName, type Regularizer } from '../optim/index.js';
import { BehaviourDropout } from '../data/id-dropout.js';
import { Rng } from '../util/rng.js';
import { evaluateSource, type EvalResult, type EvalSource } from './evaluator.js';
import { concatSets, isSharded, testParts, trainParts, type ShardedDataset } from '../data/shards.js';
import { createProgress, type Progress } from './progress.js';
import { DataParallel } from './data-parallel.js';
import type { NamedTensor } from '../checkpoint/safetensors.js';
import { modelTensors, restoreModelTensors, TRAIN_STATE_FORMAT, TRAIN_STATE_VERSION, type TrainerCheckpoint, type TrainerState } from './resume.js';

/** Options of {@link trainModel}; {@link DEFAULT_TRAIN_OPTIONS} has a value for each required one. */
export interface TrainOptions {
  /** Epochs to train (at most: early stopping can end sooner). */
  epochs: number;
  /** Samples per training step; the loss is their mean. */
  batchSize: number;
  /** `adam` or `sgd`. */
  optimizer: OptimizerName;
  /** Learning rate of the first epoch (Adam: 0.001 by default; the paper's SGD setting is 1.0). */
  lr: number;
  /** Learning rate of epoch e is lr · lrDecay^e. */
  lrDecay: number;
  /** Global gradient-norm clipping (0 = off). */
  clipNorm: number;
  /** Histories are truncated to the most recent maxHistory behaviours. */
  maxHistory: number;
  /**
   * Seed of the batch order, the shard order and the behaviour dropout. The model is already initialized here (from
   * `ModelContext.seed`; `train()` and `runTraining` pass this same value).
   */
  seed: number;
  /** Samples per forward pass when evaluating; eval mode does not depend on the batch, so only speed and memory do. */
  evalBatchSize: number;
  /**
   * Early stopping: stop after this many epochs without a better validation GAUC and keep the best epoch's weights
   * (0 = off: train all epochs, keep the last). Needs a validation set (carved from training data, never the test).
   */
  patience: number;
  /** With patience: after choosing the epoch count on the validation split, retrain on all training data for it. */
  refit: boolean;
  /**
   * Regularizer (see src/optim/regularizer.ts): none | l2 | difacto | mba | dropout | filter. `filter` changes the
   * model's goods vocabulary, so it is applied where the model is built (`train()`, `runTraining`), not here.
   */
  reg: RegName;
  /** λ of mba / difacto / l2 (default {@link DEFAULT_LAMBDA} of the chosen reg). */
  lambda?: number;
  /** Plain L2 on the dense weights (any reg); 0 = off. */
  denseL2: number;
  /** reg dropout: fraction of each training sample's behaviour ids dropped. */
  dropoutRate: number;
  /** reg filter: keep the K most frequent goods ids of the training data (0 = no goods-id feature at all). */
  filterTop: number;
  /**
   * Sharded data: shards read and shuffled together (memory: this many shards' samples). More mixes batches across
   * more of the data; 1 trains shard after shard.
   */
  shardWindow: number;
  /**
   * Threads that train together (./data-parallel.ts): each batch is cut into this many slices trained by replicas
   * of the model in worker threads, then their gradients are summed. 1 = this thread only. Results depend on it only
   * through the order of additions (and Dice's statistics, summed over the slices).
   */
  threads?: number;
}

/**
 * Default λ per penalty regularizer (coefficient added to the mean-loss gradient). mba and difacto: chosen on the Amazon
 * Beauty validation split from the grids {3, 10, 30, 100} and {1e-4, 1e-3, 1e-2} (README, "Regularization"). MBA's
 * penalty per epoch is ≈ λ·w for a row whatever its frequency or the data size (a row with n_j samples is in ≈ n_j
 * batches, each adding λ/n_j·w), so its scale carries over between datasets. l2: not searched (each full-L2 run is
 * several times slower); 1e-4 is a conventional weight decay.
 */
export const DEFAULT_LAMBDA: Record<'mba' | 'difacto' | 'l2', number> = { mba: 30, difacto: 1e-4, l2: 1e-4 };
export const DEFAULT_DROPOUT_RATE = 0.5;
/** reg filter's K: chosen on the Beauty validation split from {1000, 4000}; an absolute count, so set it for your data. */
export const DEFAULT_FILTER_TOP = 4000;

export function defaultLambda(reg: RegName): number {
  return reg === 'mba' || reg === 'difacto' || reg === 'l2' ? DEFAULT_LAMBDA[reg] : 0;
}

/** Default learning rate per optimizer (SGD at 1.0 is the paper's and original code's setting). */
export const DEFAULT_LR = { adam: 0.001, sgd: 1.0 } as const;

/**
 * Logistic regression has only 1-wide weights starting at 0: at Adam's 0.001 it is still underfit when validation
 * stops it, so it gets 0.01 (chosen on the Beauty validation split, never the test split).
 */
export const DEFAULT_LR_LINEAR_ADAM = 0.01;

export function defaultLearningRate(optimizer: 'adam' | 'sgd', model: string): number {
  return optimizer === 'adam' && model === 'lr' ? DEFAULT_LR_LINEAR_ADAM : DEFAULT_LR[optimizer];
}

/**
 * Defaults of {@link TrainOptions}: 3 epochs of Adam at lr 0.001 with batches of 32, gradient clipping at 5, the 50
 * most recent behaviours, no regularizer, no early stopping, one thread.
 */
export const DEFAULT_TRAIN_OPTIONS: TrainOptions = {
  epochs: 3,
  batchSize: 32,
  optimizer: 'adam',
  lr: 0.001,
  lrDecay: 1,
  clipNorm: 5,
  maxHistory: 50,
  seed: 1,
  evalBatchSize: 1024,
  patience: 0,
  refit: false,
  reg: 'none',
  denseL2: 0,
  dropoutRate: DEFAULT_DROPOUT_RATE,
  filterTop: DEFAULT_FILTER_TOP,
  shardWindow: 2,
};

/** One epoch of training: an entry of {@link TrainResult.history} and of metrics.json's `history`. */
export interface EpochRecord {
  /** Epoch number, 1-based. */
  epoch: number;
  /** Learning rate of the epoch (lr · lrDecay^(epoch − 1)). */
  lr: number;
  /**
   * Mean log loss of the epoch's training batches, each taken as it was trained on (so weights changing during the
   * epoch, and after behaviour dropout when that is the regularizer).
   */
  trainLoss: number;
  /** Wall-clock seconds of the epoch's training steps (evaluation not included). */
  seconds: number;
  /** Training samples per second over the epoch. */
  samplesPerSecond: number;
  /** Validation metrics after this epoch (early stopping monitors valid.gauc). */
  valid?: EvalResult;
  /** Test metrics after this epoch: reported, never used to pick a model or stop early. */
  test?: EvalResult;
  /** Training with a row store: seconds of the epoch's steps spent reading rows, computing, exchanging, updating, writing. */
  stepTimes?: {
    /** Reading the steps' rows from the store. */
    read: number;
    /** Forward, backward and (one trainer) the update. */
    compute: number;
    /** Exchanges with the other trainers, waiting included. */
    exchange: number;
    /** Owners updating the rows they own (reads of others' rows, sums, regularizer, optimizer). */
    update: number;
    /** Writing updated rows (one trainer: only what the next step's reads do not hide). */
    write: number;
  };
}

/** What {@link trainModel} returns. */
export interface TrainResult {
  /** One record per epoch trained, in order. */
  history: EpochRecord[];
  /** The epoch whose weights the model holds at the end (the last one unless early stopping picked another). */
  bestEpoch: number;
  /** Whether early stopping ended training before `epochs`. */
  stoppedEarly: boolean;
  /** Training time over all epochs, in seconds (evaluation not included). */
  seconds: number;
  /** Training samples per second over all epochs. */
  samplesPerSecond: number;
  /** Training samples per epoch. */
  trainSamples: number;
  /** Validation samples evaluated per epoch (0 without a validation set). */
  validSamples: number;
  /** What the regularizer did (dropout: behaviours seen/dropped over all epochs). */
  regularization: RegularizationRecord;
}

/** The regularizer of a run and what it did (metrics.json's `regularization`). */
export interface RegularizationRecord {
  /** The regularizer used. */
  reg: RegName;
  /** λ applied (mba, difacto, l2 only): the option's, or {@link DEFAULT_LAMBDA} of the regularizer. */
  lambda?: number;
  /** Plain L2 coefficient of the dense weights; present only when > 0. */
  denseL2?: number;
  /** reg dropout only: behaviour ids seen and dropped over all epochs. */
  dropout?: {
    /** Fraction of each sample's behaviours dropped (the `dropoutRate` option). */
    rate: number;
    /** Behaviour ids in the training batches, summed over all epochs. */
    behaviours: number;
    /** Of those, how many were dropped. */
    dropped: number;
  };
  /** reg filter only (set by the run that built the model's catalog): the goods filter's size. */
  filter?: {
    /** K: goods ids kept (the `filterTop` option). */
    top: number;
    /** Rows of the filtered goods tables: the goods kept (at most K) plus the shared row of all others. */
    goodsRows: number;
  };
}

/** Callbacks and extra inputs of {@link trainModel}; all optional. */
export interface TrainHooks {
  /** Progress display of each epoch (default: none). */
  progress?: Progress;
  /** Receives one line per epoch (loss, speed, metrics) and notes such as an early stop (default: discarded). */
  log?: (line: string) => void;
  /** Evaluate on the test split after every epoch (for the learning curve in metrics.json). Default true. */
  evalEachEpoch?: boolean;
  /** Prefix of progress and log lines, e.g. "din seed 2" (default: the model kind). */
  label?: string;
  /** Name of the evaluated split in log lines ("test" or "validation"). */
  evalName?: string;
  /** Validation set monitored for early stopping (opts.patience > 0); parts read one at a time for sharded data. */
  valid?: EvalSource;
  /**
   * Resumable checkpoints (./resume.ts): `write` receives one at every epoch end and every `everySteps` steps or
   * `everyMs` milliseconds of training, whichever comes first.
   */
  checkpoint?: CheckpointHook;
  /** Continue from this checkpoint (written by this kind of call: same phase, model, data and options). */
  resume?: TrainerCheckpoint;
  /** Start the optimizer from this state (a warm start that keeps the optimizer; ./warm-start.ts). */
  initialOptimizer?: OptimizerInit;
}

/** A whole optimizer state: its step count and, per param name, stateSlots full-size arrays. */
export interface OptimizerInit {
  /** The optimizer's step count to continue from (Adam's bias correction; 0 for a fresh optimizer). */
  steps: number;
  /**
   * Per param name, the optimizer's `stateSlots` arrays (Adam: its two moments), each as long as the param's value;
   * copied into the optimizer's backend when training starts.
   */
  arrays: Map<string, Float32Array[]>;
}

/** How and when {@link trainModel} hands out resumable checkpoints. */
export interface CheckpointHook {
  /** Steps between checkpoints (0 or absent: none by steps). */
  everySteps?: number;
  /** Milliseconds of training between checkpoints (0 or absent: none by time). */
  everyMs?: number;
  /** The phase this call is (recorded in the checkpoint). */
  phase: TrainerState['phase'];
  /** The training data's fingerprint (recorded; a resume on other data is refused). */
  data: string;
  /** Fields added to every checkpoint's state (the refit phase records its selection). */
  extra?: Partial<TrainerState>;
  /** Writes the checkpoint (atomically). */
  write(ck: TrainerCheckpoint): void;
}

/** Training data: in memory, or shards read one at a time (./shards.ts). */
export type TrainData = Dataset | ShardedDataset;

export function trainSize(d: TrainData): number {
  return isSharded(d) ? d.trainSize : d.train.size;
}

/** The training samples as the regularizer and catalog counts see them: one set, or every shard's part in turn. */
export function trainSource(d: TrainData): SampleSet | Iterable<SampleSet> {
  return isSharded(d) ? { [Symbol.iterator]: () => trainParts(d) } : d.train;
}

export function testSource(d: TrainData): EvalSource {
  return isSharded(d) ? () => testParts(d) : d.test;
}

/**
 * Per-shard shuffle seed: the run's seed mixed with the shard index (the batcher mixes in the epoch), so every shard
 * and epoch has its own order. Shard 0 keeps the run's seed: one shard trains exactly like the in-memory set.
 */
function shardSeed(seed: number, k: number): number {
  return (seed ^ Math.imul(k, 0x85ebca6b)) >>> 0;
}

/**
 * The batches of one epoch. In memory: one Batcher over the training set. Sharded: the shards in a seeded random
 * order (a new one each epoch), taken `shardWindow` at a time; each window's samples are shuffled together. Memory:
 * one window of shards.
 */
export function* epochBatches(data: TrainData, single: Batcher | null, opts: TrainOptions, epoch: number): Generator<Batch> {
  if (single !== null) {
    yield* single.epoch(epoch);
    return;
  }
  const sd = data as ShardedDataset;
  const order = Array.from({ length: sd.shards.length }, (_, k) => k).filter((k) => sd.shards[k].train > 0);
  new Rng((opts.seed ^ Math.imul(epoch + 1, 0x27d4eb2f)) >>> 0).shuffle(order);
  const W = Math.max(1, Math.floor(opts.shardWindow));
  for (let j = 0; j < order.length; j += W) {
    const ks = order.slice(j, j + W);
    const set = concatSets(ks.map((k) => sd.readShard(k).train));
    yield* new Batcher(set, { batchSize: opts.batchSize, maxHistory: opts.maxHistory, shuffle: true, seed: shardSeed(opts.seed, ks[0]) }).epoch(epoch);
  }
}

/**
 * One optimization step on a batch; returns the batch's mean log loss. dLogits is scratch of ≥ batch.size. The
 * regularizer's penalty is added after clipping (clipping guards against exploding data gradients, not the penalty).
 */
export function trainStep(model: Model, batch: Batch, optimizer: Optimizer, lr: number, clipNorm: number, dLogits: Float,
  reg?: Regularizer): number {
  model.zeroGrad();
  const logits = model.forward(batch, 'train');
  const loss = sigmoidLogLoss(logits, batch.labels, batch.size, dLogits);
  if (!Number.isFinite(loss)) return loss;
  model.backward(dLogits.subarray(0, batch.size));
  const params = model.params();
  if (clipNorm > 0) clipGradNorm(params, clipNorm, model.backend);
  reg?.apply();
  optimizer.step(params, lr);
  return loss;
}

/**
 * Trains `model` in place on the training split of `data` for up to `opts.epochs` epochs. After each epoch it evaluates
 * the test split (unless `hooks.evalEachEpoch` is false) and `hooks.valid` when given; with `opts.patience` > 0 it
 * stops early on the validation GAUC and keeps the best epoch's weights. The model must have been built on the catalog
 * the data's ids refer to; the `filter` regularizer is applied where that catalog is made, not here. Throws when
 * `opts.patience` > 0 without `hooks.valid`, and when the loss stops being finite (training diverged).
 */
export function trainModel(model: Model, data: TrainData, opts: TrainOptions, hooks: TrainHooks = {}): TrainResult {
  const log = hooks.log ?? (() => {});
  if (opts.patience > 0 && !hooks.valid) throw new Error('early stopping (patience > 0) needs a validation set');
  const optimizer = createOptimizer(opts.optimizer, model.backend);
  const batcher = isSharded(data) ? null : new Batcher(data.train, {
    batchSize: opts.batchSize,
    maxHistory: opts.maxHistory,
    shuffle: true,
    seed: opts.seed,
  });
  const nTrain = trainSize(data);
  const test = testSource(data);
  const dLogits = model.backend.alloc(opts.batchSize);
  const lambda = opts.lambda ?? defaultLambda(opts.reg);
  const reg = createRegularizer({ reg: opts.reg, lambda, denseL2: opts.denseL2 }, model.params(), trainSource(data), opts.maxHistory);
  const dropout = opts.reg === 'dropout' ? new BehaviourDropout(opts.dropoutRate, new Rng(opts.seed).fork(7)) : null;
  let threads = opts.threads ?? 1;
  if (threads > 1 && opts.reg === 'l2') {
    // Full L2 updates every row of every table each step on purpose (the baseline MBA is measured against): its
    // rows cannot be split between replicas by batch, so it trains on this thread alone.
    log(`--reg l2 trains on one thread (it updates every table row each step); ignoring --threads ${threads}`);
    threads = 1;
  }
  const resume = hooks.resume;
  if (resume) {
    const where = 'the checkpoint to resume';
    if (hooks.checkpoint && resume.state.data !== hooks.checkpoint.data) {
      throw new Error(`${where} was written on other training data (fingerprint ${resume.state.data}, this data ${hooks.checkpoint.data})`);
    }
    restoreModelTensors(model, resume.tensors, where);
    if (dropout && resume.state.dropout) {
      dropout.restore(resume.state.dropout.state, resume.state.dropout.seen, resume.state.dropout.dropped);
    }
  }
  const dp = threads > 1 ? DataParallel.create(model, threads, optimizer, reg.spec, opts.clipNorm) : null;
  if (dp) log(`training on ${threads} threads (data-parallel: each batch is split over ${threads} replicas)`);
  try {
    const init: OptimizerInit | undefined = resume
      ? { steps: resume.state.optimizerSteps, arrays: optimizerArraysOf(model, resume.tensors, optimizer.stateSlots, 'the checkpoint to resume') }
      : hooks.initialOptimizer;
    if (init) {
      const arrays = init.arrays;
      if (dp) {
        dp.setOptimizerState(init.steps, arrays);
      } else {
        optimizer.steps = init.steps;
        if (optimizer.stateSlots > 0) {
          for (const p of model.params()) {
            optimizer.bindState(p, arrays.get(p.name)!.map((a) => {
              const x = model.backend.alloc(a.length);
              x.set(a);
              return x;
            }));
          }
        }
      }
    }
    return trainLoop(model, data, opts, hooks, { optimizer, batcher, nTrain, test, dLogits, lambda, reg, dropout, dp });
  } finally {
    dp?.close();
  }
}

/** Optimizer state arrays of every param from checkpoint tensors `optimizer.<k>.<name>` (zeros where absent). */
function optimizerArraysOf(model: Model, tensors: Record<string, NamedTensor>, slots: number, where: string): Map<string, Float32Array[]> {
  const out = new Map<string, Float32Array[]>();
  for (const p of model.params()) {
    out.set(p.name, Array.from({ length: slots }, (_, k) => {
      const t = tensors[`optimizer.${k}.${p.name}`];
      if (!t) throw new Error(`${where}: no optimizer state "optimizer.${k}.${p.name}" (written with another optimizer?)`);
      if (t.data.length !== p.value.length) throw new Error(`${where}: optimizer state of "${p.name}" has ${t.data.length} values, the model ${p.value.length}`);
      return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
    }));
  }
  return out;
}

interface LoopState {
  optimizer: ReturnType<typeof createOptimizer>;
  batcher: Batcher | null;
  nTrain: number;
  test: EvalSource;
  dLogits: Float;
  lambda: number;
  reg: Regularizer;
  dropout: BehaviourDropout | null;
  dp: DataParallel | null;
}

function trainLoop(model: Model, data: TrainData, opts: TrainOptions, hooks: TrainHooks, st: LoopState): TrainResult {
  const { optimizer, batcher, nTrain, test, dLogits, lambda, reg, dropout, dp } = st;
  const log = hooks.log ?? (() => {});
  const progress = hooks.progress ?? createProgress({ quiet: true });
  const evalEachEpoch = hooks.evalEachEpoch ?? true;
  const { valid } = hooks;
  const evalOpts = { batchSize: opts.evalBatchSize, maxHistory: opts.maxHistory };
  const r0 = hooks.resume?.state;
  const history: EpochRecord[] = r0 ? [...r0.history] : [];
  // Seconds of the finished epochs; a resumed epoch adds what it had run before the checkpoint.
  let trainSeconds = history.reduce((a, h) => a + h.seconds, 0);
  let best: { epoch: number; gauc: number } | null = r0?.best ?? null;
  let bestSnapshot: Snapshot | undefined;
  if (r0?.best && hooks.resume) {
    bestSnapshot = snapshot(model);
    const probe = snapshot(model);
    restoreModelTensors(model, hooks.resume.tensors, 'the checkpoint to resume', 'best.');
    bestSnapshot = snapshot(model, bestSnapshot);
    restore(model, probe);
  }
  let stoppedEarly = r0?.stoppedEarly ?? false;
  let globalStep = r0?.globalStep ?? 0;
  const ck = hooks.checkpoint;
  let lastCheckpoint = performance.now();
  const writeCheckpoint = (epoch: number, step: number, lossSum: number, seen: number, secondsSoFar: number): void => {
    if (!ck) return;
    const tensors = modelTensors(model);
    const state = dp ? dp.optimizerState() : null;
    for (const p of model.params()) {
      for (let k = 0; k < optimizer.stateSlots; k++) {
        const a = state ? state.arrays.get(p.name)![k] : optimizer.stateOf(p)?.[k].subarray(0, p.value.length) ?? new Float32Array(p.value.length);
        tensors[`optimizer.${k}.${p.name}`] = { shape: p.shape, data: a as Float32Array | Float64Array };
      }
    }
    if (bestSnapshot) {
      const cur = snapshot(model);
      restore(model, bestSnapshot);
      Object.assign(tensors, Object.fromEntries(Object.entries(modelTensors(model, 'best.')).map(([k, t]) => [k, { shape: t.shape, data: t.data.slice() }])));
      restore(model, cur);
    }
    const d = dropout?.state();
    ck.write({
      state: {
        format: TRAIN_STATE_FORMAT, version: TRAIN_STATE_VERSION, phase: ck.phase, epoch, step, globalStep, lossSum, seen,
        trainSeconds: secondsSoFar, history: [...history], ...(best ? { best } : {}), stoppedEarly,
        ...(d ? { dropout: d } : {}), optimizerSteps: state ? state.steps : optimizer.steps, threads: dp?.size ?? 1, data: ck.data,
        createdAt: new Date().toISOString(), ...(ck.extra ?? {}),
      },
      tensors,
    });
    lastCheckpoint = performance.now();
  };
  for (let epoch = r0?.epoch ?? 0; epoch < opts.epochs && !stoppedEarly; epoch++) {
    const lr = learningRate(opts.lr, opts.lrDecay, epoch);
    const label = `${hooks.label ?? model.config.model} epoch ${epoch + 1}/${opts.epochs}`;
    progress.start(nTrain, label);
    const t0 = performance.now();
    const resuming = r0 !== undefined && epoch === r0.epoch;
    let lossSum = resuming ? r0.lossSum : 0;
    let seen = resuming ? r0.seen : 0;
    let step = 0;
    const skip = resuming ? r0.step : 0;
    const partialBefore = resuming ? Math.max(0, r0.trainSeconds - trainSeconds) : 0;
    const secondsBefore = trainSeconds + partialBefore;
    for (const batch of epochBatches(data, batcher, opts, epoch)) {
      if (step < skip) {
        step++;
        continue;
      }
      dropout?.apply(batch);
      const loss = dp ? dp.step(batch, lr) : trainStep(model, batch, optimizer, lr, opts.clipNorm, dLogits, reg);
      if (!Number.isFinite(loss)) {
        throw new Error(`training diverged at epoch ${epoch + 1}, step ${step}: loss is ${loss} (lower --lr or keep --clip-norm)`);
      }
      lossSum += loss * batch.size;
      seen += batch.size;
      globalStep++;
      if ((++step & 31) === 0) progress.update(seen, { loss: (lossSum / seen).toFixed(4) });
      if (ck && ((ck.everySteps && globalStep % ck.everySteps === 0) || (ck.everyMs && performance.now() - lastCheckpoint >= ck.everyMs))) {
        writeCheckpoint(epoch, step, lossSum, seen, secondsBefore + (performance.now() - t0) / 1000);
      }
    }
    const seconds = partialBefore + (performance.now() - t0) / 1000;
    progress.update(seen, { loss: (lossSum / seen).toFixed(4) });
    progress.stop();
    trainSeconds += seconds;
    const rec: EpochRecord = {
      epoch: epoch + 1,
      lr,
      trainLoss: lossSum / Math.max(seen, 1),
      seconds,
      samplesPerSecond: seen / seconds,
    };
    if (valid) rec.valid = evaluateSource(model, valid, evalOpts);
    if (evalEachEpoch) rec.test = evaluateSource(model, test, evalOpts);
    history.push(rec);
    const show = (name: string, r: EvalResult | undefined) =>
      r ? ` | ${name} gauc ${r.gauc.toFixed(4)} auc ${r.auc.toFixed(4)} logloss ${r.logloss.toFixed(4)}` : '';
    log(
      `${label}: loss ${rec.trainLoss.toFixed(4)} | ${Math.round(rec.samplesPerSecond)} samples/s | ${seconds.toFixed(1)}s` +
        show('validation', rec.valid) + show(hooks.evalName ?? 'test', rec.test),
    );
    if (opts.patience > 0 && rec.valid) {
      const score = monitored(rec.valid);
      if (!best || score > best.gauc) {
        best = { epoch: epoch + 1, gauc: score };
        bestSnapshot = snapshot(model, bestSnapshot);
      } else if (epoch + 1 - best.epoch >= opts.patience) {
        stoppedEarly = epoch + 1 < opts.epochs;
        if (stoppedEarly) log(`early stop: no better validation ${monitoredName(rec.valid)} for ${opts.patience} epoch(s); keeping epoch ${best.epoch}`);
        writeCheckpoint(epoch + 1, 0, 0, 0, trainSeconds);
        break;
      }
    }
    writeCheckpoint(epoch + 1, 0, 0, 0, trainSeconds);
  }
  // The replicas must still agree (they did the same updates); checked before a restore changes ours.
  dp?.verify();
  let bestEpoch = history.length;
  if (best && bestSnapshot && best.epoch !== history.length) {
    restore(model, bestSnapshot);
    bestEpoch = best.epoch;
    log(`restored the weights of epoch ${best.epoch} (best validation ${monitoredName(history[0].valid!)} ${best.gauc.toFixed(4)})`);
  }
  const trainSamples = nTrain;
  return {
    history,
    bestEpoch,
    stoppedEarly,
    seconds: trainSeconds,
    samplesPerSecond: (trainSamples * history.length) / Math.max(trainSeconds, 1e-9),
    trainSamples,
    validSamples: history[0]?.valid?.samples ?? 0,
    regularization: {
      reg: opts.reg,
      ...(opts.reg === 'mba' || opts.reg === 'difacto' || opts.reg === 'l2' ? { lambda } : {}),
      ...(opts.denseL2 > 0 ? { denseL2: opts.denseL2 } : {}),
      ...(dropout ? { dropout: { rate: dropout.rate, behaviours: dropout.seen, dropped: dropout.dropped } } : {}),
    },
  };
}

/**
 * What early stopping maximizes: validation GAUC, or AUC when no validation user has both classes (a split with one
 * sample per user). Which one applies depends only on labels and users, so it is the same in every epoch.
 */
export function monitored(r: EvalResult): number {
  return Number.isFinite(r.gauc) ? r.gauc : r.auc;
}

function monitoredName(r: EvalResult): string {
  return Number.isFinite(r.gauc) ? 'GAUC' : 'AUC';
}

/** A copy of every parameter and buffer (reusing the previous snapshot's arrays). */
interface Snapshot {
  params: Float64Array[];
  buffers: Float64Array[];
}

function snapshot(model: Model, reuse?: Snapshot): Snapshot {
  const copy = (src: ArrayLike<number>, prev?: Float64Array) => {
    const out = prev && prev.length === src.length ? prev : new Float64Array(src.length);
    out.set(src);
    return out;
  };
  return {
    params: model.params().map((p, i) => copy(p.value, reuse?.params[i])),
    buffers: Object.values(model.buffers()).map((b, i) => copy(b, reuse?.buffers[i])),
  };
}

function restore(model: Model, s: Snapshot): void {
  model.params().forEach((p, i) => p.value.set(s.params[i]));
  Object.values(model.buffers()).forEach((b, i) => b.set(s.buffers[i]));
}
