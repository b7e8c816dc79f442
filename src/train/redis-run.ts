/**
 * Opening a run's Redis store (`din train --store redis://… --store-name NAME --workers N --worker-index i`):
 *
 *   1. every worker connects (a wrong address or a cluster that is down is an error within seconds, never a hang);
 *   2. with several workers, they join one group (namespace NAME.g, so `--store-reset` never deletes a group being
 *      joined) and wait for each other;
 *   3. rank 0 resets the namespace when asked, then creates the store's metadata — this run's model, tables, optimizer
 *      and data fingerprint — or, when the store already holds a run, checks that it is this run: a store written by
 *      another model shape, another optimizer or other data is refused, naming each difference, and so is a finished
 *      or interrupted run under the same name that is not resumed (`--resume`) or reset (`--store-reset`);
 *   4. the other workers check the metadata rank 0 settled (same rules), so no worker ever trains on a mixed store.
 * Rank 0 also stores the model description (config, catalog, vocabularies) for `din eval/export/serve --store`.
 */
import type { StoreTable } from '../store/types.js';
import { CachedRowStore } from '../store/cached-store.js';
import { openRedisStore, type RedisRowStore } from '../store/redis-store.js';
import { joinGroup, type RedisGroup } from '../store/redis-group.js';
import { CHECKPOINT_BLOB } from './store-trainer.js';
import { metaDifferences, type OpenedStore, type StoreRunMeta, type StoreRunSpec } from './store-run.js';

/** The blob key of the model description (model.json without weights). */
export const MODEL_BLOB = 'model.json';

/** The store's run metadata, or a clear error when the store holds something else. */
function runMetaOf(stored: Record<string, unknown> | null, where: string): StoreRunMeta | null {
  if (stored === null) return null;
  const m = stored as unknown as StoreRunMeta;
  if (m.kind !== 'din-store-run') throw new Error(`${where}: holds something that is not a din training run (kind ${JSON.stringify(m.kind)})`);
  return m;
}

/** Checks that the store's run is ours; throws listing every difference. */
function checkSame(stored: StoreRunMeta, ours: StoreRunMeta, where: string): void {
  const diff = metaDifferences(stored, ours);
  if (diff.length > 0) {
    throw new Error(`${where} holds another run (created ${stored.createdAt} by ${stored.createdBy}): ${diff.join('; ')}. ` +
      'Use another --store-name, or --store-reset to delete it.');
  }
}

/** Connects, joins the other workers and settles the store's metadata (see the file header). */
export async function openRedisRun(spec: StoreRunSpec, tables: StoreTable[], meta: StoreRunMeta, description: () => Uint8Array): Promise<OpenedStore> {
  const name = spec.storeName;
  if (!name) throw new Error('a Redis store needs --store-name');
  const rank = spec.workerIndex ?? 0;
  const workers = spec.workers ?? 1;
  const log = spec.log ?? (() => {});
  const timeout = spec.storeTimeoutSeconds;
  const store: RedisRowStore = await openRedisStore(spec.store, name, tables, {
    onEvent: (m) => log(`store: ${m}`), ...(timeout ? { failoverTimeoutMs: timeout * 1000 } : {}),
  });
  let group: RedisGroup | undefined;
  const where = `store ${name} at ${spec.store}`;
  try {
    if (workers > 1) {
      group = await joinGroup(store, `${name}.g`, rank, workers, {
        onEvent: (m) => log(`group: ${m}`),
        ...(timeout ? { peerTimeoutMs: timeout * 1000, failoverTimeoutMs: timeout * 1000 } : {}),
        startCommand: (r) => `din train … --store ${spec.store} --store-name ${name} --workers ${workers} --worker-index ${r}`,
      });
    }
    if (rank === 0) {
      if (spec.reset) {
        const n = await store.deleteNamespace();
        log(`store: --store-reset deleted ${n} keys of ${name}`);
      }
      const { created, meta: stored } = await store.initMeta(meta as unknown as Record<string, unknown>);
      const m = runMetaOf(stored, where)!;
      if (!created) {
        checkSame(m, meta, where);
        const ck = await store.getBlob(CHECKPOINT_BLOB);
        if (!spec.resume) {
          throw new Error(`${where} already holds this run (created ${m.createdAt}${ck ? ', with a checkpoint' : ''}): continue it with --resume, ` +
            'or start over with --store-reset');
        }
      } else if (spec.resume) {
        throw new Error(`${where} holds no run to resume`);
      }
      if (created || (await store.getBlob(MODEL_BLOB)) === null) await store.putBlob(MODEL_BLOB, description());
    }
    if (group) await group.barrier(-1);
    if (rank !== 0) {
      const m = runMetaOf(await store.getMeta(), where);
      if (m === null) throw new Error(`${where}: worker 0 did not create the run's metadata`);
      checkSame(m, meta, where);
    }
  } catch (e) {
    await group?.stop(`worker ${rank}: ${(e as Error).message}`).catch(() => {});
    await group?.leave().catch(() => {});
    await store.close();
    throw e;
  }
  // One trainer owns every row: a write-back cache serves its reads and writes from memory and writes the rows back
  // at each checkpoint (CachedRowStore). Several trainers read each other's rows every step: they go to the store.
  const cached = workers === 1 && spec.storeCache !== false ? new CachedRowStore(store) : null;
  if (cached) log('store: one worker: rows cached in this process, written back at every checkpoint');
  return {
    store: cached ?? store,
    control: store,
    group,
    close: async () => {
      await group?.leave().catch(() => {});
      await store.close();
    },
  };
}
