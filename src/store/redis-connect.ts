/**
 * Connecting to a Redis Cluster and riding out its failures, shared by ./redis-store.ts and ./redis-group.ts.
 *
 * - {@link connectCluster}: an ioredis `Cluster` with autopipelining, bounded connect timeouts and a bounded retry
 *   strategy while connecting. A wrong address, a cluster that is down, or a server that is not a cluster gives an
 *   error naming the addresses and what happened within `openTimeoutMs` (default 8 s), never a hang.
 * - {@link Retrier}: runs an idempotent call again (with backoff and a slot-map refresh) while the failure is
 *   transient — a lost connection, CLUSTERDOWN, TRYAGAIN, a master failing over to its replica — for up to
 *   `failoverTimeoutMs`, reporting the start and the end of such a pause once through `onEvent`.
 */
import { Cluster, Redis, type ClusterOptions } from 'ioredis';

/** How to reach a cluster, and how long to wait for it. */
export interface RedisConnectOptions {
  /** Milliseconds for one TCP connection to a node (default 3000). */
  connectTimeoutMs?: number;
  /** Milliseconds for the whole connection to the cluster before giving up with an error (default 8000). */
  openTimeoutMs?: number;
  /** Milliseconds before a command without a reply fails (and is retried, default 15000). */
  commandTimeoutMs?: number;
  /** Milliseconds a call keeps retrying through transient failures (failover) before it throws (default 30000). */
  failoverTimeoutMs?: number;
  /** Told once when a pause (transient failure) starts and once when it ends; default: nothing. */
  onEvent?: (message: string) => void;
}

/** A parsed `redis://[user:password@]host:port[,host:port…]` (or `rediss://` for TLS). */
export interface RedisUrl {
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
  tls: boolean;
}

/** Parses `redis://host:port[,host:port…]`: the seed nodes of a cluster. */
export function parseRedisUrl(url: string): RedisUrl {
  const m = /^(rediss?):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)\/?$/.exec(url.trim());
  if (!m) throw new Error(`bad Redis URL '${url}': expected redis://host:port[,host:port…]`);
  const nodes = m[4].split(',').map((hp) => {
    const s = hp.trim();
    const mm = /^(\[[0-9a-fA-F:.]+\]|[^:\[\]]+)(?::(\d+))?$/.exec(s);
    if (!mm) throw new Error(`bad Redis URL '${url}': '${s}' is not host:port`);
    const port = mm[2] === undefined ? 6379 : Number(mm[2]);
    if (!(port > 0 && port < 65536)) throw new Error(`bad Redis URL '${url}': port ${mm[2]} out of range`);
    return { host: mm[1].replace(/^\[|\]$/g, ''), port };
  });
  return {
    nodes,
    username: m[2] ? decodeURIComponent(m[2]) : undefined,
    password: m[3] !== undefined ? decodeURIComponent(m[3]) : undefined,
    tls: m[1] === 'rediss',
  };
}

/** `host:port` of every seed of a URL, for messages. */
export function seedList(url: RedisUrl): string {
  return url.nodes.map((n) => `${n.host}:${n.port}`).join(', ');
}

const CONNECT_DEFAULTS = { connectTimeoutMs: 3000, openTimeoutMs: 8000, commandTimeoutMs: 15000, failoverTimeoutMs: 30000 };

/** Options with defaults filled in. */
export function connectDefaults(o: RedisConnectOptions): Required<Omit<RedisConnectOptions, 'onEvent'>> & Pick<RedisConnectOptions, 'onEvent'> {
  return { ...CONNECT_DEFAULTS, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) };
}

/** ioredis `Cluster` options for din (autopipelining; bounded everything). */
function clusterOptions(url: RedisUrl, o: ReturnType<typeof connectDefaults>, phase: () => 'opening' | 'expired' | 'open'): ClusterOptions {
  return {
    lazyConnect: true,
    enableAutoPipelining: true,
    enableReadyCheck: true,
    // Commands while the cluster is not ready fail at once (and the Retrier retries them) instead of queueing
    // without a bound: an abandoned write must never land later over a newer one.
    enableOfflineQueue: false,
    maxRedirections: 8,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    retryDelayOnMoved: 0,
    slotsRefreshTimeout: Math.min(2000, o.connectTimeoutMs),
    // While opening: retry until openTimeoutMs has passed. Once open: always reconnect (the Retrier bounds calls).
    clusterRetryStrategy: (times: number) => {
      const p = phase();
      return p === 'expired' ? null : p === 'opening' ? Math.min(50 * times, 500) : Math.min(100 * times, 1000);
    },
    redisOptions: {
      connectTimeout: o.connectTimeoutMs,
      commandTimeout: o.commandTimeoutMs,
      maxRetriesPerRequest: 1,
      username: url.username,
      password: url.password,
      tls: url.tls ? {} : undefined,
    },
  };
}

/** A promise that rejects with `message` after `ms` unless `p` settles first (the timer never holds the process). */
export function withTimeout<T>(p: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(message())), ms);
    timer.unref?.();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** A deadline of ours passed (transient: the call is retried). */
export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

/** A short description of an error of ioredis or the network (`ECONNREFUSED`, `CLUSTERDOWN …`). */
export function errorText(e: unknown): string {
  const err = e as { message?: string; code?: string; lastNodeError?: unknown; errors?: unknown[] };
  let s = String(err?.message ?? e).replace(/\s+/g, ' ').trim();
  if (err?.code && !s.includes(err.code)) s = `${err.code} ${s}`;
  if (err?.lastNodeError) s += ` (${errorText(err.lastNodeError)})`;
  if (!s && Array.isArray(err?.errors)) s = err.errors.map(errorText).join('; ');
  return s;
}

/** Whether a failure may go away by itself (connection lost, failover, cluster reconfiguring): retry it. */
export function isTransient(e: unknown): boolean {
  if (e instanceof TimeoutError) return true;
  const err = e as { name?: string; message?: string; code?: string };
  if (err?.name === 'MaxRetriesPerRequestError') return true;
  const m = String(err?.message ?? e);
  if (/^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|MOVED|ASK|NOREPLICAS)\b/.test(m)) return true;
  return /Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|Command timed out|Too many Cluster redirections|None of startup nodes|Cluster isn't ready|Failed to refresh slots cache|Cluster is disconnect|Stream isn't writeable|max retries|offline queue|socket hang up|Socket closed/i.test(m);
}

/**
 * Connects to the cluster at `url`, waiting until it is ready (slots known, `cluster_state:ok`). Throws, within
 * `openTimeoutMs`, an error naming the seed addresses and what each said when it cannot.
 */
export async function connectCluster(urlText: string, opts: RedisConnectOptions = {}): Promise<Cluster> {
  const url = parseRedisUrl(urlText);
  const o = connectDefaults(opts);
  const deadline = Date.now() + o.openTimeoutMs;
  let connecting = true;
  const nodeErrors = new Map<string, string>();
  const cluster = new Cluster(url.nodes, clusterOptions(url, o, () => (!connecting ? 'open' : Date.now() < deadline ? 'opening' : 'expired')));
  cluster.on('node error', (err: unknown, key: string) => nodeErrors.set(String(key), errorText(err)));
  cluster.on('error', () => {});
  try {
    await withTimeout(cluster.connect(), o.openTimeoutMs, () => 'timed out');
    connecting = false;
    return cluster;
  } catch (e) {
    connecting = false;
    cluster.disconnect();
    throw new Error(await diagnose(url, o, e, nodeErrors));
  }
}

/**
 * Why a cluster could not be reached: asks every seed directly (one short connection each, `CLUSTER INFO`), so the
 * message says which addresses refuse, time out, are not clusters, or report the cluster down.
 */
async function diagnose(url: RedisUrl, o: ReturnType<typeof connectDefaults>, e: unknown, nodeErrors: Map<string, string>): Promise<string> {
  const probes = await Promise.all(url.nodes.map(async (n) => {
    const addr = `${n.host}:${n.port}`;
    const r = new Redis({
      host: n.host, port: n.port, username: url.username, password: url.password, tls: url.tls ? {} : undefined,
      lazyConnect: true, connectTimeout: Math.min(1500, o.connectTimeoutMs), commandTimeout: 1500, retryStrategy: () => null,
      maxRetriesPerRequest: 0, enableOfflineQueue: false,
    });
    let sockErr: unknown = null;
    r.on('error', (err: unknown) => (sockErr ??= err));
    try {
      await withTimeout(r.connect(), 2000, () => 'connect timed out');
      const info = String(await withTimeout(r.call('CLUSTER', 'INFO') as Promise<unknown>, 2000, () => 'CLUSTER INFO timed out'));
      const state = /cluster_state:(\w+)/.exec(info)?.[1] ?? '?';
      const slots = /cluster_slots_ok:(\d+)/.exec(info)?.[1] ?? '?';
      if (state === 'ok') return `${addr}: cluster_state:ok (${slots} slots ok)`;
      return `${addr}: CLUSTERDOWN (cluster_state:${state}, ${slots} of 16384 slots served: a master and its replica are down, or the cluster was never created)`;
    } catch (err) {
      // The socket's own error (ECONNREFUSED, ETIMEDOUT…) says more than "Connection is closed".
      let t = errorText(sockErr ?? err);
      if (/^Connection is closed/.test(t) && nodeErrors.get(addr)) t = nodeErrors.get(addr)!;
      if (/cluster support disabled/i.test(t)) return `${addr}: not a cluster (a Redis server without cluster-enabled; start a cluster: scripts/redis-cluster.sh start DIR)`;
      if (/Unknown RESP type|Protocol error/i.test(t)) return `${addr}: not a Redis server (it answered in another protocol: ${t})`;
      if (/ECONNREFUSED/.test(t)) return `${addr}: ECONNREFUSED (nothing listens there: is the cluster started?)`;
      if (/timed out|ETIMEDOUT/i.test(t)) return `${addr}: timeout (no answer within ${Math.min(1500, o.connectTimeoutMs)} ms: wrong host, or a firewall)`;
      return `${addr}: ${t}`;
    } finally {
      r.disconnect();
    }
  }));
  const what = e instanceof TimeoutError ? `no ready cluster within ${(o.openTimeoutMs / 1000).toFixed(1)} s` : errorText(e);
  // Addresses with the same finding together: "a:1, a:2: ECONNREFUSED (…); a:3: CLUSTERDOWN (…)".
  const byWhat = new Map<string, string[]>();
  for (const p of probes) {
    const i = p.indexOf(': ');
    const list = byWhat.get(p.slice(i + 2)) ?? [];
    list.push(p.slice(0, i));
    byWhat.set(p.slice(i + 2), list);
  }
  return `cannot connect to the Redis Cluster at ${seedList(url)}: ${what}; ${[...byWhat].map(([w, a]) => `${a.join(', ')}: ${w}`).join('; ')}`;
}

/** `host:port` of the node ioredis currently sends `slot`'s commands to, or '?' when it does not know. */
export function slotNode(cluster: Cluster, slot: number): string {
  return cluster.slots?.[slot]?.[0] ?? '?';
}

/** Asks ioredis to reload the slot map now (bounded; errors ignored: the next attempt finds out). */
export function refreshSlots(cluster: Cluster, timeoutMs = 2000): Promise<void> {
  return withTimeout(new Promise<void>((resolve) => {
    try {
      cluster.refreshSlotsCache(() => resolve());
    } catch {
      resolve();
    }
  }), timeoutMs, () => 'slot refresh timed out').catch(() => {});
}

/** Counters of a client (for benchmarks and tests). */
export interface RedisCounters {
  /** Redis commands sent (every attempt). */
  commands: number;
  /** Calls that sent their commands in parallel and awaited them together (one per read/write call; a retried call counts each attempt; concurrent calls each count). */
  roundTrips: number;
  /** Bytes of keys and values sent (RESP framing not counted). */
  bytesSent: number;
  /** Bytes of values received. */
  bytesReceived: number;
  /** Attempts made again after a transient failure. */
  retries: number;
  /** Pauses (transient failures ridden out or given up on), and their total milliseconds. */
  pauses: number;
  pausedMs: number;
}

export function newCounters(): RedisCounters {
  return { commands: 0, roundTrips: 0, bytesSent: 0, bytesReceived: 0, retries: 0, pauses: 0, pausedMs: 0 };
}

/** An error annotated with the node a command went to. */
export function atNode<T>(p: Promise<T>, node: () => string): Promise<T> {
  return p.catch((e: unknown) => {
    if (e && typeof e === 'object' && !(e as { node?: string }).node) {
      try {
        (e as { node?: string }).node = node();
      } catch { /* frozen error */ }
    }
    throw e;
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Retries idempotent calls through transient failures for up to `failoverTimeoutMs`. Concurrent calls share one
 * pause: `onEvent` hears once when the first call starts failing (naming the node and the error) and once when the
 * last failing call succeeds (how long it paused) or gives up.
 */
export class Retrier {
  private failing = 0;
  private pauseStart = 0;
  private pauseRetries = 0;
  closed = false;

  constructor(
    private readonly cluster: Cluster,
    private readonly label: string,
    private readonly opts: ReturnType<typeof connectDefaults>,
    private readonly counters: RedisCounters,
  ) {}

  /**
   * Runs `attempt(isCurrent)` until it succeeds, a non-transient error, or `failoverTimeoutMs`. An attempt that
   * outlives its deadline is abandoned; `isCurrent()` then turns false, so it must not write results anywhere.
   */
  async run<T>(what: string, attempt: (isCurrent: () => boolean) => Promise<T>, attemptTimeoutMs = this.opts.commandTimeoutMs + 5000): Promise<T> {
    const start = Date.now();
    let tries = 0;
    let gen = 0;
    for (;;) {
      if (this.closed) throw new Error(`${this.label}: ${what}: closed`);
      const my = ++gen;
      try {
        const r = await withTimeout(attempt(() => my === gen && !this.closed), attemptTimeoutMs,
          () => `no answer within ${attemptTimeoutMs} ms`);
        gen++;
        if (tries > 0) this.leavePause(true);
        return r;
      } catch (e) {
        gen++;
        if (this.closed) {
          if (tries > 0) this.leavePause(false);
          throw new Error(`${this.label}: ${what}: closed (${errorText(e)})`);
        }
        if (!isTransient(e)) {
          if (tries > 0) this.leavePause(false);
          throw e;
        }
        const node = (e as { node?: string })?.node;
        const text = `${node && node !== '?' ? `${node}: ` : ''}${errorText(e)}`;
        tries++;
        this.counters.retries++;
        this.pauseRetries++;
        if (tries === 1) this.enterPause(text);
        const elapsed = Date.now() - start;
        if (elapsed >= this.opts.failoverTimeoutMs) {
          this.leavePause(false);
          throw new Error(`${this.label}: ${what}: the Redis Cluster did not recover within ${(this.opts.failoverTimeoutMs / 1000).toFixed(1)} s (failoverTimeoutMs; ${tries} attempts); last error: ${text}`);
        }
        void refreshSlots(this.cluster);
        const backoff = Math.min(50 * 2 ** Math.min(tries - 1, 5), 1000);
        await sleep(Math.min(backoff, Math.max(10, this.opts.failoverTimeoutMs - elapsed)));
      }
    }
  }

  private enterPause(text: string): void {
    if (this.failing++ === 0) {
      this.pauseStart = Date.now();
      this.pauseRetries = 1;
      this.opts.onEvent?.(`${this.label}: Redis Cluster unavailable (${text}); pausing, retrying for up to ${(this.opts.failoverTimeoutMs / 1000).toFixed(0)} s`);
    }
  }

  private leavePause(ok: boolean): void {
    if (--this.failing === 0) {
      const ms = Date.now() - this.pauseStart;
      this.counters.pauses++;
      this.counters.pausedMs += ms;
      this.opts.onEvent?.(ok
        ? `${this.label}: Redis Cluster available again after a pause of ${(ms / 1000).toFixed(1)} s (${this.pauseRetries} retries)`
        : `${this.label}: Redis Cluster pause ended in failure after ${(ms / 1000).toFixed(1)} s (${this.pauseRetries} retries)`);
    }
  }
}

/** CRC16/XMODEM, Redis Cluster's key hash. */
const CRC16 = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** The cluster slot (0..16383) of a key, honoring `{hash tags}` as Redis does. */
export function keySlot(key: string): number {
  let s = key;
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) s = key.slice(open + 1, close);
  }
  const b = Buffer.from(s);
  let crc = 0;
  for (let i = 0; i < b.length; i++) crc = ((crc << 8) & 0xffff) ^ CRC16[((crc >> 8) ^ b[i]) & 0xff];
  return crc & 16383;
}

/** Closes a cluster connection: QUIT when it answers within 1 s, else a hard disconnect (never hangs). */
export async function closeCluster(c: Cluster): Promise<void> {
  try {
    if (c.status === 'ready') await withTimeout(c.quit(), 1000, () => 'quit timed out');
  } catch { /* disconnect below */ }
  c.disconnect();
}

/** Validates a namespace name. */
export function checkName(name: string): string {
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(name)) throw new Error(`bad store name '${name}': use 1–100 of A–Z a–z 0–9 . _ -`);
  return name;
}
