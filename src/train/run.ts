import { join } from 'node:path';
import type { Dataset } from '../data/types.js';
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
    seconds: number;
    samplesPerSecond: number;
    epochs: number;
  };
  history: EpochRecord[];
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
  const result = trainModel(model, data, options, { log: spec.log, progress: spec.progress, label: spec.label, evalName: evaluatedOn });
  const last = result.history[result.history.length - 1];
  const test = last?.test ?? evaluateModel(model, data.test, { batchSize: options.evalBatchSize, maxHistory: options.maxHistory });
  const metrics: RunMetrics = {
    model: config.model,
    dataset: data.name,
    backend: backend.name,
    evaluatedOn,
    test,
    train: {
      samples: result.trainSamples,
      seconds: result.seconds,
      samplesPerSecond: result.samplesPerSecond,
      epochs: options.epochs,
    },
    history: result.history,
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
