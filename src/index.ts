/**
 * `din`: the Deep Interest Network (Zhou et al., KDD 2018) and the models it was compared with, for Node — load
 * behaviour logs, train, evaluate with GAUC, save, rank candidates online and export.
 *
 * ```ts
 * import { loadDataset, train, RankingEngine } from 'din';
 * const data = await loadDataset({ path: 'synthetic:small' });
 * const din = await train(data, { model: 'din', epochs: 1 });
 * const engine = RankingEngine.fromTrained(din);
 * ```
 *
 * Importing the package turns on V8's relaxed-SIMD flag (Node 20 has it behind a flag) so the kernels can use fused
 * multiply-add; `DIN_WASM_RELAXED=0` opts out and the plain SIMD build is used.
 *
 * @packageDocumentation
 */
import { enableRelaxedSimd } from './kernels/relaxed-flag.js';
import { TrainedModel } from './train/trained-model.js';
import type { Backend } from './kernels/backend.js';
import type { BackendKind } from './kernels/backends.js';

enableRelaxedSimd();

// ── Data: every source, shards, downloads ────────────────────────────────────────────────────────────────────────
export type { Batch, Dataset, ItemCatalog, SampleSet } from './core/types.js';
export type { CategoricalField, ItemField, SampleField, SampleFieldGroup } from './core/fields.js';
export {
  DATASET_FORMATS, VOCAB_FORMATS, detectFormat, loadDataset, loadDatasetWithInfo, resolveDataPath, type DatasetFormat, type LoadOptions,
  type LoadResult,
} from './data/load.js';
export type { VocabOptions } from './data/field-vocab.js';
export type { RowErrorPolicy } from './data/sources/row-errors.js';
export { generateSynthetic, syntheticOptions, SYNTHETIC_PRESETS, type SyntheticOptions, type SyntheticPreset } from './data/sources/synthetic.js';
export { loadAmazonSeq, type AmazonSeqOptions } from './data/sources/amazon-seq.js';
export { loadAmazonRaw, loadAmazonRawAsync, type AmazonRawOptions } from './data/sources/amazon-raw.js';
export { loadDinRemapped, type DinRemappedOptions } from './data/sources/din-remapped.js';
export { loadMovieLens, type MovieLensOptions } from './data/sources/movielens.js';
export { loadTaobao, type TaobaoOptions, type TaobaoLayout } from './data/sources/taobao/index.js';
export {
  convertSchemaToShards, loadSchemaDataset, readSchema, type DataFileFormat, type DataSchema, type SchemaConvertOptions, type SchemaDataFile,
  type SchemaLoadOptions, type SchemaSplit, type SchemaSpec, type SchemaVocabOptions,
} from './data/sources/schema/index.js';
export {
  isShardDir, isSharded, openShards, writeShardedDataset, type DatasetHead, type ShardedDataset, type ShardInfo, type ShardManifest,
  type ShardPair,
} from './data/shards.js';
export { validationSplit } from './data/split.js';
export { Batcher, type BatcherOptions } from './data/batcher.js';
export {
  DATASETS, defaultDataRoot, fetchDataset, type DatasetEntry, type DownloadProgress, type FetchOptions, type FetchResult, type FetchedFile, type RemoteFile,
} from './data/fetch.js';

// ── Models and the numeric backend ───────────────────────────────────────────────────────────────────────────────
export { createModel } from './models/index.js';
export {
  DEFAULT_MODEL_CONFIG, DEFAULT_WIDE_BUCKETS, MODEL_KINDS, type Activation, type AttentionActivation, type AttentionWeights, type Mode, type Model, type ModelConfig,
  type ModelContext, type ModelKind,
} from './models/model.js';
export type { Backend, Float } from './kernels/backend.js';
export type { ExternalTable, Param, RowCounter, SparseRows } from './nn/param.js';
export type { DiceStats, EvalActivation, PreparedActivation } from './kernels/backend.js';
export type { RowInit } from './nn/embedding.js';
export type { WasmBackendOptions } from './kernels/wasm-backend.js';
export { backendInfo, createBackend, type BackendKind } from './kernels/backends.js';

// ── Training ─────────────────────────────────────────────────────────────────────────────────────────────────────
export { train, type TrainRunOptions } from './train/train.js';
export { resolveTrainSettings, TRAIN_SETTINGS_KEYS, type ResolvedTrainSettings, type TrainSettings } from './train/settings.js';
export { TrainedModel, type DatasetRecord, type PredictOptions, type TrainedModelParts } from './train/trained-model.js';
export type { RunMetrics } from './train/run.js';
export {
  DEFAULT_LAMBDA, DEFAULT_TRAIN_OPTIONS, trainModel, type CheckpointHook, type EpochRecord, type OptimizerInit, type RegularizationRecord, type TrainData, type TrainHooks, type TrainOptions,
  type TrainResult,
} from './train/trainer.js';
export { createProgress, type Progress } from './train/progress.js';
export { listCheckpoints, readLatestCheckpoint, writeTrainerCheckpoint, type TrainerCheckpoint, type TrainerState } from './train/resume.js';
export { warmStart, type WarmStartReport } from './train/warm-start.js';

// ── Tables in a row store: larger than the WASM memory, or shared by several trainer processes (Redis Cluster) ────
export type { Group, RowStore, StoreControl, StoreTable } from './store/types.js';
export { MemoryRowStore } from './store/memory-store.js';
export { runStoreTraining, type StoreRunMeta, type StoreRunSpec } from './train/store-run.js';
export { trainWithStore, type StoreRunOptions } from './train/store-trainer.js';
export { loadModelFromStore } from './train/store-model.js';
export { createOptimizer, REG_NAMES, type Optimizer, type OptimizerName, type RegName } from './optim/index.js';
export type { EvalSource } from './train/evaluator.js';

// ── Evaluation: GAUC, AUC, log loss, RelaImpr ────────────────────────────────────────────────────────────────────
export { evaluateModel, predict, type EvalResult } from './train/evaluator.js';
export { auc, evaluate, gauc, logloss, relaImpr, type GaucOptions, type GaucResult, type Numbers } from './metrics/index.js';

// ── Checkpoints ──────────────────────────────────────────────────────────────────────────────────────────────────
export { loadCheckpoint, readCheckpointInfo, saveCheckpoint, type CheckpointInfo } from './checkpoint/checkpoint.js';
export { decodeSafetensors, encodeSafetensors, type NamedTensor } from './checkpoint/safetensors.js';

/**
 * Reads a checkpoint directory (`din train --out`, or {@link TrainedModel.save}): the model, its vocabularies and,
 * when present, its metrics. Same as {@link TrainedModel.load}.
 */
export function loadModel(dir: string, opts: { backend?: Backend | BackendKind } = {}): TrainedModel {
  return TrainedModel.load(dir, opts);
}

// ── Serving ──────────────────────────────────────────────────────────────────────────────────────────────────────
export {
  RankingEngine, type EngineMeta, type EngineOptions, type EngineSchema, type FieldInfo, type ServableModel,
} from './serve/engine/engine.js';
export type { RankCandidate, RankedCandidate, RankItem, RankRequest, RankResponse } from './serve/types.js';
export { RankingServer, type ReloadResult, type ServedEngine, type ServerOptions, type EngineLoader } from './serve/server.js';
export type { RequestLimits } from './serve/request-schema.js';

// ── Export and report ────────────────────────────────────────────────────────────────────────────────────────────
export {
  exportCheckpointToOnnx, exportOnnx, ONNX_EXPORT_KINDS, type OnnxExport, type OnnxExportOptions, type OnnxIoSpec,
} from './export/onnx.js';
export { renderReport } from './report/report.js';
export type { ReportOptions } from './report/build.js';
