import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_MODEL_CONFIG, DEFAULT_WIDE_BUCKETS, MODEL_KINDS } from '../models/model.js';
import { DEFAULT_LAMBDA, DEFAULT_LR, DEFAULT_LR_LINEAR_ADAM, DEFAULT_TRAIN_OPTIONS, type TrainOptions } from '../train/trainer.js';
import { MAX_AUTO_THREADS, MAX_THREADS, MIN_ROWS_PER_THREAD, type TrainSettings } from '../train/settings.js';
import { REG_NAMES } from '../optim/index.js';
import { DATASET_FORMATS } from '../data/load.js';

export function intArg(name: string, min = 1) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got "${v}"`);
    return n;
  };
}

export function floatArg(name: string, min = 0, exclusiveMin = false) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || (exclusiveMin && n === min)) {
      throw new InvalidArgumentError(`${name} must be a number ${exclusiveMin ? '>' : '>='} ${min}, got "${v}"`);
    }
    return n;
  };
}

/** Where the data comes from: shared by every command that reads data. */
export function addDataOptions(cmd: Command, required = false): Command {
  return cmd
    .option('--data <path>', `data directory, a schema .json describing your CSV/JSONL/Parquet logs, or "synthetic" / "synthetic:small"${required ? '' : ''}`)
    .option('--dataset <name>', 'dataset name, resolved to $DIN_DATA_DIR/<name> (default ./data/<name>)')
    .addOption(new Option('--format <format>', 'data format').choices(['auto', ...DATASET_FORMATS]).default('auto'))
    .option('--data-seed <n>', 'seed of negative sampling and data splits', intArg('--data-seed', 0), 1)
    .addOption(
      new Option('--on-error <policy>', 'malformed rows in the data files: skip (count them and go on) or fail (stop at the first, naming file and line); structural problems always fail')
        .choices(['skip', 'fail'])
        .default('skip'),
    )
    .option('--min-count <n>', 'schema and taobao data: field values seen fewer times in training share the out-of-vocabulary row', intArg('--min-count'))
    .option('--top-k <n>', 'schema and taobao data: keep only the K most frequent values of each field (the rest: out-of-vocabulary)', intArg('--top-k', 0))
    .option('--hash-buckets <n>', 'schema and taobao data: hash every field\'s values into N buckets instead of building vocabularies (id spaces beyond memory)', intArg('--hash-buckets'))
    .option('--no-cache', 'do not read or write the binary sample cache')
    .option('--validation', "evaluate on a validation split carved from train (each user's most recent training samples) instead of the test split")
    .addOption(new Option('--backend <kind>', 'numeric backend').choices(['auto', 'wasm', 'js', 'js-f32']).default('auto'))
    .option('-q, --quiet', 'no progress output');
}

/** Model and training options: shared by every command that trains. `skip` leaves out flags a command sets itself. */
export function addTrainOptions(cmd: Command, skip: string[] = [], defaults: Partial<TrainOptions> = {}): Command {
  const d = DEFAULT_MODEL_CONFIG;
  const t = { ...DEFAULT_TRAIN_OPTIONS, ...defaults };
  const opt = (flags: string, description: string, parse?: (v: string) => unknown, def?: unknown) => {
    const o = new Option(flags, description);
    if (parse) o.argParser(parse as (v: string, prev: unknown) => unknown);
    if (def !== undefined) o.default(def);
    return o;
  };
  const options = [
    new Option('--model <name>', 'model').choices(MODEL_KINDS).default('din'),
    new Option('--activation <name>', 'MLP activation').choices(['prelu', 'dice']).default(d.activation),
    new Option('--attention-activation <name>', 'activation inside the local activation unit').choices(['prelu', 'dice', 'sigmoid']).default(d.attentionActivation),
    new Option('--attention-norm <kind>', 'attention weights: none (the paper) or softmax (the original code)').choices(['none', 'softmax']).default(d.attentionNorm),
    new Option('--mlp-input <kind>', 'MLP input: concat = [u, q] (the paper), concat-product = [u, q, u⊙q] (the original code)').choices(['concat', 'concat-product']).default('concat'),
    new Option('--pooling <kind>', 'BaseModel behaviour pooling').choices(['sum', 'avg']).default(d.pooling),
    new Option('--optimizer <name>', 'optimizer').choices(['sgd', 'adam']).default(t.optimizer),
    opt('--lr <x>', `learning rate (default: ${DEFAULT_LR.adam} for adam — ${DEFAULT_LR_LINEAR_ADAM} for the lr model —, ${DEFAULT_LR.sgd} for sgd)`, floatArg('--lr', 0, true)),
    opt('--lr-decay <x>', 'learning rate multiplier per epoch (exponential decay)', floatArg('--lr-decay', 0, true), t.lrDecay),
    opt('--batch-size <n>', 'mini-batch size', intArg('--batch-size'), t.batchSize),
    opt('--epochs <n>', 'training epochs (the maximum with --patience)', intArg('--epochs'), t.epochs),
    opt('--seed <n>', 'seed of initialization and shuffling', intArg('--seed', 0), t.seed),
    opt('--embedding-dim <n>', 'width of the goods and of the category embedding (each)', intArg('--embedding-dim'), d.goodsDim),
    opt('--max-history <n>', 'keep the most recent N behaviours', intArg('--max-history'), t.maxHistory),
    opt('--hidden <sizes>', 'MLP hidden widths, comma separated', undefined, d.hidden.join(',')),
    opt('--patience <n>', 'early stopping: stop after N epochs without a better validation GAUC (validation carved from training data) and keep the best epoch; 0 = off', intArg('--patience', 0), t.patience),
    new Option('--refit', 'with --patience: train again on all training data for the chosen number of epochs'),
    opt('--shard-window <n>', 'data converted into shards: shards read and shuffled together (memory: that many shards)', intArg('--shard-window'), t.shardWindow),
    opt('--threads <n>', `threads that train together (each batch is split over replicas of the model, gradients summed; auto = the cores, at most ${MAX_AUTO_THREADS} and one per ${MIN_ROWS_PER_THREAD} samples of a batch); 1 = one thread`, threadsArg, 'auto'),
    opt('--clip-norm <x>', 'clip the global gradient norm (0 = off)', floatArg('--clip-norm'), t.clipNorm),
    new Option('--no-item-bias', 'no per-item bias in the logit'),
    new Option('--reg <name>', 'regularizer: none, l2 (full L2 on every embedding row, every step), difacto (L2 on the rows in the batch), mba (mini-batch-aware: rows in the batch, scaled by 1/#samples containing the id), dropout (drop behaviour ids), filter (keep the top-K goods ids)').choices(REG_NAMES).default(t.reg),
    opt('--lambda <x>', `λ of mba / difacto / l2 (default: ${Object.entries(DEFAULT_LAMBDA).map(([k, v]) => `${v} for ${k}`).join(', ')})`, floatArg('--lambda')),
    opt('--dense-l2 <x>', 'plain L2 on the dense weights (MLP, attention), with any --reg; 0 = off', floatArg('--dense-l2'), t.denseL2),
    opt('--dropout-rate <x>', 'reg dropout: fraction of each sample\'s behaviour ids dropped in training', floatArg('--dropout-rate'), t.dropoutRate),
    opt('--filter-top <k>', 'reg filter: keep the K most frequent goods ids of the training data, the rest share one id (0 = no goods ids)', intArg('--filter-top', 0), t.filterTop),
    opt('--wide-buckets <n>', 'wide-deep: hash buckets of the behaviour × candidate cross features', intArg('--wide-buckets'), DEFAULT_WIDE_BUCKETS),
  ];
  for (const o of options) if (!skip.includes(o.long ?? '')) cmd.addOption(o);
  return cmd;
}

function parseSizes(s: string, name: string): number[] {
  const out = s.split(',').map((x) => Number(x.trim()));
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new InvalidArgumentError(`${name} must be comma-separated positive integers, got "${s}"`);
  }
  return out;
}

export function threadsArg(v: string): number | 'auto' {
  if (v === 'auto') return 'auto';
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) throw new InvalidArgumentError(`--threads must be auto or an integer in [1, ${MAX_THREADS}], got "${v}"`);
  return n;
}

/** The training settings of parsed `addTrainOptions` flags (commander's camelCase names are the settings' names). */
export function trainSettingsFrom(o: Record<string, any>): TrainSettings {
  return {
    model: o.model,
    activation: o.activation,
    attentionActivation: o.attentionActivation,
    attentionNorm: o.attentionNorm,
    mlpInput: o.mlpInput,
    pooling: o.pooling,
    embeddingDim: o.embeddingDim,
    hidden: o.hidden === undefined ? undefined : parseSizes(String(o.hidden), '--hidden'),
    itemBias: o.itemBias,
    ...(o.model === 'wide-deep' ? { wideBuckets: o.wideBuckets } : {}),
    optimizer: o.optimizer,
    lr: o.lr,
    lrDecay: o.lrDecay,
    batchSize: o.batchSize,
    epochs: o.epochs,
    seed: o.seed,
    maxHistory: o.maxHistory,
    patience: o.patience,
    refit: !!o.refit,
    shardWindow: o.shardWindow,
    threads: o.threads,
    clipNorm: o.clipNorm,
    reg: o.reg,
    lambda: o.lambda,
    denseL2: o.denseL2,
    dropoutRate: o.dropoutRate,
    filterTop: o.filterTop,
  };
}
