/**
 * In-process latency of RankingEngine.rank() (src/serve/engine/engine.ts): 1 user × 200 candidates, history 20 and 100, for
 * DIN (goods + category embeddings 18 + 18, attention 80→40 with Dice, MLP 200→80 with Dice) and BaseModel (same
 * embeddings and MLP), on the synthetic catalog of bench/train-speed.ts. For reference it also times the plain
 * batched eval forward of the training code on the same shapes (the history repeated for every candidate).
 * Prints the median and p99 of each and writes bench/results/serve-latency.json.
 *
 *   npm run build && node dist/bench/serve-latency.js          (writes bench/results/serve-latency.json)
 *   node dist/bench/serve-latency.js --calls 2000 --backend js-f32 --candidates 500
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { createBackend, backendInfo, type BackendKind } from '../src/kernels/backends.js';
import { createModel } from '../src/models/index.js';
import { DEFAULT_MODEL_CONFIG, type ModelConfig } from '../src/models/model.js';
import type { ItemCatalog } from '../src/core/types.js';
import { RankingEngine } from '../src/serve/engine/engine.js';
import type { RankRequest } from '../src/serve/types.js';
import { Rng } from '../src/util/rng.js';
import { enableRelaxedSimd } from '../src/kernels/relaxed-flag.js';
import { forwardTimes, makeCatalog, median, servingBatch } from './common.js';

enableRelaxedSimd();

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '100' },
    'forward-calls': { type: 'string', default: '50' },
    backend: { type: 'string', default: 'auto' },
    candidates: { type: 'string', default: '200' },
    histories: { type: 'string', default: '20,100' },
    items: { type: 'string', default: '20000' },
    attrs: { type: 'string', default: '1000' },
    out: { type: 'string', default: 'bench/results/serve-latency.json' },
  },
});
const CALLS = Number(args.calls);
const WARMUP = Number(args.warmup);
const FORWARD_CALLS = Number(args['forward-calls']);
const N = Number(args.candidates);
const HISTORIES = args.histories.split(',').map(Number);
const numItems = Number(args.items);
const numAttrs = Number(args.attrs);
if (!(CALLS >= 1 && N >= 1 && HISTORIES.every((h) => h >= 0))) throw new Error('--calls, --candidates, --histories must be positive numbers');

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const rng = new Rng(7);
const base = makeCatalog(rng, numItems, numAttrs);
const catalog: ItemCatalog = {
  ...base,
  itemKeys: Array.from({ length: numItems }, (_, i) => `item${i}`),
  attrKeys: Array.from({ length: numAttrs }, (_, i) => `cat${i}`),
};

const shapes: Record<string, Omit<ModelConfig, 'model'>> = {
  din: { ...DEFAULT_MODEL_CONFIG, goodsDim: 18, attrDim: 18, attentionHidden: [80, 40], attentionActivation: 'dice', hidden: [200, 80], activation: 'dice' },
  base: { ...DEFAULT_MODEL_CONFIG, goodsDim: 18, attrDim: 18, hidden: [200, 80], activation: 'dice' },
};

interface Row {
  model: string;
  history: number;
  candidates: number;
  calls: number;
  medianMs: number;
  p99Ms: number;
  /** The training code's batched eval forward on the same shapes (history repeated per candidate). */
  forwardMedianMs: number;
}

const backend = createBackend(args.backend as BackendKind);
const load0 = loadavg()[0];
console.log(`serve latency: backend ${backendInfo(backend)}, node ${process.version}, 1 user × ${N} candidates, ` +
  `${CALLS} timed calls after ${WARMUP} warm-up calls; load average ${load0.toFixed(2)} (other processes on the cores make it noisy)`);
console.log('model  history  rank() median ms  p99 ms   model.forward median ms');
const rows: Row[] = [];
for (const [kind, shape] of Object.entries(shapes)) {
  const model = createModel({ ...shape, model: kind as 'din' | 'base' }, { backend, catalog, seed: 1 });
  const engine = RankingEngine.fromModel(model, { catalog, maxHistory: Math.max(...HISTORIES) });
  for (const T of HISTORIES) {
    const req: RankRequest = {
      user: { id: 'u1', behaviors: Array.from({ length: T }, () => ({ id: catalog.itemKeys[rng.int(numItems)] })) },
      candidates: Array.from({ length: N }, () => ({ id: catalog.itemKeys[rng.int(numItems)], bid: rng.next() })),
    };
    for (let i = 0; i < WARMUP; i++) engine.rank(req);
    const times: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now();
      engine.rank(req);
      times.push(performance.now() - t0);
    }
    const fwd = T > 0 ? median(forwardTimes(model, servingBatch(rng, numItems, N, T), FORWARD_CALLS, 5)) : NaN;
    const row: Row = { model: kind, history: T, candidates: N, calls: CALLS, medianMs: median(times), p99Ms: quantile(times, 0.99), forwardMedianMs: fwd };
    rows.push(row);
    console.log(`${kind.padEnd(5)}  ${String(T).padStart(7)}  ${row.medianMs.toFixed(3).padStart(16)}  ${row.p99Ms.toFixed(3).padStart(6)}   ${fwd.toFixed(3).padStart(23)}`);
  }
}

const out = args.out;
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({
  bench: 'serve-latency',
  date: new Date().toISOString(),
  node: process.version,
  backend: backendInfo(backend),
  /** 1-minute load average before and after: a loaded machine inflates every number. */
  loadAverage: [Number(load0.toFixed(2)), Number(loadavg()[0].toFixed(2))],
  catalog: { items: numItems, attrs: numAttrs },
  shapes,
  rows,
}, null, 2) + '\n');
console.log(`wrote ${out}`);
