/**
 * A worker thread holding one RankingEngine (see ./pool.ts). Protocol (structured-clone messages):
 *   → worker  { id, reqs: RankRequest[], many: boolean }
 *   ← parent  { type: 'ready', modelName, modelVersion, maxHistory, schema }   once, after the load
 *             { type: 'failed', message }                                       the load failed (then the worker exits)
 *             { id, ok: true, results: RankResponse[] } | { id, ok: false, name, message }
 */
import { parentPort, workerData } from 'node:worker_threads';
import { enableRelaxedSimd } from '../../kernels/relaxed-flag.js';
import { createBackend, type BackendKind } from '../../kernels/backends.js';
import type { RankRequest } from '../types.js';

interface WorkerInit {
  dir: string;
  limits: { maxCandidates: number; maxBehaviors: number };
  backend?: BackendKind;
}

const port = parentPort;
if (port === null) throw new Error('serve/engine/worker.js runs as a worker thread (see ./pool.ts)');
enableRelaxedSimd();
const init = workerData as WorkerInit;
try {
  const { RankingEngine } = await import('./engine.js');
  const engine = RankingEngine.load(init.dir, { ...init.limits, ...(init.backend ? { backend: createBackend(init.backend) } : {}) });
  port.on('message', (m: { id: number; reqs: RankRequest[]; many: boolean }) => {
    try {
      const results = m.many ? engine.rankMany(m.reqs) : [engine.rank(m.reqs[0])];
      port.postMessage({ id: m.id, ok: true, results });
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      port.postMessage({ id: m.id, ok: false, name: err.name, message: err.message });
    }
  });
  port.postMessage({ type: 'ready', modelName: engine.modelName, modelVersion: engine.modelVersion, maxHistory: engine.maxHistory, schema: engine.describe() });
} catch (e) {
  port.postMessage({ type: 'failed', message: e instanceof Error ? e.message : String(e) });
  process.exit(1);
}
