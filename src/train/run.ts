import { join } from 'node:path';
import { validationSplit } from '../data/split.js';
import type { Dataset, SampleSet } from '../data/types.js';
import type { Backend } from '../nn/backend.js';
import { createModel } from '../models/index.js';
import type { Model, ModelConfig } from '../models/model.js';
import { writeJsonAtomic } from '../util/fs.js';
import { catalogToJson, saveCheckpoint } from './checkpoint.js';
import { evaluateModel, type EvalResult } from './evaluator.js';
import type { Progress } from './progress.js';
import { trainModel, type EpochRecord, type TrainOptions } from './trainer.js';

/** The contents of DIR/metrics.json. */
export interface RunMetrics {
  model: string;
  dataset: string;
  backend: string;
  /** The split `test` was computed on: "test", or "validation" when trained with a validation split. */
  evaluatedOn: string;
  test: EvalResult;
  train: {
    samples: number;
    /** Training samples held out for early stopping (0 without it). */
    validationSamples: number;
    seconds: number;
    samplesPerSecond: number;
    epochs: number;
  };
  history: EpochRecord[];
  /** The epoch whose weights were kept (early stopping on the validation split), 1-based. */
  bestEpoch: number;
  stoppedEarly: boolean;
  skipped: Record<string, number>;
  config: ModelConfig;
  options: TrainOptions;
}

export interface RunSpec {
  data: Dataset;
  dataPath?: string;
  config: ModelConfig;
  options: TrainOptions;
  backend: Backend;
  out?: string;
  log?: (line: string) => void;
  progress?: Progress;
  label?: string;
}

/** Train a model, evaluate it on the test split, and (with `out`) save checkpoint + metrics.json. */
export function runTraining(spec: RunSpec): { model: Model; metrics: RunMetrics } {
  const { data, config, options, backend } = spec;
  const model = createModel(config, { backend, catalog: data.catalog, seed: options.seed });
  const evaluatedOn = data.buildOptions.split === 'validation' ? 'validation' : 'test';
  let trainData = data;
  let valid: SampleSet | undefined;
  if (options.patience > 0) {
    if (evaluatedOn === 'validation') {
      throw new Error('early stopping carves its own validation split: use either patience or a validation-split evaluation, not both');
    }
    const split = validationSplit(data);
    trainData = { ...data, train: split.train };
    valid = split.test;
  }
  const result = trainModel(model, trainData, options, {
    log: spec.log,
    progress: spec.progress,
    label: spec.label,
    evalName: evaluatedOn,
    valid,
  });
  const kept = result.history[result.bestEpoch - 1];
  const test = kept?.test ?? evaluateModel(model, data.test, { batchSize: options.evalBatchSize, maxHistory: options.maxHistory });
  const metrics: RunMetrics = {
    model: config.model,
    dataset: data.name,
    backend: backend.name,
    evaluatedOn,
    test,
    train: {
      samples: result.trainSamples,
      validationSamples: valid?.size ?? 0,
      seconds: result.seconds,
      samplesPerSecond: result.samplesPerSecond,
      epochs: options.epochs,
    },
    history: result.history,
    bestEpoch: result.bestEpoch,
    stoppedEarly: result.stoppedEarly,
    skipped: data.skipped,
    config,
    options,
  };
  if (spec.out) {
    saveCheckpoint(spec.out, model, {
      train: { ...options },
      dataset: {
        name: data.name,
        format: data.format,
        path: spec.dataPath,
        buildOptions: data.buildOptions,
        skipped: data.skipped,
      },
      catalog: catalogToJson(data.catalog),
      metrics: { test, train: metrics.train },
    });
    writeJsonAtomic(join(spec.out, 'metrics.json'), metrics);
  }
  return { model, metrics };
}
