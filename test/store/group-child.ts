/**
 * A trainer-like child process for the group tests (not a test file: it runs only with DIN_GROUP_CHILD set).
 *
 * Env DIN_GROUP_CHILD = JSON {url, name, rank, size, rounds, bytes, mode, peerTimeoutMs, heartbeatMs}:
 * joins, makes `rounds` allToAll exchanges of `bytes`-byte payloads (checking every byte received), prints one JSON
 * line {event: 'done', rank, pid, ms: [...]} and, in mode 'until-lost', keeps exchanging until an error, which it
 * prints as {event: 'error', name, message, lostRank, lostPid, ms}.
 */
import { joinGroup, PeerLostError } from '../../src/store/redis-group.js';

/** Byte k of the payload rank `from` sends rank `to` at `tag`. */
export function payloadFor(from: number, to: number, tag: number, bytes: number): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  const base = (from * 31 + to * 17 + tag * 7) & 255;
  for (let k = 0; k < bytes; k++) b[k] = (base + k) & 255;
  return b;
}

/** Whether `p` is what `from` sends `to` at `tag`. */
export function checkPayload(p: Uint8Array, from: number, to: number, tag: number, bytes: number): boolean {
  if (p.byteLength !== bytes) return false;
  const base = (from * 31 + to * 17 + tag * 7) & 255;
  for (let k = 0; k < bytes; k++) if (p[k] !== ((base + k) & 255)) return false;
  return true;
}

async function main(): Promise<void> {
  const a = JSON.parse(process.env.DIN_GROUP_CHILD!) as {
    url: string; name: string; rank: number; size: number; rounds: number; bytes: number; mode: 'exchange' | 'until-lost';
    peerTimeoutMs?: number; heartbeatMs?: number;
  };
  const say = (o: object) => process.stdout.write(`${JSON.stringify({ rank: a.rank, pid: process.pid, ...o })}\n`);
  const g = await joinGroup(a.url, a.name, a.rank, a.size, { peerTimeoutMs: a.peerTimeoutMs, heartbeatMs: a.heartbeatMs, joinTimeoutMs: 30000 });
  const ms: number[] = [];
  const exchange = async (tag: number) => {
    const payloads = Array.from({ length: a.size }, (_, j) => payloadFor(a.rank, j, tag, a.bytes));
    const t0 = performance.now();
    const got = await g.allToAll(tag, payloads);
    ms.push(performance.now() - t0);
    got.forEach((p, j) => {
      if (!checkPayload(p, j, a.rank, tag, a.bytes)) throw new Error(`rank ${a.rank}: wrong payload from rank ${j} at tag ${tag}`);
    });
  };
  for (let tag = 1; tag <= a.rounds; tag++) await exchange(tag);
  say({ event: 'done', ms });
  if (a.mode === 'until-lost') {
    const t0 = Date.now();
    try {
      for (let tag = a.rounds + 1; ; tag++) await exchange(tag);
    } catch (e) {
      const err = e as Error;
      say({ event: 'error', name: err.name, message: err.message, lostRank: e instanceof PeerLostError ? e.lostRank : null, lostPid: e instanceof PeerLostError ? e.pid : null, waitedMs: Date.now() - t0 });
    }
  }
  await g.leave();
}

if (process.env.DIN_GROUP_CHILD) {
  main().then(() => process.exit(0), (e) => {
    process.stdout.write(`${JSON.stringify({ event: 'fatal', message: String((e as Error)?.stack ?? e) })}\n`);
    process.exit(1);
  });
}
