import { resolve } from 'node:path';
import { loadDataset } from '../data/load.js';
import { validationSplit } from '../data/split.js';
import { parseTrainSlice, sliceTrainingDays } from '../data/time-slices.js';
import type { Dataset } from '../core/types.js';
import { isShardDir, openShards, type ShardedDataset } from '../data/shards.js';
import type { RowErrorPolicy } from '../data/sources/row-errors.js';
import type { Backend } from '../kernels/backend.js';
import { createBackend } from '../kernels/backends.js';

export function log(line: string): void {
  process.stderr.write(line + '\n');
}

export function backendFrom(o: Record<string, any>): Backend {
  return createBackend(o.backend ?? 'auto');
}

export interface DataRequest {
  data?: string;
  dataset?: string;
  format?: string;
  dataSeed?: number;
  cache?: boolean;
  quiet?: boolean;
  validation?: boolean;
  /** `--train-slice d/D`: train on day d of D only (see src/data/time-slices.ts). */
  trainSlice?: string;
  /** `--on-error`: malformed rows are skipped and counted (default) or fail the load. */
  onError?: string;
  /** `--min-count`, `--top-k`, `--hash-buckets` (schema data). */
  minCount?: number;
  topK?: number;
  hashBuckets?: number;
}

/** One line summarising what was skipped while reading, with a few examples of skipped rows; null if nothing was. */
export function skippedLine(data: Pick<Dataset, 'skipped' | 'skippedExamples'>): string | null {
  const counts = Object.entries(data.skipped).filter(([, n]) => n > 0);
  if (counts.length === 0) return null;
  const clip = (s: string): string => (s.length > 200 ? `${s.slice(0, 199)}…` : s);
  const examples = (data.skippedExamples ?? []).map(clip);
  const eg = examples.length > 0 ? ` (e.g. ${examples.join('; ')})` : '';
  return `skipped: ${counts.map(([k, n]) => `${k} ${n}`).join(', ')}${eg}`;
}

/**
 * Loads the data a command asked for, printing what was read and what was skipped. A shard directory (written by
 * `din data convert`) is opened, not loaded: its samples are read shard by shard by the trainer (`allowShards`).
 */
export async function loadData(o: DataRequest, allowShards: true): Promise<{ data: Dataset | ShardedDataset; path?: string }>;
export async function loadData(o: DataRequest, allowShards?: false): Promise<{ data: Dataset; path?: string }>;
export async function loadData(o: DataRequest, allowShards = false): Promise<{ data: Dataset | ShardedDataset; path?: string }> {
  if (o.data && isShardDir(o.data)) {
    const path = resolve(o.data);
    if (!allowShards) throw new Error(`${path} is a shard directory (din data convert): this command needs a dataset it can hold in memory; train or evaluate on it with din train / din eval`);
    if (o.validation) throw new Error(`${path}: --validation does not apply to shards; train with --patience to carve a validation split per shard`);
    if (o.trainSlice) throw new Error(`${path}: --train-slice does not apply to shards yet; convert each day's data into its own shards`);
    const given = ['format', 'onError', 'minCount', 'topK', 'hashBuckets'].filter((k) => (o as Record<string, unknown>)[k] !== undefined && !(k === 'format' && o.format === 'auto') && !(k === 'onError' && o.onError === 'skip'));
    if (given.length > 0) throw new Error(`${path}: shards are already converted; --${given.map((k) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)).join(', --')} apply when converting (din data convert)`);
    const sd = openShards(path);
    if (!o.quiet) {
      log(`data ${sd.name} (${sd.format}, ${sd.shards.length} shards): ${sd.trainSize} train / ${sd.testSize} test samples, ` +
        `${sd.catalog.numItems} items, ${sd.catalog.numAttrs} attributes, ${sd.numUsers} users`);
      const skipped = skippedLine(sd);
      if (skipped !== null) log(skipped);
    }
    return { data: sd, path };
  }
  if (o.onError !== undefined && o.onError !== 'skip' && o.onError !== 'fail') {
    throw new Error(`--on-error must be skip or fail, got "${o.onError}"`);
  }
  if (!o.data && !o.dataset) {
    throw new Error('no data given: pass --data <dir> (or --data synthetic) or --dataset <name>');
  }
  const path = o.data && !o.data.startsWith('synthetic') ? resolve(o.data) : o.data;
  const t0 = performance.now();
  const loaded = await loadDataset({
    path,
    dataset: o.dataset,
    format: (o.format ?? 'auto') as any,
    seed: o.dataSeed ?? 1,
    noCache: o.cache === false,
    onError: (o.onError ?? 'skip') as RowErrorPolicy,
    vocab: { minCount: o.minCount, topK: o.topK, hashBuckets: o.hashBuckets },
    onProgress: o.quiet ? undefined : (m: string) => log(m),
  });
  const split = o.validation ? validationSplit(loaded) : loaded;
  const data = o.trainSlice ? sliceTrainingDays(split, parseTrainSlice(o.trainSlice)) : split;
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  if (!o.quiet) {
    log(
      `data ${data.name} (${data.format}): ${data.train.size} train / ${data.test.size} ${o.validation ? 'validation' : 'test'} samples, ` +
        `${data.catalog.numItems} items, ${data.catalog.numAttrs} attributes, ${data.numUsers} users (${s}s)`,
    );
    const skipped = skippedLine(data);
    if (skipped !== null) log(skipped);
  }
  return { data, path: o.data === path ? path : (path ?? o.dataset) };
}

export function fmt(x: number | undefined, digits = 4): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}
