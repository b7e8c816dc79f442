import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { createBackend, type BackendKind } from '../kernels/backends.js';
import { RankingServer } from '../serve/server.js';
import { log } from './common.js';
import { floatArg, intArg } from './options.js';

/** How long a second SIGTERM/SIGINT is not needed: after this, shutdown gives up draining and exits 1. */
const DRAIN_TIMEOUT_MS = 30_000;

export function serveCommand(): Command {
  const cmd = new Command('serve').description('serve a saved model over HTTP: POST /v1/rank, GET /v1/schema, /healthz, /metrics, POST /admin/reload');
  cmd.option('--model <dir>', 'model directory written by `din train --out`');
  cmd.option('--store <url>', 'instead of --model: serve the run of a Redis store (redis://host:port[,…]) as of its last checkpoint (written to a temporary model directory, which SIGHUP reloads)');
  cmd.option('--store-name <name>', 'with --store: the run\'s namespace');
  cmd.option('--port <n>', 'port to listen on (0: any free port)', intArg('--port', 0), 8080);
  cmd.option('--host <addr>', 'address to listen on (0.0.0.0: every interface; /admin/reload has no authentication)', '127.0.0.1');
  cmd.option('--max-candidates <n>', 'most candidates per request (more: 400)', intArg('--max-candidates'), 1000);
  cmd.option('--max-behaviors <n>', "most behaviours per request (more: 400; up to this, the model's most recent max-history are used)", intArg('--max-behaviors'), 1000);
  cmd.option('--batch-wait-ms <ms>', 'micro-batching: longest wait of the first request of a batch for others', floatArg('--batch-wait-ms'), 1);
  cmd.option('--max-batch <n>', 'micro-batching: most requests ranked in one engine pass', intArg('--max-batch'), 64);
  cmd.option('--queue <n>', 'most requests waiting for the engine; more get 503 with Retry-After', intArg('--queue'), 256);
  cmd.option('--workers <n>', 'engine worker threads ranking batches in parallel (1: in the server thread); each holds a copy of the model', intArg('--workers'), 1);
  cmd.option('--no-batching', 'rank each request on its own as it arrives (no micro-batching, no queue)');
  cmd.addOption(new Option('--backend <kind>', 'numeric backend').choices(['auto', 'wasm', 'js', 'js-f32']).default('auto'));
  cmd.addOption(new Option('--log-level <level>', 'server log level (stderr, JSON lines)').choices(['fatal', 'error', 'warn', 'info', 'debug']).default('warn'));
  cmd.action(async (o) => {
    const t0 = performance.now();
    if (o.store) {
      if (o.model) throw new Error('give either --model DIR or --store URL, not both');
      if (!o.storeName) throw new Error('--store needs --store-name');
      const { loadModelFromStore } = await import('../train/store-model.js');
      const dir = mkdtempSync(join(tmpdir(), `din-serve-${o.storeName}-`));
      process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
      (await loadModelFromStore(o.store, o.storeName, createBackend('js-f32'))).save(dir);
      o.model = dir;
    }
    if (!o.model) throw new Error('give --model DIR (a `din train --out` directory) or --store URL --store-name NAME');
    const server = await RankingServer.create({
      model: o.model,
      maxCandidates: o.maxCandidates,
      maxBehaviors: o.maxBehaviors,
      batching: o.batching,
      batchWaitMs: o.batchWaitMs,
      maxBatch: o.maxBatch,
      queue: o.queue,
      backend: o.backend === 'auto' ? undefined : () => createBackend(o.backend as BackendKind),
      workers: o.workers,
      ...(o.backend === 'auto' ? {} : { workerBackend: o.backend as BackendKind }),
      logger: { level: o.logLevel, stream: process.stderr },
    });
    const e = server.engine;
    log(`loaded ${o.model}: ${e.modelName} version ${e.modelVersion} (${((performance.now() - t0) / 1000).toFixed(2)}s)`);
    const address = await server.listen(o.port, o.host);
    const batching = (o.batching ? `micro-batching: wait ≤ ${o.batchWaitMs} ms, ≤ ${o.maxBatch} requests, queue ${o.queue}` : 'no batching') +
      (o.workers > 1 ? `; ${o.workers} engine workers` : '');
    log(`listening on ${address} (${batching}; pid ${process.pid})`);

    process.on('SIGHUP', () => {
      server.reload().then(
        (r) => log(`SIGHUP: reloaded ${r.modelDir}: ${r.previousVersion} → ${r.modelVersion}${r.changed ? '' : ' (unchanged)'}`),
        (err: Error) => log(`SIGHUP: reload failed, still serving ${server.engine.modelVersion}: ${err.message}`),
      );
    });
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log(`${signal} again: exiting without draining`);
        process.exit(1);
      }
      stopping = true;
      log(`${signal}: draining (${server.batcher?.depth ?? 0} queued) and stopping`);
      const force = setTimeout(() => {
        log(`shutdown: still draining after ${DRAIN_TIMEOUT_MS / 1000}s, exiting`);
        process.exit(1);
      }, DRAIN_TIMEOUT_MS);
      force.unref();
      server.close().then(
        () => {
          log('stopped');
          process.exit(0);
        },
        (err: Error) => {
          log(`shutdown failed: ${err.message}`);
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // The action returns; the listening server keeps the process alive until a signal.
  });
  return cmd;
}
