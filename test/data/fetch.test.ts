import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { crc32, deflateRawSync } from 'node:zlib';
import {
  DATASETS,
  MANIFEST,
  ManualDownloadRequired,
  createDownloadProgress,
  download,
  extractZip,
  fetchDataset,
  findDataset,
  parseContentRange,
} from '../../src/data/fetch.js';

// ---- fixtures -------------------------------------------------------------------------------------------------

const tmpRoot = mkdtempSync(join(tmpdir(), 'din-fetch-'));
process.on('exit', () => rmSync(tmpRoot, { recursive: true, force: true }));
let n = 0;
function freshDir(): string {
  const d = join(tmpRoot, `t${n++}`);
  mkdirSync(d, { recursive: true });
  return d;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A minimal zip writer (deflate; stored for empty entries) — enough for yauzl. */
function makeZip(files: Record<string, string | Buffer>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.from(content);
    const method = data.length === 0 ? 0 : 8;
    const comp = method === 8 ? deflateRawSync(data) : data;
    const crc = crc32(data) >>> 0;
    const nameB = Buffer.from(name, 'utf8');
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(0x0800, 6); // UTF-8 names
    lh.writeUInt16LE(method, 8);
    lh.writeUInt16LE(0, 10);
    lh.writeUInt16LE(0x5821, 12);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(comp.length, 18);
    lh.writeUInt32LE(data.length, 22);
    lh.writeUInt16LE(nameB.length, 26);
    lh.writeUInt16LE(0, 28);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(0x0800, 8);
    ch.writeUInt16LE(method, 10);
    ch.writeUInt16LE(0, 12);
    ch.writeUInt16LE(0x5821, 14);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(comp.length, 20);
    ch.writeUInt32LE(data.length, 24);
    ch.writeUInt16LE(nameB.length, 28);
    ch.writeUInt32LE(offset, 42);
    locals.push(lh, nameB, comp);
    centrals.push(ch, nameB);
    offset += 30 + nameB.length + comp.length;
  }
  const cd = Buffer.concat(centrals);
  const count = Object.keys(files).length;
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(count, 8);
  eocd.writeUInt16LE(count, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

const BODY = randomBytes(256 * 1024 + 123);
const RATINGS = 'userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.0,964981247\n2,1,5.0,964982224\n';
const MOVIES = 'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n3,Grumpier Old Men (1995),Comedy|Romance\n';
const ML_ZIP = makeZip({
  'ml-latest-small/': '',
  'ml-latest-small/ratings.csv': RATINGS,
  'ml-latest-small/movies.csv': MOVIES,
  'ml-latest-small/README.txt': 'fixture\n',
  '__MACOSX/ml-latest-small/._ratings.csv': 'junk',
});

// ---- a local server --------------------------------------------------------------------------------------------

interface Route {
  body?: Buffer;
  /** Honour Range requests (default true). */
  range?: boolean;
  /** Send only this many body bytes, then drop the connection — for the next `drops` requests (default 1). */
  dropAfter?: number;
  drops?: number;
  status?: number;
  location?: string;
}
const routes = new Map<string, Route>();
const log: { path: string; range?: string; status: number; sent: number }[] = [];
let server: http.Server;
let base = '';

before(async () => {
  server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    const r = routes.get(path);
    const entry = { path, range: req.headers.range, status: 0, sent: 0 };
    log.push(entry);
    if (!r || (!r.body && !r.location)) {
      entry.status = r?.status ?? 404;
      res.writeHead(entry.status, { 'Content-Type': 'text/plain' });
      res.end('not here\n');
      return;
    }
    if (r.location) {
      entry.status = r.status ?? 302;
      res.writeHead(entry.status, { Location: r.location });
      res.end();
      return;
    }
    const body = r.body!;
    let start = 0;
    let status = 200;
    const headers: Record<string, string | number> = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes' };
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && r.range !== false) {
      start = Number(m[1]);
      if (start >= body.length) {
        entry.status = 416;
        res.writeHead(416, { 'Content-Range': `bytes */${body.length}` });
        res.end();
        return;
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    }
    const chunk = body.subarray(start);
    headers['Content-Length'] = chunk.length;
    entry.status = status;
    res.writeHead(status, headers);
    if (r.dropAfter !== undefined && (r.drops ?? 1) > 0) {
      r.drops = (r.drops ?? 1) - 1;
      entry.sent = Math.min(r.dropAfter, chunk.length);
      res.write(chunk.subarray(0, r.dropAfter), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    entry.sent = chunk.length;
    res.end(chunk);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

function requestsFor(path: string) {
  return log.filter((e) => e.path === path);
}

// ---- download() --------------------------------------------------------------------------------------------------

test('full download: byte-identical, checksum verified, no .part left', async () => {
  routes.set('/full.bin', { body: BODY });
  const dest = join(freshDir(), 'full.bin');
  const r = await download(`${base}/full.bin`, dest, { sha256: sha(BODY), size: BODY.length });
  assert.ok(readFileSync(dest).equals(BODY));
  assert.equal(r.sha256, sha(BODY));
  assert.equal(r.bytes, BODY.length);
  assert.equal(r.received, BODY.length);
  assert.equal(r.resumedFrom, 0);
  assert.ok(!existsSync(`${dest}.part`));
});

test('checksum mismatch: a clear error naming the URL and both hashes, and no file left behind', async () => {
  routes.set('/bad.bin', { body: BODY });
  const dest = join(freshDir(), 'bad.bin');
  const wrong = 'ab'.repeat(32);
  await assert.rejects(download(`${base}/bad.bin`, dest, { sha256: wrong }), (e: Error) => {
    assert.match(e.message, /sha256 mismatch/);
    assert.ok(e.message.includes(`${base}/bad.bin`));
    assert.ok(e.message.includes(`expected ${wrong}`) && e.message.includes(`got ${sha(BODY)}`));
    assert.match(e.message, /deleted/);
    return true;
  });
  assert.ok(!existsSync(dest));
  assert.ok(!existsSync(`${dest}.part`));
  // A size mismatch announced by Content-Length fails before downloading.
  await assert.rejects(download(`${base}/bad.bin`, dest, { size: 10 }), /offers \d+ bytes, expected 10/);
  assert.ok(!existsSync(dest));
});

test('resume: with a half .part, only the rest is requested (Range) and the result is byte-identical', async () => {
  routes.set('/resume.bin', { body: BODY });
  const dest = join(freshDir(), 'resume.bin');
  const half = Math.floor(BODY.length / 2);
  writeFileSync(`${dest}.part`, BODY.subarray(0, half));
  const lines: string[] = [];
  const r = await download(`${base}/resume.bin`, dest, { sha256: sha(BODY), log: (l) => lines.push(l) });
  const reqs = requestsFor('/resume.bin');
  assert.equal(reqs.length, 1);
  assert.equal(reqs[0].range, `bytes=${half}-`);
  assert.equal(reqs[0].status, 206);
  assert.equal(reqs[0].sent, BODY.length - half);
  assert.equal(r.resumedFrom, half);
  assert.equal(r.received, BODY.length - half);
  assert.ok(readFileSync(dest).equals(BODY));
  assert.ok(lines.some((l) => /resuming .*resume\.bin\.part/.test(l)));
});

test('resume: a server that ignores Range (200) makes the download restart cleanly from zero', async () => {
  routes.set('/norange.bin', { body: BODY, range: false });
  const dest = join(freshDir(), 'norange.bin');
  // Garbage in the .part: appending to it would corrupt the file.
  writeFileSync(`${dest}.part`, Buffer.alloc(1000, 7));
  const lines: string[] = [];
  const r = await download(`${base}/norange.bin`, dest, { log: (l) => lines.push(l) });
  assert.equal(requestsFor('/norange.bin')[0].status, 200);
  assert.ok(readFileSync(dest).equals(BODY));
  assert.equal(r.resumedFrom, 0);
  assert.ok(lines.some((l) => /ignored the resume request \(HTTP 200/.test(l)), lines.join('\n'));
});

test('resume: HTTP 416 — a complete .part is accepted, a .part longer than the file restarts from zero', async () => {
  routes.set('/complete.bin', { body: BODY });
  const dir = freshDir();
  const done = join(dir, 'complete.bin');
  writeFileSync(`${done}.part`, BODY);
  const r = await download(`${base}/complete.bin`, done, { sha256: sha(BODY) });
  assert.equal(r.received, 0);
  assert.ok(readFileSync(done).equals(BODY));

  const long = join(dir, 'long.bin');
  writeFileSync(`${long}.part`, Buffer.concat([BODY, Buffer.from('extra')]));
  const lines: string[] = [];
  await download(`${base}/complete.bin`, long, { log: (l) => lines.push(l) });
  assert.ok(readFileSync(long).equals(BODY));
  assert.ok(lines.some((l) => /HTTP 416; the file has \d+ bytes\): restarting/.test(l)), lines.join('\n'));
});

test('redirects are followed (absolute, relative, chained); too many is an error', async () => {
  routes.set('/target.bin', { body: BODY });
  routes.set('/abs', { location: `${base}/rel`, status: 301 });
  routes.set('/rel', { location: '/target.bin', status: 307 });
  const dest = join(freshDir(), 'redirected.bin');
  const r = await download(`${base}/abs`, dest, { sha256: sha(BODY) });
  assert.equal(r.finalUrl, `${base}/target.bin`);
  assert.ok(readFileSync(dest).equals(BODY));
  routes.set('/loop', { location: '/loop' });
  await assert.rejects(download(`${base}/loop`, join(freshDir(), 'x'), { maxRedirects: 3 }), /more than 3 redirects/);
});

test('HTTP 404 is an error naming the URL and the status', async () => {
  const dest = join(freshDir(), 'missing.bin');
  await assert.rejects(download(`${base}/missing.bin`, dest), (e: Error) => {
    assert.ok(e.message.includes(`${base}/missing.bin`), e.message);
    assert.match(e.message, /HTTP 404 Not Found/);
    return true;
  });
  assert.ok(!existsSync(dest));
  await assert.rejects(download('ftp://example.invalid/x', dest), /only http and https/);
  await assert.rejects(download('not a url', dest), /invalid URL "not a url"/);
});

test('connection dropped mid-body: the .part is kept, the error says to re-run, and the re-run resumes', async () => {
  const cut = 100_000;
  routes.set('/drop.bin', { body: BODY, dropAfter: cut, drops: 1 });
  const dest = join(freshDir(), 'drop.bin');
  await assert.rejects(download(`${base}/drop.bin`, dest, { sha256: sha(BODY) }), (e: Error) => {
    assert.match(e.message, /download of .*\/drop\.bin interrupted after .* of .* \(the connection was closed\)/);
    assert.match(e.message, /drop\.bin\.part is kept: run the same command again to resume/);
    return true;
  });
  assert.ok(!existsSync(dest));
  const kept = readFileSync(`${dest}.part`);
  assert.ok(kept.length > 0 && kept.length <= cut, `kept ${kept.length}`);
  assert.ok(kept.equals(BODY.subarray(0, kept.length)));
  const r = await download(`${base}/drop.bin`, dest, { sha256: sha(BODY) });
  assert.equal(r.resumedFrom, kept.length);
  assert.equal(requestsFor('/drop.bin').at(-1)!.range, `bytes=${kept.length}-`);
  assert.ok(readFileSync(dest).equals(BODY));
});

test('a silent connection times out, keeping the .part', async () => {
  const silent = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Length': 1000 });
    res.write(Buffer.alloc(10));
  });
  await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/slow`;
  const dest = join(freshDir(), 'slow.bin');
  try {
    await assert.rejects(download(url, dest, { idleTimeoutMs: 200 }), /interrupted after 10 B of 1000 B \(the connection went silent\).*run the same command again/);
    assert.equal(readFileSync(`${dest}.part`).length, 10);
  } finally {
    silent.closeAllConnections();
    silent.close();
  }
});

test('parseContentRange reads the forms servers send', () => {
  assert.deepEqual(parseContentRange('bytes 10-99/100'), { start: 10, end: 99, total: 100 });
  assert.deepEqual(parseContentRange('bytes */100'), { start: null, end: null, total: 100 });
  assert.deepEqual(parseContentRange('bytes 0-9/*'), { start: 0, end: 9, total: null });
  assert.equal(parseContentRange('nonsense'), null);
  assert.equal(parseContentRange(undefined), null);
});

test('progress off a TTY: a plain line per quarter, nothing when quiet', () => {
  const out: string[] = [];
  const stream = { isTTY: false, write: (s: string) => out.push(s) } as unknown as NodeJS.WriteStream;
  const p = createDownloadProgress({ stream });
  p.start('f.zip', 1000, 0);
  for (let d = 100; d <= 1000; d += 100) p.update(d);
  p.stop();
  assert.equal(out.length, 3, out.join(''));
  assert.match(out[0], /^f\.zip 30% \| 300 B \/ 1000 B \| .*\/s\n$/);
  const quiet: string[] = [];
  const q = createDownloadProgress({ quiet: true, stream: { isTTY: true, write: (s: string) => quiet.push(s) } as unknown as NodeJS.WriteStream });
  q.start('f', 10, 0);
  q.update(5);
  q.stop();
  assert.equal(quiet.length, 0);
});

// ---- zip ---------------------------------------------------------------------------------------------------------

test('extractZip strips the single top folder, skips __MACOSX, honours `only`, refuses paths outside', async () => {
  const dir = freshDir();
  const zip = join(dir, 'a.zip');
  writeFileSync(zip, ML_ZIP);
  const out = join(dir, 'out');
  assert.deepEqual(await extractZip(zip, out), ['ratings.csv', 'movies.csv', 'README.txt']);
  assert.equal(readFileSync(join(out, 'ratings.csv'), 'utf8'), RATINGS);
  assert.deepEqual(readdirSync(out).sort(), ['README.txt', 'movies.csv', 'ratings.csv']);

  const some = join(dir, 'some');
  assert.deepEqual(await extractZip(zip, some, { only: ['movies.csv'] }), ['movies.csv']);
  assert.deepEqual(readdirSync(some), ['movies.csv']);
  await assert.rejects(extractZip(zip, some, { only: ['ratings.csv', 'tags.csv'] }), /a\.zip lacks tags\.csv \(it holds: ratings\.csv, movies\.csv, README\.txt\)/);

  const flat = join(dir, 'flat.zip');
  writeFileSync(flat, makeZip({ 'x.txt': 'x', 'sub/y.txt': 'y' }));
  assert.deepEqual(await extractZip(flat, join(dir, 'flat')), ['x.txt', 'sub/y.txt']);

  const evil = join(dir, 'evil.zip');
  writeFileSync(evil, makeZip({ '../evil.txt': 'x' }));
  await assert.rejects(extractZip(evil, join(dir, 'e1', 'e2')), /evil\.zip/);
  assert.ok(!existsSync(join(dir, 'e1', 'evil.txt')));

  const notZip = join(dir, 'not.zip');
  writeFileSync(notZip, 'hello');
  await assert.rejects(extractZip(notZip, join(dir, 'n')), /not\.zip is not a readable zip archive/);
});

// ---- fetchDataset ------------------------------------------------------------------------------------------------

test('fetchDataset: a zip dataset is downloaded, extracted (archive removed), recorded, and not fetched twice', async () => {
  routes.set('/mirror/ml-latest-small.zip', { body: ML_ZIP });
  const root = freshDir();
  const lines: string[] = [];
  const r = await fetchDataset('movielens-latest-small', { root, url: `${base}/mirror/ml-latest-small.zip`, log: (l) => lines.push(l) });
  const dir = join(root, 'movielens-latest-small');
  assert.equal(r.dir, dir);
  assert.equal(r.alreadyThere, false);
  assert.deepEqual(r.files, ['ratings.csv', 'movies.csv', 'README.txt']);
  assert.equal(readFileSync(join(dir, 'movies.csv'), 'utf8'), MOVIES);
  assert.ok(!existsSync(join(dir, 'ml-latest-small.zip')), 'archive removed after extraction');
  assert.ok(!existsSync(join(dir, 'ml-latest-small')), 'top folder stripped');
  // No hash pinned: the hash is printed so it can be pinned.
  assert.ok(lines.some((l) => l.includes(`sha256 ${sha(ML_ZIP)}  ml-latest-small.zip`) && /not pinned: pass --sha256/.test(l)), lines.join('\n'));
  const m = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8'));
  assert.equal(m.dataset, 'movielens-latest-small');
  assert.equal(m.downloads[0].sha256, sha(ML_ZIP));
  assert.equal(m.downloads[0].url, `${base}/mirror/ml-latest-small.zip`);

  const before = requestsFor('/mirror/ml-latest-small.zip').length;
  const again = await fetchDataset('movielens-latest-small', { root, url: `${base}/mirror/ml-latest-small.zip`, quiet: true });
  assert.equal(again.alreadyThere, true);
  assert.equal(requestsFor('/mirror/ml-latest-small.zip').length, before);
  const forced = await fetchDataset('movielens-latest-small', { root, url: `${base}/mirror/ml-latest-small.zip`, force: true, quiet: true, sha256: sha(ML_ZIP) });
  assert.equal(forced.alreadyThere, false);
  assert.equal(requestsFor('/mirror/ml-latest-small.zip').length, before + 1);
});

test('fetchDataset: --sha256 mismatch fails with no files; a registry md5 also applies to a mirror', async () => {
  routes.set('/m/ml-1m.zip', { body: ML_ZIP });
  const root = freshDir();
  const wrong = '0'.repeat(64);
  await assert.rejects(
    fetchDataset('movielens-latest-small', { root, url: `${base}/m/ml-1m.zip`, sha256: wrong, quiet: true }),
    new RegExp(`sha256 mismatch for ${base}/m/ml-1m\\.zip \\(ml-latest-small\\.zip\\): expected ${wrong}, got ${sha(ML_ZIP)}`),
  );
  assert.deepEqual(readdirSync(join(root, 'movielens-latest-small')), []);
  await assert.rejects(fetchDataset('movielens-1m', { root, url: `${base}/m/ml-1m.zip`, quiet: true }), /md5 mismatch .* expected c4d9eecfca2ab87c1945afe126590906/);
  // --sha256 replaces the registry's hashes.
  const r = await fetchDataset('movielens-1m', { root, url: `${base}/m/ml-1m.zip`, sha256: sha(ML_ZIP).toUpperCase(), quiet: true });
  assert.deepEqual(r.files, ['ratings.csv', 'movies.csv', 'README.txt']);
  await assert.rejects(fetchDataset('movielens-1m', { root, sha256: 'xyz' }), /--sha256 must be 64 hexadecimal digits, got "xyz"/);
});

test('fetchDataset: an archive that does not unzip is kept with a hint; --force downloads it again', async () => {
  routes.set('/broken/ml.zip', { body: Buffer.from('this is not a zip') });
  routes.set('/good/ml.zip', { body: ML_ZIP });
  const root = freshDir();
  const dest = join(root, 'movielens-latest-small', 'ml-latest-small.zip');
  await assert.rejects(
    fetchDataset('movielens-latest-small', { root, url: `${base}/broken/ml.zip`, quiet: true }),
    (e: Error) => {
      assert.match(e.message, /ml-latest-small\.zip is not a readable zip archive/);
      assert.ok(e.message.includes(`kept as ${dest}: --force downloads it again`), e.message);
      return true;
    },
  );
  assert.ok(existsSync(dest));
  // Without --force the (complete) download is reused, not fetched again.
  const n0 = requestsFor('/good/ml.zip').length;
  await assert.rejects(fetchDataset('movielens-latest-small', { root, url: `${base}/good/ml.zip`, quiet: true }), /not a readable zip/);
  assert.equal(requestsFor('/good/ml.zip').length, n0);
  const r = await fetchDataset('movielens-latest-small', { root, url: `${base}/good/ml.zip`, quiet: true, force: true });
  assert.deepEqual(r.files, ['ratings.csv', 'movies.csv', 'README.txt']);
  assert.ok(!existsSync(dest));
});

test('fetchDataset: several .gz files from a base --url are kept compressed as they are', async () => {
  const reviews = Buffer.from('fake gzip bytes 1');
  const meta = Buffer.from('fake gzip bytes 2');
  routes.set('/amz/reviews_Electronics_5.json.gz', { body: reviews });
  routes.set('/amz/meta_Electronics.json.gz', { body: meta });
  const root = freshDir();
  const r = await fetchDataset('amazon-electronics', { root, url: `${base}/amz/`, quiet: true });
  assert.deepEqual(r.files, ['reviews_Electronics_5.json.gz', 'meta_Electronics.json.gz']);
  assert.ok(readFileSync(join(root, 'amazon-electronics', 'reviews_Electronics_5.json.gz')).equals(reviews));
  assert.ok(readFileSync(join(root, 'amazon-electronics', 'meta_Electronics.json.gz')).equals(meta));
  await assert.rejects(fetchDataset('amazon-electronics', { root, url: `${base}/amz/one.gz` }), /has 2 files .*--url must be a base URL ending in "\/"/);
  await assert.rejects(fetchDataset('amazon-electronics', { root, sha256: 'a'.repeat(64) }), /--sha256 applies to a one-file dataset/);
});

test('unknown dataset: the error lists the known names', async () => {
  const names = DATASETS.map((d) => d.name);
  for (const want of ['amazon-electronics', 'movielens-1m', 'movielens-20m', 'movielens-latest-small', 'taobao']) assert.ok(names.includes(want));
  assert.throws(() => findDataset('imagenet'), new RegExp(`unknown dataset "imagenet": known datasets are ${names.join(', ')}`));
  await assert.rejects(fetchDataset('imagenet', { root: freshDir() }), /unknown dataset "imagenet"/);
});

test('taobao needs a login: fetch explains where to download and where to put the files; succeeds once they are there', async () => {
  const root = freshDir();
  const dir = join(root, 'taobao');
  await assert.rejects(fetchDataset('taobao', { root, quiet: true }), (e: Error) => {
    assert.ok(e instanceof ManualDownloadRequired);
    assert.match(e.message, /must be downloaded by hand/);
    assert.match(e.message, /https:\/\/tianchi\.aliyun\.com\/dataset\/56/);
    assert.ok(e.message.includes(dir), e.message);
    assert.match(e.message, /missing now: raw_sample\.csv, ad_feature\.csv, user_profile\.csv, behavior_log\.csv/);
    return true;
  });
  mkdirSync(dir, { recursive: true });
  for (const f of ['raw_sample.csv', 'ad_feature.csv', 'user_profile.csv', 'behavior_log.csv']) writeFileSync(join(dir, f), 'x\n');
  const r = await fetchDataset('taobao', { root, quiet: true });
  assert.equal(r.alreadyThere, true);
});

// ---- the CLI (`din data …`, registered in src/cli/main.ts) ------------------------------------------------------

// The compiled tree is <out>/test/data/; bin/din.js runs <repo>/dist, so use it when <out> is <repo>/dist.
const compiled = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = existsSync(join(compiled, '..', 'bin', 'din.js')) ? join(compiled, '..', 'bin', 'din.js') : resolve('bin', 'din.js');

function din(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: tmpRoot, env: { ...process.env, CI: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', fail);
    child.on('close', (code) => ok({ code, out, err }));
  });
}

test('din data fetch / list through bin/din.js', async () => {
  routes.set('/cli/ml.zip', { body: ML_ZIP });
  const root = freshDir();
  const ok = await din(['data', 'fetch', 'movielens-latest-small', '--dir', root, '--url', `${base}/cli/ml.zip`]);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(ok.out.trim(), `movielens-latest-small: ${join(root, 'movielens-latest-small')} (ratings.csv, movies.csv, README.txt)`);
  assert.match(ok.err, new RegExp(`sha256 ${sha(ML_ZIP)}`));
  assert.ok(existsSync(join(root, 'movielens-latest-small', 'ratings.csv')));

  // $DIN_DATA_DIR is the default root; --quiet leaves only the result line.
  const envRoot = freshDir();
  const q = await din(['data', 'fetch', 'movielens-latest-small', '--url', `${base}/cli/ml.zip`, '-q'], { DIN_DATA_DIR: envRoot });
  assert.equal(q.code, 0, q.err);
  assert.equal(q.err, '');
  assert.ok(existsSync(join(envRoot, 'movielens-latest-small', 'movies.csv')));

  const missing = await din(['data', 'fetch', 'movielens-latest-small', '--dir', freshDir(), '--url', `${base}/cli/gone.zip`]);
  assert.equal(missing.code, 1);
  assert.ok(missing.err.includes(`${base}/cli/gone.zip`) && /HTTP 404/.test(missing.err), missing.err);

  const tb = await din(['data', 'fetch', 'taobao', '--dir', root]);
  assert.equal(tb.code, 1);
  assert.match(tb.err, /tianchi\.aliyun\.com\/dataset\/56/);
  assert.ok(tb.err.includes(join(root, 'taobao')));

  const unknown = await din(['data', 'fetch', 'nope']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /unknown dataset "nope": known datasets are amazon-electronics, movielens-1m/);

  const list = await din(['data', 'list', '--dir', root]);
  assert.equal(list.code, 0, list.err);
  for (const d of DATASETS) {
    assert.ok(list.out.includes(`${d.name} — `), d.name);
    assert.ok(list.out.includes(join(root, d.dir)), d.dir);
  }
  assert.ok(list.out.includes('https://files.grouplens.org/datasets/movielens/ml-20m.zip'));
  const json = await din(['data', 'list', '--json']);
  assert.deepEqual(JSON.parse(json.out).map((d: { name: string }) => d.name), DATASETS.map((d) => d.name));
});
