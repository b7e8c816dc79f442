/**
 * A model trained on a Redis store, read back as an ordinary model: `din eval|export|serve --store URL --store-name
 * NAME`. The store holds the model description (config, catalog, vocabularies; written when the run started), the
 * dense part as of the last checkpoint (every epoch end), and the rows; the result is what `din train --out` would
 * have saved at that checkpoint. `din export --store … --to DIR` writes it as an ordinary checkpoint directory.
 */
import { catalogFromJson, type CheckpointInfo } from '../checkpoint/checkpoint.js';
import { decodeSafetensors } from '../checkpoint/safetensors.js';
import type { Backend } from '../kernels/backend.js';
import { createModel } from '../models/index.js';
import { openRedisStore } from '../store/redis-store.js';
import type { StoreTable } from '../store/types.js';
import { readTables } from './materialize.js';
import { MODEL_BLOB } from './redis-run.js';
import type { StoreRunMeta } from './store-run.js';
import { CHECKPOINT_BLOB } from './store-trainer.js';
import { TrainedModel } from './trained-model.js';

/** Reads the model of run `name` from the Redis Cluster at `url` (see the file header). */
export async function loadModelFromStore(url: string, name: string, backend: Backend): Promise<TrainedModel> {
  const where = `store ${name} at ${url}`;
  const probe = await openRedisStore(url, name, []);
  let meta: StoreRunMeta;
  let description: Omit<CheckpointInfo, 'format' | 'version' | 'createdAt' | 'buffers'>;
  let checkpoint: Uint8Array;
  try {
    const m = await probe.getMeta();
    if (m === null) throw new Error(`${where}: no such run (nothing under din:${name})`);
    meta = m as unknown as StoreRunMeta;
    if (meta.kind !== 'din-store-run') throw new Error(`${where}: not a din training run`);
    const desc = await probe.getBlob(MODEL_BLOB);
    if (desc === null) throw new Error(`${where}: the run has no model description (it never started training)`);
    description = JSON.parse(Buffer.from(desc).toString('utf8'));
    const ck = await probe.getBlob(CHECKPOINT_BLOB);
    if (ck === null) throw new Error(`${where}: the run has no checkpoint yet (the first is written at the end of epoch 1)`);
    checkpoint = ck;
  } finally {
    await probe.close();
  }
  const catalog = catalogFromJson(description.catalog);
  const model = createModel(description.config, { backend, catalog, seed: 0, sampleFields: description.sampleFields });
  const { tensors, metadata } = decodeSafetensors(Buffer.from(checkpoint.buffer, checkpoint.byteOffset, checkpoint.byteLength), `${where} checkpoint`);
  for (const p of model.params()) {
    if (p.sparse) continue;
    const t = tensors[p.name];
    if (!t || t.data.length !== p.value.length) throw new Error(`${where}: the checkpoint has no "${p.name}" of ${p.value.length} values`);
    p.value.set(t.data);
  }
  for (const [bname, b] of Object.entries(model.buffers())) {
    const t = tensors[`buffer.${bname}`];
    if (!t || t.data.length !== b.length) throw new Error(`${where}: the checkpoint has no buffer "${bname}"`);
    b.set(t.data);
  }
  const store = await openRedisStore(url, name, meta.tables as StoreTable[]);
  try {
    await readTables(model, store);
  } finally {
    await store.close();
  }
  const position = JSON.parse(metadata.position ?? '{}') as { epoch?: number };
  return new TrainedModel({
    model, catalog, sampleFields: description.sampleFields, dataset: description.dataset,
    trainOptions: { ...description.train, ...(position.epoch !== undefined ? { storeEpochsDone: position.epoch } : {}) },
    createdAt: meta.createdAt,
  });
}
