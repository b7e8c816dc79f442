import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validationSplit } from '../../src/data/split.js';
import type { Dataset } from '../../src/core/types.js';

test('validationSplit holds out each user\'s longest-history training samples and never touches test', () => {
  const histValues = Int32Array.from([0, 1, 2, 3, 4]);
  // user 0: histories of length 1,1,2,2 (pairs); user 1: only length 1 (nothing to hold out)
  const train = {
    size: 6,
    labels: Uint8Array.from([1, 0, 1, 0, 1, 0]),
    users: Int32Array.from([0, 0, 0, 0, 1, 1]),
    items: Int32Array.from([1, 4, 2, 3, 4, 0]),
    histStart: Int32Array.from([0, 0, 0, 0, 3, 3]),
    histLen: Int32Array.from([1, 1, 2, 2, 1, 1]),
    histValues,
  };
  const test_ = { ...train, size: 0, labels: new Uint8Array(0), users: new Int32Array(0), items: new Int32Array(0), histStart: new Int32Array(0), histLen: new Int32Array(0) };
  const ds = { name: 'x', format: 'f', catalog: {} as never, numUsers: 2, userKeys: ['a', 'b'], train, test: test_, skipped: {}, buildOptions: { seed: 1 } } as Dataset;
  const v = validationSplit(ds);
  assert.deepEqual(Array.from(v.test.items), [2, 3]);
  assert.deepEqual(Array.from(v.test.histLen), [2, 2]);
  assert.deepEqual(Array.from(v.train.items), [1, 4, 4, 0]);
  assert.deepEqual(Array.from(v.train.users), [0, 0, 1, 1]);
  assert.equal(v.name, 'x-validation');
  assert.equal(v.buildOptions.split, 'validation');
  assert.equal(ds.train.size, 6, 'input untouched');
});
