import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { detectFormat, resolveDataPath } from '../data/load.js';
import {
  COMPARE_MODELS,
  addRelaImpr,
  compareMarkdown,
  compareRow,
  parseModelSpec,
  type CompareResult,
  type ModelSpec,
} from '../train/compare.js';
import type { RunMetrics } from '../train/run.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.js';
import { fmt, log } from './common.js';
import { addTrainOptions, intArg } from './options.js';

const BIN = fileURLToPath(new URL('../../../bin/din.js', import.meta.url));

/** Training options forwarded to every `din train` child, by commander key → flag. */
const FORWARD: Array<[string, string]> = [
  ['attentionActivation', '--attention-activation'],
  ['attentionNorm', '--attention-norm'],
  ['pooling', '--pooling'],
  ['optimizer', '--optimizer'],
  ['lr', '--lr'],
  ['lrDecay', '--lr-decay'],
  ['batchSize', '--batch-size'],
  ['epochs', '--epochs'],
  ['embeddingDim', '--embedding-dim'],
  ['maxHistory', '--max-history'],
  ['hidden', '--hidden'],
  ['clipNorm', '--clip-norm'],
  ['patience', '--patience'],
  ['format', '--format'],
  ['backend', '--backend'],
];

/**
 * compare's own defaults: every model gets its epoch count chosen by early stopping on a validation split carved from
 * training data (each user's most recent training samples), then is refit on all training data for that many epochs.
 */
const COMPARE_DEFAULTS = { epochs: 8, patience: 1 };

interface Job {
  spec: ModelSpec;
  seed: number;
  dir: string;
  args: string[];
}

function parseSeeds(s: string): number[] {
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n < 1) throw new Error(`--seeds must be >= 1, got ${s}`);
    return Array.from({ length: n }, (_, i) => i + 1);
  }
  const out = s.split(',').map((x) => Number(x.trim()));
  if (out.some((x) => !Number.isInteger(x) || x < 0)) throw new Error(`--seeds must be a count or a list of integers, got "${s}"`);
  return out;
}

export function compareCommand(): Command {
  const cmd = new Command('compare').description(
    'train and evaluate several models over several seeds on the same data; write compare.json and compare.md (the paper\'s Table 3)',
  );
  cmd
    .option('--data <path>', 'data directory (or "synthetic", "synthetic:small")')
    .option('--dataset <name>', 'dataset name, resolved to $DIN_DATA_DIR/<name>')
    .requiredOption('--out <dir>', 'output directory: runs/<model>-s<seed>/, compare.json, compare.md')
    .option('--models <list>', `comma-separated, from ${COMPARE_MODELS.join(', ')}`, 'lr,base,wide-deep,pnn,deepfm,din,din-dice')
    .option('--seeds <n|list>', 'number of seeds (1..n) or a list', '5')
    .option('--jobs <n>', 'runs in parallel (each uses one core)', intArg('--jobs'), 2)
    .option('--data-seed <n>', 'seed of the data split (fixed across seeds unless --resample)', intArg('--data-seed', 0), 1)
    .option('--resample', 'also change the data split with the seed (negatives are always re-sampled per seed)')
    .option('--force', 'redo runs even when a finished one exists')
    .addOption(new Option('--format <format>', 'data format').choices(['auto', 'amazon-seq', 'movielens', 'synthetic']).default('auto'))
    .addOption(new Option('--backend <kind>', 'numeric backend').choices(['auto', 'wasm', 'js', 'js-f32']).default('auto'));
  addTrainOptions(cmd, ['--model', '--activation', '--seed', '--refit'], COMPARE_DEFAULTS);
  cmd.option('--no-refit', 'keep the early-stopped model trained without the validation samples (default: refit on all training data)');
  cmd.action(async (o) => {
    const specs = String(o.models).split(',').map((s) => parseModelSpec(s.trim()));
    const seeds = parseSeeds(o.seeds);
    const spec = resolveDataPath({ path: o.data, dataset: o.dataset });
    const dataArg = spec.startsWith('synthetic') ? spec : resolve(spec);
    const format = o.format === 'auto' ? detectFormat(dataArg) : o.format;
    // Under the Amazon protocol the split is fixed (leave-last-out) and the seed only re-draws negatives; elsewhere
    // the data seed defines the split, which stays fixed unless --resample.
    const dataSeedFor = (seed: number) => (format === 'amazon-seq' || o.resample ? seed : o.dataSeed);
    const out = resolve(o.out);
    mkdirSync(join(out, 'runs'), { recursive: true });

    const shared: string[] = [];
    for (const [key, flag] of FORWARD) if (o[key] !== undefined) shared.push(flag, String(o[key]));
    if (o.itemBias === false) shared.push('--no-item-bias');
    if (o.refit) shared.push('--refit');
    const jobs: Job[] = [];
    for (const s of specs) {
      for (const seed of seeds) {
        const dir = join(out, 'runs', `${s.name}-s${seed}`);
        const args = ['train', '--data', dataArg, '--model', s.model, '--seed', String(seed), '--data-seed', String(dataSeedFor(seed)), ...shared];
        if (s.activation) args.push('--activation', s.activation);
        if (s.mlpInput) args.push('--mlp-input', s.mlpInput);
        if (s.model === 'wide-deep') args.push('--wide-buckets', String(o.wideBuckets));
        args.push('--out', dir, '--quiet');
        jobs.push({ spec: s, seed, dir, args });
      }
    }

    const isDone = (j: Job) => {
      if (o.force || !existsSync(join(j.dir, 'metrics.json')) || !existsSync(join(j.dir, 'run.json'))) return false;
      try {
        return JSON.stringify(JSON.parse(readFileSync(join(j.dir, 'run.json'), 'utf8')).args) === JSON.stringify(j.args);
      } catch {
        return false;
      }
    };
    const todo = jobs.filter((j) => !isDone(j));
    log(`compare: ${jobs.length} runs (${specs.map((s) => s.name).join(', ')} × seeds ${seeds.join(',')}), ` +
      `${jobs.length - todo.length} already finished, ${todo.length} to run, ${o.jobs} at a time; logs in ${join(out, 'runs')}/*/train.log`);

    const t0 = performance.now();
    let finished = 0;
    const failures: string[] = [];
    const runOne = (j: Job) =>
      new Promise<void>((resolveRun) => {
        mkdirSync(j.dir, { recursive: true });
        const logFd = openSync(join(j.dir, 'train.log'), 'w');
        const started = performance.now();
        const child = spawn(process.execPath, [BIN, ...j.args], { stdio: ['ignore', logFd, logFd], env: process.env });
        child.on('close', (code) => {
          closeSync(logFd);
          finished++;
          const secs = (performance.now() - started) / 1000;
          const elapsed = (performance.now() - t0) / 1000;
          const eta = (elapsed / finished) * (todo.length - finished);
          if (code === 0) {
            writeJsonAtomic(join(j.dir, 'run.json'), { args: j.args });
            const m = JSON.parse(readFileSync(join(j.dir, 'metrics.json'), 'utf8')) as RunMetrics;
            log(`[${finished}/${todo.length}] ${j.spec.name} seed ${j.seed}: test gauc ${fmt(m.test.gauc)} auc ${fmt(m.test.auc)} ` +
              `(${secs.toFixed(0)}s; ETA ${eta.toFixed(0)}s)`);
          } else {
            failures.push(`${j.spec.name} seed ${j.seed} (exit ${code}; see ${join(j.dir, 'train.log')})`);
            log(`[${finished}/${todo.length}] ${j.spec.name} seed ${j.seed}: FAILED, see ${join(j.dir, 'train.log')}`);
          }
          resolveRun();
        });
      });
    const queue = [...todo];
    await Promise.all(
      Array.from({ length: Math.min(o.jobs, Math.max(queue.length, 1)) }, async () => {
        for (let j = queue.shift(); j; j = queue.shift()) await runOne(j);
      }),
    );
    if (failures.length) throw new Error(`${failures.length} run(s) failed: ${failures.join('; ')}`);

    const rows = specs.map((s) => {
      const mine = jobs.filter((j) => j.spec.name === s.name);
      const runs = mine.map((j) => JSON.parse(readFileSync(join(j.dir, 'metrics.json'), 'utf8')) as RunMetrics);
      return compareRow(s.name, 'none', mine.map((j) => j.seed), runs);
    });
    addRelaImpr(rows);
    const options: Record<string, unknown> = {};
    for (const [key] of FORWARD) if (o[key] !== undefined) options[key] = o[key];
    Object.assign(options, { format, resample: !!o.resample, dataSeed: o.dataSeed, itemBias: o.itemBias !== false });
    const result: CompareResult = { data: dataArg, createdAt: new Date().toISOString(), options, rows };
    writeJsonAtomic(join(out, 'compare.json'), result);
    const md = compareMarkdown(result);
    writeFileAtomic(join(out, 'compare.md'), md);
    console.log(md);
  });
  return cmd;
}
