import { allocSampleSet } from './sample-set.js';
import type { Dataset, SampleSet } from '../core/types.js';

/** The samples selected by `keep` (in their original order), sharing histValues. */
export function selectSamples(set: SampleSet, keep: (i: number) => boolean): SampleSet {
  let n = 0;
  for (let i = 0; i < set.size; i++) if (keep(i)) n++;
  const out = allocSampleSet(n, set.histValues);
  const fields = set.fieldValues;
  if (fields) out.fieldValues = fields.map(() => new Int32Array(n));
  let j = 0;
  for (let i = 0; i < set.size; i++) {
    if (!keep(i)) continue;
    out.labels[j] = set.labels[i];
    out.users[j] = set.users[i];
    out.items[j] = set.items[i];
    out.histStart[j] = set.histStart[i];
    out.histLen[j] = set.histLen[i];
    if (fields) for (let f = 0; f < fields.length; f++) out.fieldValues![f][j] = fields[f][i];
    j++;
  }
  return out;
}

/**
 * A validation split carved from the training samples, for choosing settings without looking at the test split:
 * every user's most recent training samples (those with the user's longest history) become the validation set.
 * Under the Amazon protocol that is exactly "predict b(n−1) from b1..b(n−2)", the test protocol shifted by one.
 * Users with a single training history length keep all their samples in train (nothing to hold out).
 */
export function validationSplit(ds: Dataset): Dataset {
  const { train, test } = validationSplitSet(ds.train, ds.numUsers);
  return {
    ...ds,
    name: `${ds.name}-validation`,
    train,
    test,
    buildOptions: { ...ds.buildOptions, split: 'validation' },
  };
}

/** The rule of {@link validationSplit} on one set: { train: kept samples, test: held-out validation samples }. */
export function validationSplitSet(train: SampleSet, numUsers: number): { train: SampleSet; test: SampleSet } {
  const longest = new Int32Array(numUsers).fill(-1);
  const shortest = new Int32Array(numUsers).fill(0x7fffffff);
  for (let i = 0; i < train.size; i++) {
    const u = train.users[i];
    if (train.histLen[i] > longest[u]) longest[u] = train.histLen[i];
    if (train.histLen[i] < shortest[u]) shortest[u] = train.histLen[i];
  }
  const held = (i: number) => {
    const u = train.users[i];
    return longest[u] > shortest[u] && train.histLen[i] === longest[u];
  };
  return { train: selectSamples(train, (i) => !held(i)), test: selectSamples(train, held) };
}
