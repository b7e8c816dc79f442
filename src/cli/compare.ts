import { availableParallelism } from 'node:os';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyConfigFile, codeVersion, readConfigFile, resolvedOptions } from './config-file.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { AMAZON_PROTOCOL_FORMATS, DATASET_FORMATS, detectFormat, resolveDataPath } from '../data/load.js';
import {
  COMPARE_MODELS,
  addRelaImpr,
  compareMarkdown,
  compareRow,
  parseModelSpec,
  parseRegSpec,
  REG_PARAM,
  selectByValidation,
  validationScore,
  stat,
  type CompareResult,
  type CompareRow,
  type GridPoint,
  type ModelSpec,
  type RegSpec,
} from '../train/compare.js';
import type { RunMetrics } from '../train/run.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.js';
import { fmt, log } from './common.js';
import { isShardDir } from '../data/shards.js';
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
  ['shardWindow', '--shard-window'],
  ['threads', '--threads'],
  ['patience', '--patience'],
  ['lambda', '--lambda'],
  ['denseL2', '--dense-l2'],
  ['dropoutRate', '--dropout-rate'],
  ['filterTop', '--filter-top'],
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
  reg: RegSpec;
  /** The reg's value of this job (undefined: the reg's default). */
  value?: number;
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

/** Collects repeated `--grid reg=v1,v2,…` into { reg: [v1, v2, …] }. */
function collectGrid(text: string, prev: Record<string, number[]>): Record<string, number[]> {
  const m = /^([a-z0-9]+)=(.+)$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`--grid expects reg=v1,v2,… (e.g. mba=1,10,100), got "${text}"`);
  const values = m[2].split(',').map((x) => Number(x.trim()));
  if (values.some((v) => !Number.isFinite(v))) throw new InvalidArgumentError(`--grid ${m[1]}: values must be numbers, got "${m[2]}"`);
  return { ...prev, [m[1]]: values };
}

/** The value a finished run actually used (from its metrics.json), for rows that ran on a default. */
function usedValue(m: RunMetrics, param: RegSpec['param']): number | undefined {
  const r = m.regularization;
  if (!r || param === null) return undefined;
  return param === 'lambda' ? r.lambda : param === 'dropoutRate' ? r.dropout?.rate : r.filter?.top;
}

export function compareCommand(): Command {
  const cmd = new Command('compare').description(
    'train and evaluate several models over several seeds on the same data; write compare.json and compare.md (the paper\'s Table 3)',
  );
  cmd
    .option('--data <path>', 'data directory (or "synthetic", "synthetic:small")')
    .option('--dataset <name>', 'dataset name, resolved to $DIN_DATA_DIR/<name>')
    .option('--config <file>', 'an experiment file (.json or .yaml) setting any of these options by name; flags given here override it')
    .option('--out <dir>', 'output directory: runs/<model>-s<seed>/, compare.json, compare.md, config.json (required)')
    .option('--models <list>', `comma-separated, from ${COMPARE_MODELS.join(', ')}`, 'lr,base,wide-deep,pnn,deepfm,din,din-dice')
    .option('--seeds <n|list>', 'number of seeds (1..n) or a list', '5')
    .option('--jobs <n>', 'runs in parallel (each trains on cores / jobs threads unless --threads is given)', intArg('--jobs'), 2)
    .option('--data-seed <n>', 'seed of the data split (fixed across seeds unless --resample)', intArg('--data-seed', 0), 1)
    .option('--resample', 'also change the data split with the seed (negatives are always re-sampled per seed)')
    .option('--force', 'redo runs even when a finished one exists')
    .addOption(new Option('--format <format>', 'data format').choices(['auto', ...DATASET_FORMATS]).default('auto'))
    .addOption(new Option('--backend <kind>', 'numeric backend').choices(['auto', 'wasm', 'js', 'js-f32']).default('auto'));
  addTrainOptions(cmd, ['--model', '--activation', '--seed', '--refit', '--reg'], COMPARE_DEFAULTS);
  cmd.option('--no-refit', 'keep the early-stopped model trained without the validation samples (default: refit on all training data)');
  cmd.option('--regs <list>', 'regularizers to compare, each `name` (its default value, or searched with --grid) or `name:value` (λ for mba/difacto/l2, rate for dropout, top-K for filter; filter:0 = no goods ids), e.g. none,dropout,filter:0,difacto,mba', 'none');
  cmd.option('--grid <reg=values>', 'search a regularizer\'s value on the validation split, e.g. --grid mba=1,10,100 (λ), --grid filter=1000,5000 (top-K), --grid dropout=0.25,0.5 (rate); repeatable; needs --patience', collectGrid, {});
  cmd.action(async (opts) => {
    if (opts.config) applyConfigFile(cmd, readConfigFile(opts.config), opts.config);
    const o = cmd.opts();
    if (!o.out) throw new Error('give --out <dir> (or "out" in the experiment file)');
    mkdirSync(resolve(o.out), { recursive: true });
    writeJsonAtomic(join(resolve(o.out), 'config.json'), resolvedOptions(cmd, 'compare'));
    const specs = String(o.models).split(',').map((s) => parseModelSpec(s.trim()));
    const regs = String(o.regs).split(',').map((s) => parseRegSpec(s.trim()));
    const grids = o.grid as Record<string, number[]>;
    for (const name of Object.keys(grids)) {
      const same = regs.filter((x) => x.reg === name);
      if (!same.length) throw new Error(`--grid ${name}=…: "${name}" is not among --regs (${o.regs})`);
      const r = same.find((x) => x.value === undefined);
      if (!r) throw new Error(`--grid ${name}=…: --regs already fixes ${same.map((x) => x.label).join(', ')}`);
      const bad = grids[name].find((v) => { try { parseRegSpec(`${name}:${v}`); return false; } catch { return true; } });
      if (bad !== undefined) throw new Error(`--grid ${name}=…: bad value ${bad} for ${REG_PARAM[r.reg]}`);
    }
    const valuesOf = (r: RegSpec): Array<number | undefined> =>
      r.value !== undefined ? [r.value] : grids[r.reg] ?? [undefined];
    const searched = regs.filter((r) => valuesOf(r).length > 1);
    if (searched.length && !(o.patience > 0)) {
      throw new Error(`a grid search (${searched.map((r) => r.label).join(', ')}) picks values on the validation split: set --patience >= 1`);
    }
    const plainNames = regs.length === 1 && regs[0].reg === 'none';
    const seeds = parseSeeds(o.seeds);
    const spec = resolveDataPath({ path: o.data, dataset: o.dataset });
    const dataArg = spec.startsWith('synthetic') ? spec : resolve(spec);
    // A shard directory (din data convert) has its split fixed at conversion: the data seed does not change it.
    const format = isShardDir(dataArg) ? 'shards' : o.format === 'auto' ? detectFormat(dataArg) : o.format;
    // Under the Amazon protocol the split is fixed (leave-last-out) and the seed only re-draws negatives; elsewhere
    // the data seed defines the split, which stays fixed unless --resample.
    const dataSeedFor = (seed: number) => ((AMAZON_PROTOCOL_FORMATS as readonly string[]).includes(format) || o.resample ? seed : o.dataSeed);
    const out = resolve(o.out);
    mkdirSync(join(out, 'runs'), { recursive: true });

    // Runs go --jobs at a time: by default each gets its share of the cores for --threads.
    if (o.threads === 'auto') o.threads = Math.max(1, Math.floor(availableParallelism() / o.jobs));
    const shared: string[] = [];
    for (const [key, flag] of FORWARD) if (o[key] !== undefined) shared.push(flag, String(o[key]));
    if (o.itemBias === false) shared.push('--no-item-bias');
    if (o.refit) shared.push('--refit');
    const jobs: Job[] = [];
    const flagOf = { lambda: '--lambda', dropoutRate: '--dropout-rate', filterTop: '--filter-top' } as const;
    for (const s of specs) {
      for (const r of regs) {
        for (const value of valuesOf(r)) {
          for (const seed of seeds) {
            const tag = plainNames ? '' : `-${r.reg}${value !== undefined ? `-${value}` : ''}`;
            const dir = join(out, 'runs', `${s.name}${tag}-s${seed}`);
            const args = ['train', '--data', dataArg, '--model', s.model, '--seed', String(seed), '--data-seed', String(dataSeedFor(seed)), ...shared];
            if (s.activation) args.push('--activation', s.activation);
            if (s.mlpInput) args.push('--mlp-input', s.mlpInput);
            if (s.model === 'wide-deep') args.push('--wide-buckets', String(o.wideBuckets));
            if (r.reg !== 'none') args.push('--reg', r.reg);
            if (value !== undefined && r.param) args.push(flagOf[r.param], String(value));
            args.push('--out', dir, '--quiet');
            jobs.push({ spec: s, reg: r, value, seed, dir, args });
          }
        }
      }
    }

    // A finished run is reused only when it ran the same command with the same code (an upgrade reruns everything).
    const codeVer = codeVersion();
    const isDone = (j: Job) => {
      if (o.force || !existsSync(join(j.dir, 'metrics.json')) || !existsSync(join(j.dir, 'run.json'))) return false;
      try {
        const run = JSON.parse(readFileSync(join(j.dir, 'run.json'), 'utf8')) as { args?: unknown; code?: unknown };
        return JSON.stringify(run.args) === JSON.stringify(j.args) && run.code === codeVer;
      } catch {
        return false;
      }
    };
    const stale = jobs.filter((j) => !o.force && existsSync(join(j.dir, 'metrics.json')) && !isDone(j)).length;
    if (stale > 0) log(`compare: ${stale} finished run(s) were made with other options or another version of din (code ${codeVer}): running them again`);
    const todo = jobs.filter((j) => !isDone(j));
    log(`compare: ${jobs.length} runs (${specs.map((s) => s.name).join(', ')} × ${regs.map((r) => r.label).join(', ')} × seeds ${seeds.join(',')}), ` +
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
            writeJsonAtomic(join(j.dir, 'run.json'), { args: j.args, code: codeVer });
            const m = JSON.parse(readFileSync(join(j.dir, 'metrics.json'), 'utf8')) as RunMetrics;
            log(`[${finished}/${todo.length}] ${j.spec.name} ${j.reg.reg}${j.value !== undefined ? `:${j.value}` : ''} seed ${j.seed}: test gauc ${fmt(m.test.gauc)} auc ${fmt(m.test.auc)} ` +
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

    const read = (j: Job) => JSON.parse(readFileSync(join(j.dir, 'metrics.json'), 'utf8')) as RunMetrics;
    const rows: CompareRow[] = [];
    const search: GridPoint[] = [];
    for (const s of specs) {
      for (const r of regs) {
        const values = valuesOf(r);
        const points = values.map((value) => {
          const mine = jobs.filter((j) => j.spec.name === s.name && j.reg === r && j.value === value);
          return { value: value ?? NaN, jobs: mine, runs: mine.map(read) };
        });
        const chosen = points.length > 1 ? selectByValidation(points) : 0;
        if (points.length > 1) {
          points.forEach((p, i) => search.push({
            model: s.name, reg: r.reg, param: r.param!, value: p.value,
            validGauc: stat(p.runs.map(validationScore)).mean,
            testGauc: stat(p.runs.map((m) => m.test.gauc)).mean,
            chosen: i === chosen,
          }));
          log(`${s.name} ${r.reg}: ${r.param} = ${points[chosen].value} chosen on validation ` +
            `(${points.map((p) => `${p.value}: ${fmt(stat(p.runs.map(validationScore)).mean)}`).join(', ')})`);
        }
        const pick = points[chosen];
        const used = r.param === null ? undefined : values[chosen] ?? usedValue(pick.runs[0], r.param);
        rows.push(compareRow(s.name, r.reg, pick.jobs.map((j) => j.seed), pick.runs,
          used !== undefined && r.param ? { [r.param]: used } : undefined));
      }
    }
    addRelaImpr(rows);
    const options: Record<string, unknown> = {};
    for (const [key] of FORWARD) if (o[key] !== undefined) options[key] = o[key];
    Object.assign(options, { format, resample: !!o.resample, dataSeed: o.dataSeed, itemBias: o.itemBias !== false, refit: !!o.refit, regs: o.regs });
    if (Object.keys(grids).length) options.grid = grids;
    const result: CompareResult = { data: dataArg, createdAt: new Date().toISOString(), options, rows, search };
    writeJsonAtomic(join(out, 'compare.json'), result);
    const md = compareMarkdown(result);
    writeFileAtomic(join(out, 'compare.md'), md);
    console.log(md);
  });
  return cmd;
}
