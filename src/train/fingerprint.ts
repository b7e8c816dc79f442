/**
 * A fingerprint of the samples and vocabularies a run trains on: trainer processes of one run must all read the same
 * data (each trains its slice of the same global batches), and a store must not be continued on other data. In
 * memory: SHA-256 over every sample array and the catalog; shards: over the catalog and the manifest's shard list (files,
 * sample counts, sizes).
 */
import { createHash } from 'node:crypto';
import { isSharded } from '../data/shards.js';
import type { SampleSet } from '../core/types.js';
import type { TrainData } from './trainer.js';

function addArray(h: ReturnType<typeof createHash>, a: ArrayBufferView): void {
  h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

function addSet(h: ReturnType<typeof createHash>, s: SampleSet): void {
  h.update(`set:${s.size};`);
  for (const a of [s.labels, s.users, s.items, s.histStart, s.histLen, s.histValues, ...(s.fieldValues ?? [])]) addArray(h, a);
}

/** A hex SHA-256 prefix identifying the training and test samples and the catalog of `data`. */
export function dataFingerprint(data: TrainData): string {
  const h = createHash('sha256');
  const c = data.catalog;
  h.update(`items:${c.numItems};attrs:${c.numAttrs};users:${data.numUsers};`);
  addArray(h, c.attrOffsets);
  addArray(h, c.attrValues);
  if (c.goodsRows) addArray(h, c.goodsRows);
  for (const f of c.itemFields ?? []) {
    h.update(`field:${f.name}:${f.size};`);
    addArray(h, f.values);
  }
  for (const f of data.sampleFields ?? []) h.update(`sample:${f.group}:${f.name}:${f.size};`);
  if (isSharded(data)) {
    h.update(`shards:${data.trainSize}:${data.testSize};`);
    h.update(JSON.stringify(data.shards));
  } else {
    addSet(h, data.train);
    addSet(h, data.test);
  }
  return h.digest('hex').slice(0, 16);
}
