import { Command } from 'commander';
import { loadCheckpoint, type CheckpointInfo } from '../checkpoint/checkpoint.js';
import type { ItemCatalog } from '../core/types.js';
import type { Model, ModelConfig } from '../models/model.js';
import { evaluateSource } from '../train/evaluator.js';
import { testSource } from '../train/trainer.js';
import { isShardDir } from '../data/shards.js';
import { backendFrom, fmt, loadData, log } from './common.js';
import { addDataOptions, intArg } from './options.js';

/** The model of --model DIR, or of --store URL --store-name NAME. */
async function modelFrom(o: Record<string, any>): Promise<{ model: Model; info: { dataset: CheckpointInfo['dataset']; train: Record<string, unknown>; config: ModelConfig }; catalog: ItemCatalog }> {
  if (o.store) {
    if (o.model) throw new Error('give either --model DIR or --store URL, not both');
    if (!o.storeName) throw new Error('--store needs --store-name');
    const { loadModelFromStore } = await import('../train/store-model.js');
    const t = await loadModelFromStore(o.store, o.storeName, backendFrom(o));
    return { model: t.model, info: { dataset: t.dataset, train: t.trainOptions, config: t.config }, catalog: t.catalog };
  }
  if (!o.model) throw new Error('give --model DIR (a `din train --out` directory) or --store URL --store-name NAME');
  return loadCheckpoint(o.model, backendFrom(o));
}

export function evalCommand(): Command {
  const cmd = new Command('eval').description('re-evaluate a saved model on the test split of a dataset');
  cmd.option('--model <dir>', 'model directory written by `din train --out`');
  cmd.option('--store <url>', 'instead of --model: the run in a Redis store (redis://host:port[,…]), as of its last checkpoint');
  cmd.option('--store-name <name>', 'with --store: the run\'s namespace');
  addDataOptions(cmd);
  cmd.option('--batch-size <n>', 'evaluation batch size', intArg('--batch-size'), 1024);
  cmd.option('--json', 'print the metrics as JSON');
  cmd.action(async (o) => {
    const { model, info, catalog } = await modelFrom(o);
    // Rebuild the data exactly as the run did unless told otherwise.
    const built = info.dataset.buildOptions ?? {};
    const dataPath: string | undefined = o.data ?? (o.dataset ? undefined : info.dataset.path);
    // Shards were converted once: the options they were built with are not load options any more.
    const sharded = dataPath !== undefined && isShardDir(dataPath);
    const req = sharded ? { ...o, data: dataPath } : {
      ...o,
      data: dataPath,
      dataSeed: o.dataSeed !== 1 ? o.dataSeed : ((built.seed as number | undefined) ?? o.dataSeed),
      validation: o.validation || built.split === 'validation',
      ...((built.vocab as Record<string, number> | undefined) ?? {}),
      onError: o.onError ?? built.onError,
    };
    const { data } = await loadData(req, true);
    const keysMatch =
      data.catalog.numItems === catalog.numItems && data.catalog.itemKeys.every((k, i) => k === catalog.itemKeys[i]);
    if (!keysMatch) {
      throw new Error(
        `the data's item vocabulary (${data.catalog.numItems} items) differs from the model's (${catalog.numItems}): ` +
          `evaluate on the data the model was trained on (${info.dataset.path ?? info.dataset.name})`,
      );
    }
    const maxHistory = (info.train.maxHistory as number | undefined) ?? 50;
    const r = evaluateSource(model, testSource(data), { batchSize: o.batchSize, maxHistory });
    if (o.json) {
      console.log(JSON.stringify(r, null, 2));
    } else {
      log(`model ${o.model ?? `${o.store} ${o.storeName}`} (${info.config.model}) on ${data.name} test split`);
      console.log(`gauc ${fmt(r.gauc)} auc ${fmt(r.auc)} logloss ${fmt(r.logloss)} (${r.samples} samples)`);
    }
  });
  return cmd;
}
