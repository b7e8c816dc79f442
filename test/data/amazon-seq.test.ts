import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadAmazonSeq } from '../../src/data/sources/amazon-seq.js';
import { validateSampleSet } from '../../src/data/sample-set.js';
import type { SampleSet } from '../../src/core/types.js';
import { AMAZON_FIXTURE, tmpFixture } from './helpers.js';

const hist = (s: SampleSet, i: number): number[] => [...s.histValues.subarray(s.histStart[i], s.histStart[i] + s.histLen[i])];

test('amazon-seq: vocab, catalog and skipped counts', () => {
  const dir = tmpFixture(AMAZON_FIXTURE);
  const ds = loadAmazonSeq(dir);
  assert.equal(ds.format, 'amazon-seq');
  assert.deepEqual(ds.userKeys, ['u1', 'u2', 'u4']); // u3 has 2 items: skipped, its item z never enters
  assert.deepEqual(ds.catalog.itemKeys, ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  assert.deepEqual(ds.catalog.attrKeys, ['1', '2', '3']);
  assert.deepEqual([...ds.catalog.attrOffsets], [0, 2, 3, 4, 4, 5, 5, 5]);
  assert.deepEqual([...ds.catalog.attrValues], [0, 1, 1, 2, 0]);
  assert.deepEqual(ds.skipped, { usersWithFewerThan3Items: 1, itemsWithoutAttributes: 2, duplicateAttributes: 1 });
  assert.equal(ds.stats?.attributeItemsNotInSequences, 1);
});

test('amazon-seq: exact samples of the protocol', () => {
  const ds = loadAmazonSeq(tmpFixture(AMAZON_FIXTURE), { seed: 1 });
  const [a, b, c, d, e, f, g] = [0, 1, 2, 3, 4, 5, 6];
  // [user, positive candidate, history]
  const expTrain: [number, number, number[]][] = [
    [0, b, [a]],
    [0, c, [a, b]],
    [1, e, [b]],
    [2, a, [c]],
    [2, e, [c, a]],
    [2, g, [c, a, e]],
  ];
  const expTest: [number, number, number[]][] = [
    [0, d, [a, b, c]],
    [1, f, [b, e]],
    [2, b, [c, a, e, g]],
  ];
  const userItems = [new Set([a, b, c, d]), new Set([b, e, f]), new Set([c, a, e, g, b])];
  for (const [set, exp] of [
    [ds.train, expTrain],
    [ds.test, expTest],
  ] as const) {
    assert.equal(set.size, exp.length * 2);
    validateSampleSet(set, ds.catalog.numItems, ds.numUsers);
    exp.forEach(([u, item, h], k) => {
      const p = 2 * k;
      assert.equal(set.labels[p], 1);
      assert.equal(set.users[p], u);
      assert.equal(set.items[p], item);
      assert.deepEqual(hist(set, p), h);
      // The negative: same user and history (same slice), an item the user never touched.
      assert.equal(set.labels[p + 1], 0);
      assert.equal(set.users[p + 1], u);
      assert.equal(set.histStart[p + 1], set.histStart[p]);
      assert.equal(set.histLen[p + 1], set.histLen[p]);
      assert.ok(!userItems[u].has(set.items[p + 1]), `negative ${set.items[p + 1]} of user ${u}`);
    });
  }
  // Histories are stored once per user (b1..b(n−1)) and shared by train and test.
  assert.equal(ds.train.histValues, ds.test.histValues);
  assert.deepEqual([...ds.train.histValues], [a, b, c, b, e, c, a, e, g]);
});

test('amazon-seq: negatives are deterministic by seed and change with it', () => {
  const dir = tmpFixture(AMAZON_FIXTURE);
  const x = loadAmazonSeq(dir, { seed: 1 });
  const y = loadAmazonSeq(dir, { seed: 1 });
  const z = loadAmazonSeq(dir, { seed: 2 });
  assert.deepEqual(x.train, y.train);
  assert.deepEqual(x.test, y.test);
  const negs = (s: SampleSet): number[] => [...s.items].filter((_, i) => i % 2 === 1);
  assert.notDeepEqual([...negs(x.train), ...negs(x.test)], [...negs(z.train), ...negs(z.test)]);
  assert.deepEqual(z.buildOptions.seed, 2);
});

test('amazon-seq: malformed input names file and line', () => {
  const fail = { onError: 'fail' } as const;
  const noItems = tmpFixture({ 'X.txt': 'u1 a b c\n\nu2\n', 'X_item2attributes.json': '{}' });
  assert.throws(() => loadAmazonSeq(noItems, fail), (e: Error) => e.message.includes(`${join(noItems, 'X.txt')}:3`));
  const dup = tmpFixture({ 'X.txt': 'u1 a b c\nu1 d e f\n', 'X_item2attributes.json': '{}' });
  assert.throws(() => loadAmazonSeq(dup, fail), /X\.txt:2: user "u1" already appeared on line 1/);
  const badJson = tmpFixture({ 'X.txt': 'u1 a b c\n', 'X_item2attributes.json': '{"a": [1' });
  assert.throws(() => loadAmazonSeq(badJson), /X_item2attributes\.json: invalid JSON/); // structural: also under 'skip'
  const notArray = tmpFixture({ 'X.txt': 'u1 a b c\n', 'X_item2attributes.json': '{"a": 3}' });
  assert.throws(() => loadAmazonSeq(notArray, fail), /X_item2attributes\.json: item "a": expected an array of attribute ids, found 3/);
  // Blank lines and CRLF are fine, and counted.
  const blank = tmpFixture({ 'X.txt': 'u1 a b c\r\n\r\nu2\tb c d\r\n', 'X_item2attributes.json': '{}' });
  const ds = loadAmazonSeq(blank);
  assert.equal(ds.skipped.blankLines, 1);
  assert.equal(ds.skipped.itemsWithoutAttributes, 4);
  assert.equal(ds.numUsers, 2);
});

test('amazon-seq: row errors are skipped and counted by default; structural problems always throw', () => {
  const dir = tmpFixture({
    'X.txt': 'u1 a b c\nu2\nu1 d e f\nu3,a,b,c\nu4 b c d e\n',
    'X_item2attributes.json': '{"a": [1], "b": 7, "c": [2, {"x": 1}], "d": [3]}',
  });
  const ds = loadAmazonSeq(dir);
  const f = join(dir, 'X.txt');
  const j = join(dir, 'X_item2attributes.json');
  assert.deepEqual(ds.userKeys, ['u1', 'u4']);
  assert.deepEqual(ds.skipped, { usersWithoutItems: 2, duplicateUsers: 1, badAttributeLists: 2, itemsWithoutAttributes: 1 });
  assert.deepEqual(ds.skippedExamples, [
    `${f}:2: user "u2" has no items (expected "user item item …", whitespace separated)`,
    `${f}:3: user "u1" already appeared on line 1 (expected one line per user)`,
    `${j}: item "b": expected an array of attribute ids, found 7`,
  ]);
  // b and c keep no attributes; a → 1, d → 3.
  assert.deepEqual(ds.catalog.attrKeys, ['1', '3']);
  assert.deepEqual([...ds.catalog.attrOffsets], [0, 1, 1, 1, 2, 2]);
  assert.equal(ds.buildOptions.onError, 'skip');
  validateSampleSet(ds.train, ds.catalog.numItems, ds.numUsers);
  validateSampleSet(ds.test, ds.catalog.numItems, ds.numUsers);
  assert.throws(() => loadAmazonSeq(dir, { onError: 'fail' }), (e: Error) => e.message === ds.skippedExamples?.[0]);
  assert.throws(() => loadAmazonSeq(dir, { onError: 'maybe' as 'skip' }), /onError must be 'skip' or 'fail'/);
  // Every line malformed (a comma-separated file): structural, showing the first skipped line.
  const commas = tmpFixture({ 'X.txt': 'u1,a,b,c\nu2,b,c,d\n', 'X_item2attributes.json': '{}' });
  assert.throws(() => loadAmazonSeq(commas), /X\.txt: no user with at least 3 items \(2 malformed rows were skipped, e\.g\. .*X\.txt:1: user "u1,a,b,c" has no items/);
  // Empty files.
  assert.throws(() => loadAmazonSeq(tmpFixture({ 'X.txt': '\n \n', 'X_item2attributes.json': '{}' })), /X\.txt: empty file/);
  assert.throws(() => loadAmazonSeq(tmpFixture({ 'X.txt': 'u1 a b c\n', 'X_item2attributes.json': '' })), /X_item2attributes\.json: empty file/);
  // A BOM before the JSON is fine.
  assert.equal(loadAmazonSeq(tmpFixture({ 'X.txt': 'u1 a b c\nu2 d e f\n', 'X_item2attributes.json': '\ufeff{"a": [1]}' })).catalog.numAttrs, 1);
});
