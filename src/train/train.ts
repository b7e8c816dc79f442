/**
 * `train()`: the library's one call for what `din train` does — build the model for the data, train it (data-parallel
 * on the machine's cores by default), evaluate it on the test split, and optionally save it.
 */
import { resolve } from 'node:path';
import { loadDataset } from '../data/load.js';
import { isShardDir, openShards, type ShardedDataset } from '../data/shards.js';
import type { Dataset } from '../core/types.js';
import type { Backend } from '../kernels/backend.js';
import { createBackend, type BackendKind } from '../kernels/backends.js';
import type { Progress } from './progress.js';
import { runTraining, type RunMetrics } from './run.js';
import { resolveTrainSettings, type TrainSettings } from './settings.js';
import type { TrainedModel } from './trained-model.js';

/** How {@link train} runs (as opposed to what it trains, which {@link TrainSettings} say). */
export interface TrainRunOptions {
  /** The numeric backend, or its kind (default `auto`: the WASM SIMD kernels). */
  backend?: Backend | BackendKind;
  /** Save the trained model (checkpoint + metrics.json) into this directory. */
  out?: string;
  /** Receives one line per epoch and event; default: silent. */
  log?: (line: string) => void;
  /** A progress display (e.g. from `createProgress`); default: none. */
  progress?: Progress;
}

/**
 * Trains one model on a dataset and evaluates it on the dataset's test split — what `din train` does.
 *
 * @param data - A dataset in memory (from `loadDataset`), shards (from `openShards`), or a path that `loadDataset`
 *   reads (a data directory, a schema `.json`, `synthetic`, `synthetic:small`) or a shard directory.
 * @param settings - What to train: model, sizes, optimizer, epochs, regularizer … (every `din train` option; absent
 *   keys take its defaults). Unknown keys and bad values throw, naming the key.
 * @param options - Backend, where to save, logging.
 * @returns The trained model with its vocabularies and `metrics` (test GAUC/AUC/log loss, per-epoch history, speed).
 *
 * @example
 * ```ts
 * const din = await train('synthetic:small', { model: 'din', epochs: 1 });
 * console.log(din.metrics.test.gauc);
 * ```
 */
export async function train(
  data: Dataset | ShardedDataset | string, settings: TrainSettings = {}, options: TrainRunOptions = {},
): Promise<TrainedModel & {
  /** What this training measured: test GAUC/AUC/log loss, per-epoch history, speed (always present after `train()`). */
  readonly metrics: RunMetrics;
}> {
  const { config, options: trainOptions } = resolveTrainSettings(settings);
  let dataPath: string | undefined;
  if (typeof data === 'string') {
    dataPath = data.startsWith('synthetic') ? data : resolve(data);
    data = !data.startsWith('synthetic') && isShardDir(data) ? openShards(data) : await loadDataset({ path: dataPath });
  }
  const backend = typeof options.backend === 'object' ? options.backend : createBackend(options.backend ?? 'auto');
  const { trained } = runTraining({
    data, dataPath, config, options: trainOptions, backend, out: options.out, log: options.log, progress: options.progress,
  });
  return trained as TrainedModel & { readonly metrics: RunMetrics };
}
