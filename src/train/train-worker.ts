/**
 * A worker thread of data-parallel training (./data-parallel.ts): builds a replica of the model from workerData, then
 * follows rank 0's commands (step, verify) until the group stops. Errors go back through the group, whose barriers
 * rethrow them in rank 0 with this worker's stack. Everything but the group is imported inside the try, so a module
 * that fails to load is reported too instead of leaving rank 0 waiting.
 */
import { workerData } from 'node:worker_threads';
import { Group, GroupStopped } from './collective.js';
import type { WorkerInit } from './data-parallel.js';

const init = workerData as WorkerInit;
const group = new Group(init.shared, init.rank, init.inPorts, init.outPorts, init.regions);
try {
  const { enableRelaxedSimd } = await import('../kernels/relaxed-flag.js');
  const { createBackendFromSpec } = await import('../kernels/backends.js');
  const { createModel } = await import('../models/index.js');
  const { createOptimizer } = await import('../optim/index.js');
  const { COMMANDS, readSlice, REGIONS, Replica } = await import('./data-parallel.js');
  enableRelaxedSimd();
  const backend = createBackendFromSpec(init.backend);
  const model = createModel(init.config, { ...init.ctx, backend });
  const params = model.params();
  if (params.length !== init.values.length) throw new Error(`replica has ${params.length} params, the model ${init.values.length}`);
  params.forEach((p, i) => p.value.set(init.values[i]));
  const buffers = Object.values(model.buffers());
  buffers.forEach((b, i) => b.set(init.buffers[i]));
  const replica = new Replica(model, group, createOptimizer(init.optimizer, backend), init.reg, init.clipNorm);
  group.barrier(); // ready
  for (;;) {
    group.awaitPost();
    const hdr = group.peer(0, REGIONS.BATCH);
    const cmd = hdr.i32[COMMANDS.H_CMD];
    if (cmd === COMMANDS.CMD_STOP) break;
    if (cmd === COMMANDS.CMD_VERIFY) {
      group.gather(replica.hash());
      continue;
    }
    if (cmd === COMMANDS.CMD_GET_STATE) {
      replica.publishState();
      group.barrier();
      group.barrier();
      continue;
    }
    if (cmd === COMMANDS.CMD_SET_STATE) {
      group.barrier();
      replica.adoptState();
      group.barrier();
      continue;
    }
    if (cmd !== COMMANDS.CMD_STEP) throw new Error(`unknown command ${cmd}`);
    const part = readSlice(hdr.i32, hdr.f32, init.rank);
    replica.computeGradients(part.size > 0 ? part : null, hdr.i32[COMMANDS.H_N], hdr.i32[COMMANDS.H_SOLO] === 0);
    replica.update(hdr.f64[COMMANDS.H_LR], hdr.i32[COMMANDS.H_SOLO] !== 0);
  }
} catch (e) {
  if (!(e instanceof GroupStopped)) group.fail(e instanceof Error ? (e.stack ?? e.message) : String(e));
}
