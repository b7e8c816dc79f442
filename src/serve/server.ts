/**
 * The HTTP ranking service (`din serve`): fastify routes over a {@link RankingEngine}, a {@link MicroBatcher} in front
 * of it, Prometheus metrics, hot reload and graceful shutdown.
 *
 *   POST /v1/rank       RankRequest → RankResponse (400 names the bad field; 503 + Retry-After when the queue is full)
 *   GET  /v1/schema     the engine's description: fields per group, limits, a valid example request
 *   GET  /healthz       200 while serving (fastify answers 503 once closing)
 *   GET  /metrics       Prometheus text
 *   POST /admin/reload  load the checkpoint again (or `{"model": "dir"}`) and swap it in; 500 keeps the old one
 *
 * Reload is atomic by construction: the engine is one reference, read once per micro-batch. A batch already in the
 * engine finishes on the engine it started with; the next batch uses the new one. Loading happens before the swap, so
 * a checkpoint that fails to load never replaces a working one.
 *
 * Status codes: every error a request can cause is a 4xx (schema: 400 from fastify's ajv; anything the engine refuses:
 * 400 with its message, for that request only). 5xx are the server's own: 503 when shedding or shutting down, 500 on
 * a failed reload.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { ErrorObject } from 'ajv';
import type { Backend } from '../kernels/backend.js';
import { ServeMetrics } from './metrics.js';
import { BatcherClosedError, MicroBatcher, QueueFullError, checkBatcherOptions } from './micro-batcher.js';
import { AJV_OPTIONS, DEFAULT_LIMITS, checkLimits, formatSchemaErrors, rankRequestSchema, type RequestLimits } from './request-schema.js';
import type { RankRequest, RankResponse } from './types.js';
import { EnginePool } from './engine/pool.js';
import type { BackendKind } from '../kernels/backends.js';

/** What the server needs of an engine (RankingEngine of src/serve/engine/engine.ts; test doubles). */
export interface ServedEngine {
  /** Model kind, shown by /healthz and the metrics. */
  readonly modelName: string;
  /** Identifies the loaded weights (reported by /healthz and in a reload's answer). */
  readonly modelVersion: string;
  /** Batches it ranks at once (a worker pool); default 1. */
  readonly capacity?: number;
  /** Releases what it holds (worker threads) once its in-flight work is done; called after a swap and on close. */
  close?(): Promise<void>;
  /** Ranks one request; throws an Error naming the bad field for input it cannot rank (the server answers 400). */
  rank(req: RankRequest): RankResponse | Promise<RankResponse>;
  /** Ranks a micro-batch of requests; answers in request order. */
  rankMany(reqs: RankRequest[]): RankResponse[] | Promise<RankResponse[]>;
  /** The request format it accepts, served (with the JSON schema) by GET /v1/schema. */
  describe(): unknown;
}

/**
 * Turns a checkpoint directory into an engine (`ServerOptions.loadEngine`): called at start and on every reload, with
 * the server's request limits.
 */
export type EngineLoader = (modelDir: string, limits: RequestLimits) => ServedEngine | Promise<ServedEngine>;

/** Options of {@link RankingServer.create} (`din serve`). */
export interface ServerOptions {
  /** Checkpoint directory (`din train --out`). */
  model: string;
  /** Most candidates per request (default 1000); more is a 400. */
  maxCandidates?: number;
  /** Most behaviours per request (default 1000); more is a 400. */
  maxBehaviors?: number;
  /** Micro-batching (default on); off ranks each request on its own as it arrives. */
  batching?: boolean;
  /** Longest wait of a batch's first request for others (ms, default 1). */
  batchWaitMs?: number;
  /** Most requests per engine pass (default 64). */
  maxBatch?: number;
  /** Most requests waiting for the engine before new ones get 503 (default 256). */
  queue?: number;
  /** Retry-After of a 503, in seconds (default 1). */
  retryAfterSeconds?: number;
  /** Largest request body in bytes (default 8 MiB: 1000 candidates with item fields fit). */
  bodyLimit?: number;
  /** Backend for the engine (default: each load creates its own; see src/kernels/backends.ts). */
  backend?: () => Backend;
  /**
   * Engine worker threads (default 1: the engine runs in the server's thread). With N > 1 every worker loads the
   * checkpoint and up to N micro-batches are ranked at once (./engine/pool.ts); `workerBackend` picks their backend.
   */
  workers?: number;
  /** Backend of the worker engines (with `workers` > 1; default 'auto'). `backend` does not apply to them. */
  workerBackend?: BackendKind;
  /** How a checkpoint becomes an engine (default: RankingEngine.load). */
  loadEngine?: EngineLoader;
  /** fastify/pino logger options, or false (default). */
  logger?: boolean | {
    /** pino level, e.g. "info", "warn". */
    level?: string;
    /** Where log lines go (default: stdout). */
    stream?: NodeJS.WritableStream;
  };
  /** Export Node process metrics (RSS, event-loop lag, GC) on /metrics (default true). */
  processMetrics?: boolean;
}

/** What {@link RankingServer.reload} resolves to (and POST /admin/reload answers). */
export interface ReloadResult {
  /** Model kind of the new engine. */
  model: string;
  /** Version of the new engine's weights. */
  modelVersion: string;
  /** Version of the engine it replaced. */
  previousVersion: string;
  /** The checkpoint directory loaded. */
  modelDir: string;
  /** Whether the version differs from the previous one (false: the same weights were loaded again). */
  changed: boolean;
  /** Time the load took, in seconds. */
  seconds: number;
}

const DEFAULTS = { batching: true, batchWaitMs: 1, maxBatch: 64, queue: 256, retryAfterSeconds: 1, bodyLimit: 8 * 2 ** 20, workers: 1 };

async function defaultLoader(modelDir: string, limits: RequestLimits, backend?: () => Backend): Promise<ServedEngine> {
  const { RankingEngine } = await import('./engine/engine.js');
  return RankingEngine.load(modelDir, { ...limits, ...(backend ? { backend: backend() } : {}) });
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The HTTP ranking service of `din serve`: POST /v1/rank, GET /v1/schema, GET /healthz, GET /metrics (Prometheus) and
 * POST /admin/reload, with micro-batching, hot reload and graceful shutdown. Made by {@link RankingServer.create}.
 */
export class RankingServer {
  /** The fastify app with the routes registered (`listen` serves it; `app.inject` runs requests in-process). */
  readonly app: FastifyInstance;
  /** @internal The Prometheus metrics behind `/metrics`. */
  readonly metrics: ServeMetrics;
  /** @internal The micro-batcher (absent with batching off). */
  readonly batcher: MicroBatcher | undefined;
  /** The request limits in force: the request schema checks them and every loaded engine gets them. */
  readonly limits: RequestLimits;
  private current: ServedEngine;
  private dir: string;
  private reloading: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | undefined;
  private stopping = false;

  private constructor(engine: ServedEngine, dir: string, private readonly opts: Required<Omit<ServerOptions, 'backend' | 'loadEngine' | 'logger'>> & ServerOptions) {
    this.current = engine;
    this.dir = dir;
    this.limits = { maxCandidates: opts.maxCandidates, maxBehaviors: opts.maxBehaviors };
    this.metrics = new ServeMetrics({ processMetrics: opts.processMetrics });
    this.metrics.setModel(engine.modelName, engine.modelVersion);
    this.batcher = opts.batching
      ? new MicroBatcher(() => this.current, {
          batchWaitMs: opts.batchWaitMs,
          maxBatch: opts.maxBatch,
          queue: opts.queue,
          onBatch: (n, s) => {
            this.metrics.batchSize.observe(n);
            this.metrics.batchSeconds.observe(s);
          },
          onDepth: (d) => this.metrics.queueDepth.set(d),
        })
      : undefined;
    this.app = this.buildApp();
  }

  /** Loads the checkpoint and builds the app (not listening yet: `listen`, or `app.inject` in tests). */
  static async create(options: ServerOptions): Promise<RankingServer> {
    const opts = {
      ...DEFAULTS,
      maxCandidates: DEFAULT_LIMITS.maxCandidates,
      maxBehaviors: DEFAULT_LIMITS.maxBehaviors,
      processMetrics: true,
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    } as Required<Omit<ServerOptions, 'backend' | 'loadEngine' | 'logger'>> & ServerOptions;
    checkLimits({ maxCandidates: opts.maxCandidates, maxBehaviors: opts.maxBehaviors });
    checkBatcherOptions(opts);
    const engine = await RankingServer.loadWith(opts, opts.model);
    return new RankingServer(engine, opts.model, opts);
  }

  private static loadWith(opts: ServerOptions & RequestLimits, dir: string): Promise<ServedEngine> {
    const limits = { maxCandidates: opts.maxCandidates, maxBehaviors: opts.maxBehaviors };
    if (!opts.loadEngine && (opts.workers ?? 1) > 1) {
      return EnginePool.create(dir, { workers: opts.workers!, limits, ...(opts.workerBackend ? { backend: opts.workerBackend } : {}) });
    }
    return Promise.resolve(opts.loadEngine ? opts.loadEngine(dir, limits) : defaultLoader(dir, limits, opts.backend));
  }

  /** The engine new requests go to. */
  get engine(): ServedEngine {
    return this.current;
  }

  /** The checkpoint directory the engine was loaded from (what a plain reload reads again). */
  get modelDir(): string {
    return this.dir;
  }

  /**
   * Loads `dir` (default: the current checkpoint directory, read again from disk) and swaps it in. Reloads run one at
   * a time. Throws (and keeps the old engine) when the load fails.
   */
  reload(dir?: string): Promise<ReloadResult> {
    const run = async (): Promise<ReloadResult> => {
      const target = dir ?? this.dir;
      const t0 = performance.now();
      const previous = this.current;
      let engine: ServedEngine;
      try {
        engine = await RankingServer.loadWith({ ...this.opts, ...this.limits }, target);
      } catch (e) {
        this.metrics.reloads.inc({ result: 'failed' });
        throw e;
      }
      this.current = engine;
      this.dir = target;
      // The old engine finishes the batches it has (the batcher read it before the swap), then lets go of its workers.
      void previous.close?.();
      this.metrics.setModel(engine.modelName, engine.modelVersion);
      this.metrics.reloads.inc({ result: 'ok' });
      return {
        model: engine.modelName,
        modelVersion: engine.modelVersion,
        previousVersion: previous.modelVersion,
        modelDir: target,
        changed: engine.modelVersion !== previous.modelVersion,
        seconds: (performance.now() - t0) / 1000,
      };
    };
    const next = this.reloading.then(run, run);
    this.reloading = next.catch(() => undefined);
    return next;
  }

  /** Starts listening; returns the address (e.g. http://127.0.0.1:8080). */
  listen(port: number, host = '127.0.0.1'): Promise<string> {
    return this.app.listen({ port, host });
  }

  /**
   * Graceful stop: no new connections (and 503 on kept-alive ones), every request already received — in the engine
   * or waiting in the queue — is answered, then resolves. Safe to call more than once.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopping = true;
      await this.app.close();
      await this.batcher?.close();
      await this.current.close?.();
    })();
    return this.closing;
  }

  /** The server's logger (fastify's pino instance; silent unless the `logger` option enables it). */
  get log(): FastifyBaseLogger {
    return this.app.log;
  }

  private async rank(body: RankRequest): Promise<RankResponse> {
    if (this.batcher) return this.batcher.submit(body);
    const t0 = performance.now();
    try {
      return await this.current.rank(body);
    } finally {
      this.metrics.batchSize.observe(1);
      this.metrics.batchSeconds.observe((performance.now() - t0) / 1000);
    }
  }

  private buildApp(): FastifyInstance {
    const o = this.opts;
    const logger = o.logger === undefined ? false : o.logger;
    const app = Fastify({
      logger: logger as boolean,
      bodyLimit: o.bodyLimit,
      // Per-request log lines would cost more than ranking a small request: metrics count requests instead.
      logController: new LogController({ disableRequestLogging: true }),
      return503OnClosing: true,
      forceCloseConnections: 'idle',
      ajv: { customOptions: { ...AJV_OPTIONS } },
      schemaErrorFormatter: (errors, dataVar) => new Error(formatSchemaErrors(errors as unknown as ErrorObject[], dataVar)),
    });

    // While stopping, answers close their connection: a kept-alive socket would otherwise hold close() open until the
    // client's keep-alive timeout (the server's own close only drops connections idle at the moment it is called).
    app.addHook('onSend', async (_request, reply) => {
      if (this.stopping) reply.header('connection', 'close');
    });

    app.addHook('onResponse', async (request, reply) => {
      // Unmatched paths share one label: arbitrary URLs must not create unbounded series.
      const route = request.routeOptions.url ?? 'unmatched';
      const status = String(reply.statusCode);
      this.metrics.requests.inc({ route, method: request.method, status });
      this.metrics.latency.observe({ route }, reply.elapsedTime / 1000);
    });

    const requestSchema = rankRequestSchema(this.limits);
    app.post('/v1/rank', { schema: { body: requestSchema } }, async (request, reply) => {
      try {
        return await this.rank(request.body as RankRequest);
      } catch (e) {
        return this.rankFailure(e, reply);
      }
    });

    app.get('/v1/schema', async () => {
      const described = this.current.describe() as Record<string, unknown>;
      return { ...described, requestSchema };
    });

    app.get('/healthz', async () => ({
      status: 'ok',
      model: this.current.modelName,
      modelVersion: this.current.modelVersion,
      batching: this.batcher !== undefined,
      queueDepth: this.batcher?.depth ?? 0,
      uptimeSeconds: Math.round(process.uptime()),
    }));

    app.get('/metrics', async (_request, reply) => {
      reply.header('content-type', this.metrics.registry.contentType);
      return this.metrics.registry.metrics();
    });

    app.post('/admin/reload', async (request, reply) => {
      const body = request.body as unknown;
      let dir: string | undefined;
      if (body !== undefined && body !== null && body !== '') {
        const model = typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>).model : undefined;
        const keys = typeof body === 'object' && body !== null ? Object.keys(body) : [];
        if (typeof model !== 'string' || model === '' || keys.some((k) => k !== 'model')) {
          return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: 'body must be empty or {"model": "<checkpoint dir>"}' });
        }
        dir = model;
      }
      try {
        const r = await this.reload(dir);
        this.log.info(`reloaded ${r.modelDir}: ${r.model} ${r.previousVersion} → ${r.modelVersion} (${r.seconds.toFixed(2)}s)`);
        return r;
      } catch (e) {
        const message = `reload of ${dir ?? this.dir} failed, still serving ${this.current.modelVersion}: ${errorMessage(e)}`;
        this.log.error(message);
        return reply.code(500).send({ statusCode: 500, error: 'Internal Server Error', message });
      }
    });

    return app;
  }

  private rankFailure(e: unknown, reply: FastifyReply): FastifyReply {
    if (e instanceof QueueFullError) {
      this.metrics.shed.inc();
      return reply
        .code(503)
        .header('retry-after', String(this.opts.retryAfterSeconds))
        .send({ statusCode: 503, error: 'Service Unavailable', message: e.message });
    }
    if (e instanceof BatcherClosedError) {
      return reply.code(503).header('retry-after', String(this.opts.retryAfterSeconds))
        .send({ statusCode: 503, error: 'Service Unavailable', message: e.message });
    }
    // The engine refuses what it cannot rank (an unknown field name, …) with an Error naming the field: the request's
    // fault, so 400. Non-Error throws and TypeErrors would point at an engine bug: still this request's answer only,
    // but logged so they are seen.
    if (!(e instanceof Error) || e instanceof TypeError || e instanceof RangeError) {
      this.log.error({ err: e }, 'engine failed on a request');
    }
    this.metrics.rankErrors.inc();
    return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: errorMessage(e) });
  }
}
