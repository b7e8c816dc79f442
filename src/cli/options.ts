import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_MODEL_CONFIG, type ModelConfig } from '../models/model.js';
import { DEFAULT_LR, DEFAULT_TRAIN_OPTIONS, type TrainOptions } from '../train/trainer.js';

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
    .option('--data <path>', `data directory (or "synthetic", "synthetic:small")${required ? '' : ''}`)
    .option('--dataset <name>', 'dataset name, resolved to $DIN_DATA_DIR/<name> (default ./data/<name>)')
    .addOption(new Option('--format <format>', 'data format').choices(['auto', 'amazon-seq', 'movielens', 'synthetic']).default('auto'))
    .option('--data-seed <n>', 'seed of negative sampling and data splits', intArg('--data-seed', 0), 1)
    .option('--no-cache', 'do not read or write the binary sample cache')
    .option('--validation', "evaluate on a validation split carved from train (each user's most recent training samples) instead of the test split")
    .addOption(new Option('--backend <kind>', 'numeric backend').choices(['auto', 'wasm', 'js', 'js-f32']).default('auto'))
    .option('-q, --quiet', 'no progress output');
}

/** Model and training options: shared by every command that trains. */
export function addTrainOptions(cmd: Command): Command {
  const d = DEFAULT_MODEL_CONFIG;
  const t = DEFAULT_TRAIN_OPTIONS;
  return cmd
    .addOption(new Option('--model <name>', 'model').choices(['base', 'din']).default('din'))
    .addOption(new Option('--activation <name>', 'MLP activation').choices(['prelu', 'dice']).default(d.activation))
    .addOption(new Option('--attention-activation <name>', 'activation inside the local activation unit').choices(['prelu', 'dice', 'sigmoid']).default(d.attentionActivation))
    .addOption(new Option('--attention-norm <kind>', 'attention weights: none (the paper) or softmax (the original code)').choices(['none', 'softmax']).default(d.attentionNorm))
    .addOption(new Option('--pooling <kind>', 'BaseModel behaviour pooling').choices(['sum', 'avg']).default(d.pooling))
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['sgd', 'adam']).default(t.optimizer))
    .option('--lr <x>', `learning rate (default: ${DEFAULT_LR.adam} for adam, ${DEFAULT_LR.sgd} for sgd)`, floatArg('--lr', 0, true))
    .option('--lr-decay <x>', 'learning rate multiplier per epoch (exponential decay)', floatArg('--lr-decay', 0, true), t.lrDecay)
    .option('--batch-size <n>', 'mini-batch size', intArg('--batch-size'), t.batchSize)
    .option('--epochs <n>', 'training epochs', intArg('--epochs'), t.epochs)
    .option('--seed <n>', 'seed of initialization and shuffling', intArg('--seed', 0), t.seed)
    .option('--embedding-dim <n>', 'width of the goods and of the category embedding (each)', intArg('--embedding-dim'), d.goodsDim)
    .option('--max-history <n>', 'keep the most recent N behaviours', intArg('--max-history'), t.maxHistory)
    .option('--hidden <sizes>', 'MLP hidden widths, comma separated', d.hidden.join(','))
    .option('--clip-norm <x>', 'clip the global gradient norm (0 = off)', floatArg('--clip-norm'), t.clipNorm)
    .option('--no-item-bias', 'no per-item bias in the logit');
}

function parseSizes(s: string, name: string): number[] {
  const out = s.split(',').map((x) => Number(x.trim()));
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new InvalidArgumentError(`${name} must be comma-separated positive integers, got "${s}"`);
  }
  return out;
}

export function modelConfigFrom(o: Record<string, any>): ModelConfig {
  return {
    ...DEFAULT_MODEL_CONFIG,
    model: o.model,
    goodsDim: o.embeddingDim,
    attrDim: o.embeddingDim,
    hidden: parseSizes(o.hidden, '--hidden'),
    activation: o.activation,
    attentionActivation: o.attentionActivation,
    attentionNorm: o.attentionNorm,
    pooling: o.pooling,
    itemBias: o.itemBias,
  };
}

export function trainOptionsFrom(o: Record<string, any>): TrainOptions {
  return {
    ...DEFAULT_TRAIN_OPTIONS,
    epochs: o.epochs,
    batchSize: o.batchSize,
    optimizer: o.optimizer,
    lr: o.lr ?? DEFAULT_LR[o.optimizer as 'sgd' | 'adam'],
    lrDecay: o.lrDecay,
    clipNorm: o.clipNorm,
    maxHistory: o.maxHistory,
    seed: o.seed,
  };
}
