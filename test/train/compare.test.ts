import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addRelaImpr, compareMarkdown, compareRow, parseModelSpec, stat } from '../../src/train/compare.js';
import type { RunMetrics } from '../../src/train/run.js';

test('stat: mean and sample standard deviation', () => {
  const s = stat([1, 2, 3, 4]);
  assert.equal(s.mean, 2.5);
  assert.ok(Math.abs(s.std - Math.sqrt(5 / 3)) < 1e-15);
  assert.deepEqual(stat([7]), { mean: 7, std: 0, values: [7] });
});

test('parseModelSpec maps -dice / -prod names to Dice / the u⊙q MLP input and rejects unknown names', () => {
  assert.deepEqual(parseModelSpec('din-dice'), { name: 'din-dice', model: 'din', activation: 'dice' });
  assert.deepEqual(parseModelSpec('deepfm'), { name: 'deepfm', model: 'deepfm' });
  assert.deepEqual(parseModelSpec('din-prod'), { name: 'din-prod', model: 'din', mlpInput: 'concat-product' });
  assert.throws(() => parseModelSpec('xgboost'), /unknown model "xgboost"/);
});

function fakeRun(gauc: number, auc: number, epochs: number, best: number): RunMetrics {
  const ev = (g: number) => ({ gauc: g, auc, logloss: 0.5, samples: 10, gaucUsers: 5, gaucSkippedUsers: 0 });
  return {
    test: ev(gauc),
    train: { samples: 100, validationSamples: 10, seconds: 2, samplesPerSecond: 50, epochs },
    history: Array.from({ length: epochs }, (_, i) => ({ epoch: i + 1, lr: 1e-3, trainLoss: 0.6 - i / 100, seconds: 1, samplesPerSecond: 50, valid: ev(NaN), test: ev(gauc) })),
    bestEpoch: best,
  } as unknown as RunMetrics;
}

test('compare rows: per-seed values, RelaImpr over base, history, markdown table', () => {
  const base = compareRow('base', 'none', [1, 2], [fakeRun(0.7, 0.7, 2, 2), fakeRun(0.72, 0.74, 3, 2)]);
  const din = compareRow('din', 'none', [1, 2], [fakeRun(0.75, 0.76, 2, 1), fakeRun(0.77, 0.78, 2, 2)]);
  addRelaImpr([base, din]);
  assert.deepEqual(base.gauc.values, [0.7, 0.72]);
  assert.equal(base.relaimpr, 0);
  // ((0.76 − 0.5)/(0.71 − 0.5) − 1)·100
  assert.ok(Math.abs(din.relaimpr! - ((0.26 / 0.21 - 1) * 100)) < 1e-9);
  assert.deepEqual(din.bestEpoch, [1, 2]);
  assert.equal(base.history[1].length, 3);
  assert.deepEqual(Object.keys(base.history[0][0]).sort(), ['epoch', 'testAuc', 'testGauc', 'trainLoss', 'validAuc', 'validGauc']);
  assert.equal(base.history[0][0].validGauc, null, 'NaN becomes null in JSON');
  const md = compareMarkdown({ data: 'd', createdAt: '', options: {}, rows: [base, din] });
  assert.match(md, /\| din \| none \| 0\.7600 ± 0\.0141 \|/);
  assert.match(md, /\+23\.81%/);
});
