import type { Dataset, SampleSet } from '../core/types.js';
import { validateItemField } from '../core/fields.js';

/** A zero-filled SampleSet of `size` samples whose histories point into `histValues`. */
export function allocSampleSet(size: number, histValues: Int32Array): SampleSet {
  return {
    size,
    labels: new Uint8Array(size),
    users: new Int32Array(size),
    items: new Int32Array(size),
    histStart: new Int32Array(size),
    histLen: new Int32Array(size),
    histValues,
  };
}

/** Throws if a SampleSet is internally inconsistent (array lengths, history ranges, id ranges). For tests/caches. */
export function validateSampleSet(s: SampleSet, numItems: number, numUsers: number, what = 'samples', fieldSizes: number[] = []): void {
  const n = s.size;
  for (const [k, a] of [
    ['labels', s.labels],
    ['users', s.users],
    ['items', s.items],
    ['histStart', s.histStart],
    ['histLen', s.histLen],
  ] as const) {
    if (a.length !== n) throw new Error(`${what}: ${k} has length ${a.length}, expected ${n}`);
  }
  const H = s.histValues.length;
  for (let i = 0; i < n; i++) {
    if (s.labels[i] > 1) throw new Error(`${what}[${i}]: label ${s.labels[i]} not 0/1`);
    if (s.users[i] < 0 || s.users[i] >= numUsers) throw new Error(`${what}[${i}]: user ${s.users[i]} out of range`);
    if (s.items[i] < 0 || s.items[i] >= numItems) throw new Error(`${what}[${i}]: item ${s.items[i]} out of range`);
    const a = s.histStart[i];
    const l = s.histLen[i];
    if (a < 0 || l < 0 || a + l > H) throw new Error(`${what}[${i}]: history [${a}, ${a + l}) outside 0..${H}`);
  }
  for (let k = 0; k < H; k++) {
    const v = s.histValues[k];
    if (v < 0 || v >= numItems) throw new Error(`${what}: histValues[${k}] = ${v} out of range`);
  }
  const fv = s.fieldValues ?? [];
  if (fv.length !== fieldSizes.length) throw new Error(`${what}: ${fv.length} sample fields, expected ${fieldSizes.length}`);
  fv.forEach((col, f) => {
    if (col.length !== n) throw new Error(`${what}: sample field ${f} has length ${col.length}, expected ${n}`);
    for (let i = 0; i < n; i++) {
      if (!(col[i] >= 0 && col[i] < fieldSizes[f])) throw new Error(`${what}[${i}]: sample field ${f} id ${col[i]} outside 0..${fieldSizes[f] - 1}`);
    }
  });
}

/** Throws if a Dataset is inconsistent: both splits, the catalog's item fields and the sample fields' id ranges. */
export function validateDataset(ds: Dataset): void {
  const sizes = (ds.sampleFields ?? []).map((f) => f.size);
  for (const f of ds.catalog.itemFields ?? []) validateItemField(f, ds.catalog.numItems, `${ds.name} catalog`);
  validateSampleSet(ds.train, ds.catalog.numItems, ds.numUsers, `${ds.name} train`, sizes);
  validateSampleSet(ds.test, ds.catalog.numItems, ds.numUsers, `${ds.name} test`, sizes);
}

/**
 * Writes a positive (label 1, candidate `pos`) and its paired negative (label 0, candidate `neg`) with the same user and
 * history slice at rows i and i+1 (the Amazon protocol); returns the next free row.
 */
export function putPair(set: SampleSet, i: number, u: number, pos: number, neg: number, start: number, len: number): number {
  set.labels[i] = 1;
  set.users[i] = u;
  set.items[i] = pos;
  set.histStart[i] = start;
  set.histLen[i] = len;
  set.labels[i + 1] = 0;
  set.users[i + 1] = u;
  set.items[i + 1] = neg;
  set.histStart[i + 1] = start;
  set.histLen[i + 1] = len;
  return i + 2;
}
