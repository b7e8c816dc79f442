import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDataset } from '../../src/data/load.js';
import { createBackend } from '../../src/kernels/backends.js';
import { DEFAULT_MODEL_CONFIG, type ModelConfig } from '../../src/models/model.js';
import { loadCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { predict } from '../../src/train/evaluator.js';
import { runTraining } from '../../src/train/run.js';
import { DEFAULT_TRAIN_OPTIONS } from '../../src/train/trainer.js';

const dir = mkdtempSync(join(tmpdir(), 'din-ckpt-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

for (const activation of ['prelu', 'dice'] as const) {
  test(`save → load reproduces DIN (${activation}) predictions bit for bit`, async () => {
    const data = await loadDataset({ path: 'synthetic:small', seed: 3, noCache: true });
    const backend = createBackend('auto');
    const config: ModelConfig = { ...DEFAULT_MODEL_CONFIG, model: 'din', activation, goodsDim: 8, attrDim: 8 };
    const options = { ...DEFAULT_TRAIN_OPTIONS, epochs: 1, batchSize: 64, maxHistory: 20 };
    const out = join(dir, activation);
    const { model, metrics } = runTraining({ data, config, options, backend, out, dataPath: 'synthetic:small' });
    assert.deepEqual(readdirSync(out).sort(), ['metrics.json', 'model.json', 'weights.safetensors']);
    const json = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    if (activation === 'dice') assert.ok(Object.keys(json.buffers).length > 0, 'Dice moving averages are saved in model.json');
    const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    for (const k of ['gauc', 'auc', 'logloss', 'samples']) assert.equal(typeof m.test[k], 'number', `metrics.json test.${k}`);
    for (const k of ['samples', 'seconds', 'samplesPerSecond']) assert.equal(typeof m.train[k], 'number', `metrics.json train.${k}`);
    assert.equal(m.history.length, 1);
    assert.equal(m.test.gauc, metrics.test.gauc);

    const before = predict(model, data.test, { batchSize: 256, maxHistory: 20 });
    const loaded = loadCheckpoint(out, createBackend('auto'));
    const after = predict(loaded.model, data.test, { batchSize: 256, maxHistory: 20 });
    assert.equal(after.length, before.length);
    let same = 0;
    for (let i = 0; i < before.length; i++) if (Object.is(before[i], after[i])) same++;
    assert.equal(same, before.length, 'every prediction identical');
  });
}

test('loading a broken checkpoint names the problem', () => {
  const bad = join(dir, 'bad');
  assert.throws(() => loadCheckpoint(join(dir, 'missing')), /no model\.json/);
  const out = join(dir, 'prelu');
  const json = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
  json.config.hidden = [7];
  rmSync(bad, { recursive: true, force: true });
  mkdirSync(bad, { recursive: true });
  writeFileSync(join(bad, 'model.json'), JSON.stringify(json));
  writeFileSync(join(bad, 'weights.safetensors'), readFileSync(join(out, 'weights.safetensors')));
  assert.throws(() => loadCheckpoint(bad), /has shape \[.*\], the model expects \[.*\]/);
});
