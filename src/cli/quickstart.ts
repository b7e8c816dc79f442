import { join } from 'node:path';
import { Command } from 'commander';
import Table from 'cli-table3';
import { relaImpr } from '../metrics/index.js';
import { DEFAULT_MODEL_CONFIG } from '../models/model.js';
import { createProgress } from '../train/progress.js';
import { runTraining, type RunMetrics } from '../train/run.js';
import { DEFAULT_TRAIN_OPTIONS } from '../train/trainer.js';
import { resolveThreads } from '../train/settings.js';
import { threadsArg } from './options.js';
import { backendFrom, fmt, loadData, log } from './common.js';
import { addDataOptions, intArg } from './options.js';

export function quickstartCommand(): Command {
  const cmd = new Command('quickstart').description(
    'generate the built-in synthetic dataset, train BaseModel and DIN, print the comparison and save both under runs/',
  );
  addDataOptions(cmd);
  cmd.option('--epochs <n>', 'training epochs', intArg('--epochs'), DEFAULT_TRAIN_OPTIONS.epochs);
  cmd.option('--threads <n>', 'threads that train together (auto = the cores, see din train --help)', threadsArg, 'auto');
  cmd.option('--out <dir>', 'directory for the two saved models', 'runs');
  cmd.action(async (o) => {
    const { data, path } = await loadData({ ...o, data: o.data ?? (o.dataset ? undefined : 'synthetic') });
    const backend = backendFrom(o);
    const results: RunMetrics[] = [];
    for (const model of ['base', 'din'] as const) {
      const out = join(o.out, `quickstart-${model}`);
      const { metrics } = runTraining({
        data,
        dataPath: path,
        config: { ...DEFAULT_MODEL_CONFIG, model },
        options: { ...DEFAULT_TRAIN_OPTIONS, epochs: o.epochs, threads: resolveThreads(o.threads, DEFAULT_TRAIN_OPTIONS.batchSize) },
        backend,
        out,
        log,
        progress: createProgress({ quiet: o.quiet }),
      });
      log(`saved ${out}`);
      results.push(metrics);
    }
    const [base] = results;
    const table = new Table({
      head: ['model', 'GAUC', 'AUC', 'log loss', 'RelaImpr (GAUC)', 'RelaImpr (AUC)', 'train s', 'samples/s'],
      style: { head: [], border: [] },
    });
    for (const r of results) {
      table.push([
        r.model,
        fmt(r.test.gauc),
        fmt(r.test.auc),
        fmt(r.test.logloss),
        r === base ? '0.00%' : `${relaImpr(r.test.gauc, base.test.gauc).toFixed(2)}%`,
        r === base ? '0.00%' : `${relaImpr(r.test.auc, base.test.auc).toFixed(2)}%`,
        r.train.seconds.toFixed(1),
        String(Math.round(r.train.samplesPerSecond)),
      ]);
    }
    console.log(`\n${data.name}: ${data.train.size} train / ${data.test.size} test samples, backend ${backend.name}`);
    console.log(table.toString());
  });
  return cmd;
}
