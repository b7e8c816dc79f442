/**
 * A goods table larger than the WASM memory, on one machine (issue 15): DIN trained with its tables in a
 * MemoryRowStore (JS typed arrays, off the WASM heap) at 50 million goods ids, against the same model with a table
 * that still fits in the WASM arena (in-arena and through the store), so the table shows what the store path costs
 * and that its memory is the table's, not the arena's.
 *
 *   node dist/bench/big-table.js [--rows 50000000] [--small-rows 5000000] [--samples 400000] [--batch 256]
 *
 * Each configuration runs in its own process (its peak RSS is its own); results go to bench/results/big-table.json.
 * Data: generated in memory (no files): `--samples` training samples of users with 20-behaviour histories; candidate
 * and behaviour goods drawn from a Zipf(1.1) over the goods ids (a random permutation, so popular ids are spread over
 * the table), 1 of 1,000 categories per item; labels: 1 when the candidate shares a category with a behaviour in 60%
 * of cases, else 20% (a signal to learn). Model: the paper's DIN shape (goods 18 + category 18, attention 80→40,
 * MLP 200→80, PReLU), Adam, batch 256, MBA off.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Dataset, SampleSet } from '../src/core/types.js';
import { createBackend } from '../src/kernels/backends.js';
import { createModel } from '../src/models/index.js';
import { DEFAULT_MODEL_CONFIG, type ModelConfig } from '../src/models/model.js';
import { MemoryRowStore } from '../src/store/memory-store.js';
import { trainWithStore } from '../src/train/store-trainer.js';
import { DEFAULT_TRAIN_OPTIONS, trainModel, type TrainOptions } from '../src/train/trainer.js';
import { storeTables } from '../src/train/working-set.js';
import { Rng } from '../src/util/rng.js';
import { writeJsonAtomic } from '../src/util/fs.js';

const HERE = fileURLToPath(import.meta.url);
const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
};

/** A dataset over `rows` goods ids, built in memory (see the file header). */
function makeData(rows: number, samples: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const cats = 1000;
  const attrOffsets = new Int32Array(rows + 1);
  for (let i = 0; i <= rows; i++) attrOffsets[i] = i;
  const attrValues = new Int32Array(rows);
  for (let i = 0; i < rows; i++) attrValues[i] = (Math.imul(i, 0x9e3779b1) >>> 0) % cats;
  // Zipf(1.1) ranks by inverse CDF on a table of 2^16 quantiles, ranks mapped to ids by a multiplicative permutation.
  const s = 1.1;
  const H = (n: number) => (Math.pow(n, 1 - s) - 1) / (1 - s) + 1;
  const total = H(rows);
  const draw = (): number => {
    const u = rng.next() * total;
    const r = Math.min(rows - 1, Math.max(0, Math.floor(Math.pow((u - 1) * (1 - s) + 1, 1 / (1 - s)))));
    return (Math.imul(r, 2654435761) >>> 0) % rows;
  };
  const T = 20;
  const make = (n: number): SampleSet => {
    const labels = new Uint8Array(n);
    const users = new Int32Array(n);
    const items = new Int32Array(n);
    const histStart = new Int32Array(n);
    const histLen = new Int32Array(n).fill(T);
    const histValues = new Int32Array(n * T);
    for (let i = 0; i < n; i++) {
      users[i] = i % 4096;
      histStart[i] = i * T;
      const cand = draw();
      items[i] = cand;
      let match = false;
      for (let t = 0; t < T; t++) {
        const h = draw();
        histValues[i * T + t] = h;
        if (attrValues[h] === attrValues[cand]) match = true;
      }
      labels[i] = rng.next() < (match ? 0.6 : 0.2) ? 1 : 0;
    }
    return { size: n, labels, users, items, histStart, histLen, histValues };
  };
  const train = make(samples);
  const test = make(Math.max(1000, samples >> 5));
  return {
    name: `big-${rows}`, format: 'synthetic', numUsers: 4096, userKeys: [], train, test, skipped: {}, buildOptions: { seed },
    catalog: { numItems: rows, numAttrs: cats, attrOffsets, attrValues, itemKeys: [], attrKeys: [] },
  };
}

async function child(mode: string, rows: number, samples: number, batch: number): Promise<void> {
  const t0 = performance.now();
  const data = makeData(rows, samples, 7);
  const genSeconds = (performance.now() - t0) / 1000;
  const config: ModelConfig = { ...DEFAULT_MODEL_CONFIG, model: 'din', goodsDim: 18, attrDim: 18 };
  const options: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, epochs: 1, batchSize: batch, maxHistory: 20, threads: 1, seed: 1, evalBatchSize: 1024 };
  const backend = createBackend('wasm');
  const ctx = { backend, catalog: data.catalog, seed: 1 };
  let result;
  let storeBytes = 0;
  const t1 = performance.now();
  if (mode === 'arena') {
    const model = createModel(config, ctx);
    result = trainModel(model, data, options);
  } else {
    const model = createModel(config, { ...ctx, externalTables: true });
    const store = new MemoryRowStore(storeTables(model, { stateSlots: 2 }));
    result = await trainWithStore(model, data, options, { store });
    storeBytes = store.bytes;
  }
  const seconds = (performance.now() - t1) / 1000;
  const out = {
    mode, rows, samples, batch, genSeconds, seconds,
    samplesPerSecond: result.history[0].samplesPerSecond,
    testGauc: result.history[0].test?.gauc,
    testAuc: result.history[0].test?.auc,
    storeBytes,
    arenaMB: Number(process.env.DIN_WASM_MEMORY_MB ?? 1024),
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  process.stdout.write(`RESULT ${JSON.stringify(out)}\n`);
}

async function main(): Promise<void> {
  const mode = arg('child', '');
  const rows = Number(arg('rows', '50000000'));
  const small = Number(arg('small-rows', '5000000'));
  const samples = Number(arg('samples', '400000'));
  const batch = Number(arg('batch', '256'));
  if (mode) return child(mode, Number(arg('table', String(rows))), samples, batch);
  const runs = [
    { mode: 'arena', table: small, env: { DIN_WASM_MEMORY_MB: '2048' } },
    { mode: 'store', table: small, env: {} },
    { mode: 'store', table: rows, env: {} },
  ];
  const results = [];
  for (const r of runs) {
    process.stderr.write(`${r.mode}, ${r.table.toLocaleString('en-US')} goods rows …\n`);
    const p = spawnSync(process.execPath, ['--max-old-space-size=20000', HERE, '--child', r.mode, '--table', String(r.table), '--samples', String(samples), '--batch', String(batch)], {
      encoding: 'utf8', env: { ...process.env, ...r.env }, maxBuffer: 1 << 26,
    });
    const line = p.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`${r.mode} ${r.table} failed: ${p.stderr.slice(-2000)}`);
    const res = JSON.parse(line.slice(7));
    results.push(res);
    process.stderr.write(`  ${Math.round(res.samplesPerSecond)} samples/s, peak RSS ${res.peakRssMB} MB, store ${(res.storeBytes / 2 ** 30).toFixed(2)} GiB, test GAUC ${res.testGauc?.toFixed(4)}\n`);
  }
  mkdirSync(join(HERE, '..', '..', '..', 'bench', 'results'), { recursive: true });
  writeJsonAtomic(join(HERE, '..', '..', '..', 'bench', 'results', 'big-table.json'), { createdAt: new Date().toISOString(), samples, batch, results });
  console.log('| table rows | where | samples/s | peak RSS | rows in the store |');
  console.log('|---|---|---|---|---|');
  for (const r of results) {
    console.log(`| ${r.rows.toLocaleString('en-US')} | ${r.mode === 'arena' ? 'WASM arena' : 'MemoryRowStore'} | ${Math.round(r.samplesPerSecond).toLocaleString('en-US')} | ` +
      `${(r.peakRssMB / 1024).toFixed(1)} GiB | ${(r.storeBytes / 2 ** 30).toFixed(2)} GiB |`);
  }
}

await main();
