/**
 * Warm start (`din train --init-from DIR --data NEW_DAY`): a new model for new data begins with a trained model's
 * weights. Daily retraining in ads and recommendation works this way: yesterday's model, today's log.
 *
 * The new data has its own vocabularies (ids are dense indices of each dataset), so rows are matched by their raw
 * keys, table by table: goods rows and item biases by item key, attribute rows by attribute key, item-field and
 * user/context-field rows by value. A key the trained model knew keeps its row; a new key keeps the fresh row the new
 * model was initialized with (exactly as a cold start would have it); the shared out-of-vocabulary / rare row maps to
 * the shared row. Dense weights and Dice averages are copied (the architecture must be the same).
 *
 * The optimizer: `reset` (default) starts it fresh; `keep` carries Adam's moments (matched by key like the rows) and
 * its step count over from the trained run's newest resumable checkpoint (DIR/checkpoints, written by `--out`).
 * MBA's counts n_j restart from the new data: n_j is defined over the data being trained on, and counts accumulated
 * over old days would shrink the penalty of ids that were frequent once and are rare now, which is what MBA guards
 * against.
 */
import { loadCheckpoint } from '../checkpoint/checkpoint.js';
import type { SampleField } from '../core/fields.js';
import type { ItemCatalog } from '../core/types.js';
import { createBackend } from '../kernels/backends.js';
import type { Model, ModelConfig } from '../models/model.js';
import { readLatestCheckpoint } from './resume.js';
import type { OptimizerInit } from './trainer.js';

/** What a warm start carried over, per table: rows matched by key and rows left fresh. */
export interface WarmStartReport {
  /** The trained model's directory. */
  from: string;
  /** Per embedding table: rows kept from the trained model, rows new to it. */
  tables: Record<string, {
    /** Rows whose key the trained model knew: copied from it. */
    kept: number;
    /** Rows with a key new to the trained model: left as the new model initialized them. */
    fresh: number;
  }>;
  /** Whether the optimizer's state was carried over. */
  optimizer: 'keep' | 'reset';
}

const SHARED = '\u0000shared-row';

/** The key of every goods row (item bias rows alike): its item's key; the row several items share: SHARED. */
function goodsRowKeys(c: Pick<ItemCatalog, 'numItems' | 'itemKeys' | 'goodsRows' | 'numGoodsRows'>): string[] {
  if (!c.goodsRows) return c.itemKeys.slice(0, c.numItems);
  const keys = new Array<string | undefined>(c.numGoodsRows ?? 0);
  for (let i = 0; i < c.numItems; i++) {
    const r = c.goodsRows[i];
    if (r < 0) continue;
    keys[r] = keys[r] === undefined ? c.itemKeys[i] : SHARED;
  }
  return keys.map((k) => k ?? SHARED);
}

/** Row keys of every embedding table of a model built on this catalog and these sample fields, by param name. */
export function tableKeys(catalog: ItemCatalog, sampleFields: readonly SampleField[] | undefined): Map<string, string[]> {
  const m = new Map<string, string[]>();
  const goods = goodsRowKeys(catalog);
  m.set('goods_emb', goods);
  m.set('item_bias', goods);
  m.set('attr_emb', catalog.attrKeys);
  for (const f of catalog.itemFields ?? []) m.set(`field.${f.name}`, f.keys);
  for (const f of sampleFields ?? []) m.set(`${f.group === 'user' ? 'user' : 'ctx'}.${f.name}`, f.keys);
  return m;
}

function configDifferences(a: ModelConfig, b: ModelConfig): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const out: string[] = [];
  for (const k of keys) {
    const va = JSON.stringify((a as unknown as Record<string, unknown>)[k]);
    const vb = JSON.stringify((b as unknown as Record<string, unknown>)[k]);
    if (va !== vb) out.push(`${k}: ${va} vs ${vb}`);
  }
  return out;
}

/**
 * Copies a trained model (checkpoint directory `dir`) into `model` (new, built on `catalog` and `sampleFields`), row by
 * key. With `optimizer: 'keep'`, also returns the optimizer state to start from. Throws naming what does not fit.
 */
export function warmStart(model: Model, catalog: ItemCatalog, sampleFields: readonly SampleField[] | undefined, dir: string,
  optimizer: 'keep' | 'reset', stateSlots: number): {
    /** What was carried over, table by table. */
    report: WarmStartReport;
    /**
     * With `optimizer: 'keep'` and a stateful optimizer (`stateSlots` > 0): the trained run's newest checkpoint's
     * optimizer state, rows matched by key like the weights (fresh rows start at zero), for {@link TrainHooks.initialOptimizer}.
     */
    optimizer?: OptimizerInit;
  } {
  const old = loadCheckpoint(dir, createBackend('js-f32'));
  const diff = configDifferences(old.info.config, model.config);
  if (diff.length > 0) throw new Error(`--init-from ${dir}: the trained model's architecture differs (${diff.join('; ')})`);
  const oldKeys = tableKeys(old.catalog, old.info.sampleFields);
  const newKeys = tableKeys(catalog, sampleFields);
  const oldParams = new Map(old.model.params().map((p) => [p.name, p]));
  const report: WarmStartReport = { from: dir, tables: {}, optimizer };
  const rowMaps = new Map<string, Int32Array>();
  for (const p of model.params()) {
    const q = oldParams.get(p.name);
    if (!q) throw new Error(`--init-from ${dir}: the trained model has no parameter "${p.name}" (the data has fields the model was not trained with)`);
    if (!p.sparse) {
      if (q.value.length !== p.value.length) throw new Error(`--init-from ${dir}: "${p.name}" has ${q.value.length} values, the new model ${p.value.length}`);
      p.value.set(q.value);
      continue;
    }
    const ok = oldKeys.get(p.name);
    const nk = newKeys.get(p.name);
    if (!ok || !nk) throw new Error(`--init-from: no row keys for table "${p.name}"`);
    const [rows, dim] = p.shape;
    if (q.shape[1] !== dim) throw new Error(`--init-from ${dir}: table "${p.name}" rows have ${q.shape[1]} values, the new model ${dim}`);
    const index = new Map<string, number>();
    ok.forEach((k, r) => {
      if (k !== SHARED && !index.has(k)) index.set(k, r);
    });
    const sharedOld = ok.indexOf(SHARED);
    const map = new Int32Array(rows).fill(-1);
    let kept = 0;
    for (let r = 0; r < Math.min(rows, nk.length); r++) {
      const k = nk[r];
      const from = k === SHARED ? sharedOld : index.get(k) ?? -1;
      if (from < 0) continue;
      map[r] = from;
      for (let d = 0; d < dim; d++) p.value[r * dim + d] = q.value[from * dim + d];
      kept++;
    }
    rowMaps.set(p.name, map);
    report.tables[p.name] = { kept, fresh: rows - kept };
  }
  const ob = old.model.buffers();
  for (const [name, b] of Object.entries(model.buffers())) {
    if (!ob[name] || ob[name].length !== b.length) throw new Error(`--init-from ${dir}: no buffer "${name}" of ${b.length} values`);
    b.set(ob[name]);
  }
  if (optimizer === 'reset' || stateSlots === 0) return { report };
  const ck = readLatestCheckpoint(dir);
  if (ck === null) throw new Error(`--init-optimizer keep: ${dir} has no resumable checkpoint (train it with --out to keep one)`);
  const arrays = new Map<string, Float32Array[]>();
  for (const p of model.params()) {
    const list: Float32Array[] = [];
    for (let k = 0; k < stateSlots; k++) {
      const t = ck.tensors[`optimizer.${k}.${p.name}`];
      if (!t) throw new Error(`--init-optimizer keep: the checkpoint of ${dir} has no optimizer state for "${p.name}" (another optimizer?)`);
      const a = new Float32Array(p.value.length);
      const map = rowMaps.get(p.name);
      if (!map) {
        a.set(t.data);
      } else {
        const dim = p.shape[1];
        for (let r = 0; r < map.length; r++) {
          const from = map[r];
          if (from >= 0) for (let d = 0; d < dim; d++) a[r * dim + d] = t.data[from * dim + d];
        }
      }
      list.push(a);
    }
    arrays.set(p.name, list);
  }
  return { report, optimizer: { steps: ck.state.optimizerSteps, arrays } };
}
