import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAmazonSeq } from '../../src/data/sources/amazon-seq.js';
import { SHARED_DATA } from './helpers.js';

const DIR = join(SHARED_DATA, 'amazon-beauty');

test('amazon-beauty (real data): sample counts follow the protocol', (t) => {
  if (!existsSync(join(DIR, 'Beauty.txt'))) {
    t.skip(`real data not found at ${DIR}`);
    return;
  }
  const lengths = readFileSync(join(DIR, 'Beauty.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(/\s+/).length - 1);
  const kept = lengths.filter((n) => n >= 3);
  const ds = loadAmazonSeq(DIR);
  assert.equal(ds.numUsers, kept.length);
  assert.equal(ds.train.size, kept.reduce((a, n) => a + (n - 2) * 2, 0));
  assert.equal(ds.test.size, kept.length * 2);
  assert.equal(ds.name, 'amazon-beauty');
  // Positives and negatives alternate; negatives are never items of the user.
  const items = new Map<number, Set<number>>();
  for (let i = 0; i < ds.test.size; i += 2) {
    const u = ds.test.users[i];
    const s = new Set(ds.test.histValues.subarray(ds.test.histStart[i], ds.test.histStart[i] + ds.test.histLen[i]));
    s.add(ds.test.items[i]);
    items.set(u, s);
  }
  for (const set of [ds.train, ds.test]) {
    for (let i = 0; i < set.size; i++) {
      assert.equal(set.labels[i], i % 2 === 0 ? 1 : 0);
      if (i % 2 === 1 && items.get(set.users[i])!.has(set.items[i])) assert.fail(`negative ${i} is an item of its user`);
    }
  }
});
