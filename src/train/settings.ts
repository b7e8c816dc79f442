/**
 * Training settings as one plain object: the options of `din train`, by the same names (camelCase), for the library's
 * `train()` and for anything else that describes a run as data. {@link resolveTrainSettings} checks them (unknown keys
 * and bad values are errors naming the key) and fills in the defaults, giving the model config and training options
 * the trainer takes. The CLI parses its flags into these settings, so a flag and a setting can never mean two things.
 */
import { availableParallelism } from 'node:os';
import { Ajv, type ErrorObject } from 'ajv';
import {
  DEFAULT_MODEL_CONFIG, DEFAULT_WIDE_BUCKETS, MAX_WIDE_BUCKETS, MODEL_KINDS, type Activation, type AttentionActivation, type ModelConfig,
  type ModelKind,
} from '../models/model.js';
import { REG_NAMES, type OptimizerName, type RegName } from '../optim/index.js';
import { DEFAULT_TRAIN_OPTIONS, defaultLearningRate, type TrainOptions } from './trainer.js';

/**
 * Everything that defines a training run besides its data, each key optional (absent = the default of `din train`).
 * Names follow the paper where it names a thing (attention, Dice, MBA's λ) and `din train --help` otherwise.
 */
export interface TrainSettings {
  /** Which model: `lr`, `base` (Embedding&MLP), `wide-deep`, `pnn`, `deepfm` or `din`. Default `din`. */
  model?: ModelKind;
  /** Activation of the MLP's hidden layers: `prelu` or `dice` (the paper's data-adaptive PReLU). Default `prelu`. */
  activation?: Activation;
  /** Activation inside DIN's local activation unit: `prelu`, `dice` or `sigmoid`. Default `prelu`. */
  attentionActivation?: AttentionActivation;
  /** DIN's attention weights: `none` = raw weights as in the paper (their sum carries intensity), `softmax` = the original code. */
  attentionNorm?: 'none' | 'softmax';
  /** MLP input: `concat` = [u, q] (the paper's Fig. 2), `concat-product` = [u, q, u⊙q] (the original code). */
  mlpInput?: 'concat' | 'concat-product';
  /** BaseModel's pooling of behaviour embeddings: `sum` (default) or `avg`. */
  pooling?: 'sum' | 'avg';
  /** Width of the goods and of the category embedding, each (default 32). */
  embeddingDim?: number;
  /** Hidden widths of the MLP; an output layer of width 1 is added. Default [200, 80], as in the paper. */
  hidden?: number[];
  /** Hidden widths of DIN's local activation unit. Default [80, 40], as in the paper. */
  attentionHidden?: number[];
  /** A learned bias per candidate item added to the logit (default true, as the original code). */
  itemBias?: boolean;
  /** Wide&Deep: hash buckets of the behaviour × candidate cross features (default 2^20). */
  wideBuckets?: number;
  /** `adam` (default) or `sgd`. */
  optimizer?: OptimizerName;
  /** Learning rate. Default 0.001 for Adam (0.01 for the `lr` model), 1.0 for SGD (the paper's setting). */
  lr?: number;
  /** Learning-rate multiplier per epoch (exponential decay; default 1). */
  lrDecay?: number;
  /** Mini-batch size (default 32). */
  batchSize?: number;
  /** Training epochs; with `patience`, the most it may run (default 3). */
  epochs?: number;
  /** Seed of initialization, shuffling and dropout (default 1). The same seed and thread count give the same model. */
  seed?: number;
  /** Keep each user's most recent N behaviours (default 50). */
  maxHistory?: number;
  /**
   * Early stopping: stop after this many epochs without a better GAUC on a validation split carved from the training
   * data (each user's most recent training samples), keep the best epoch. 0 = off (default).
   */
  patience?: number;
  /** With `patience`: train again from scratch on all training data for the chosen number of epochs (ignored without it). */
  refit?: boolean;
  /** Sharded data: shards read and shuffled together (default 2). */
  shardWindow?: number;
  /**
   * Threads that train together (data-parallel replicas, gradients summed: the one-thread step up to the order of
   * additions). `auto` (default) = the cores, at most 8 and at most one per 16 samples of a batch.
   */
  threads?: number | 'auto';
  /** Clip the global gradient norm to this (0 = off; default 5). */
  clipNorm?: number;
  /** Regularizer: `none`, `l2`, `difacto`, `mba` (the paper's mini-batch-aware L2), `dropout` (of ids) or `filter`. */
  reg?: RegName;
  /** λ of `mba` (default 30), `difacto` (1e-4) or `l2` (1e-4). */
  lambda?: number;
  /** Plain L2 on the dense weights (MLP, attention), with any `reg`; 0 = off (default). */
  denseL2?: number;
  /** `reg: 'dropout'`: fraction of each training sample's behaviour ids dropped (default 0.5). */
  dropoutRate?: number;
  /** `reg: 'filter'`: keep the K most frequent goods ids of the training data; 0 = no goods ids (default 4000). */
  filterTop?: number;
}

/** `threads: 'auto'` picks at most this many threads. */
export const MAX_AUTO_THREADS = 8;
/** `threads: 'auto'` gives every thread at least this many samples of a batch (smaller slices cost more in exchange than they save). */
export const MIN_ROWS_PER_THREAD = 16;
/** The most threads a run may ask for. */
export const MAX_THREADS = 16;

/** The threads a run uses: a number as given, or `auto` = the cores, at most 8 and at most one per 16 samples of a batch. */
export function resolveThreads(v: number | 'auto' | undefined, batchSize: number): number {
  if (typeof v === 'number') return v;
  return Math.max(1, Math.min(availableParallelism(), MAX_AUTO_THREADS, Math.floor(batchSize / MIN_ROWS_PER_THREAD)));
}

const int = (minimum: number, maximum?: number) => ({ type: 'integer', minimum, ...(maximum !== undefined ? { maximum } : {}) });
const num = (minimum: number, exclusive = false) => (exclusive ? { type: 'number', exclusiveMinimum: minimum } : { type: 'number', minimum });
const oneOf = (values: readonly string[]) => ({ type: 'string', enum: values });
const widths = { type: 'array', minItems: 1, items: int(1) };

/** JSON schema of {@link TrainSettings} (every key optional, no others). */
export const TRAIN_SETTINGS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    model: oneOf(MODEL_KINDS),
    activation: oneOf(['prelu', 'dice']),
    attentionActivation: oneOf(['prelu', 'dice', 'sigmoid']),
    attentionNorm: oneOf(['none', 'softmax']),
    mlpInput: oneOf(['concat', 'concat-product']),
    pooling: oneOf(['sum', 'avg']),
    embeddingDim: int(1),
    hidden: widths,
    attentionHidden: widths,
    itemBias: { type: 'boolean' },
    wideBuckets: int(1, MAX_WIDE_BUCKETS),
    optimizer: oneOf(['adam', 'sgd']),
    lr: num(0, true),
    lrDecay: num(0, true),
    batchSize: int(1),
    epochs: int(1),
    seed: int(0),
    maxHistory: int(1),
    patience: int(0),
    refit: { type: 'boolean' },
    shardWindow: int(1),
    threads: { anyOf: [int(1, MAX_THREADS), { const: 'auto' }] },
    clipNorm: num(0),
    reg: oneOf(REG_NAMES),
    lambda: num(0),
    denseL2: num(0),
    dropoutRate: { type: 'number', minimum: 0, maximum: 1 },
    filterTop: int(0),
  },
} as const;

/** The keys a {@link TrainSettings} object may have. */
export const TRAIN_SETTINGS_KEYS: readonly string[] = Object.keys(TRAIN_SETTINGS_SCHEMA.properties);

const validate = new Ajv({ allErrors: true, strict: true }).compile(TRAIN_SETTINGS_SCHEMA);

function describe(e: ErrorObject, where: string): string {
  const key = e.instancePath ? `${where}.${e.instancePath.slice(1).replace(/\//g, '.')}` : where;
  if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty: string }).additionalProperty;
    return `${where}: unknown setting "${extra}" (valid: ${TRAIN_SETTINGS_KEYS.join(', ')})`;
  }
  if (e.keyword === 'enum') return `${key} must be one of ${(e.params as { allowedValues: string[] }).allowedValues.join(' | ')}`;
  if (e.keyword === 'anyOf') return `${key} must be "auto" or an integer in [1, ${MAX_THREADS}]`;
  return `${key} ${e.message}`;
}

/** {@link TrainSettings} with every default filled in, split the way the trainer takes them. */
export interface ResolvedTrainSettings {
  /** The model's architecture (`createModel`'s config). */
  config: ModelConfig;
  /** How it is trained (`trainModel`'s options). */
  options: TrainOptions;
}

/**
 * Checks settings and fills in every default: the model config and the training options of the run they describe.
 * Throws one Error listing every problem, each naming its key (`settings.epochs must be >= 1`); `where` names the
 * object in those messages.
 */
export function resolveTrainSettings(settings: TrainSettings = {}, where = 'settings'): ResolvedTrainSettings {
  if (settings === null || typeof settings !== 'object' || Array.isArray(settings)) throw new Error(`${where} must be an object`);
  const defined = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) as TrainSettings;
  if (!validate(defined)) {
    const errors = (validate.errors ?? []).filter((e) => !(e.keyword === 'type' && e.instancePath === '/threads') && !(e.keyword === 'const'));
    throw new Error([...new Set(errors.map((e) => describe(e, where)))].join('; '));
  }
  const s = defined;
  const model = s.model ?? 'din';
  const d = DEFAULT_MODEL_CONFIG;
  const t = DEFAULT_TRAIN_OPTIONS;
  const config: ModelConfig = {
    ...d,
    model,
    goodsDim: s.embeddingDim ?? d.goodsDim,
    attrDim: s.embeddingDim ?? d.attrDim,
    hidden: s.hidden ? [...s.hidden] : [...d.hidden],
    attentionHidden: s.attentionHidden ? [...s.attentionHidden] : [...d.attentionHidden],
    activation: s.activation ?? d.activation,
    attentionActivation: s.attentionActivation ?? d.attentionActivation,
    attentionNorm: s.attentionNorm ?? d.attentionNorm,
    pooling: s.pooling ?? d.pooling,
    mlpInput: s.mlpInput ?? 'concat',
    itemBias: s.itemBias ?? d.itemBias,
    ...(model === 'wide-deep' ? { wideBuckets: s.wideBuckets ?? DEFAULT_WIDE_BUCKETS } : {}),
  };
  const optimizer = s.optimizer ?? t.optimizer;
  const batchSize = s.batchSize ?? t.batchSize;
  const options: TrainOptions = {
    ...t,
    threads: resolveThreads(s.threads ?? 'auto', batchSize),
    epochs: s.epochs ?? t.epochs,
    batchSize,
    optimizer,
    lr: s.lr ?? defaultLearningRate(optimizer, model),
    lrDecay: s.lrDecay ?? t.lrDecay,
    clipNorm: s.clipNorm ?? t.clipNorm,
    maxHistory: s.maxHistory ?? t.maxHistory,
    seed: s.seed ?? t.seed,
    patience: s.patience ?? t.patience,
    refit: s.refit ?? t.refit,
    reg: s.reg ?? t.reg,
    ...(s.lambda !== undefined ? { lambda: s.lambda } : {}),
    denseL2: s.denseL2 ?? t.denseL2,
    dropoutRate: s.dropoutRate ?? t.dropoutRate,
    filterTop: s.filterTop ?? t.filterTop,
    shardWindow: s.shardWindow ?? t.shardWindow,
  };
  return { config, options };
}
