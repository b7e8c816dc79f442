import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateSynthetic, syntheticOptions, SYNTHETIC_PRESETS } from '../../src/data/sources/synthetic.js';
import { validateSampleSet } from '../../src/data/sample-set.js';

test('synthetic: sizes, validity, determinism by seed', () => {
  const o = syntheticOptions('small');
  const ds = generateSynthetic(o);
  assert.equal(ds.train.size, o.users * o.trainPerUser);
  assert.equal(ds.test.size, o.users * o.testPerUser);
  assert.equal(ds.catalog.numItems, o.items);
  assert.equal(ds.catalog.numAttrs, o.clusters + o.superClusters);
  assert.equal(ds.numUsers, o.users);
  validateSampleSet(ds.train, o.items, o.users, 'train');
  validateSampleSet(ds.test, o.items, o.users, 'test');
  // Attributes: [cluster, super-cluster] and super = C + cluster mod S.
  for (let i = 0; i < o.items; i++) {
    const a = ds.catalog.attrOffsets[i];
    assert.equal(ds.catalog.attrOffsets[i + 1] - a, 2);
    assert.equal(ds.catalog.attrValues[a + 1], o.clusters + (ds.catalog.attrValues[a] % o.superClusters));
  }
  // Split by time: a user's test histories extend its training histories.
  for (let u = 0; u < 20; u++) {
    const lastTrain = u * o.trainPerUser + o.trainPerUser - 1;
    const firstTest = u * o.testPerUser;
    assert.equal(ds.test.users[firstTest], u);
    assert.equal(ds.test.histStart[firstTest], ds.train.histStart[lastTrain]);
    assert.equal(ds.test.histLen[firstTest], ds.train.histLen[lastTrain] + 1);
  }
  assert.deepEqual(generateSynthetic(o), ds);
  const other = generateSynthetic({ ...o, seed: 2 });
  assert.notDeepEqual(other.train.labels, ds.train.labels);
  // The planted signal is strong: the true P(click) ranks test samples well.
  assert.ok(ds.stats!.oracleTestAuc > 0.75, `oracle AUC ${ds.stats!.oracleTestAuc}`);
});

test('synthetic: default preset sizes and overrides', () => {
  const d = SYNTHETIC_PRESETS.default;
  assert.equal(d.users * d.trainPerUser, 160_000);
  assert.equal(d.users * d.testPerUser, 30_000);
  const o = syntheticOptions('small', { users: 10, trainPerUser: 2, testPerUser: 1 });
  const ds = generateSynthetic(o);
  assert.equal(ds.train.size, 20);
  assert.equal(ds.test.size, 10);
  assert.throws(() => generateSynthetic({ ...o, interestsMax: 1000 }), /interestsMax/);
});
