/**
 * A trained model together with everything that gives its ids meaning: the item catalog it was built with (raw goods
 * keys, categories, item fields, the goods filter), the user-profile and context vocabularies, and the options of the
 * run. This is what a checkpoint directory holds; {@link TrainedModel.save} writes one, {@link TrainedModel.load}
 * reads one back, bit for bit.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { catalogToJson, loadCheckpoint, saveCheckpoint, type CheckpointInfo } from '../checkpoint/checkpoint.js';
import type { SampleField } from '../core/fields.js';
import type { Dataset, ItemCatalog, SampleSet } from '../core/types.js';
import type { Backend } from '../kernels/backend.js';
import { createBackend, type BackendKind } from '../kernels/backends.js';
import type { Model, ModelConfig } from '../models/model.js';
import { writeJsonAtomic } from '../util/fs.js';
import { sigmoid } from '../util/math.js';
import { evaluateModel, predict, type EvalResult } from './evaluator.js';
import type { RunMetrics } from './run.js';
import { DEFAULT_TRAIN_OPTIONS } from './trainer.js';

/** Where a model's training data came from and how it was built (a checkpoint's `dataset`). */
export type DatasetRecord = CheckpointInfo['dataset'];

/** The parts of a {@link TrainedModel}. */
export interface TrainedModelParts {
  /** The trained network. */
  model: Model;
  /** The item catalog the model was built with (the model's own: after the goods filter / OOV row, if any). */
  catalog: ItemCatalog;
  /** User-profile and context fields with their vocabularies (absent: none). */
  sampleFields?: readonly SampleField[];
  /** The run's training options (maxHistory among them). */
  trainOptions: Record<string, unknown>;
  /** Where the training data came from and how it was built. */
  dataset: DatasetRecord;
  /** What training measured (absent: unknown, e.g. a checkpoint without metrics.json). */
  metrics?: RunMetrics;
  /** ISO time the checkpoint was written (absent: not saved yet). */
  createdAt?: string;
}

/** Options of {@link TrainedModel.predict} and {@link TrainedModel.evaluate}. */
export interface PredictOptions {
  /** Samples per forward pass (default 1024). */
  batchSize?: number;
}

/**
 * A trained CTR model with its vocabularies: what `train()` returns, what a checkpoint directory holds, and what
 * `RankingEngine.fromTrained` serves.
 */
export class TrainedModel {
  /** The network: its weights, buffers (Dice moving averages) and forward pass. */
  readonly model: Model;
  /** The item catalog the model was built with: dense item ids ↔ raw keys, categories, item fields, goods filter. */
  readonly catalog: ItemCatalog;
  /** User-profile and context fields with their vocabularies (empty when the data has none). */
  readonly sampleFields: readonly SampleField[];
  /** The training options of the run (learning rate, epochs, maxHistory, regularizer …). */
  readonly trainOptions: Record<string, unknown>;
  /** Where the training data came from and how it was built. */
  readonly dataset: DatasetRecord;
  /** What training measured (test metrics, per-epoch history, speed); absent when the checkpoint has no metrics.json. */
  readonly metrics?: RunMetrics;
  /** When the checkpoint was written (absent for a model not yet saved). */
  readonly createdAt?: string;

  /** Wraps the parts of a trained model (usually made by `train()` or {@link TrainedModel.load}). */
  constructor(parts: TrainedModelParts) {
    this.model = parts.model;
    this.catalog = parts.catalog;
    this.sampleFields = parts.sampleFields ?? [];
    this.trainOptions = parts.trainOptions;
    this.dataset = parts.dataset;
    this.metrics = parts.metrics;
    this.createdAt = parts.createdAt;
  }

  /** The model's architecture (kind, widths, activations, attention). */
  get config(): ModelConfig {
    return this.model.config;
  }

  /** Behaviours the model sees per sample: the most recent `maxHistory` (the training setting). */
  get maxHistory(): number {
    const mh = Number(this.trainOptions.maxHistory);
    return Number.isFinite(mh) && mh > 0 ? Math.floor(mh) : DEFAULT_TRAIN_OPTIONS.maxHistory;
  }

  /** The source format of the training data (decides how serving maps unknown goods ids). */
  get datasetFormat(): string {
    return this.dataset.format;
  }

  /**
   * Click probabilities (sigmoid of the logits) of every sample of a set, in sample order, in eval mode (Dice uses its
   * moving averages). The set's ids must come from the same vocabularies as the training data.
   */
  predict(set: SampleSet, opts: PredictOptions = {}): Float64Array {
    const logits = predict(this.model, set, { batchSize: opts.batchSize ?? 1024, maxHistory: this.maxHistory });
    for (let i = 0; i < logits.length; i++) logits[i] = sigmoid(logits[i]);
    return logits;
  }

  /** GAUC, AUC and log loss on a sample set, or on a dataset's test split. */
  evaluate(data: SampleSet | Dataset, opts: PredictOptions = {}): EvalResult {
    const set = 'test' in data ? data.test : data;
    return evaluateModel(this.model, set, { batchSize: opts.batchSize ?? 1024, maxHistory: this.maxHistory });
  }

  /**
   * Writes a checkpoint directory: `weights.safetensors` (plain safetensors), `model.json` (config, vocabularies, Dice
   * moving averages) and, when the model has them, `metrics.json`. Each file is written atomically.
   */
  save(dir: string): void {
    const m = this.metrics;
    saveCheckpoint(dir, this.model, {
      train: { ...this.trainOptions },
      dataset: this.dataset,
      catalog: catalogToJson(this.catalog),
      ...(this.sampleFields.length ? { sampleFields: this.sampleFields.map((f) => ({ ...f })) } : {}),
      ...(m ? { metrics: { test: m.test, train: m.train } } : {}),
    });
    if (m) writeJsonAtomic(join(dir, 'metrics.json'), m);
  }

  /**
   * Reads a checkpoint directory written by {@link TrainedModel.save} or `din train --out`. Predictions of the loaded
   * model equal the saved one's bit for bit on the same backend. Errors name the file and what is wrong.
   */
  static load(dir: string, opts: { backend?: Backend | BackendKind } = {}): TrainedModel {
    const backend = typeof opts.backend === 'object' ? opts.backend : createBackend(opts.backend ?? 'auto');
    const { model, info, catalog } = loadCheckpoint(dir, backend);
    const metricsPath = join(dir, 'metrics.json');
    let metrics: RunMetrics | undefined;
    if (existsSync(metricsPath)) {
      try {
        metrics = JSON.parse(readFileSync(metricsPath, 'utf8')) as RunMetrics;
      } catch (e) {
        throw new Error(`${metricsPath}: not valid JSON (${(e as Error).message})`);
      }
    }
    return new TrainedModel({
      model, catalog, sampleFields: info.sampleFields, trainOptions: info.train, dataset: info.dataset, metrics, createdAt: info.createdAt,
    });
  }
}
