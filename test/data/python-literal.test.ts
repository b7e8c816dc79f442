import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJsonOrPython, parsePythonLiteral, PythonLiteralError } from '../../src/data/parse/python-literal.js';

const py = parsePythonLiteral;

test('python-literal: an Amazon 2014 meta line', () => {
  const line =
    `{'asin': '0000031852', 'title': "Girls' Ballet Tutu", 'price': 3.17, 'salesRank': {'Sports &amp; Outdoors': 8547}, ` +
    `'categories': [['Sports & Outdoors', 'Other Sports', 'Dance'], ['Clothing', 'Girls']], 'related': ` +
    `{'also_bought': ['B00JHONN1S', 'B002BZX8Z6'], 'bought_together': ['B002BZX8Z6']}, 'imUrl': 'http://x/y.jpg'}`;
  assert.deepEqual(py(line), {
    asin: '0000031852',
    title: "Girls' Ballet Tutu",
    price: 3.17,
    salesRank: { 'Sports &amp; Outdoors': 8547 },
    categories: [
      ['Sports & Outdoors', 'Other Sports', 'Dance'],
      ['Clothing', 'Girls'],
    ],
    related: { also_bought: ['B00JHONN1S', 'B002BZX8Z6'], bought_together: ['B002BZX8Z6'] },
    imUrl: 'http://x/y.jpg',
  });
});

test('python-literal: strings — quotes, prefixes, escapes, concatenation', () => {
  assert.equal(py(`'it\\'s'`), "it's");
  assert.equal(py(`"say \\"hi\\""`), 'say "hi"');
  assert.equal(py(`'a"b'`), 'a"b');
  assert.equal(py(`"a'b"`), "a'b");
  assert.equal(py(`'''x'y''z'''`), "x'y''z");
  assert.equal(py(`"""l1\nl2"""`), 'l1\nl2'); // a real newline inside a triple-quoted string
  assert.equal(py(`''`), '');
  assert.equal(py(`'\\n\\t\\r\\\\\\a\\b\\f\\v'`), '\n\t\r\\\x07\b\f\v');
  assert.equal(py(`'\\x41\\u00e9\\U0001F600'`), 'Aé😀');
  assert.equal(py(`'\\101\\0\\7\\1011'`), 'A\0\x07A1'); // octal: at most 3 digits
  assert.equal(py(`'\\q\\d'`), '\\q\\d'); // unknown escapes keep the backslash
  assert.equal(py(`'a\\\nb'`), 'ab'); // backslash-newline continues the line
  assert.equal(py(`u'caf\\xe9'`), 'café');
  assert.equal(py(`U"x"`), 'x');
  assert.equal(py(`b'\\x41'`), 'A');
  assert.equal(py(`r'a\\nb'`), 'a\\nb'); // raw: no escapes
  assert.equal(py(`r'\\''`), "\\'"); // raw: \' does not end the string, both characters stay
  assert.equal(py(`Rb'\\d'`), '\\d');
  assert.equal(py(`ur'\\u'`), '\\u');
  assert.equal(py(`'a' "b"  u'c'`), 'abc');
  assert.equal(py(`'tab\there'`), 'tab\there'); // a literal tab is just a character
  assert.equal(py(`'😀é'`), '😀é'); // non-ASCII source text kept
});

test('python-literal: numbers and constants', () => {
  const cases: [string, number][] = [
    ['0', 0],
    ['42', 42],
    ['-5', -5],
    ['+3', 3],
    ['- 7', -7],
    ['--2', 2],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['5.', 5],
    ['1e3', 1000],
    ['1E-2', 0.01],
    ['2.5e+2', 250],
    ['0x1F', 31],
    ['0o17', 15],
    ['0b101', 5],
    ['1_000_000', 1000000],
    ['12L', 12],
    ['0755', 493], // Python 2 octal
    ['1370131200', 1370131200],
  ];
  for (const [src, v] of cases) assert.equal(py(src), v, src);
  assert.equal(py('True'), true);
  assert.equal(py('False'), false);
  assert.equal(py('None'), null);
});

test('python-literal: containers, trailing commas, whitespace', () => {
  assert.deepEqual(py('[]'), []);
  assert.deepEqual(py('[1, 2,]'), [1, 2]);
  assert.deepEqual(py('()'), []);
  assert.deepEqual(py('(1,)'), [1]);
  assert.deepEqual(py('(1)'), 1); // parentheses, not a tuple
  assert.deepEqual(py('(1, (2, 3), [4])'), [1, [2, 3], [4]]);
  assert.deepEqual(py('{}'), {});
  assert.deepEqual(py("{'a': 1,}"), { a: 1 });
  assert.deepEqual(py('{1, 2, 3}'), [1, 2, 3]); // a set
  assert.deepEqual(py(' \n\t{ "a" :\n [ None , True ] }\r\n'), { a: [null, true] });
  assert.deepEqual(py("{'a': {'b': {'c': [[[]]]}}}"), { a: { b: { c: [[[]]] } } });
});

test('python-literal: dict keys', () => {
  assert.deepEqual(py("{1: 'a', 2.5: 'b', True: 'c', None: 'd', (1, 'x'): 'e'}"), {
    '1': 'a',
    '2.5': 'b',
    True: 'c',
    None: 'd',
    '[1,"x"]': 'e',
  });
  assert.deepEqual(py("{'a': 1, 'a': 2}"), { a: 2 }); // last wins, as in Python
  const o = py("{'__proto__': 5}") as Record<string, unknown>;
  assert.ok(Object.prototype.hasOwnProperty.call(o, '__proto__'));
  assert.equal(Object.getPrototypeOf(o), Object.prototype);
  assert.deepEqual(Object.keys(o), ['__proto__']);
});

test('python-literal: errors carry the column', () => {
  const bad: [string, RegExp, number][] = [
    ["{'a': 1", /expected ',' or '}'/, 8],
    ["{'a' 1}", /expected ':' \(dict\) or ',' \/ '}' \(set\) after the first entry of the '\{' at column 1/, 6],
    ["{'a': 1, 'b' 2}", /expected ':' after a dict key/, 14],
    ['[1 2]', /expected ',' or '\]'/, 4],
    ["'abc", /unterminated string \(opened at column 1\)/, 5],
    ["'a\nb'", /unterminated string/, 3],
    ["'''abc''", /unterminated string/, 9],
    ['foo', /found the name "foo"/, 1],
    ["{'a': nan}", /found the name "nan"/, 7],
    ["{'a': 1} x", /after the value/, 10],
    ['1j', /invalid number "1j"/, 1],
    ['1__0', /invalid number/, 1],
    ['0x', /invalid number/, 1],
    ["'\\x4'", /invalid \\x escape: expected 2 hex digits/, 2],
    ["'\\U00110000'", /above U\+10FFFF/, 2],
    ["'\\N{DASH}'", /\\N\{…\} escapes are not supported/, 2],
    ['{{}: 1}', /unhashable/, 2],
    ['', /expected a value, found end of input/, 1],
    ['[1, 2', /expected ',' or '\]' \(opened at column 1\), found end of input/, 6],
    ['@', /expected a value, found character "@"/, 1],
  ];
  for (const [src, re, col] of bad) {
    assert.throws(
      () => py(src),
      (e: unknown) => {
        assert.ok(e instanceof PythonLiteralError, `${JSON.stringify(src)}: ${String(e)}`);
        assert.match(e.message, re, JSON.stringify(src));
        assert.equal(e.column, col, `${JSON.stringify(src)}: ${e.message}`);
        assert.ok(e.message.startsWith(`column ${col}: `));
        return true;
      },
    );
  }
});

test('parseJsonOrPython: JSON first, Python literal as fallback, one error for neither', () => {
  assert.deepEqual(parseJsonOrPython('{"asin": "A1", "t": 1, "ok": true, "n": null}'), { asin: 'A1', t: 1, ok: true, n: null });
  assert.deepEqual(parseJsonOrPython(`{'asin': 'A1', 'ok': True}`), { asin: 'A1', ok: true });
  assert.deepEqual(parseJsonOrPython(`{"asin": "A1", "ok": True}`), { asin: 'A1', ok: true }); // JSON-looking, Python-only
  assert.deepEqual(parseJsonOrPython('{"s": "caf\\u00e9\\n"}'), { s: 'café\n' });
  assert.deepEqual(parseJsonOrPython(`  { 'a' : 1 }`), { a: 1 });
  assert.equal(parseJsonOrPython('[1, 2]') instanceof Array, true);
  assert.throws(
    () => parseJsonOrPython(`{'asin': 'A1', 'categories': [['x']]`),
    /^Error: neither JSON nor a Python literal \(column 37: expected ',' or '}'/,
  );
  assert.throws(() => parseJsonOrPython('{"a": 1,, }'), /neither JSON nor a Python literal \(column 9:/);
});
