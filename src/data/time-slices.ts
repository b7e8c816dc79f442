/**
 * "Days" of a dataset for incremental training (`din train --train-slice d/D`): each user's training samples are cut
 * by time into D consecutive parts, and day d trains on part d only (or days a..b with `a-b/D`). Time is the position
 * in the user's sequence — the history length of a sample, which grows with every event — so this works on every
 * source, including those without time stamps (Amazon sequences): a user's samples are split evenly by history length
 * between the shortest and the longest of them. Histories keep every earlier behaviour (yesterday's clicks are today's
 * history), the test split is unchanged (every day is measured on the same future), and the model's vocabulary grows
 * day by day as the goods of each day's samples are seen (ids never seen in training share the out-of-vocabulary row).
 */
import { selectSamples } from './split.js';
import type { Dataset } from '../core/types.js';

/** Days `from..to` (1-based, inclusive) of `of`. */
export interface TrainSlice {
  from: number;
  to: number;
  of: number;
}

/** Parses `d/D` or `a-b/D`; throws naming the expected form. */
export function parseTrainSlice(text: string): TrainSlice {
  const m = /^(\d+)(?:-(\d+))?\/(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`a train slice is d/D or a-b/D (days 1..D), got "${text}"`);
  const of = Number(m[3]);
  const from = Number(m[1]);
  const to = m[2] !== undefined ? Number(m[2]) : from;
  if (!(of >= 1 && from >= 1 && to >= from && to <= of)) throw new Error(`train slice "${text}": need 1 <= a <= b <= D`);
  return { from, to, of };
}

/** The day (1..of) of each training sample of `ds` (see the file header). */
export function sampleDays(ds: Pick<Dataset, 'train' | 'numUsers'>, of: number): Uint8Array | Uint16Array {
  const t = ds.train;
  const lo = new Int32Array(ds.numUsers).fill(2 ** 31 - 1);
  const hi = new Int32Array(ds.numUsers).fill(-1);
  for (let i = 0; i < t.size; i++) {
    const u = t.users[i];
    const L = t.histLen[i];
    if (L < lo[u]) lo[u] = L;
    if (L > hi[u]) hi[u] = L;
  }
  const days = of < 256 ? new Uint8Array(t.size) : new Uint16Array(t.size);
  for (let i = 0; i < t.size; i++) {
    const u = t.users[i];
    const span = hi[u] - lo[u] + 1;
    days[i] = 1 + Math.min(of - 1, Math.floor(((t.histLen[i] - lo[u]) * of) / span));
  }
  return days;
}

/** The dataset with only the training samples of the slice's days (test split, catalog and users unchanged). */
export function sliceTrainingDays(ds: Dataset, slice: TrainSlice): Dataset {
  const days = sampleDays(ds, slice.of);
  const train = selectSamples(ds.train, (i) => days[i] >= slice.from && days[i] <= slice.to);
  if (train.size === 0) throw new Error(`train slice ${slice.from}-${slice.to}/${slice.of}: no training samples`);
  const tag = slice.from === slice.to ? `${slice.from}of${slice.of}` : `${slice.from}-${slice.to}of${slice.of}`;
  return { ...ds, name: `${ds.name}-day${tag}`, train, buildOptions: { ...ds.buildOptions, trainSlice: `${slice.from}-${slice.to}/${slice.of}` } };
}
