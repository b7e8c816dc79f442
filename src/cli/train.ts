import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { writeJsonAtomic } from '../util/fs.js';
import { applyConfigFile, readConfigFile, resolvedOptions } from './config-file.js';
import { createProgress } from '../train/progress.js';
import { runTraining, type RunMetrics } from '../train/run.js';
import { resolveTrainSettings } from '../train/settings.js';
import { backendFrom, fmt, loadData, log } from './common.js';
import { addDataOptions, addTrainOptions, intArg, trainSettingsFrom } from './options.js';

/** `--store`: memory, or redis://host:port[,host:port…]. */
function storeArg(v: string): string {
  if (v === 'memory' || /^redis:\/\/[^,\s]+(,[^,\s]+)*$/.test(v)) return v;
  throw new InvalidArgumentError(`--store must be "memory" or redis://host:port[,host:port…], got "${v}"`);
}

/** --checkpoint-every for a store run: steps only. */
function storeEvery(v: unknown): number {
  const s = String(v ?? '0');
  if (s.endsWith('m')) throw new Error('a store run checkpoints by steps: --checkpoint-every N');
  return Number(s);
}

function storeNameArg(v: string): string {
  if (/^[A-Za-z0-9._-]{1,64}$/.test(v)) return v;
  throw new InvalidArgumentError(`--store-name must be 1–64 letters, digits, ".", "_" or "-", got "${v}"`);
}

/** `--checkpoint-every`: N steps, or N minutes with an "m". */
function everyArg(v: string): string {
  if (/^[1-9]\d*m?$/.test(v) || v === '0') return v;
  throw new InvalidArgumentError(`--checkpoint-every must be a number of steps (500) or of minutes (10m), got "${v}"`);
}

export function trainCommand(): Command {
  const cmd = new Command('train').description('train a model, print per-epoch progress and test metrics, save it with --out');
  addDataOptions(cmd);
  addTrainOptions(cmd);
  cmd.option('--out <dir>', 'save model.json, weights.safetensors and metrics.json here');
  cmd.option('--store <url>', 'keep the embedding tables in a row store: "memory" (off the WASM heap: tables larger than the WASM memory) or redis://host:port[,host:port…] (a Redis Cluster: several trainer processes, --workers)', storeArg);
  cmd.option('--store-name <name>', 'the run\'s namespace in a Redis store (every worker of the run gives the same)', storeNameArg);
  cmd.option('--workers <n>', 'trainer processes of a Redis-store run (start `din train` once per worker, each with its --worker-index)', intArg('--workers'), 1);
  cmd.option('--worker-index <i>', 'this process\'s rank among --workers (0 writes the checkpoint, evaluates and saves --out)', intArg('--worker-index', 0), 0);
  cmd.option('--checkpoint-every <n>', 'with --out (or a store): also write a resumable checkpoint every n steps, or every n minutes with "m" (500, 10m); epoch ends always', everyArg, '0');
  cmd.option('--keep-checkpoints <k>', 'resumable checkpoints kept in --out/checkpoints (the newest k)', intArg('--keep-checkpoints'), 2);
  cmd.option('--resume [dir]', 'continue a run that stopped: its directory (default --out; its config.json gives every option, flags override), or with --store redis://… the store\'s last checkpoint');
  cmd.option('--config <file>', 'an experiment file (.json or .yaml) setting any of these options by name; flags given here override it; the resolved options are saved as --out/config.json');
  cmd.option('--init-from <dir>', 'warm start: begin from a trained model (a --out directory); rows are matched by id, new ids start fresh');
  cmd.addOption(new Option('--init-optimizer <mode>', 'with --init-from: keep the trained run\'s optimizer state (moments, step count) or reset it').choices(['reset', 'keep']).default('reset'));
  cmd.option('--train-slice <d/D>', 'train on day d of D only (a-b/D: days a..b): each user\'s training samples cut by time into D parts (incremental training)');
  cmd.option('--store-timeout <s>', 'Redis store: seconds an unreachable store (a failover) or a silent worker is waited for before the run stops with an error (default 30 for the store, 15 for a worker)', intArg('--store-timeout'));
  cmd.option('--no-store-cache', 'Redis store with one worker: write every step\'s rows through to the store instead of caching them in this process until each checkpoint');
  cmd.option('--store-reset', 'Redis store: delete what the store holds under --store-name before training (a new run under an old name)');
  cmd.action(async (opts) => {
    // An experiment file, or the resumed run's own config.json, under the flags given here.
    const resumeDir = typeof opts.resume === 'string' ? opts.resume : undefined;
    if (resumeDir !== undefined && opts.config) throw new Error('give either --resume DIR (its config.json) or --config FILE, not both');
    if (resumeDir !== undefined) {
      const file = join(resumeDir, 'config.json');
      if (!existsSync(file)) throw new Error(`--resume ${resumeDir}: no config.json there (is it a \`din train --out\` directory?)`);
      applyConfigFile(cmd, readConfigFile(file), file);
      if (cmd.getOptionValueSource('out') !== 'cli') cmd.setOptionValueWithSource('out', resumeDir, 'config');
    } else if (opts.config) {
      applyConfigFile(cmd, readConfigFile(opts.config), opts.config);
    }
    const o = cmd.opts();
    if (o.resume && !o.store && !o.out) throw new Error('--resume needs the run directory: --resume DIR (or --out DIR)');
    if (o.out && (!o.store || o.workerIndex === 0)) {
      mkdirSync(resolve(o.out), { recursive: true });
      writeJsonAtomic(join(resolve(o.out), 'config.json'), resolvedOptions(cmd, 'train'));
    }
    const { data, path } = await loadData(o, true);
    const { config, options } = resolveTrainSettings(trainSettingsFrom(o), 'options');
    const backend = backendFrom(o);
    let metrics: RunMetrics | null;
    if (o.store) {
      if (o.store !== 'memory' && !o.storeName) throw new Error('a Redis store needs --store-name (the run\'s namespace, the same on every worker)');
      if (o.initFrom) throw new Error('--init-from is not supported with --store yet');
      if (o.workerIndex >= o.workers) throw new Error(`--worker-index must be below --workers (${o.workers}), got ${o.workerIndex}`);
      if (options.threads && options.threads > 1) log('--store trains on one thread per process (run more workers for more cores)');
      log(`training ${config.model} on ${backend.name} with the tables in ${o.store}: ${JSON.stringify({ ...options, threads: 1 })}`);
      const { runStoreTraining } = await import('../train/store-run.js');
      ({ metrics } = await runStoreTraining({
        data, dataPath: path, config, options, backend, store: o.store, storeName: o.storeName, workers: o.workers, workerIndex: o.workerIndex,
        checkpointEvery: storeEvery(o.checkpointEvery), resume: !!o.resume, storeTimeoutSeconds: o.storeTimeout, reset: !!o.storeReset, storeCache: o.storeCache !== false, out: o.workerIndex === 0 ? o.out : undefined, log,
        progress: createProgress({ quiet: o.quiet }),
      }));
      if (metrics === null) {
        log(`worker ${o.workerIndex} of ${o.workers} done (worker 0 reports the metrics${o.out ? ' and saves the model' : ''})`);
        return;
      }
    } else {
      for (const flag of ['storeName', 'storeReset'] as const) {
        if (o[flag]) throw new Error(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --store`);
      }
      if (o.workers > 1) throw new Error('--workers > 1 needs a shared store: --store redis://… (for the cores of one machine use --threads)');
      log(`training ${config.model} on ${backend.name}: ${JSON.stringify({ ...options })}`);
      const every = String(o.checkpointEvery);
      ({ metrics } = runTraining({
        data, dataPath: path, config, options, backend, out: o.out, log, progress: createProgress({ quiet: o.quiet }),
        ...(o.out ? {
          checkpoints: {
            keep: o.keepCheckpoints,
            ...(every.endsWith('m') ? { everyMinutes: Number(every.slice(0, -1)) } : Number(every) > 0 ? { everySteps: Number(every) } : {}),
          },
        } : {}),
        resume: !!o.resume,
        ...(o.initFrom ? { initFrom: { dir: o.initFrom, optimizer: o.initOptimizer } } : {}),
      }));
    }
    const t = metrics.test;
    console.log(
      `${config.model} ${o.validation ? 'validation' : 'test'}: gauc ${fmt(t.gauc)} auc ${fmt(t.auc)} logloss ${fmt(t.logloss)} ` +
        `(${t.samples} samples, ${t.gaucUsers} users in GAUC, ${t.gaucSkippedUsers} single-class users skipped) | ` +
        `train ${metrics.train.seconds.toFixed(1)}s, ${Math.round(metrics.train.samplesPerSecond)} samples/s`,
    );
    if (o.out) log(`saved to ${o.out}`);
  });
  return cmd;
}
