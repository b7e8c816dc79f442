import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_SKIPPED_EXAMPLES, preview, RowErrors, rowErrorPolicy } from '../../src/data/sources/row-errors.js';
import { skippedLine } from '../../src/cli/common.js';

test('RowErrors: skip counts and keeps examples (first of each reason first); fail throws file:line: what', () => {
  const e = new RowErrors('skip');
  e.row('a', 'f.txt', 1, 'bad one');
  e.row('a', 'f.txt', 2, 'bad two');
  e.row('a', 'f.txt', 3, 'bad three');
  e.row('b', 'g.json', 'item "x"', 'not a list');
  e.count('blankLines', 2);
  e.count('nothing', 0);
  assert.deepEqual(e.skipped, { a: 3, b: 1, blankLines: 2 });
  assert.equal(e.rows, 4);
  assert.equal(MAX_SKIPPED_EXAMPLES, 3);
  assert.deepEqual(e.examples(), ['f.txt:1: bad one', 'g.json: item "x": not a list', 'f.txt:2: bad two']);
  assert.deepEqual(e.firsts(), ['f.txt:1: bad one', 'g.json: item "x": not a list']);
  assert.equal(e.hint('g.json'), ' (1 malformed row was skipped, e.g. g.json: item "x": not a list)');
  assert.equal(e.hint(), ' (4 malformed rows were skipped, e.g. f.txt:1: bad one)');
  assert.equal(e.hint('other'), '');
  const long = new RowErrors('skip');
  long.row('a', 'f', 1, 'x'.repeat(1000));
  assert.ok(long.examples()[0].length <= 300);
  const three = new RowErrors('skip');
  three.row('a', 'h.txt:9', 'bad'); // the location as one string
  assert.deepEqual(three.examples(), ['h.txt:9: bad']);
  assert.equal(three.hint('h.txt'), ' (1 malformed row was skipped, e.g. h.txt:9: bad)');
  const f = new RowErrors('fail');
  assert.throws(() => f.row('a', 'f.txt', 7, 'expected 3 fields, got 2'), (err: Error) => err.message === 'f.txt:7: expected 3 fields, got 2');
  assert.deepEqual(f.skipped, {});
  assert.equal(rowErrorPolicy(undefined), 'skip');
  assert.equal(rowErrorPolicy('fail'), 'fail');
  assert.throws(() => rowErrorPolicy('ignore'), /onError must be 'skip' or 'fail', got ignore/);
});

test('preview: short JSON, never throws on deep nesting', () => {
  assert.equal(preview({ a: [1, 'x'] }), '{"a":[1,"x"]}');
  assert.equal(preview(undefined), 'undefined');
  assert.equal(preview('y'.repeat(200), 10), `"${'y'.repeat(9)}…`);
  const deep = JSON.parse('['.repeat(100000) + ']'.repeat(100000));
  assert.equal(preview(deep), '[…] (nested too deeply to show)');
});

test('CLI skipped line: counts and examples on one line, nothing when nothing was skipped', () => {
  assert.equal(skippedLine({ skipped: {} }), null);
  assert.equal(skippedLine({ skipped: { blankLines: 0 } }), null);
  assert.equal(skippedLine({ skipped: { blankLines: 2 } }), 'skipped: blankLines 2');
  assert.equal(
    skippedLine({ skipped: { malformedLines: 3, blankLines: 1 }, skippedExamples: ['a.txt:12: bad', 'a.txt:15: worse'] }),
    'skipped: malformedLines 3, blankLines 1 (e.g. a.txt:12: bad; a.txt:15: worse)',
  );
  const line = skippedLine({ skipped: { x: 1 }, skippedExamples: ['z'.repeat(500)] }) as string;
  assert.ok(!line.includes('\n') && line.length < 260, line);
});
