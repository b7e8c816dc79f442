import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CsvReader, parseCsv, type CsvDialect } from '../../src/data/parse/csv.js';
import { isGzip, readChunks, readChunksSync, readHead } from '../../src/data/parse/files.js';
import { LineSplitter, readLinesSync } from '../../src/data/parse/lines.js';
import { Rng } from '../../src/util/rng.js';
import { tmpFixture } from './helpers.js';

type Rec = [string[], number, boolean] | ['BAD', number, string];

/** Every record of `bytes` read through a CsvReader fed in the given chunk sizes (Infinity: all at once). */
function records(bytes: Buffer, dialect: CsvDialect, chunk: number, want: Uint8Array | null = null): Rec[] {
  const out: Rec[] = [];
  const r = new CsvReader('f.csv', dialect, (f, n, line, blank) => out.push([f.slice(0, n), line, blank]), (line, what) => out.push(['BAD', line, what]));
  r.want = want;
  if (chunk === Infinity) r.end(bytes);
  else {
    for (let i = 0; i < bytes.length; i += chunk) r.push(bytes.subarray(i, i + chunk));
    r.end();
  }
  return out;
}

test('csv rfc4180: quotes, doubled quotes, line breaks in quotes, CRLF, lone CR, BOM, blank lines, bad records', () => {
  const text = '\ufeffa,b,c\r\n1,"x, ""y""",z\n2,"multi\nline",w\n\n3,,\r4,"a"b,c\n"",x\n5,6,7';
  const want: Rec[] = [
    [['a', 'b', 'c'], 1, false],
    [['1', 'x, "y"', 'z'], 2, false],
    [['2', 'multi\nline', 'w'], 3, false],
    [[''], 5, true],
    [['3', '', ''], 6, false],
    ['BAD', 7, 'unexpected character after a closing quote (expected "," or end of line)'],
    [['', 'x'], 8, false],
    [['5', '6', '7'], 9, false],
  ];
  const bytes = Buffer.from(text);
  for (const chunk of [Infinity, 1, 2, 3, 7, 64]) assert.deepEqual(records(bytes, {}, chunk), want, `chunks of ${chunk}`);
  // unterminated quote at the end; a tab-separated dialect
  assert.deepEqual(records(Buffer.from('a\n"open,b\n'), {}, 3), [[['a'], 1, false], ['BAD', 2, 'unterminated quoted field (expected a closing ")']]);
  assert.deepEqual(records(Buffer.from('a\tb,c\n"x\ty"\tz\n'), { delimiter: '\t' }, 4), [[['a', 'b,c'], 1, false], [['x\ty', 'z'], 2, false]]);
  // only wanted columns are decoded on the slow path; the fast path may decode all (callers read wanted ones only)
  const w = records(Buffer.from('"q",b,c\n'), {}, Infinity, Uint8Array.from([1, 0, 1]));
  assert.deepEqual(w, [[['q', '', 'c'], 1, false]]);
  assert.throws(() => new CsvReader('f', { delimiter: '"' }, () => {}), /delimiter must be one ASCII character/);
});

test('csv rfc4180: random inputs read the same in any chunking, and as the whole-buffer parseCsv does', () => {
  const rng = new Rng(11);
  const pieces = ['a', 'bc', ',', ',', '"', '""', '\n', '\r\n', '\r', ' ', 'é', '😀', 'x"y'];
  for (let c = 0; c < 200; c++) {
    const text = Array.from({ length: 1 + rng.int(60) }, () => pieces[rng.int(pieces.length)]).join('');
    const bytes = Buffer.from(text);
    const whole = records(bytes, {}, Infinity);
    for (const chunk of [1, 2, 5, 13]) assert.deepEqual(records(bytes, {}, chunk), whole, JSON.stringify(text));
    const rows: Array<[string[], number]> = [];
    let error: string | null = null;
    try {
      parseCsv(bytes, 'f.csv', (f, l) => rows.push([f, l]));
    } catch (e) {
      error = (e as Error).message;
    }
    const firstBad = whole.findIndex((r) => r[0] === 'BAD');
    const good = (firstBad < 0 ? whole : whole.slice(0, firstBad)) as Array<[string[], number, boolean]>;
    assert.deepEqual(rows, good.map(([f, l]) => [f, l]), JSON.stringify(text));
    assert.equal(error !== null, firstBad >= 0, JSON.stringify(text));
  }
  assert.throws(() => parseCsv(Buffer.from('"a"x,b\n'), 'f.csv', () => {}), /f\.csv:1: unexpected character after a closing quote/);
  assert.throws(() => parseCsv(Buffer.from('"a\nb"x\n'), 'f.csv', () => {}), /f\.csv:2: unexpected character/);
});

test('csv none: exactly the lines of the line reader split at the delimiter (quotes and lone CRs are data)', () => {
  const rng = new Rng(12);
  const pieces = ['a', '1', ',', ',', '"', '\n', '\r\n', '\r', ' ', 'é', '\ufeff'];
  for (let c = 0; c < 200; c++) {
    let text = Array.from({ length: rng.int(50) }, () => pieces[rng.int(pieces.length)]).join('');
    if (c % 3 === 0) text = '\ufeff' + text;
    const bytes = Buffer.from(text);
    const lines: Rec[] = [];
    const split = new LineSplitter((l, n) => {
      const f = l.split(',');
      lines.push([f, n, l === '']);
    });
    split.push(bytes);
    split.end();
    for (const chunk of [Infinity, 1, 3, 8]) assert.deepEqual(records(bytes, { quoting: 'none' }, chunk), lines, JSON.stringify(text));
  }
});

test('files: gzip by name (any case), streamed and synchronous reads agree, the head of a .gz, errors name the file', async () => {
  const dir = tmpFixture({});
  const text = Array.from({ length: 5000 }, (_, i) => `line ${i}`).join('\n');
  writeFileSync(join(dir, 'a.txt'), text);
  writeFileSync(join(dir, 'a.TXT.GZ'), gzipSync(text));
  writeFileSync(join(dir, 'bad.gz'), Buffer.from('not gzip'));
  assert.ok(isGzip('x.GZ') && isGzip('x.gz') && !isGzip('x.gzip'));
  for (const f of ['a.txt', 'a.TXT.GZ']) {
    const parts: Buffer[] = [];
    await readChunks(join(dir, f), (b) => parts.push(Buffer.from(b)));
    assert.equal(Buffer.concat(parts).toString(), text);
    const sync: Buffer[] = [];
    readChunksSync(join(dir, f), (b) => sync.push(Buffer.from(b)));
    assert.equal(Buffer.concat(sync).toString(), text);
    assert.equal(readHead(join(dir, f), 100).toString().slice(0, 13), 'line 0\nline 1');
    assert.equal(readLinesSync(join(dir, f), () => {}), 5000);
  }
  await assert.rejects(readChunks(join(dir, 'bad.gz'), () => {}), /bad\.gz: corrupt or truncated gzip data/);
  assert.throws(() => readChunksSync(join(dir, 'bad.gz'), () => {}), /bad\.gz: corrupt or truncated gzip data/);
  assert.throws(() => readChunksSync(join(dir, 'none.txt'), () => {}), /none\.txt: cannot read \(ENOENT/);
  assert.throws(() => readHead(join(dir, 'none.txt'), 10), /^Error: cannot read \(ENOENT/);
  // a reader's own error is not taken for a read error
  await assert.rejects(readChunks(join(dir, 'a.TXT.GZ'), () => {
    throw new Error('mine');
  }), /^Error: mine$/);
});
