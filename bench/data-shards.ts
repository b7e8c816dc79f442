/**
 * Data-path benchmark (issue 5): parsing rows/s, streaming conversion into SampleSet shards with bounded memory, and
 * reading the binary shards back (samples/s) — each phase in its own process so its peak RSS is its own.
 *
 *   node dist/bench/data-shards.js [--rows 2000000] [--shard-rows 250000] [--dir /tmp/din-shards-bench] [--keep]
 *
 * The log is generated (seeded): a CSV of page views of 1–4 ads sharing one history (13 columns: label, user, item,
 * category, shop, gender, age, pid, hour, and goods/category/shop behaviour sequences of 0–29 positions, 14.5 on
 * average), 200k goods in 1000 categories, 100k users; split by user (20% test). The same schema is loaded twice:
 *   memory  — `loadSchemaDataset` (the whole Dataset in memory),
 *   convert — `convertSchemaToShards` (chunks of --shard-rows rows),
 * at rows/4 and at rows, so the table shows which peak RSS grows with the log and which does not. Then:
 *   read    — every shard read, checksummed and validated, then batched (batch 256, history 50) as training reads it.
 * Results go to bench/results/data-shards.json.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Batcher } from '../src/data/batcher.js';
import { openShards } from '../src/data/shards.js';
import { convertSchemaToShards, loadSchemaDataset } from '../src/data/sources/schema/index.js';
import { Rng } from '../src/util/rng.js';
import { writeJsonAtomic } from '../src/util/fs.js';

const HERE = fileURLToPath(import.meta.url);

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const peakMB = () => Math.round(process.resourceUsage().maxRSS / 1024);

async function generate(file: string, rows: number, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const out = createWriteStream(file);
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  await write('clk,user_id,item_id,cate_id,shop_id,gender,age,pid,hour,hist_item_ids,hist_cate_ids,hist_shop_ids\n');
  const G = 200_000;
  const cate = (g: number) => (g * 7919) % 1000;
  const shop = (g: number) => (g * 104729) % 20_000;
  let n = 0;
  let buf = '';
  while (n < rows) {
    const u = rng.int(100_000);
    const L = rng.int(30);
    const hist = Array.from({ length: L }, () => rng.int(G));
    const hi = hist.join('|');
    const hc = hist.map(cate).join('|');
    const hs = hist.map(shop).join('|');
    const ads = 1 + rng.int(4);
    const pid = rng.int(5);
    const hour = rng.int(24);
    for (let a = 0; a < ads && n < rows; a++, n++) {
      const g = rng.int(G);
      const clk = hist.some((h) => cate(h) === cate(g)) || rng.next() < 0.05 ? 1 : 0;
      buf += `${clk},u${u},${g},${cate(g)},${shop(g)},${u % 2},${u % 7},${pid},${hour},${hi},${hc},${hs}\n`;
    }
    if (buf.length > 1 << 20) {
      await write(buf);
      buf = '';
    }
  }
  await write(buf);
  await new Promise<void>((r) => out.end(() => r()));
}

function schemaFor(dir: string, csv: string): string {
  const file = join(dir, `${csv}.schema.json`);
  writeFileSync(file, JSON.stringify({
    name: 'bench-log', files: { all: csv }, split: { by: 'user', testFraction: 0.2 }, label: 'clk', user: 'user_id',
    candidate: { goods: 'item_id', category: 'cate_id', fields: ['shop_id'] },
    behaviors: { goods: 'hist_item_ids', category: 'hist_cate_ids', fields: { shop_id: 'hist_shop_ids' } },
    userFields: ['gender', 'age'], contextFields: ['pid', 'hour'],
  }));
  return file;
}

/** One phase, in this process; prints a JSON line. */
async function phase(name: string): Promise<void> {
  const schema = arg('schema', '');
  const t0 = performance.now();
  if (name === 'memory') {
    const ds = await loadSchemaDataset(schema);
    const s = (performance.now() - t0) / 1000;
    const rows = ds.train.size + ds.test.size;
    console.log(JSON.stringify({ phase: name, rows, seconds: s, rowsPerSecond: rows / s, peakRssMB: peakMB() }));
  } else if (name === 'convert') {
    const m = await convertSchemaToShards(schema, arg('out', ''), { shardRows: Number(arg('shard-rows', '250000')) });
    const s = (performance.now() - t0) / 1000;
    const rows = m.train + m.test;
    console.log(JSON.stringify({ phase: name, rows, shards: m.shards.length, seconds: s, rowsPerSecond: rows / s, peakRssMB: peakMB(),
      bytes: m.shards.reduce((a, x) => a + x.bytes, 0) }));
  } else if (name === 'read') {
    const sd = openShards(arg('out', ''));
    let samples = 0;
    let readSec = 0;
    let batchSec = 0;
    let checksum = 0;
    for (let k = 0; k < sd.shards.length; k++) {
      const a = performance.now();
      const { train, test } = sd.readShard(k);
      const b = performance.now();
      for (const set of [train, test]) {
        for (const batch of new Batcher(set, { batchSize: 256, maxHistory: 50, shuffle: true, seed: k }).epoch(0)) checksum += batch.hist[0] + batch.size;
        samples += set.size;
      }
      readSec += (b - a) / 1000;
      batchSec += (performance.now() - b) / 1000;
    }
    console.log(JSON.stringify({ phase: name, samples, shards: sd.shards.length, readSeconds: readSec, samplesPerSecondRead: samples / readSec,
      batchSeconds: batchSec, samplesPerSecondReadAndBatch: samples / (readSec + batchSec), peakRssMB: peakMB(), checksum }));
  }
}

function child(args: string[]): Record<string, number> {
  const r = spawnSync(process.execPath, [HERE, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`phase ${args.join(' ')} failed: ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line);
}

async function main(): Promise<void> {
  const p = arg('phase', '');
  if (p) return phase(p);
  const rows = Number(arg('rows', '2000000'));
  const shardRows = arg('shard-rows', '250000');
  const dir = resolve(arg('dir', '/tmp/din-shards-bench'));
  mkdirSync(dir, { recursive: true });
  const results: Array<Record<string, number | string>> = [];
  for (const n of [Math.round(rows / 4), rows]) {
    const csv = `log-${n}.csv`;
    const t0 = performance.now();
    await generate(join(dir, csv), n, 7);
    console.error(`generated ${n} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const schema = schemaFor(dir, csv);
    const out = join(dir, `shards-${n}`);
    const mem = child(['--phase', 'memory', '--schema', schema]);
    console.error(JSON.stringify(mem));
    const conv = child(['--phase', 'convert', '--schema', schema, '--out', out, '--shard-rows', shardRows]);
    console.error(JSON.stringify(conv));
    const read = child(['--phase', 'read', '--out', out]);
    console.error(JSON.stringify(read));
    results.push({ rows: n, shardRows: Number(shardRows), memoryRowsPerSecond: mem.rowsPerSecond, memoryPeakRssMB: mem.peakRssMB,
      convertRowsPerSecond: conv.rowsPerSecond, convertPeakRssMB: conv.peakRssMB, shards: conv.shards, shardBytes: conv.bytes,
      readSamplesPerSecond: read.samplesPerSecondRead, readAndBatchSamplesPerSecond: read.samplesPerSecondReadAndBatch, readPeakRssMB: read.peakRssMB });
    if (!process.argv.includes('--keep')) rmSync(join(dir, csv));
  }
  console.log('| rows | in-memory load rows/s | its peak RSS | streamed convert rows/s | its peak RSS | shards | read samples/s | read + batch samples/s | read peak RSS |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const k = (x: unknown) => `${Math.round(Number(x) / 1000)}k`;
    console.log(`| ${r.rows} | ${k(r.memoryRowsPerSecond)} | ${r.memoryPeakRssMB} MB | ${k(r.convertRowsPerSecond)} | ${r.convertPeakRssMB} MB | ${r.shards} | ` +
      `${(Number(r.readSamplesPerSecond) / 1e6).toFixed(1)}M | ${(Number(r.readAndBatchSamplesPerSecond) / 1e6).toFixed(2)}M | ${r.readPeakRssMB} MB |`);
  }
  const file = resolve(fileURLToPath(new URL('../../bench/results/data-shards.json', import.meta.url)));
  writeJsonAtomic(file, { date: new Date().toISOString(), node: process.version, results });
  console.error(`wrote ${file}`);
  if (!process.argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
