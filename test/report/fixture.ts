/** A tiny trained DIN run, a BaseModel run and a compare.json over both, in a temporary directory. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/load.js';
import { DEFAULT_MODEL_CONFIG, type ModelKind } from '../../src/models/model.js';
import { createBackend } from '../../src/kernels/backends.js';
import { addRelaImpr, compareRow, type CompareResult } from '../../src/train/compare.js';
import { runTraining, type RunMetrics } from '../../src/train/run.js';
import { DEFAULT_TRAIN_OPTIONS } from '../../src/train/trainer.js';

export interface Fixture {
  dir: string;
  din: string;
  base: string;
  compare: string;
}

export async function makeFixture(prefix: string): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  process.env.DIN_CACHE_DIR = join(dir, 'cache');
  const data = await loadDataset({ path: 'synthetic:small', seed: 2, noCache: true });
  const backend = createBackend('auto');
  const train = (model: ModelKind): { out: string; metrics: RunMetrics } => {
    const out = join(dir, `run-${model}`);
    const config = { ...DEFAULT_MODEL_CONFIG, model, goodsDim: 8, attrDim: 8, hidden: [16, 8], attentionHidden: [16, 8] };
    const options = { ...DEFAULT_TRAIN_OPTIONS, epochs: 2, batchSize: 64, seed: 1 };
    const { metrics } = runTraining({ data, config, options, backend, out, dataPath: 'synthetic:small' });
    return { out, metrics };
  };
  const din = train('din');
  const base = train('base');
  // compare.json as `din compare` writes it, from the same row builder.
  const rows = [compareRow('base', 'none', [1], [base.metrics]), compareRow('din', 'none', [1], [din.metrics])];
  addRelaImpr(rows);
  const res: CompareResult = { data: 'synthetic:small', createdAt: new Date().toISOString(), options: {}, rows };
  const compare = join(dir, 'cmp');
  mkdirSync(compare, { recursive: true });
  writeFileSync(join(compare, 'compare.json'), JSON.stringify(res));
  return { dir, din: din.out, base: base.out, compare };
}
