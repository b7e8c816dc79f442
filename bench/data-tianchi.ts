/**
 * Taobao (Tianchi layout) → shards benchmark: peak RSS and lines/s of the streamed conversion (`din data convert`,
 * external sorts + a join; src/data/sources/taobao/tianchi-stream.ts) against the in-memory `loadTaobao`, at several
 * log sizes, each phase in its own process so its peak RSS is its own.
 *
 *   node dist/bench/data-tianchi.js [--sizes 10000000,30000000,100000000] [--memory-sizes 10000000,30000000]
 *        [--users 1100000] [--shard-rows 250000] [--memory-mb 256] [--dir /tmp/din-tianchi-bench] [--keep]
 *
 * Each size is the number of behavior_log lines (the full data has ~723M). The generated directory is shaped like the
 * real one, scaled: a fixed population of --users users (the real data: 1.14M) with skewed activity, 846K ads, 26/723
 * impressions per behaviour line (the real ratio) over the 8 days 2017-05-06…13 (the last is the test day), behaviours
 * over the 22 days before 2017-05-14, categories (12K) drawn with a power-law skew and each one's brands (of 460K) from
 * a window of 160, also skewed, 5% NULL brands.
 * Results go to bench/results/data-tianchi.json; the generated files are deleted unless --keep (then a later run with
 * the same --dir and --users reuses them).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertTaobaoToShards, loadTaobao } from '../src/data/sources/taobao/index.js';
import { Rng } from '../src/util/rng.js';
import { writeJsonAtomic } from '../src/util/fs.js';

const HERE = fileURLToPath(import.meta.url);

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const peakMB = () => Math.round(process.resourceUsage().maxRSS / 1024);
const DAY = 86400;
const END = 1494691200; // 2017-05-14 00:00 UTC+8
const ADS = 846_811;
const CATES = 12_000;
const BRANDS = 460_000;
/** Brands sold in a category: a window of this many brands starting at the category's own offset (as in the real data, a brand belongs to few categories). */
const BRANDS_PER_CATE = 160;

/** Appends text to a file through a 4 MB buffer. */
class Out {
  private fd: number;
  private buf = '';
  constructor(file: string) {
    this.fd = openSync(file, 'w');
  }
  line(s: string): void {
    this.buf += s;
    if (this.buf.length > 1 << 22) this.flush();
  }
  flush(): void {
    writeSync(this.fd, this.buf);
    this.buf = '';
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** A generated Tianchi directory with `lines` behaviour lines (see the file header). */
function generate(dir: string, lines: number, users: number, seed: number): { impressions: number } {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(seed);
  const skew = (n: number, k: number) => Math.floor(n * rng.next() ** k);
  const userOf = () => 1 + skew(users, 1.6); // active users are few, many users are rare
  const brandOf = (cate: number) => 1 + ((cate * 38 + skew(BRANDS_PER_CATE, 2)) % BRANDS);
  const ad = new Out(join(dir, 'ad_feature.csv'));
  ad.line('adgroup_id,cate_id,campaign_id,customer,brand,price\n');
  for (let a = 1; a <= ADS; a++) {
    const cate = 1 + skew(CATES, 3);
    const brand = rng.next() < 0.3 ? 'NULL' : String(brandOf(cate));
    ad.line(`${a},${cate},${1 + rng.int(420_000)},${1 + rng.int(255_000)},${brand},${(1 + skew(2000, 3)) * 1.5}\n`);
  }
  ad.close();
  const prof = new Out(join(dir, 'user_profile.csv'));
  prof.line('userid,cms_segid,cms_group_id,final_gender_code,age_level,pvalue_level,shopping_level,occupation,new_user_class_level \n');
  for (let u = 1; u <= users; u++) {
    if (rng.next() < 0.07) continue;
    prof.line(`${u},${rng.int(97)},${rng.int(13)},${1 + rng.int(2)},${rng.int(7)},${rng.next() < 0.5 ? '' : 1 + rng.int(3)},${1 + rng.int(3)},${rng.int(2)},${rng.next() < 0.3 ? '' : 1 + rng.int(4)}\n`);
  }
  prof.close();
  const impressions = Math.round((lines * 26) / 723);
  const raw = new Out(join(dir, 'raw_sample.csv'));
  raw.line('user,time_stamp,adgroup_id,pid,nonclk,clk\n');
  for (let k = 0; k < impressions; k++) {
    const clk = rng.next() < 0.05 ? 1 : 0;
    raw.line(`${userOf()},${END - 8 * DAY + rng.int(8 * DAY)},${1 + skew(ADS, 2)},${rng.next() < 0.6 ? '430548_1007' : '430539_1007'},${1 - clk},${clk}\n`);
  }
  raw.close();
  const beh = new Out(join(dir, 'behavior_log.csv'));
  beh.line('user,time_stamp,btag,cate,brand\n');
  const tags = ['pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'cart', 'fav', 'buy'];
  for (let k = 0; k < lines; k++) {
    const cate = 1 + skew(CATES, 3);
    const brand = rng.next() < 0.05 ? 'NULL' : String(brandOf(cate));
    beh.line(`${userOf()},${END - 22 * DAY + rng.int(22 * DAY)},${tags[rng.int(20)]},${cate},${brand}\n`);
  }
  beh.close();
  return { impressions };
}

/** One phase, in this process; prints a JSON line. */
async function phase(name: string): Promise<void> {
  const dir = arg('dir', '');
  const lines = Number(arg('lines', '0'));
  const impressions = Number(arg('impressions', '0'));
  const progress = (m: string) => console.error(`  ${m}`);
  const t0 = performance.now();
  if (name === 'memory') {
    const ds = await loadTaobao(dir, { onProgress: progress });
    const s = (performance.now() - t0) / 1000;
    console.log(JSON.stringify({ phase: name, seconds: s, samples: ds.train.size + ds.test.size, linesPerSecond: (lines + impressions) / s,
      behaviourLinesPerSecond: lines / s, peakRssMB: peakMB() }));
  } else if (name === 'convert') {
    const out = arg('out', '');
    const m = await convertTaobaoToShards(dir, out, { shardRows: Number(arg('shard-rows', '1000000')), memoryMB: Number(arg('memory-mb', '256')), onProgress: progress });
    const s = (performance.now() - t0) / 1000;
    console.log(JSON.stringify({ phase: name, seconds: s, samples: m.train + m.test, linesPerSecond: (lines + impressions) / s,
      behaviourLinesPerSecond: lines / s, peakRssMB: peakMB(), shards: m.shards.length, shardBytes: m.shards.reduce((a, x) => a + x.bytes, 0),
      sortRuns: m.conversion?.sortRuns, sortBytes: m.conversion?.sortBytes }));
  }
}

function child(args: string[]): Record<string, number> {
  const r = spawnSync(process.execPath, [HERE, ...args], { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`phase ${args.join(' ')} failed (status ${r.status})`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line);
}

async function main(): Promise<void> {
  const p = arg('phase', '');
  if (p) return phase(p);
  const sizes = arg('sizes', '10000000,30000000,100000000').split(',').map(Number);
  const memorySizes = new Set(arg('memory-sizes', '10000000,30000000').split(',').map(Number));
  const users = Number(arg('users', '1100000'));
  const shardRows = arg('shard-rows', '250000');
  const memoryMB = arg('memory-mb', '256');
  const root = resolve(arg('dir', '/tmp/din-tianchi-bench'));
  const keep = process.argv.includes('--keep');
  const results: Array<Record<string, unknown>> = [];
  for (const lines of sizes) {
    const dir = join(root, `tianchi-${lines}`);
    const t0 = performance.now();
    // --keep leaves the generated directories for another run, which reuses them (same seed, same data)
    const impressions = existsSync(join(dir, 'done')) ? Number(readFileSync(join(dir, 'done'), 'utf8')) : generate(dir, lines, users, 7).impressions;
    writeFileSync(join(dir, 'done'), String(impressions));
    const bytes = statSync(join(dir, 'behavior_log.csv')).size;
    console.error(`generated ${lines} behaviour lines (${(bytes / 2 ** 30).toFixed(2)} GiB), ${impressions} impressions, ${users} users in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const common = ['--dir', dir, '--lines', String(lines), '--impressions', String(impressions)];
    const out = join(root, `shards-${lines}`);
    const conv = child(['--phase', 'convert', ...common, '--out', out, '--shard-rows', shardRows, '--memory-mb', memoryMB]);
    console.error(JSON.stringify(conv));
    const mem = memorySizes.has(lines) ? child(['--phase', 'memory', ...common]) : null;
    if (mem) console.error(JSON.stringify(mem));
    results.push({ behaviourLines: lines, impressions, users, logBytes: bytes, convert: conv, memory: mem });
    if (!keep) rmSync(dir, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
  console.log('| behaviour lines (+ impressions) | streamed convert | its peak RSS | in-memory loadTaobao | its peak RSS |');
  console.log('|---|---|---|---|---|');
  for (const r of results) {
    const c = r.convert as Record<string, number>;
    const m = r.memory as Record<string, number> | null;
    const rate = (x: number) => `${(x / 1e6).toFixed(2)}M lines/s`;
    console.log(`| ${(Number(r.behaviourLines) / 1e6).toFixed(0)}M (+ ${(Number(r.impressions) / 1e6).toFixed(1)}M) | ${rate(c.linesPerSecond)}, ${c.seconds.toFixed(0)} s | ${c.peakRssMB} MB | ` +
      `${m ? `${rate(m.linesPerSecond)}, ${m.seconds.toFixed(0)} s` : '—'} | ${m ? `${m.peakRssMB} MB` : '—'} |`);
  }
  const file = resolve(fileURLToPath(new URL('../../bench/results/data-tianchi.json', import.meta.url)));
  writeJsonAtomic(file, { date: new Date().toISOString(), node: process.version, shardRows: Number(shardRows), memoryMB: Number(memoryMB), results });
  console.error(`wrote ${file}`);
  if (!keep) rmSync(root, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
