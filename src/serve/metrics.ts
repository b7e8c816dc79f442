/**
 * The service's Prometheus metrics, on a registry of its own (never prom-client's global one: two servers in one
 * process — tests, a bench — must not share or collide on counters).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ServeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly latency: Histogram<'route'>;
  readonly batchSize: Histogram;
  readonly batchSeconds: Histogram;
  readonly queueDepth: Gauge;
  readonly modelInfo: Gauge<'model' | 'version'>;
  readonly shed: Counter;
  readonly reloads: Counter<'result'>;
  readonly rankErrors: Counter;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'din_http_requests_total',
      help: 'HTTP requests answered, by route, method and status code',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: 'din_http_request_duration_seconds',
      help: 'Time from request received to answer sent, by route',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
      registers,
    });
    this.batchSize = new Histogram({
      name: 'din_batch_requests',
      help: 'Requests ranked per engine pass (micro-batch size)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    });
    this.batchSeconds = new Histogram({
      name: 'din_batch_duration_seconds',
      help: 'Engine time per micro-batch',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
      registers,
    });
    this.queueDepth = new Gauge({ name: 'din_queue_depth', help: 'Requests waiting for the engine', registers });
    this.modelInfo = new Gauge({
      name: 'din_model_info',
      help: 'The model being served (value 1 on the current model and version)',
      labelNames: ['model', 'version'],
      registers,
    });
    this.shed = new Counter({ name: 'din_shed_total', help: 'Requests refused with 503 because the queue was full', registers });
    this.reloads = new Counter({ name: 'din_reloads_total', help: 'Model reloads, by result', labelNames: ['result'], registers });
    this.rankErrors = new Counter({ name: 'din_rank_errors_total', help: 'Requests the engine refused (400 after validation passed)', registers });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'din_' });
  }

  /** Marks `model`@`version` as the one served (the previous one's series is removed). */
  setModel(model: string, version: string): void {
    this.modelInfo.reset();
    this.modelInfo.set({ model, version }, 1);
  }
}
