import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertSchemaToShards, loadSchemaDataset } from '../../src/data/sources/schema/index.js';
import { concatSets, isShardDir, openShards, prepareShardDir, writeShardedDataset, type ShardedDataset } from '../../src/data/shards.js';
import { generateSynthetic, syntheticOptions } from '../../src/data/sources/synthetic.js';
import type { Dataset, SampleSet } from '../../src/core/types.js';
import { Rng } from '../../src/util/rng.js';
import { createModel } from '../../src/models/index.js';
import { DEFAULT_MODEL_CONFIG, type ModelConfig } from '../../src/models/model.js';
import { runTraining } from '../../src/train/run.js';
import { DEFAULT_TRAIN_OPTIONS, trainSource, type TrainOptions } from '../../src/train/trainer.js';
import { createRegularizer } from '../../src/optim/index.js';
import { be } from '../nn/helpers.js';
import { tmpFixture } from './helpers.js';

/** A generated click log: page views of 1–3 ads sharing a history; users with profile and context fields. */
function clickLog(rows: number, seed: number): string {
  const rng = new Rng(seed);
  const lines = ['clk,uid,item,cate,shop,gender,pid,ts,hist_items,hist_cates,hist_shops'];
  const cateOf = (g: number) => `c${g % 17}`;
  const shopOf = (g: number) => `s${g % 29}`;
  let n = 0;
  while (n < rows) {
    const u = rng.int(120);
    const L = rng.int(9);
    const hist = Array.from({ length: L }, () => rng.int(400));
    const ads = 1 + rng.int(3);
    for (let a = 0; a < ads && n < rows; a++, n++) {
      const g = rng.int(400);
      const clk = cateOf(g) === cateOf(hist[0] ?? -1) || rng.next() < 0.15 ? 1 : 0;
      lines.push([clk, `u${u}`, `g${g}`, cateOf(g), shopOf(g), u % 2 ? 'f' : 'm', `p${rng.int(3)}`, n,
        hist.map((h) => `g${h}`).join('|'), hist.map(cateOf).join('|'), hist.map(shopOf).join('|')].join(','));
    }
  }
  return lines.join('\n') + '\n';
}

function schemaFixture(split: unknown, rows = 700, extra: Record<string, unknown> = {}): string {
  const dir = tmpFixture({ 'log.csv': clickLog(rows, 5) });
  writeFileSync(join(dir, 'schema.json'), JSON.stringify({
    name: 'clicks', files: { all: 'log.csv' }, split, label: 'clk', user: 'uid',
    candidate: { goods: 'item', category: 'cate', fields: ['shop'] },
    behaviors: { goods: 'hist_items', category: 'hist_cates', fields: { shop: 'hist_shops' } },
    userFields: ['gender'], contextFields: ['pid'], ...extra,
  }));
  return join(dir, 'schema.json');
}

/** Every sample of the given parts, as plain rows (history contents, not offsets). */
function rowsOf(parts: Iterable<SampleSet>): Array<[number, number, number, number[], number[]]> {
  const out: Array<[number, number, number, number[], number[]]> = [];
  for (const s of parts) {
    for (let i = 0; i < s.size; i++) {
      out.push([s.labels[i], s.users[i], s.items[i], Array.from(s.histValues.subarray(s.histStart[i], s.histStart[i] + s.histLen[i])),
        (s.fieldValues ?? []).map((f) => f[i])]);
    }
  }
  return out;
}

function* parts(sd: ShardedDataset, which: 'train' | 'test'): Generator<SampleSet> {
  for (let k = 0; k < sd.shards.length; k++) yield sd.readShard(k)[which];
}

const strip = (x: object) => JSON.parse(JSON.stringify(x, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Int32Array) : v)));

for (const split of [{ by: 'user', testFraction: 0.25 }, { by: 'column', column: 'pid', testValues: ['p2'] }, { by: 'time', column: 'ts', testFrom: 500 }]) {
  test(`schema → shards (split by ${split.by}) holds exactly the samples, ids and vocabularies of the in-memory load`, async () => {
    const schema = schemaFixture(split, 700, { vocab: { minCount: 2 } });
    const mem = await loadSchemaDataset(schema, { seed: 3 });
    const out = join(tmpFixture({}), 'shards');
    const m = await convertSchemaToShards(schema, out, { seed: 3, shardRows: 97 });
    assert.ok(m.shards.length >= 7, `${m.shards.length} shards of ≤ 97 rows`);
    assert.ok(isShardDir(out));
    const sd = openShards(out);
    assert.equal(sd.trainSize, mem.train.size);
    assert.equal(sd.testSize, mem.test.size);
    assert.deepEqual(rowsOf(parts(sd, 'train')), rowsOf([mem.train]));
    // shards read together (the trainer's --shard-window) hold the same samples in one set
    assert.deepEqual(rowsOf([concatSets([...parts(sd, 'train')])]), rowsOf([mem.train]));
    assert.deepEqual(rowsOf(parts(sd, 'test')), rowsOf([mem.test]));
    assert.deepEqual(strip(sd.catalog), strip(mem.catalog));
    assert.deepEqual(sd.sampleFields, mem.sampleFields);
    assert.deepEqual(sd.userKeys, mem.userKeys);
    assert.deepEqual(sd.skipped, mem.skipped);
    // every stat but the positions stored (a history repeated across a shard boundary is stored in both shards)
    assert.deepEqual({ ...sd.stats, historyPositions: 0 }, { ...mem.stats, historyPositions: 0 });
    for (const s of m.shards) assert.ok(s.train + s.test <= 97);
    assert.equal(readdirSync(out).filter((n) => n.startsWith('.tmp')).length, 0, 'temporary chunks removed');
    assert.equal(m.conversion?.streamed, true);
    assert.ok((m.conversion?.rowsPerSecond as number) > 0);
  });
}

test('a split by time with testFraction cannot stream: a clear error, nothing half-written', async () => {
  const schema = schemaFixture({ by: 'time', column: 'ts', testFraction: 0.2 });
  const out = join(tmpFixture({}), 'shards');
  await assert.rejects(convertSchemaToShards(schema, out, { shardRows: 50 }), /testFraction.*cannot be streamed.*testFrom/);
  assert.ok(!existsSync(join(out, 'manifest.json')));
});

test('row errors are skipped and counted the same way when streaming', async () => {
  const schema = schemaFixture({ by: 'user', testFraction: 0.25 }, 300);
  const csv = join(schema, '..', 'log.csv');
  const lines = readFileSync(csv, 'utf8').split('\n');
  lines.splice(10, 0, 'x,u1,g1,c1,s1,f,p1,1,g1,c1,s1', '1,u2,g2');
  writeFileSync(csv, lines.join('\n'));
  const mem = await loadSchemaDataset(schema);
  const out = join(tmpFixture({}), 'shards');
  await convertSchemaToShards(schema, out, { shardRows: 40 });
  const sd = openShards(out);
  assert.equal(sd.skipped.badLabels, 1);
  assert.equal(sd.skipped.wrongColumnCount, 1);
  assert.deepEqual(sd.skipped, mem.skipped);
  assert.deepEqual(sd.skippedExamples, mem.skippedExamples);
  assert.equal(sd.trainSize + sd.testSize, mem.train.size + mem.test.size);
  await assert.rejects(convertSchemaToShards(schema, out, { shardRows: 40, onError: 'fail' }), /log\.csv:11: expected label "clk"/);
});

function synthetic(): Dataset {
  return generateSynthetic(syntheticOptions('small', { seed: 4 }), 'synthetic-small');
}

const CONFIG: ModelConfig = { ...DEFAULT_MODEL_CONFIG, model: 'din', goodsDim: 8, attrDim: 8, hidden: [16], attentionHidden: [8] };
const OPTS: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, epochs: 2, batchSize: 64, evalBatchSize: 512 };

test('one shard trains bit-identically to the in-memory dataset', () => {
  const ds = synthetic();
  const out = join(tmpFixture({}), 'one');
  writeShardedDataset(out, ds, ds.train.size);
  const sd = openShards(out);
  assert.equal(sd.shards.length, 1);
  const a = runTraining({ data: ds, config: CONFIG, options: OPTS, backend: be });
  const b = runTraining({ data: sd, config: CONFIG, options: OPTS, backend: be });
  assert.equal(b.metrics.test.gauc, a.metrics.test.gauc);
  assert.equal(b.metrics.history[1].trainLoss, a.metrics.history[1].trainLoss);
});

test('training reads many shards one at a time and learns as well as in memory; patience carves validation per shard', () => {
  const ds = synthetic();
  const out = join(tmpFixture({}), 'many');
  const m = writeShardedDataset(out, ds, Math.ceil(ds.train.size / 6));
  assert.equal(m.shards.length, 6);
  assert.equal(m.train, ds.train.size);
  assert.equal(m.test, ds.test.size);
  const sd = openShards(out);
  const opts = { ...OPTS, epochs: 3 };
  const a = runTraining({ data: ds, config: CONFIG, options: opts, backend: be });
  const b = runTraining({ data: sd, config: CONFIG, options: opts, backend: be });
  assert.equal(b.metrics.test.samples, ds.test.size);
  assert.ok(b.metrics.test.gauc > 0.6, `sharded gauc ${b.metrics.test.gauc}`);
  assert.ok(Math.abs(b.metrics.test.gauc - a.metrics.test.gauc) < 0.03, `sharded ${b.metrics.test.gauc} vs in-memory ${a.metrics.test.gauc}`);
  for (const shardWindow of [1, 4]) {
    const w = runTraining({ data: sd, config: CONFIG, options: { ...opts, shardWindow }, backend: be });
    assert.ok(Math.abs(w.metrics.test.gauc - a.metrics.test.gauc) < 0.03, `window ${shardWindow}: ${w.metrics.test.gauc} vs in-memory ${a.metrics.test.gauc}`);
    assert.notEqual(w.metrics.history[0].trainLoss, b.metrics.history[0].trainLoss, 'the window changes the batches');
  }
  const c = runTraining({ data: sd, config: CONFIG, options: { ...opts, patience: 2 }, backend: be });
  assert.ok(c.metrics.train.validationSamples > 0);
  assert.ok(c.metrics.history.every((h) => h.valid !== undefined && h.valid.samples === c.metrics.train.validationSamples));
  assert.ok(c.metrics.train.samples + c.metrics.train.validationSamples === ds.train.size);
});

test('MBA counts summed over shards equal the in-memory counts (same penalty gradient)', () => {
  const ds = synthetic();
  const out = join(tmpFixture({}), 'mba');
  writeShardedDataset(out, ds, Math.ceil(ds.train.size / 4));
  const sd = openShards(out);
  const model = createModel(CONFIG, { backend: be, catalog: ds.catalog, seed: 1 });
  const params = model.params();
  const grads = () => params.map((p) => Array.from(p.grad));
  const run = (src: Parameters<typeof createRegularizer>[2]) => {
    const reg = createRegularizer({ reg: 'mba', lambda: 3, denseL2: 0 }, params, src, 50);
    for (const p of params) {
      p.grad.fill(0);
      if (p.sparse) {
        p.sparse.count = 0;
        for (const id of [0, 3, 7]) p.sparse.ids[p.sparse.count++] = id;
      }
    }
    reg.apply();
    return grads();
  };
  const a = run(ds.train);
  const b = run(trainSource(sd));
  assert.deepEqual(b, a);
  assert.ok(a.some((g) => g.some((x) => x !== 0)), 'the penalty is not zero');
});

test('bad shard directories give errors naming the file', () => {
  const ds = synthetic();
  const out = join(tmpFixture({}), 'bad');
  writeShardedDataset(out, ds, Math.ceil(ds.train.size / 2));
  const shard = join(out, 'shard-00001.dinshard');
  const bytes = readFileSync(shard);
  bytes[bytes.length - 3] ^= 0xff;
  writeFileSync(shard, bytes);
  const sd = openShards(out);
  assert.throws(() => sd.readShard(1), /shard-00001\.dinshard: checksum mismatch/);
  writeFileSync(shard, bytes.subarray(0, 100));
  assert.throws(() => openShards(out), /shard-00001\.dinshard: 100 bytes, the manifest says/);
  const foreign = tmpFixture({ 'notes.txt': 'mine' });
  assert.throws(() => prepareShardDir(foreign), /not empty and not a din shard directory \(found notes\.txt\)/);
  assert.ok(existsSync(join(foreign, 'notes.txt')));
  assert.throws(() => openShards(foreign), /not a din shard directory \(no manifest\.json\)/);
});
