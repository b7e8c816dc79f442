import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addRelaImpr, compareMarkdown, compareRow, parseModelSpec, parseRegSpec, regDisplay, selectByValidation, stat, validationScore } from '../../src/train/compare.js';
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

test('regularizer specs: names, values, display and clear errors', () => {
  assert.deepEqual(parseRegSpec('mba'), { label: 'mba', reg: 'mba', param: 'lambda' });
  assert.deepEqual(parseRegSpec('mba:0.3'), { label: 'mba:0.3', reg: 'mba', param: 'lambda', value: 0.3 });
  assert.deepEqual(parseRegSpec('filter:0'), { label: 'filter:0', reg: 'filter', param: 'filterTop', value: 0 });
  assert.deepEqual(parseRegSpec('none'), { label: 'none', reg: 'none', param: null });
  assert.throws(() => parseRegSpec('none:1'), /takes no value/);
  assert.throws(() => parseRegSpec('filter:1.5'), /bad filterTop "1\.5"/);
  assert.throws(() => parseRegSpec('dropout:1'), /bad dropoutRate "1"/);
  assert.throws(() => parseRegSpec('mba:'), /bad lambda ""/);
  assert.throws(() => parseRegSpec('weightdecay'), /unknown regularizer "weightdecay"/);
  assert.equal(regDisplay('mba', { lambda: 0.3 }), 'mba (λ=0.3)');
  assert.equal(regDisplay('filter', { filterTop: 0 }), 'filter (K=0: no goods ids)');
  assert.equal(regDisplay('none', undefined), 'none');
});

/** A run whose validation GAUC per epoch is `valid` and test GAUC per epoch is `test`. */
function curveRun(valid: number[], test: number[], refit = false): RunMetrics {
  const ev = (g: number) => ({ gauc: g, auc: g, logloss: 0.5, samples: 10, gaucUsers: 5, gaucSkippedUsers: 0 });
  const history = test.map((t, i) => ({ epoch: i + 1, lr: 1e-3, trainLoss: 0.5, seconds: 1, samplesPerSecond: 9, ...(refit ? {} : { valid: ev(valid[i]) }), test: ev(t) }));
  const run = { test: ev(test[test.length - 1]), train: { samples: 1, validationSamples: 0, seconds: 1, samplesPerSecond: 9, epochs: test.length }, history, bestEpoch: test.length } as unknown as RunMetrics;
  if (refit) run.selection = { history: valid.map((v, i) => ({ ...history[0], epoch: i + 1, valid: ev(v) })), bestEpoch: 1, stoppedEarly: false, seconds: 1 };
  return run;
}

test('grid selection uses the best validation epoch only; peak test GAUC is reported beside the kept one', () => {
  assert.equal(validationScore(curveRun([0.6, 0.7, 0.65], [0.9, 0.5, 0.5])), 0.7);
  assert.equal(validationScore(curveRun([0.61, 0.62], [0.5], true)), 0.62, 'refit runs are scored on their selection phase');
  // value 1 has the better test GAUC but the worse validation: it must not win
  const points = [
    { value: 0.1, runs: [curveRun([0.70, 0.72], [0.60, 0.61]), curveRun([0.71, 0.73], [0.60, 0.61])] },
    { value: 1, runs: [curveRun([0.69, 0.70], [0.90, 0.91]), curveRun([0.70, 0.71], [0.90, 0.91])] },
  ];
  assert.equal(selectByValidation(points), 0);
  assert.throws(() => selectByValidation([{ value: 1, runs: [curveRun([NaN], [0.5])] }]), /needs validation metrics/);
  const row = compareRow('base', 'mba', [1, 2], [curveRun([0.7, 0.7, 0.7], [0.75, 0.8, 0.7]), curveRun([0.7, 0.7, 0.7], [0.76, 0.74, 0.72])], { lambda: 0.1 });
  assert.deepEqual(row.peakTestGauc.values, [0.8, 0.76]);
  assert.deepEqual(row.peakEpoch, [2, 1]);
  assert.deepEqual(row.gauc.values, [0.7, 0.72]);
  const none = compareRow('base', 'none', [1, 2], [curveRun([0.7, 0.7, 0.7], [0.7, 0.7, 0.7]), curveRun([0.7, 0.7, 0.7], [0.7, 0.7, 0.7])]);
  addRelaImpr([row, none]);
  assert.equal(none.relaimpr, 0, 'RelaImpr is relative to base without regularization');
  assert.ok(Math.abs(row.relaimpr! - ((0.21 / 0.2 - 1) * 100)) < 1e-9);
  const md = compareMarkdown({ data: 'd', createdAt: '', options: {}, rows: [none, row], search: [
    { model: 'base', reg: 'mba', param: 'lambda', value: 0.1, validGauc: 0.72, testGauc: 0.6, chosen: true },
  ] });
  assert.match(md, /\| base \| mba \(λ=0\.1\) \| 0\.7550 \| 0\.7700 \| 0\.7100 \| 0\.7100 \| 0\.7800 \(2,1\) \|/);
  assert.match(md, /\| base \| mba \| lambda=0\.1 \| 0\.7200 \| 0\.6000 \| ✓ \|/);
});
