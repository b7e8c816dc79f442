import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher, countItemOccurrences } from '../../src/data/batcher.js';
import type { Batch, SampleSet } from '../../src/core/types.js';

// histValues: 10 11 12 13 14 | 20 21
// sample: 0 → [] ; 1 → [10] ; 2 → [10 11 12] ; 3 → [10..14] ; 4 → [20 21]
const SET: SampleSet = {
  size: 5,
  labels: Uint8Array.from([1, 0, 1, 0, 1]),
  users: Int32Array.from([0, 0, 0, 0, 1]),
  items: Int32Array.from([5, 6, 7, 8, 9]),
  histStart: Int32Array.from([0, 0, 0, 0, 5]),
  histLen: Int32Array.from([0, 1, 3, 5, 2]),
  histValues: Int32Array.from([10, 11, 12, 13, 14, 20, 21]),
};

const snapshot = (b: Batch) => ({
  size: b.size,
  T: b.T,
  hist: [...b.hist],
  lengths: [...b.lengths],
  labels: [...b.labels],
  items: [...b.items],
  users: [...b.users],
  index: [...b.index],
});

test('batcher: padding, truncation to the most recent items, lengths', () => {
  const b = new Batcher(SET, { batchSize: 2, maxHistory: 3, shuffle: false });
  assert.equal(b.numBatches, 3);
  const got: ReturnType<typeof snapshot>[] = [];
  for (const x of b.epoch(0)) got.push(snapshot(x)); // copy: a Batch is only valid until the next one
  assert.deepEqual(got, [
    { size: 2, T: 1, hist: [-1, 10], lengths: [0, 1], labels: [1, 0], items: [5, 6], users: [0, 0], index: [0, 1] },
    { size: 2, T: 3, hist: [10, 11, 12, 12, 13, 14], lengths: [3, 3], labels: [1, 0], items: [7, 8], users: [0, 0], index: [2, 3] },
    { size: 1, T: 2, hist: [20, 21], lengths: [2], labels: [1], items: [9], users: [1], index: [4] },
  ]);
  const all = new Batcher(SET, { batchSize: 5, maxHistory: 0, shuffle: false });
  const one = snapshot(all.epoch().next().value as Batch);
  assert.equal(one.T, 5);
  assert.deepEqual(one.hist.slice(15, 20), [10, 11, 12, 13, 14]);
  assert.deepEqual(one.hist.slice(0, 5), [-1, -1, -1, -1, -1]);
  assert.equal(new Batcher(SET, { batchSize: 2, maxHistory: 3, shuffle: false, dropLast: true }).numBatches, 2);
});

test('batcher: reuses buffers', () => {
  const b = new Batcher(SET, { batchSize: 2, maxHistory: 4, shuffle: true, seed: 3 });
  const seen: Batch[] = [];
  const buffers = new Set<ArrayBufferLike>();
  for (let e = 0; e < 3; e++) {
    for (const x of b.epoch(e)) {
      seen.push(x);
      buffers.add(x.hist.buffer);
      buffers.add(x.labels.buffer);
    }
  }
  assert.ok(seen.every((x) => x === seen[0]));
  assert.equal(buffers.size, 2);
});

test('batcher: seeded shuffle per epoch', () => {
  const big: SampleSet = {
    size: 100,
    labels: new Uint8Array(100),
    users: new Int32Array(100),
    items: Int32Array.from({ length: 100 }, (_, i) => i),
    histStart: new Int32Array(100),
    histLen: new Int32Array(100),
    histValues: new Int32Array(0),
  };
  const a = new Batcher(big, { batchSize: 7, maxHistory: 5, shuffle: true, seed: 42 });
  const b = new Batcher(big, { batchSize: 7, maxHistory: 5, shuffle: true, seed: 42 });
  const c = new Batcher(big, { batchSize: 7, maxHistory: 5, shuffle: true, seed: 43 });
  assert.deepEqual(a.epochOrder(0), b.epochOrder(0));
  assert.notDeepEqual(a.epochOrder(0), a.epochOrder(1));
  assert.notDeepEqual(a.epochOrder(0), c.epochOrder(0));
  const fromBatches: number[] = [];
  for (const x of a.epoch(1)) {
    assert.equal(x.T, 1); // all histories empty: one padding column
    assert.deepEqual([...x.items], [...x.index]);
    fromBatches.push(...x.index);
  }
  assert.deepEqual(fromBatches, [...a.epochOrder(1)]);
  assert.deepEqual([...fromBatches].sort((p, q) => p - q), [...Array(100).keys()]);
  const plain = new Batcher(big, { batchSize: 7, maxHistory: 5, shuffle: false });
  assert.deepEqual([...plain.epochOrder(3)], [...Array(100).keys()]);
});

test('countItemOccurrences: candidates + (truncated) histories', () => {
  const brute = (max: number): number[] => {
    const c = new Array(30).fill(0);
    for (let i = 0; i < SET.size; i++) {
      c[SET.items[i]]++;
      const len = Math.min(SET.histLen[i], max);
      for (let t = SET.histLen[i] - len; t < SET.histLen[i]; t++) c[SET.histValues[SET.histStart[i] + t]]++;
    }
    return c;
  };
  assert.deepEqual([...countItemOccurrences(SET, 30)], brute(Infinity));
  assert.deepEqual([...countItemOccurrences(SET, 30, 2)], brute(2));
  assert.equal(countItemOccurrences(SET, 30)[10], 3);
});
