import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openShards, type ShardedDataset } from '../../src/data/shards.js';
import type { Dataset, SampleSet } from '../../src/core/types.js';

const created: string[] = [];
process.on('exit', () => {
  for (const d of created) rmSync(d, { recursive: true, force: true });
});

/** A fresh temp directory holding `files` (name → content); removed when the test process exits. */
export function tmpFixture(files: Record<string, string>, prefix = 'din-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.push(dir);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return dir;
}

/** Repository root (tests run from dist/test/data). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The shared, read-only data directory beside the repository. */
export const SHARED_DATA = resolve(REPO_ROOT, '..', 'shared', 'data');

export const AMAZON_FIXTURE = {
  'Mini.txt': 'u1 a b c d\nu2 b e f\nu3 a z\nu4 c a e g b\n',
  'Mini_item2attributes.json': '{"a": [1, 2], "b": [2], "c": [3], "d": [], "e": [1, 1], "z": [9]}',
};

export const MOVIELENS_FIXTURE = {
  'movies.csv':
    'movieId,title,genres\r\n' +
    '1,Toy Story (1995),Adventure|Animation\r\n' +
    '2,"American President, The (1995)",Comedy|Drama|Romance\r\n' +
    '3,"Quote ""Test"", Part 2 (2000)",(no genres listed)\r\n' +
    '4,Unrated Movie (1990),Horror\r\n',
  'ratings.csv':
    'userId,movieId,rating,timestamp\n' +
    '10,2,4.0,300\n' +
    '10,1,3.5,100\n' +
    '10,3,5.0,300\n' +
    '20,1,4.0,50\n' +
    '20,5,2.0,60\n' +
    '30,3,1.0,10\n' +
    '30,2,4.5,20\n',
};

// ---- shards vs the in-memory dataset ----

export type Row = [number, number, number, number[], number[]];

/** Every sample of the given parts, as plain rows (history contents, not offsets). */
export function rowsOf(parts: Iterable<SampleSet>): Row[] {
  const out: Row[] = [];
  for (const s of parts) {
    for (let i = 0; i < s.size; i++) {
      out.push([s.labels[i], s.users[i], s.items[i], Array.from(s.histValues.subarray(s.histStart[i], s.histStart[i] + s.histLen[i])),
        (s.fieldValues ?? []).map((f) => f[i])]);
    }
  }
  return out;
}

export function* parts(sd: ShardedDataset, which: 'train' | 'test'): Generator<SampleSet> {
  for (let k = 0; k < sd.shards.length; k++) yield sd.readShard(k)[which];
}

const strip = (x: unknown) => JSON.parse(JSON.stringify(x, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Int32Array) : v)));

/**
 * Every sample of the given parts as one string — label, user, item, sample fields, history length and a hash of the
 * history's contents (not offsets) — so huge histories are compared without materialising them.
 */
export function sampleKeys(parts: Iterable<SampleSet>): string[] {
  const out: string[] = [];
  for (const s of parts) {
    for (let i = 0; i < s.size; i++) {
      let h = 0x811c9dc5;
      for (let k = s.histStart[i], e = k + s.histLen[i]; k < e; k++) h = Math.imul(h ^ s.histValues[k], 0x01000193);
      const f = (s.fieldValues ?? []).map((c) => c[i]).join(',');
      out.push(`${s.labels[i]} ${s.users[i]} ${s.items[i]} [${f}] ${s.histLen[i]}:${h >>> 0}`);
    }
  }
  return out;
}

/** The shards at `out` hold what `mem` holds (see the file header); `order: 'user'` compares rows as multisets. */
export function assertSameShards(out: string, mem: Dataset, order: 'same' | 'user' = 'same', shardRows?: number): ShardedDataset {
  const sd = openShards(out);
  assert.equal(sd.trainSize, mem.train.size);
  assert.equal(sd.testSize, mem.test.size);
  for (const which of ['train', 'test'] as const) {
    const got = sampleKeys(parts(sd, which));
    const want = sampleKeys([mem[which]]);
    if (order === 'same') assert.deepEqual(got, want, which);
    else {
      assert.deepEqual([...got].sort(), [...want].sort(), which);
      const users = [...parts(sd, which)].flatMap((s) => Array.from(s.users));
      for (let i = 1; i < users.length; i++) assert.ok(users[i] >= users[i - 1], `${which}: samples grouped by user in user order`);
    }
  }
  assert.deepEqual(strip(sd.catalog), strip(mem.catalog));
  assert.deepEqual(sd.sampleFields, mem.sampleFields);
  assert.deepEqual(sd.userKeys, mem.userKeys);
  assert.equal(sd.numUsers, mem.numUsers);
  assert.equal(sd.name, mem.name);
  assert.equal(sd.format, mem.format);
  assert.deepEqual(sd.skipped, mem.skipped);
  assert.deepEqual(sd.skippedExamples, mem.skippedExamples);
  assert.deepEqual(sd.buildOptions, mem.buildOptions);
  assert.deepEqual(sd.stats, mem.stats);
  if (shardRows !== undefined) for (const s of sd.shards) assert.ok(s.train + s.test <= shardRows);
  assert.equal(readdirSync(out).filter((n) => n.startsWith('.tmp')).length, 0, 'temporary files removed');
  return sd;
}
