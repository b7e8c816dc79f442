import { Command } from 'commander';
import { createProgress } from '../train/progress.js';
import { runTraining } from '../train/run.js';
import { backendFrom, fmt, loadData, log } from './common.js';
import { resolveTrainSettings } from '../train/settings.js';
import { addDataOptions, addTrainOptions, trainSettingsFrom } from './options.js';

export function trainCommand(): Command {
  const cmd = new Command('train').description('train a model, print per-epoch progress and test metrics, save it with --out');
  addDataOptions(cmd);
  addTrainOptions(cmd);
  cmd.option('--out <dir>', 'save model.json, weights.safetensors and metrics.json here');
  cmd.action(async (o) => {
    const { data, path } = await loadData(o, true);
    const { config, options } = resolveTrainSettings(trainSettingsFrom(o), 'options');
    const backend = backendFrom(o);
    log(`training ${config.model} on ${backend.name}: ${JSON.stringify({ ...options })}`);
    const { metrics } = runTraining({
      data,
      dataPath: path,
      config,
      options,
      backend,
      out: o.out,
      log,
      progress: createProgress({ quiet: o.quiet }),
    });
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
