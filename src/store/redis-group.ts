/**
 * The trainer processes of one run (ranks 0..size−1) exchanging messages every step through the Redis Cluster that
 * holds their rows ({@link Group} of ./types.ts).
 *
 * Keys (under the store's namespace `din:<name>:g:`):
 *
 *   hb:<rank>               heartbeat of a member: JSON {rank, size, pid, host, nonce, runId, beat, sent, …}, refreshed
 *                           every `heartbeatMs` by an unref'd timer, expiring after `heartbeatTtlMs`
 *   runs                    hash runId → {size}: runs whose keys rank 0 deletes when it starts the next one
 *   <runId>:roster          the members of a run (rank 0 writes it once every member adopted the run id)
 *   <runId>:in:<rank>       a member's inbox: a list of messages (RPUSH by senders, BLPOP by the member)
 *   <runId>:stop            set once to stop the whole run: JSON {reason, by, lost?}
 *
 * Joining: rank 0 draws a fresh run id and publishes it in its heartbeat; every other member adopts the run id of
 * rank 0's live heartbeat and publishes it in its own; once every member shows it, rank 0 writes the roster (every
 * member's nonce); a member is in once the roster of its run id lists its nonce. Keys of a run include its id, so
 * messages of an earlier (crashed) run never mix in, and a stale heartbeat of a crashed run can never complete a join.
 *
 * A message is `header ‖ payload`: u16 magic 0x4744 ("DG"), u8 version 1, u8 kind 0, u32 from, f64 tag, u32 payload
 * bytes, u32 CRC-32 of the payload (24 bytes, little-endian). Tags increase; a message with a later tag than the one
 * awaited is kept for later, one with an earlier tag is a protocol error (the ranks are out of step), a second copy
 * of the last message from a rank (a send retried after a lost reply) is dropped.
 *
 * Waiting never hangs: it pops in short blocking calls (on a separate connection, so row traffic never waits behind
 * it) and between them checks the peers' heartbeats and the stop key. A peer whose heartbeat has not changed for
 * `peerTimeoutMs` is lost: the member that notices sets the stop key (naming it) and throws {@link PeerLostError};
 * every other member throws the same when it sees the stop key. A message that a live peer says it sent (its
 * heartbeat's `sent` tag) but that does not arrive within `lostMessageGraceMs` was lost (a failover after the push
 * and before replication): an error says so.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { crc32 } from 'node:zlib';
import type { Cluster } from 'ioredis';
import type { Group } from './types.js';
import {
  atNode, checkName, closeCluster, connectCluster, connectDefaults, errorText, keySlot, newCounters, Retrier, slotNode,
  withTimeout, type RedisConnectOptions, type RedisCounters,
} from './redis-connect.js';
import type { RedisRowStore } from './redis-store.js';

/** Options of {@link joinGroup}. */
export interface GroupOptions extends RedisConnectOptions {
  /** Milliseconds to wait for every member to join (default 120000). */
  joinTimeoutMs?: number;
  /** A peer whose heartbeat has not changed for this long is lost (default 15000; more than a failover's pause). */
  peerTimeoutMs?: number;
  /** Heartbeat period (default 1000) and the heartbeat key's TTL (default 5000). */
  heartbeatMs?: number;
  heartbeatTtlMs?: number;
  /** Longest blocking pop between checks of heartbeats and the stop key (default 500). */
  pollMs?: number;
  /** How long a message a peer reports sent may take to show up before it counts as lost (default 5000). */
  lostMessageGraceMs?: number;
  /** Longest wait for one exchange when every peer is alive (default 600000: a peer writing a checkpoint). */
  exchangeTimeoutMs?: number;
  /** How to start the trainer of a rank, for the join timeout's message. */
  startCommand?: (rank: number) => string;
  /** This machine's name in heartbeats (default os.hostname()). */
  host?: string;
}

/** The run was stopped (`stop(reason)` by a member, or a lost peer). */
export class GroupStoppedError extends Error {
  override name = 'GroupStoppedError';
  constructor(message: string, readonly reason: string, readonly by: number) {
    super(message);
  }
}

/** A peer stopped sending heartbeats (crashed, killed, hung, or cut off). */
export class PeerLostError extends GroupStoppedError {
  override name = 'PeerLostError';
  constructor(message: string, reason: string, by: number, readonly lostRank: number, readonly pid: number | null, readonly host: string | null) {
    super(message, reason, by);
  }
}

/** Messages out of step (different tags or calls on different ranks). */
export class GroupProtocolError extends Error {
  override name = 'GroupProtocolError';
}

interface Heartbeat {
  v: 1;
  rank: number;
  size: number;
  pid: number;
  host: string;
  nonce: string;
  startedAt: string;
  runId: string | null;
  beat: number;
  /** Last tag whose messages this member has sent (all acknowledged). */
  sent: number | null;
  /** Tag it is waiting for, if any. */
  waiting: number | null;
}

interface Roster {
  runId: string;
  size: number;
  createdAt: string;
  members: { rank: number; pid: number; host: string; nonce: string }[];
}

interface StopDoc {
  reason: string;
  by: number;
  at: string;
  lost?: { rank: number; pid: number | null; host: string | null };
}

const MAGIC = 0x4744;
const HEADER = 24;

/** Counters of a group ({@link RedisGroup.stats}). */
export interface GroupStats extends RedisCounters {
  exchanges: number;
  messagesSent: number;
  messagesReceived: number;
  /** Milliseconds spent in exchanges (sending and waiting). */
  exchangeMs: number;
}

/**
 * Joins the group of trainers `name` (the store's namespace) as `rank` of `size`: registers, agrees on a fresh run
 * id, and waits until every member joined (`joinTimeoutMs`). `target`: a URL, an open store (its connection is
 * shared for sends; blocking pops get their own), or an ioredis cluster client.
 */
export async function joinGroup(target: string | RedisRowStore | Cluster, name: string, rank: number, size: number, opts: GroupOptions = {}): Promise<RedisGroup> {
  checkName(name);
  if (!(Number.isInteger(size) && size >= 1)) throw new Error(`group size must be an integer ≥ 1, got ${size}`);
  if (!(Number.isInteger(rank) && rank >= 0 && rank < size)) throw new Error(`rank must be in 0..${size - 1}, got ${rank}`);
  let cluster: Cluster;
  let own = false;
  if (typeof target === 'string') {
    cluster = await connectCluster(target, opts);
    own = true;
  } else if ('cluster' in target && (target as RedisRowStore).cluster) {
    cluster = (target as RedisRowStore).cluster;
  } else {
    cluster = target as Cluster;
  }
  const o = connectDefaults(opts);
  let blocking: Cluster | null = null;
  try {
    blocking = cluster.duplicate();
    blocking.on('error', () => {});
    await withTimeout(blocking.connect(), o.openTimeoutMs, () => `no ready cluster within ${o.openTimeoutMs} ms`);
  } catch (e) {
    blocking?.disconnect();
    if (own) await closeCluster(cluster);
    throw new Error(`joinGroup din:${name}: cannot open the connection for blocking pops: ${errorText(e)}`);
  }
  const g = new RedisGroup(cluster, blocking, own, name, rank, size, opts);
  try {
    await g.join();
  } catch (e) {
    await g.leave();
    throw e;
  }
  return g;
}

/** A message of the group protocol (see the module comment): what rank `from` pushes to a peer's inbox. */
export function encodeMessage(from: number, tag: number, payload: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(HEADER + payload.byteLength);
  buf.writeUInt16LE(MAGIC, 0);
  buf.writeUInt8(1, 2);
  buf.writeUInt8(0, 3);
  buf.writeUInt32LE(from, 4);
  buf.writeDoubleLE(tag, 8);
  buf.writeUInt32LE(payload.byteLength, 16);
  buf.writeUInt32LE(crc32(payload), 20);
  buf.set(payload, HEADER);
  return buf;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A member of a group of trainers (see the module comment). */
export class RedisGroup implements Group {
  readonly host: string;
  readonly pid = process.pid;
  /** The run's id (after joining). */
  runId = '';
  private readonly o: Required<Omit<GroupOptions, keyof RedisConnectOptions | 'startCommand' | 'host'>>;
  private readonly co: ReturnType<typeof connectDefaults>;
  private readonly prefix: string;
  private readonly nonce = randomBytes(8).toString('hex');
  private readonly startedAt = new Date().toISOString();
  private readonly counters = newCounters();
  private readonly extra = { exchanges: 0, messagesSent: 0, messagesReceived: 0, exchangeMs: 0 };
  private readonly retrier: Retrier;
  private hb: Heartbeat;
  private timer: NodeJS.Timeout | null = null;
  private beating = false;
  private roster: Roster | null = null;
  /** Stop document seen by the heartbeat timer (or set by stop()). */
  private stopSeen: StopDoc | null = null;
  private lastTag = -Infinity;
  private readonly lastTagFrom: number[];
  /** Messages of later tags: tag → from → payload. */
  private readonly pending = new Map<number, Map<number, Uint8Array>>();
  /** Per peer: last heartbeat seen, and when it last changed (local clock). */
  private readonly peerBeat: (number | null)[];
  private readonly peerChanged: number[];
  private readonly peerInfo: (Heartbeat | null)[];
  private left = false;
  private busy = false;
  private broken: Error | null = null;

  /** @internal use {@link joinGroup}. */
  constructor(
    private readonly cluster: Cluster,
    private readonly blocking: Cluster,
    private readonly ownCluster: boolean,
    readonly name: string,
    readonly rank: number,
    readonly size: number,
    private readonly opts: GroupOptions,
  ) {
    this.co = connectDefaults(opts);
    this.o = {
      joinTimeoutMs: opts.joinTimeoutMs ?? 120000,
      peerTimeoutMs: opts.peerTimeoutMs ?? 15000,
      heartbeatMs: opts.heartbeatMs ?? 1000,
      heartbeatTtlMs: opts.heartbeatTtlMs ?? 5000,
      pollMs: opts.pollMs ?? 500,
      lostMessageGraceMs: opts.lostMessageGraceMs ?? 5000,
      exchangeTimeoutMs: opts.exchangeTimeoutMs ?? 600000,
    };
    this.host = opts.host ?? hostname();
    this.prefix = `din:${name}:g:`;
    this.retrier = new Retrier(cluster, `group din:${name} rank ${rank}`, this.co, this.counters);
    this.hb = {
      v: 1, rank, size, pid: this.pid, host: this.host, nonce: this.nonce, startedAt: this.startedAt, runId: null, beat: 0,
      sent: null, waiting: null,
    };
    this.lastTagFrom = new Array(size).fill(-Infinity);
    this.peerBeat = new Array(size).fill(null);
    this.peerChanged = new Array(size).fill(0);
    this.peerInfo = new Array(size).fill(null);
  }

  private hbKey(r: number): string {
    return `${this.prefix}hb:${r}`;
  }

  private runKey(runId: string, what: string): string {
    return `${this.prefix}${runId}:${what}`;
  }

  /** The inbox key of rank `r` in this run. */
  inbox(r: number, runId = this.runId): string {
    return this.runKey(runId, `in:${r}`);
  }

  private get stopKey(): string {
    return this.runKey(this.runId, 'stop');
  }

  /** A command through the retrier, counted. */
  private cmd<T>(what: string, key: string, f: () => Promise<T>, bytes = 0): Promise<T> {
    return this.retrier.run(what, () => {
      this.counters.commands++;
      this.counters.bytesSent += bytes + key.length;
      return atNode(f(), () => slotNode(this.cluster, keySlot(key)));
    });
  }

  private parseHb(text: string | null): Heartbeat | null {
    if (!text) return null;
    try {
      const h = JSON.parse(text) as Heartbeat;
      return h && h.v === 1 && typeof h.nonce === 'string' ? h : null;
    } catch {
      return null;
    }
  }

  private async readHeartbeats(): Promise<(Heartbeat | null)[]> {
    const texts = await this.retrier.run('read heartbeats', () => {
      this.counters.commands += this.size;
      this.counters.roundTrips++;
      return Promise.all(Array.from({ length: this.size }, (_, r) => this.cluster.get(this.hbKey(r))));
    });
    return texts.map((t) => this.parseHb(t));
  }

  private async writeHeartbeat(): Promise<void> {
    this.hb.beat++;
    const text = JSON.stringify(this.hb);
    this.counters.commands++;
    await this.cluster.set(this.hbKey(this.rank), text, 'PX', this.o.heartbeatTtlMs);
  }

  /** One heartbeat: refresh ours, and look at the stop key. Errors are ignored (the next beat tries again). */
  private async beat(): Promise<void> {
    if (this.beating || this.left) return;
    this.beating = true;
    try {
      await withTimeout(this.writeHeartbeat(), Math.max(1000, this.o.heartbeatMs * 3), () => 'heartbeat timed out');
      if (this.roster && !this.stopSeen) {
        const s = await withTimeout(this.cluster.get(this.stopKey), 2000, () => 'stop check timed out');
        this.counters.commands++;
        if (s) this.stopSeen = this.parseStop(s);
      }
    } catch { /* transient: next beat */ } finally {
      this.beating = false;
    }
  }

  private parseStop(text: string): StopDoc {
    try {
      return JSON.parse(text) as StopDoc;
    } catch {
      return { reason: text, by: -1, at: '' };
    }
  }

  /** @internal Registers, agrees on the run id, waits for everyone (see the module comment). */
  async join(): Promise<void> {
    const deadline = Date.now() + this.o.joinTimeoutMs;
    // A live heartbeat under our rank from another process: wait to see whether it beats (a live duplicate) or
    // expires (a crashed predecessor).
    const mine = this.hbKey(this.rank);
    const first = this.parseHb(await this.cmd('read own heartbeat', mine, () => this.cluster.get(mine)));
    if (first && first.nonce !== this.nonce) {
      await sleep(Math.round(this.o.heartbeatMs * 1.6));
      const again = this.parseHb(await this.cmd('read own heartbeat', mine, () => this.cluster.get(mine)));
      if (again && again.nonce === first.nonce && again.beat !== first.beat) {
        throw new Error(`joinGroup din:${this.name}: rank ${this.rank} is already taken by pid ${again.pid} on ${again.host} (started ${again.startedAt}): is another trainer of this run still running?`);
      }
    }
    if (this.rank === 0) this.hb.runId = `${Date.now().toString(36)}${randomBytes(5).toString('hex')}`;
    await this.cmd('write heartbeat', mine, () => this.writeHeartbeat());
    this.timer = setInterval(() => void this.beat(), this.o.heartbeatMs);
    this.timer.unref();

    while (!this.roster) {
      const hbs = await this.readHeartbeats();
      for (const h of hbs) {
        if (h && h.runId && h.size !== this.size && (h.rank === 0 || h.runId === this.hb.runId)) {
          throw new Error(`joinGroup din:${this.name}: rank ${h.rank} (pid ${h.pid} on ${h.host}) was started with ${h.size} trainers, this one (rank ${this.rank}) with ${this.size}`);
        }
      }
      if (this.rank === 0) {
        const runId = this.hb.runId!;
        if (hbs.every((h, r) => r === 0 || (h && h.runId === runId))) {
          const roster: Roster = {
            runId, size: this.size, createdAt: new Date().toISOString(),
            members: hbs.map((h, r) => (r === 0 ? { rank: 0, pid: this.pid, host: this.host, nonce: this.nonce } : { rank: r, pid: h!.pid, host: h!.host, nonce: h!.nonce })),
          };
          await this.cleanupOldRuns(runId);
          const text = JSON.stringify(roster);
          const rk = this.runKey(runId, 'roster');
          await this.cmd('write roster', rk, () => this.cluster.set(rk, text), text.length);
          this.roster = roster;
        }
      } else {
        const r0 = hbs[0];
        if (r0 && r0.runId && r0.size === this.size && r0.runId !== this.hb.runId) {
          this.hb.runId = r0.runId;
          await this.cmd('write heartbeat', mine, () => this.writeHeartbeat());
        }
        if (this.hb.runId) {
          const rk = this.runKey(this.hb.runId, 'roster');
          const text = await this.cmd('read roster', rk, () => this.cluster.get(rk));
          if (text) {
            const roster = JSON.parse(text) as Roster;
            if (roster.members?.[this.rank]?.nonce === this.nonce) this.roster = roster;
          }
        }
      }
      if (this.roster) break;
      if (Date.now() >= deadline) throw new Error(this.joinTimeoutMessage(hbs));
      await sleep(100);
    }
    this.runId = this.roster.runId;
    const now = Date.now();
    this.peerChanged.fill(now);
  }

  private joinTimeoutMessage(hbs: (Heartbeat | null)[]): string {
    const runId = this.rank === 0 ? this.hb.runId : hbs[0]?.runId ?? null;
    const missing: number[] = [];
    const here: string[] = [];
    hbs.forEach((h, r) => {
      if (r === this.rank) return;
      if (h && (r === 0 || (runId !== null && h.runId === runId))) here.push(`${r} (pid ${h.pid} on ${h.host})`);
      else missing.push(r);
    });
    const start = missing.map((r) => this.opts.startCommand?.(r) ?? `the same trainer command with rank ${r} of ${this.size}`);
    return `joinGroup din:${this.name}: rank ${this.rank} waited ${(this.o.joinTimeoutMs / 1000).toFixed(0)} s for ${this.size} trainers; ` +
      `missing rank${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (no live heartbeat in this run: not started, crashed, or pointed at another cluster or name)` +
      `${missing.includes(0) ? '; rank 0 creates the run' : ''}${here.length ? `; joined: ${here.join(', ')}` : ''}. Start ${missing.length > 1 ? 'them' : 'it'} with: ${start.join('; ')}`;
  }

  /** Deletes the keys of earlier runs of this name (inboxes, roster, stop), recorded in the `runs` hash. */
  private async cleanupOldRuns(runId: string): Promise<void> {
    const runsKey = `${this.prefix}runs`;
    const old = await this.cmd('read runs', runsKey, () => this.cluster.hgetall(runsKey));
    const keys: string[] = [];
    for (const [id, v] of Object.entries(old ?? {})) {
      if (id === runId) continue;
      let size = 0;
      try {
        size = Number(JSON.parse(v).size) || 0;
      } catch { /* */ }
      keys.push(this.runKey(id, 'roster'), this.runKey(id, 'stop'));
      for (let r = 0; r < Math.min(size, 100000); r++) keys.push(this.inbox(r, id));
    }
    if (keys.length) {
      await this.retrier.run('delete old runs', () => Promise.all(keys.map((k) => this.cluster.unlink(k))));
      const ids = Object.keys(old).filter((id) => id !== runId);
      await this.cmd('forget old runs', runsKey, () => this.cluster.hdel(runsKey, ...ids));
    }
    await this.cmd('record run', runsKey, () => this.cluster.hset(runsKey, runId, JSON.stringify({ size: this.size, at: new Date().toISOString() })));
  }

  // ---- messages ----------------------------------------------------------------------------------------------------

  private decode(buf: Buffer): { from: number; tag: number; payload: Uint8Array } {
    const where = `group din:${this.name} rank ${this.rank}: message in ${this.inbox(this.rank)}`;
    if (buf.length < HEADER || buf.readUInt16LE(0) !== MAGIC || buf.readUInt8(2) !== 1) throw new GroupProtocolError(`${where}: not a din message`);
    const from = buf.readUInt32LE(4);
    const tag = buf.readDoubleLE(8);
    const n = buf.readUInt32LE(16);
    if (buf.length !== HEADER + n) throw new GroupProtocolError(`${where} from rank ${from}, tag ${tag}: ${buf.length - HEADER} payload bytes, its header says ${n} (truncated)`);
    const payload = buf.subarray(HEADER);
    if (crc32(payload) !== buf.readUInt32LE(20)) throw new GroupProtocolError(`${where} from rank ${from}, tag ${tag}: checksum mismatch (corrupt)`);
    if (!(from < this.size) || from === this.rank) throw new GroupProtocolError(`${where}: from rank ${from}, not a peer of ${this.size}`);
    return { from, tag, payload };
  }

  private throwIfStopped(): void {
    if (this.stopSeen) throw this.stopError(this.stopSeen);
  }

  private stopError(s: StopDoc): GroupStoppedError {
    const by = s.by >= 0 ? `rank ${s.by}` : 'a member';
    if (s.lost) {
      return new PeerLostError(`group din:${this.name} rank ${this.rank}: stopped: ${s.reason} (noticed by ${by})`, s.reason, s.by, s.lost.rank, s.lost.pid, s.lost.host);
    }
    return new GroupStoppedError(`group din:${this.name} rank ${this.rank}: stopped by ${by}: ${s.reason}`, s.reason, s.by);
  }

  async allToAll(tag: number, payloads: Uint8Array[]): Promise<Uint8Array[]> {
    if (this.left) throw new Error(`group din:${this.name}: left`);
    if (!this.roster) throw new Error(`group din:${this.name}: not joined`);
    if (typeof tag !== 'number' || !Number.isFinite(tag)) throw new GroupProtocolError(`tag ${tag}: a finite number`);
    if (!(tag > this.lastTag)) throw new GroupProtocolError(`group din:${this.name} rank ${this.rank}: tag ${tag} after ${this.lastTag}: tags must increase`);
    if (payloads.length !== this.size) throw new RangeError(`allToAll: ${payloads.length} payloads for ${this.size} ranks`);
    if (this.busy) throw new GroupProtocolError(`group din:${this.name} rank ${this.rank}: allToAll(${tag}) while allToAll(${this.lastTag}) runs: one exchange at a time`);
    if (this.broken) throw new Error(`group din:${this.name} rank ${this.rank}: unusable after an earlier failure: ${this.broken.message}`);
    this.throwIfStopped();
    this.busy = true;
    try {
      return await this.exchange(tag, payloads);
    } catch (e) {
      if (!(e instanceof GroupStoppedError)) this.broken = e as Error;
      throw e;
    } finally {
      this.busy = false;
    }
  }

  private async exchange(tag: number, payloads: Uint8Array[]): Promise<Uint8Array[]> {
    this.lastTag = tag;
    const t0 = performance.now();
    this.extra.exchanges++;
    const out: Uint8Array[] = new Array(this.size);
    out[this.rank] = payloads[this.rank];
    if (this.size === 1) return out;
    this.hb.waiting = tag;
    try {
      // Send (every push acknowledged) while receiving.
      const cache = new Map<Uint8Array, Buffer>();
      const send = (async () => {
        await Promise.all(payloads.map((p, j) => {
          if (j === this.rank) return undefined;
          let msg = cache.get(p);
          if (!msg) cache.set(p, (msg = encodeMessage(this.rank, tag, p)));
          const key = this.inbox(j);
          const m = msg;
          return this.cmd(`send tag ${tag} to rank ${j}`, key, () => this.cluster.rpush(key, m), m.length).then(() => this.extra.messagesSent++);
        }));
        this.counters.roundTrips++;
        this.hb.sent = tag;
      })();
      const received = this.receive(tag, send);
      await Promise.all([send, received]);
      for (const [from, p] of await received) out[from] = p;
      for (let j = 0; j < this.size; j++) if (j !== this.rank) this.lastTagFrom[j] = tag;
      return out;
    } finally {
      this.hb.waiting = null;
      this.extra.exchangeMs += performance.now() - t0;
    }
  }

  async allGather(tag: number, payload: Uint8Array): Promise<Uint8Array[]> {
    return this.allToAll(tag, new Array(this.size).fill(payload));
  }

  async barrier(tag: number): Promise<void> {
    await this.allGather(tag, new Uint8Array(0));
  }

  /** Waits for the messages of `tag` from every peer. */
  private async receive(tag: number, send: Promise<void>): Promise<Map<number, Uint8Array>> {
    let sendError: unknown = null;
    send.catch((e) => (sendError = e));
    const got = this.pending.get(tag) ?? new Map<number, Uint8Array>();
    this.pending.delete(tag);
    const start = Date.now();
    const checkEvery = Math.min(1000, Math.max(100, this.o.peerTimeoutMs / 4));
    let nextCheck = Date.now() + checkEvery;
    const reportedSentAt = new Map<number, number>();
    const inbox = this.inbox(this.rank);
    const pollSec = Math.max(0.05, this.o.pollMs / 1000);
    while (got.size < this.size - 1) {
      if (sendError) throw sendError;
      this.throwIfStopped();
      if (Date.now() >= nextCheck) {
        await this.checkPeers(tag, got, reportedSentAt);
        nextCheck = Date.now() + checkEvery;
        if (Date.now() - start > this.o.exchangeTimeoutMs) {
          const missing = [...Array(this.size).keys()].filter((j) => j !== this.rank && !got.has(j));
          throw new Error(`group din:${this.name} rank ${this.rank}: tag ${tag}: no message from rank${missing.length > 1 ? 's' : ''} ${missing.join(', ')} within ${(this.o.exchangeTimeoutMs / 1000).toFixed(0)} s (exchangeTimeoutMs), though alive`);
        }
      }
      const msgs = await this.retrier.run(`receive tag ${tag}`, async () => {
        this.counters.commands++;
        const first = await atNode(this.blocking.blpopBuffer(inbox, pollSec), () => slotNode(this.blocking, keySlot(inbox)));
        if (!first) return [] as Buffer[];
        const list = [first[1]];
        // More messages awaited: take what else is there in the same trip.
        const want = this.size - 1 - got.size - 1;
        if (want > 0) {
          this.counters.commands++;
          const more = await this.blocking.lpopBuffer(inbox, want);
          if (more) list.push(...more);
        }
        return list;
      }, this.co.commandTimeoutMs + this.o.pollMs + 5000);
      for (const buf of msgs) {
        this.counters.bytesReceived += buf.length;
        this.extra.messagesReceived++;
        const m = this.decode(buf);
        if (m.tag === tag) {
          if (!got.has(m.from)) got.set(m.from, m.payload);
        } else if (m.tag > tag) {
          let p = this.pending.get(m.tag);
          if (!p) this.pending.set(m.tag, (p = new Map()));
          if (!p.has(m.from)) p.set(m.from, m.payload);
        } else if (m.tag === this.lastTagFrom[m.from]) {
          // A second copy of the previous message (its push was retried after a lost reply): drop it.
        } else {
          throw new GroupProtocolError(`group din:${this.name} rank ${this.rank}: a message with tag ${m.tag} from rank ${m.from} arrived while waiting for tag ${tag}: the ranks are out of step (every rank must make the same calls with the same tags)`);
        }
      }
    }
    return got;
  }

  /** Checks the stop key and the peers' heartbeats; throws when the run stopped or a peer is lost. */
  private async checkPeers(tag: number, got: Map<number, Uint8Array>, reportedSentAt: Map<number, number>): Promise<void> {
    const [stop, hbs] = await Promise.all([
      this.cmd('check stop', this.stopKey, () => this.cluster.get(this.stopKey)),
      this.readHeartbeats(),
    ]);
    if (stop) {
      this.stopSeen = this.parseStop(stop);
      throw this.stopError(this.stopSeen);
    }
    const now = Date.now();
    for (let j = 0; j < this.size; j++) {
      if (j === this.rank) continue;
      const h = hbs[j];
      const member = this.roster!.members[j];
      if (h && h.nonce !== member.nonce) {
        await this.lose(j, `rank ${j} (pid ${member.pid} on ${member.host}) was replaced by another process (pid ${h.pid} on ${h.host})`);
      }
      if (h && h.beat !== this.peerBeat[j]) {
        this.peerBeat[j] = h.beat;
        this.peerChanged[j] = now;
        this.peerInfo[j] = h;
      }
      const silent = now - this.peerChanged[j];
      if (silent > this.o.peerTimeoutMs) {
        await this.lose(j, `rank ${j} (pid ${member.pid} on ${member.host}) lost: no heartbeat for ${(silent / 1000).toFixed(1)} s (peerTimeoutMs ${this.o.peerTimeoutMs})`);
      }
      if (h && !got.has(j) && h.sent !== null && h.sent >= tag) {
        const since = reportedSentAt.get(j);
        if (since === undefined) reportedSentAt.set(j, now);
        else if (now - since > this.o.lostMessageGraceMs) {
          const reason = `the message of tag ${tag} from rank ${j} was lost (sent and acknowledged, never delivered: a Redis failover between the push and its replication?)`;
          await this.setStop({ reason, by: this.rank, at: new Date().toISOString() });
          throw new GroupStoppedError(`group din:${this.name} rank ${this.rank}: ${reason}`, reason, this.rank);
        }
      }
    }
  }

  private async lose(j: number, reason: string): Promise<never> {
    const m = this.roster!.members[j];
    const doc: StopDoc = { reason, by: this.rank, at: new Date().toISOString(), lost: { rank: j, pid: m.pid, host: m.host } };
    const stored = await this.setStop(doc);
    this.stopSeen = stored;
    throw this.stopError(stored);
  }

  /** Sets the stop key unless set (the first reason wins); returns the stored one. */
  private async setStop(doc: StopDoc): Promise<StopDoc> {
    const text = JSON.stringify(doc);
    const key = this.stopKey;
    try {
      const prev = await this.cmd('set stop', key, () => this.cluster.set(key, text, 'PX', 7 * 86400000, 'NX', 'GET'));
      return prev ? this.parseStop(prev) : doc;
    } catch {
      return doc;
    }
  }

  /** Tells every member to stop: their next wait throws {@link GroupStoppedError} with this reason (ours too). */
  async stop(reason: string): Promise<void> {
    if (!this.roster) return;
    const stored = await this.setStop({ reason, by: this.rank, at: new Date().toISOString() });
    this.stopSeen = stored;
  }

  /** Stops the heartbeat, deletes this member's heartbeat and inbox, and closes its connections. */
  async leave(): Promise<void> {
    if (this.left) return;
    this.left = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.retrier.closed = true;
    try {
      const mine = this.hbKey(this.rank);
      const keys = [this.runId ? this.inbox(this.rank) : null].filter((k): k is string => k !== null);
      await withTimeout((async () => {
        const cur = this.parseHb(await this.cluster.get(mine));
        if (cur && cur.nonce === this.nonce) await this.cluster.del(mine);
        await Promise.all(keys.map((k) => this.cluster.unlink(k)));
      })(), 2000, () => 'leave timed out');
    } catch { /* the heartbeat expires by itself */ }
    this.blocking.disconnect();
    if (this.ownCluster) await closeCluster(this.cluster);
  }

  /** Counters since joining (a copy). */
  stats(): GroupStats {
    return { ...this.counters, ...this.extra };
  }
}
