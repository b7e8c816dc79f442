import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ItemCatalog } from '../data/types.js';
import type { CategoricalField, SampleField } from '../data/fields.js';
import type { Backend } from '../nn/backend.js';
import { createBackend } from '../nn/backends.js';
import { createModel } from '../models/index.js';
import type { Model, ModelConfig } from '../models/model.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.js';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'din-model';
export const CHECKPOINT_VERSION = 1;

/** What a checkpoint's model.json holds besides weights. */
export interface CheckpointInfo {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  createdAt: string;
  config: ModelConfig;
  /** Training options of the run (so `din eval` rebuilds the same data and batching). */
  train: Record<string, unknown>;
  /** Where the data came from and how it was built. */
  dataset: {
    name: string;
    format: string;
    path?: string;
    buildOptions: Record<string, unknown>;
    skipped: Record<string, number>;
  };
  catalog: {
    numItems: number;
    numAttrs: number;
    itemKeys: string[];
    attrKeys: string[];
    attrOffsets: number[];
    attrValues: number[];
    /** Goods filter (reg filter): goods-table row of each item, and the number of rows. */
    goodsRows?: number[];
    numGoodsRows?: number;
    goodsOov?: boolean;
    /** Extra item fields: vocabulary and each item's id (−1 = none). */
    itemFields?: Array<CategoricalField & { values: number[] }>;
  };
  /** User-profile and context fields with their vocabularies (so serving maps raw values to the same ids). */
  sampleFields?: SampleField[];
  /** Non-trainable state (Dice moving averages); the authoritative copy is in weights.safetensors as buffer.*. */
  buffers: Record<string, number[]>;
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

/** Loads a checkpoint into a fresh model on the given backend (default: the fast one). */
export function loadCheckpoint(dir: string, backend: Backend = createBackend()): { model: Model; info: CheckpointInfo; catalog: ItemCatalog } {
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
