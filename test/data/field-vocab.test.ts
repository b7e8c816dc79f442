import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FieldVocab, FieldVocabBuilder } from '../../src/data/field-vocab.js';
import { hashString } from '../../src/core/hash.js';

function build(values: string[], opts = {}) {
  const b = new FieldVocabBuilder('shop', opts);
  for (const v of values) b.add(v);
  return b.build();
}

test('vocabulary: OOV row 0, first-seen ids, min-count and top-K cuts', () => {
  const train = ['a', 'b', 'a', 'c', 'b', 'a', 'd'];
  const v = build(train);
  assert.deepEqual(v.keys, ['<oov>', 'a', 'b', 'c', 'd']);
  assert.deepEqual(['a', 'd', 'zzz'].map((x) => v.id(x)), [1, 4, 0]);
  assert.deepEqual(v.field(), { name: 'shop', size: 5, keys: ['<oov>', 'a', 'b', 'c', 'd'], oov: true });
  const m = build(train, { minCount: 2 });
  assert.deepEqual(m.keys, ['<oov>', 'a', 'b']);
  assert.equal(m.id('c'), 0);
  const t = build(['x', 'y', 'y', 'z', 'z', 'w'], { topK: 2 }); // y and z (2 each) beat x and w; first-seen order kept
  assert.deepEqual(t.keys, ['<oov>', 'y', 'z']);
  assert.deepEqual(build(train, { topK: 0 }).keys, ['<oov>']);
  assert.throws(() => new FieldVocabBuilder('f', { minCount: 0 }), /minCount must be an integer >= 1/);
  assert.throws(() => new FieldVocabBuilder('f', { hashBuckets: 0 }), /hashBuckets must be an integer in 1\.\.2\^30/);
});

test('hashed vocabulary: every value has a stable bucket, nothing to learn, round-trips through its field', () => {
  const h = build(['a', 'b'], { hashBuckets: 1000 });
  assert.equal(h.size, 1000);
  assert.ok(h.hashed && h.has('never seen'));
  assert.equal(h.id('a'), hashString('a') % 1000);
  assert.equal(hashString('a'), hashString('a'));
  assert.notEqual(hashString('ab'), hashString('ba'));
  // spread: 10,000 distinct values over 64 buckets, no bucket more than 2× the mean
  const counts = new Array(64).fill(0);
  for (let i = 0; i < 10000; i++) counts[hashString(`user${i}`) % 64]++;
  assert.ok(Math.max(...counts) < 2 * (10000 / 64), `max bucket ${Math.max(...counts)}`);
  const again = FieldVocab.fromField(h.field());
  assert.equal(again.id('zebra'), h.id('zebra'));
  const v = build(['q', 'r']);
  assert.deepEqual(FieldVocab.fromField(v.field()).keys, v.keys);
  assert.throws(() => new FieldVocab('f', ['a']), /keys\[0\] must be <oov>/);
});
