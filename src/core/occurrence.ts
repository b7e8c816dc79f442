/**
 * Per-sample occurrence counts n_j: in how many samples id j occurs at least once. The paper's mini-batch-aware
 * regularization (Eq. 6–7) scales the L2 penalty of embedding row j by 1/n_j. A sample counts once for an id however
 * many times the id occurs in it (candidate and history, or repeated behaviours), and histories are truncated to the
 * most recent maxHistory behaviours exactly as the batcher feeds them.
 *
 * Cost: O(samples + history ids visited) with an O(rows) stamp array; tables are never scanned per sample.
 */
import type { SampleSet } from './types.js';

/** Calls `emit(row)` for every table row sample i looks up (duplicates allowed: they are counted once). */
export type SampleVisitor = (i: number, emit: (row: number) => void) => void;

export function countPerSample(set: SampleSet, rows: number, visit: SampleVisitor): Float64Array {
  const counts = new Float64Array(rows);
  const stamp = new Int32Array(rows).fill(-1);
  let cur = 0;
  const emit = (row: number): void => {
    if (!(row >= 0 && row < rows)) throw new RangeError(`occurrence count: row ${row} outside 0..${rows - 1} (sample ${cur})`);
    if (stamp[row] !== cur) {
      stamp[row] = cur;
      counts[row]++;
    }
  };
  for (let i = 0; i < set.size; i++) {
    cur = i;
    visit(i, emit);
  }
  return counts;
}

/** [from, end) of sample i's history in histValues, truncated to the most recent maxHistory (≤ 0: all). */
export function historyRange(set: SampleSet, i: number, maxHistory: number): [number, number] {
  const end = set.histStart[i] + set.histLen[i];
  const len = maxHistory > 0 && set.histLen[i] > maxHistory ? maxHistory : set.histLen[i];
  return [end - len, end];
}

/** Calls f(item) for each behaviour of sample i the model sees. */
export function forEachBehaviour(set: SampleSet, i: number, maxHistory: number, f: (item: number) => void): void {
  const [from, end] = historyRange(set, i, maxHistory);
  const hv = set.histValues;
  for (let k = from; k < end; k++) f(hv[k]);
}
