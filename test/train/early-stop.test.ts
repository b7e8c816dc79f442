import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadDataset } from '../../src/data/load.js';
import { createBackend } from '../../src/kernels/backends.js';
import { DEFAULT_MODEL_CONFIG } from '../../src/models/model.js';
import { evaluateModel } from '../../src/train/evaluator.js';
import { runTraining } from '../../src/train/run.js';
import { DEFAULT_TRAIN_OPTIONS, monitored } from '../../src/train/trainer.js';

test('early stopping monitors the validation split, stops on patience and keeps the best epoch\'s weights', async () => {
  const data = await loadDataset({ path: 'synthetic:small', seed: 2, noCache: true });
  const options = { ...DEFAULT_TRAIN_OPTIONS, epochs: 12, patience: 1, lr: 0.01, maxHistory: 20 };
  const config = { ...DEFAULT_MODEL_CONFIG, model: 'base' as const, goodsDim: 8, attrDim: 8 };
  const { model, metrics } = runTraining({ data, config, options, backend: createBackend('auto') });
  const h = metrics.history;
  assert.ok(h.every((r) => r.valid && r.test), 'validation and test metrics every epoch');
  const scores = h.map((r) => monitored(r.valid!));
  const best = scores.indexOf(Math.max(...scores)) + 1;
  assert.equal(metrics.bestEpoch, best, `best epoch by validation (${scores.map((x) => x.toFixed(4))})`);
  assert.ok(metrics.stoppedEarly && best < h.length, 'this setting overfits within 12 epochs, so the restore path is exercised');
  if (metrics.stoppedEarly) {
    assert.equal(h.length, best + 1, 'stopped one epoch (the patience) after the best');
  } else {
    assert.equal(h.length, 12);
  }
  assert.ok(metrics.train.validationSamples > 0 && metrics.train.samples + metrics.train.validationSamples === data.train.size,
    'validation carved from training data, test untouched');
  // The kept weights are the best epoch's: re-evaluating reproduces that epoch's test metrics exactly.
  const again = evaluateModel(model, data.test, { batchSize: 512, maxHistory: 20 });
  assert.equal(again.auc, h[best - 1].test!.auc);
  assert.equal(metrics.test.auc, h[best - 1].test!.auc);
});

test('refit: the epoch count chosen on validation is retrained from scratch on all training data', async () => {
  const data = await loadDataset({ path: 'synthetic:small', seed: 2, noCache: true });
  const config = { ...DEFAULT_MODEL_CONFIG, model: 'base' as const, goodsDim: 8, attrDim: 8 };
  const options = { ...DEFAULT_TRAIN_OPTIONS, epochs: 12, patience: 1, lr: 0.01, maxHistory: 20, refit: true };
  const { metrics } = runTraining({ data, config, options, backend: createBackend('auto') });
  assert.ok(metrics.selection, 'the selection phase is recorded');
  const chosen = metrics.selection.bestEpoch;
  assert.equal(metrics.bestEpoch, chosen);
  assert.equal(metrics.history.length, chosen, 'the refit trains exactly the chosen number of epochs');
  assert.equal(metrics.train.samples, data.train.size, 'on all training samples');
  assert.equal(metrics.train.validationSamples, 0);
  const plain = runTraining({ data, config, options: { ...options, epochs: chosen, patience: 0, refit: false }, backend: createBackend('auto') });
  assert.equal(metrics.test.auc, plain.metrics.test.auc, 'same as training that many epochs without early stopping');
  assert.equal(metrics.test.gauc, plain.metrics.test.gauc);
});
