import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ItemCatalog } from '../core/types.js';
import type { CategoricalField, SampleField } from '../core/fields.js';
import type { Backend } from '../kernels/backend.js';
import { createBackend } from '../kernels/backends.js';
import { createModel } from '../models/index.js';
import type { Model, ModelConfig } from '../models/model.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.js';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'din-model';
export const CHECKPOINT_VERSION = 1;

/** What a checkpoint's model.json holds besides weights. */
export interface CheckpointInfo {
  /** Always "din-model": {@link readCheckpointInfo} refuses any other file. */
  format: typeof CHECKPOINT_FORMAT;
  /** Layout version of model.json (1, the only one read). */
  version: number;
  /** ISO 8601 time the checkpoint was written (part of the serving engine's `modelVersion`). */
  createdAt: string;
  /** The architecture the weights belong to; loading rebuilds the model from it. */
  config: ModelConfig;
  /** Training options of the run (so `din eval` rebuilds the same data and batching). */
  train: Record<string, unknown>;
  /** Where the data came from and how it was built. */
  dataset: {
    /** Short name, e.g. "amazon-beauty". */
    name: string;
    /** Source format, e.g. "amazon-seq", "schema" (serving uses it to tell how unknown goods ids map). */
    format: string;
    /** The data path training was given (absent for data built in memory). */
    path?: string;
    /** Options the dataset was built with (seed, negatives, split …), enough to rebuild it. */
    buildOptions: Record<string, unknown>;
    /** Rows or lines skipped while reading, by reason. */
    skipped: Record<string, number>;
  };
  /**
   * The item catalog the model was built with (after the goods filter or the OOV row), as JSON: it maps raw ids to
   * table rows when the checkpoint is evaluated or served.
   */
  catalog: {
    /** Number of items; item ids are 0..numItems−1. */
    numItems: number;
    /** Number of attribute (category) ids. */
    numAttrs: number;
    /** Raw key of each item id (e.g. an ASIN). */
    itemKeys: string[];
    /** Raw key of each attribute id. */
    attrKeys: string[];
    /** CSR offsets: the attributes of item i are attrValues[attrOffsets[i] .. attrOffsets[i+1]). */
    attrOffsets: number[];
    /** Attribute ids of all items, concatenated (see `attrOffsets`). */
    attrValues: number[];
    /**
     * Goods-id row of each item (−1: no goods id) when goods ids are remapped: by the goods filter (reg filter), by
     * the shared OOV row of goods unseen in training, or by a vocabulary. Absent: item i is row i.
     */
    goodsRows?: number[];
    /** Rows of the goods tables when `goodsRows` is set. */
    numGoodsRows?: number;
    /** Whether the last goods row is the shared rare / out-of-vocabulary row. */
    goodsOov?: boolean;
    /** Extra item fields: vocabulary and each item's id (−1 = none). */
    itemFields?: Array<CategoricalField & {
      /** The field's id of each item (index = item id), −1 = none. */
      values: number[];
    }>;
  };
  /** User-profile and context fields with their vocabularies (so serving maps raw values to the same ids). */
  sampleFields?: SampleField[];
  /** Non-trainable state (Dice moving averages); the authoritative copy is in weights.safetensors as buffer.*. */
  buffers: Record<string, number[]>;
  /** Summary of the run's metrics.json (`test` and `train`); absent when saved without metrics. */
  metrics?: Record<string, unknown>;
}

export function catalogToJson(c: ItemCatalog): CheckpointInfo['catalog'] {
  return {
    numItems: c.numItems,
    numAttrs: c.numAttrs,
    itemKeys: c.itemKeys,
    attrKeys: c.attrKeys,
    attrOffsets: Array.from(c.attrOffsets),
    attrValues: Array.from(c.attrValues),
    ...(c.goodsRows ? { goodsRows: Array.from(c.goodsRows), numGoodsRows: c.numGoodsRows, goodsOov: c.goodsOov } : {}),
    ...(c.itemFields?.length ? { itemFields: c.itemFields.map((f) => ({ ...f, values: Array.from(f.values) })) } : {}),
  };
}

export function catalogFromJson(c: CheckpointInfo['catalog']): ItemCatalog {
  return {
    numItems: c.numItems,
    numAttrs: c.numAttrs,
    itemKeys: c.itemKeys,
    attrKeys: c.attrKeys,
    attrOffsets: Int32Array.from(c.attrOffsets),
    attrValues: Int32Array.from(c.attrValues),
    ...(c.goodsRows ? { goodsRows: Int32Array.from(c.goodsRows), numGoodsRows: c.numGoodsRows, goodsOov: c.goodsOov } : {}),
    ...(c.itemFields?.length ? { itemFields: c.itemFields.map((f) => ({ ...f, values: Int32Array.from(f.values) })) } : {}),
  };
}

/**
 * Saves a model into dir: weights.safetensors first, model.json last, each written atomically, so a directory with a
 * model.json always has the weights that belong to it.
 */
export function saveCheckpoint(dir: string, model: Model, info: Omit<CheckpointInfo, 'format' | 'version' | 'createdAt' | 'config' | 'buffers'>): void {
  const tensors: Record<string, NamedTensor> = {};
  for (const p of model.params()) {
    if (tensors[p.name]) throw new Error(`duplicate parameter name "${p.name}"`);
    tensors[p.name] = { shape: p.shape, data: p.value };
  }
  const buffers: Record<string, number[]> = {};
  for (const [name, b] of Object.entries(model.buffers())) {
    tensors[`buffer.${name}`] = { shape: [b.length], data: b };
    buffers[name] = Array.from(b);
  }
  writeFileAtomic(join(dir, 'weights.safetensors'), encodeSafetensors(tensors, { format: CHECKPOINT_FORMAT, model: model.config.model }));
  const full: CheckpointInfo = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    createdAt: new Date().toISOString(),
    config: model.config,
    buffers,
    ...info,
  };
  writeJsonAtomic(join(dir, 'model.json'), full);
}

/**
 * Reads and checks `dir/model.json` without loading the weights. Throws (naming the file) when it is missing, not JSON,
 * or of another format or version.
 */
export function readCheckpointInfo(dir: string): CheckpointInfo {
  const path = join(dir, 'model.json');
  if (!existsSync(path)) throw new Error(`${dir}: not a din model directory (no model.json)`);
  let info: CheckpointInfo;
  try {
    info = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (info.format !== CHECKPOINT_FORMAT) throw new Error(`${path}: format is "${info.format}", expected "${CHECKPOINT_FORMAT}"`);
  if (info.version !== CHECKPOINT_VERSION) throw new Error(`${path}: version ${info.version} is not supported (expected ${CHECKPOINT_VERSION})`);
  return info;
}

/**
 * Loads a checkpoint into a fresh model on the given backend (default: `createBackend()`, the fast one). Throws, naming
 * the file, when model.json or weights.safetensors is missing or does not match the model (a tensor or buffer absent or
 * of another shape).
 */
export function loadCheckpoint(dir: string, backend: Backend = createBackend()): {
  /** The model with the saved weights and buffers (Dice moving averages). */
  model: Model;
  /** The parsed model.json. */
  info: CheckpointInfo;
  /** The model's item catalog, rebuilt from `info.catalog`. */
  catalog: ItemCatalog;
} {
  const info = readCheckpointInfo(dir);
  const catalog = catalogFromJson(info.catalog);
  const model = createModel(info.config, { backend, catalog, seed: 0, sampleFields: info.sampleFields });
  const wpath = join(dir, 'weights.safetensors');
  if (!existsSync(wpath)) throw new Error(`${dir}: model.json present but weights.safetensors missing`);
  const { tensors } = decodeSafetensors(readFileSync(wpath), wpath);
  for (const p of model.params()) {
    const t = tensors[p.name];
    if (!t) throw new Error(`${wpath}: missing tensor "${p.name}"`);
    if (t.shape.join('x') !== p.shape.join('x')) {
      throw new Error(`${wpath}: tensor "${p.name}" has shape [${t.shape}], the model expects [${p.shape}]`);
    }
    p.value.set(t.data);
  }
  for (const [name, b] of Object.entries(model.buffers())) {
    const t = tensors[`buffer.${name}`];
    if (!t) throw new Error(`${wpath}: missing buffer "buffer.${name}"`);
    if (t.data.length !== b.length) throw new Error(`${wpath}: buffer "${name}" has ${t.data.length} values, expected ${b.length}`);
    b.set(t.data);
  }
  return { model, info, catalog };
}
