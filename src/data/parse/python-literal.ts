/**
 * A parser for Python literal expressions — the subset `ast.literal_eval` accepts that appears in data dumps written
 * with Python's `repr` (e.g. the 2014 Amazon product metadata, one `str(dict)` per line):
 *
 *   dict {k: v, …}   list […]   tuple (…), (x,), ()   set {a, b}   (tuples and sets become arrays)
 *   strings '…' "…" '''…''' """…""" with prefixes u/U, r/R, b/B (and combinations such as ur, br, rb);
 *     adjacent literals concatenate ('a' 'b' == 'ab'); escapes \\ \' \" \n \r \t \a \b \f \v, octal \ooo, \xhh,
 *     \uXXXX, \UXXXXXXXX and backslash-newline; unknown escapes keep the backslash (as Python does). `\xhh` gives the
 *     code point U+00hh (Python 3 `str` semantics), also inside b'' literals.
 *   numbers: ints (decimal, 0x/0o/0b, `_` separators, a Python 2 `L` suffix), floats (1.5, .5, 5., 1e-3), a leading
 *     + or −
 *   True False None  →  true false null
 *
 * Dict keys become property names (strings as they are; numbers via String; True/False/None as those words; tuples as
 * their JSON), so a dict becomes a plain object; a repeated key keeps the last value, as in Python. Trailing commas
 * are allowed where Python allows them. Anything else (names, calls, operators, `\N{…}` escapes, complex numbers) is
 * an error. Errors are `PythonLiteralError`s carrying the 1-based column. Containers nested deeper than
 * `MAX_NESTING` are an error too (the parser is recursive; Python's own parser has a similar limit), so no input
 * can overflow the stack.
 */

/** Deepest nesting of dicts, lists, tuples and sets accepted. */
export const MAX_NESTING = 500;

export type PyValue = null | boolean | number | string | PyValue[] | { [key: string]: PyValue };

export class PythonLiteralError extends Error {
  /** 1-based column (UTF-16 code unit) of the offending character. */
  readonly column: number;
  constructor(message: string, column: number) {
    super(`column ${column}: ${message}`);
    this.name = 'PythonLiteralError';
    this.column = column;
  }
}

const enum C {
  Tab = 9,
  Lf = 10,
  Cr = 13,
  Space = 32,
  Quote = 34, // "
  Apos = 39, // '
  LParen = 40,
  RParen = 41,
  Plus = 43,
  Comma = 44,
  Minus = 45,
  Dot = 46,
  Zero = 48,
  Nine = 57,
  Colon = 58,
  LBracket = 91,
  Backslash = 92,
  RBracket = 93,
  Underscore = 95,
  LBrace = 123,
  RBrace = 125,
}

/** Parses one Python literal; the whole text must be consumed (surrounding whitespace allowed). */
export function parsePythonLiteral(text: string): PyValue {
  const p = new Parser(text);
  p.ws();
  const v = p.value();
  p.ws();
  if (p.pos < text.length) p.fail(`unexpected ${p.describe()} after the value`);
  return v;
}

/**
 * One record line that may be strict JSON or a Python literal: JSON.parse first (fast, and JSON's `"\u00e9"` etc.
 * mean the same in both), the Python-literal parser when that fails. Throws an Error saying why the line is neither
 * (the Python parser's message, which names the column).
 */
export function parseJsonOrPython(text: string): unknown {
  // A line opening with `{'` cannot be JSON: skip the doomed JSON.parse (the common case in the 2014 meta dump).
  if (!isPythonDictStart(text)) {
    try {
      return JSON.parse(text);
    } catch {
      /* fall through to the Python parser */
    }
  }
  try {
    return parsePythonLiteral(text);
  } catch (e) {
    if (e instanceof PythonLiteralError) throw new Error(`neither JSON nor a Python literal (${e.message})`);
    throw e;
  }
}

function isPythonDictStart(s: string): boolean {
  let i = 0;
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  if (s.charCodeAt(i) !== C.LBrace) return false;
  i++;
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  return s.charCodeAt(i) === C.Apos;
}

function isWs(c: number): boolean {
  return c === C.Space || c === C.Tab || c === C.Lf || c === C.Cr || c === 12 /* \f */;
}

function isDigit(c: number): boolean {
  return c >= C.Zero && c <= C.Nine;
}

function isIdent(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || isDigit(c) || c === C.Underscore;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  n: '\n',
  r: '\r',
  t: '\t',
  a: '\x07',
  b: '\b',
  f: '\f',
  v: '\v',
};

class Parser {
  pos = 0;
  private depth = 0;
  constructor(readonly s: string) {}

  /** Enters a container opened at `open`; fails beyond MAX_NESTING. `leave` must follow on success. */
  private enter(open: number): void {
    if (++this.depth > MAX_NESTING) this.fail(`containers nested more than ${MAX_NESTING} deep`, open);
  }

  private leave<T>(v: T): T {
    this.depth--;
    return v;
  }

  fail(msg: string, at = this.pos): never {
    throw new PythonLiteralError(msg, at + 1);
  }

  describe(at = this.pos): string {
    if (at >= this.s.length) return 'end of input';
    return `character ${JSON.stringify(this.s[at])}`;
  }

  ws(): void {
    const s = this.s;
    while (this.pos < s.length && isWs(s.charCodeAt(this.pos))) this.pos++;
  }

  value(): PyValue {
    const s = this.s;
    if (this.pos >= s.length) this.fail('expected a value, found end of input');
    const c = s.charCodeAt(this.pos);
    if (c === C.LBrace) return this.braces();
    if (c === C.LBracket) return this.sequence(C.RBracket, ']');
    if (c === C.LParen) return this.tuple();
    if (c === C.Apos || c === C.Quote) return this.strings();
    if (isDigit(c) || c === C.Minus || c === C.Plus || c === C.Dot) return this.number();
    if (isIdent(c)) {
      const start = this.pos;
      let end = start;
      while (end < s.length && isIdent(s.charCodeAt(end))) end++;
      const word = s.slice(start, end);
      const next = s.charCodeAt(end);
      if ((next === C.Apos || next === C.Quote) && /^(?:[uUrRbB]|[bB][rR]|[rR][bB]|[uU][rR])$/.test(word)) {
        return this.strings();
      }
      this.pos = end;
      if (word === 'True') return true;
      if (word === 'False') return false;
      if (word === 'None') return null;
      this.fail(`expected a literal, found the name "${word}"`, start);
    }
    this.fail(`expected a value, found ${this.describe()}`);
  }

  /** `{}` dict, `{k: v, …}` dict or `{a, b}` set (→ array). */
  private braces(): PyValue {
    this.enter(this.pos);
    return this.leave(this.bracesBody());
  }

  private bracesBody(): PyValue {
    const open = this.pos;
    this.pos++; // {
    this.ws();
    if (this.s.charCodeAt(this.pos) === C.RBrace) {
      this.pos++;
      return {};
    }
    let keyAt = this.pos;
    const first = this.value();
    this.ws();
    const next = this.s.charCodeAt(this.pos);
    if (next !== C.Colon && next !== C.Comma && next !== C.RBrace) {
      const where = `after the first entry of the '{' at column ${open + 1}`;
      this.fail(`expected ':' (dict) or ',' / '}' (set) ${where}, found ${this.describe()}`);
    }
    if (next !== C.Colon) {
      // A set literal.
      const out: PyValue[] = [first];
      this.afterItem(out, C.RBrace, '}', open);
      return out;
    }
    const obj: { [key: string]: PyValue } = {};
    let key = first;
    for (;;) {
      this.pos++; // :
      this.ws();
      const v = this.value();
      setKey(obj, this.keyString(key, keyAt), v);
      this.ws();
      const c = this.s.charCodeAt(this.pos);
      if (c === C.RBrace) {
        this.pos++;
        return obj;
      }
      if (c !== C.Comma) {
        this.fail(`expected ',' or '}' in the dict opened at column ${open + 1}, found ${this.describe()}`);
      }
      this.pos++;
      this.ws();
      if (this.s.charCodeAt(this.pos) === C.RBrace) {
        this.pos++;
        return obj;
      }
      keyAt = this.pos;
      key = this.value();
      this.ws();
      if (this.s.charCodeAt(this.pos) !== C.Colon) this.fail(`expected ':' after a dict key, found ${this.describe()}`);
    }
  }

  /** A dict key as an object property name: strings as they are, other hashable literals as Python's repr. */
  private keyString(key: PyValue, at: number): string {
    if (typeof key === 'string') return key;
    if (typeof key === 'number') return String(key);
    if (key === true) return 'True';
    if (key === false) return 'False';
    if (key === null) return 'None';
    if (Array.isArray(key)) return JSON.stringify(key);
    this.fail('a dict cannot be a dict key (unhashable)', at);
  }

  /** The rest of a comma-separated sequence whose first item was parsed; handles the trailing comma. */
  private afterItem(out: PyValue[], close: number, closeCh: string, open: number): void {
    for (;;) {
      this.ws();
      const c = this.s.charCodeAt(this.pos);
      if (c === close) {
        this.pos++;
        return;
      }
      if (c !== C.Comma) {
        this.fail(`expected ',' or '${closeCh}' (opened at column ${open + 1}), found ${this.describe()}`);
      }
      this.pos++;
      this.ws();
      if (this.s.charCodeAt(this.pos) === close) {
        this.pos++;
        return;
      }
      out.push(this.value());
    }
  }

  private sequence(close: number, closeCh: string): PyValue[] {
    this.enter(this.pos);
    return this.leave(this.sequenceBody(close, closeCh));
  }

  private sequenceBody(close: number, closeCh: string): PyValue[] {
    const open = this.pos;
    this.pos++;
    this.ws();
    const out: PyValue[] = [];
    if (this.s.charCodeAt(this.pos) === close) {
      this.pos++;
      return out;
    }
    out.push(this.value());
    this.afterItem(out, close, closeCh, open);
    return out;
  }

  /** `()`, `(x,)`, `(x, y)` → array; `(x)` is just x (parentheses around an expression). */
  private tuple(): PyValue {
    this.enter(this.pos);
    return this.leave(this.tupleBody());
  }

  private tupleBody(): PyValue {
    const open = this.pos;
    this.pos++;
    this.ws();
    if (this.s.charCodeAt(this.pos) === C.RParen) {
      this.pos++;
      return [];
    }
    const first = this.value();
    this.ws();
    if (this.s.charCodeAt(this.pos) === C.RParen) {
      this.pos++;
      return first;
    }
    const out: PyValue[] = [first];
    this.afterItem(out, C.RParen, ')', open);
    return out;
  }

  /** One or more adjacent string literals (Python concatenates them). */
  private strings(): string {
    let out = this.string();
    for (;;) {
      const save = this.pos;
      this.ws();
      const c = this.s.charCodeAt(this.pos);
      if (c === C.Apos || c === C.Quote || (isIdent(c) && this.prefixAhead())) {
        out += this.string();
      } else {
        this.pos = save;
        return out;
      }
    }
  }

  private prefixAhead(): boolean {
    const m = /^(?:[uUrRbB]|[bB][rR]|[rR][bB]|[uU][rR])['"]/.exec(this.s.slice(this.pos, this.pos + 3));
    return m !== null;
  }

  private string(): string {
    const s = this.s;
    const start = this.pos;
    let raw = false;
    while (isIdent(s.charCodeAt(this.pos))) {
      const ch = s[this.pos];
      if (ch === 'r' || ch === 'R') raw = true;
      this.pos++;
    }
    const q = s.charCodeAt(this.pos);
    if (q !== C.Apos && q !== C.Quote) this.fail(`expected a string, found ${this.describe()}`);
    const triple = s.charCodeAt(this.pos + 1) === q && s.charCodeAt(this.pos + 2) === q;
    this.pos += triple ? 3 : 1;
    let out = '';
    let seg = this.pos;
    for (;;) {
      if (this.pos >= s.length) this.fail(`unterminated string (opened at column ${start + 1})`);
      const c = s.charCodeAt(this.pos);
      if (c === q) {
        if (!triple) {
          out += s.slice(seg, this.pos);
          this.pos++;
          return out;
        }
        if (s.charCodeAt(this.pos + 1) === q && s.charCodeAt(this.pos + 2) === q) {
          out += s.slice(seg, this.pos);
          this.pos += 3;
          return out;
        }
        this.pos++;
        continue;
      }
      if ((c === C.Lf || c === C.Cr) && !triple) this.fail(`unterminated string (opened at column ${start + 1})`);
      if (c !== C.Backslash) {
        this.pos++;
        continue;
      }
      // Backslash.
      if (this.pos + 1 >= s.length) this.fail(`unterminated string (opened at column ${start + 1})`);
      if (raw) {
        // Raw strings keep the backslash and the next character, which never ends the string.
        this.pos += 2;
        continue;
      }
      out += s.slice(seg, this.pos);
      const esc = s[this.pos + 1];
      const escAt = this.pos;
      this.pos += 2;
      const simple = SIMPLE_ESCAPES[esc];
      if (simple !== undefined) {
        out += simple;
      } else if (esc === '\n') {
        // line continuation: nothing
      } else if (esc === '\r') {
        if (s[this.pos] === '\n') this.pos++;
      } else if (esc >= '0' && esc <= '7') {
        let v = esc.charCodeAt(0) - C.Zero;
        for (let k = 0; k < 2 && s[this.pos] >= '0' && s[this.pos] <= '7'; k++) {
          v = v * 8 + (s.charCodeAt(this.pos++) - C.Zero);
        }
        out += String.fromCharCode(v);
      } else if (esc === 'x' || esc === 'u' || esc === 'U') {
        const n = esc === 'x' ? 2 : esc === 'u' ? 4 : 8;
        let v = 0;
        for (let k = 0; k < n; k++) {
          const h = hexVal(s.charCodeAt(this.pos + k));
          if (h < 0) this.fail(`invalid \\${esc} escape: expected ${n} hex digits`, escAt);
          v = v * 16 + h;
        }
        if (v > 0x10ffff) this.fail(`invalid \\U escape: code point above U+10FFFF`, escAt);
        this.pos += n;
        out += String.fromCodePoint(v);
      } else if (esc === 'N') {
        this.fail('\\N{…} escapes are not supported', escAt);
      } else {
        out += '\\' + esc; // Python keeps unknown escapes verbatim
      }
      seg = this.pos;
    }
  }

  private number(): number {
    const s = this.s;
    const start = this.pos;
    let sign = 1;
    let c = s.charCodeAt(this.pos);
    while (c === C.Plus || c === C.Minus) {
      if (c === C.Minus) sign = -sign;
      this.pos++;
      this.ws();
      c = s.charCodeAt(this.pos);
    }
    const numStart = this.pos;
    let end = numStart;
    // Consume a number-ish token: digits, letters (x, o, b, e, L, hex digits), '.', '_' and an exponent sign.
    while (end < s.length) {
      const d = s.charCodeAt(end);
      if (isIdent(d) || d === C.Dot) {
        end++;
      } else if (
        (d === C.Plus || d === C.Minus) &&
        (s[end - 1] === 'e' || s[end - 1] === 'E') &&
        !/^0[xX]/.test(s.slice(numStart, end))
      ) {
        end++;
      } else {
        break;
      }
    }
    let tok = s.slice(numStart, end);
    if (tok === '') this.fail(`expected a number, found ${this.describe()}`, start);
    if (/_$|__|_\.|\._/.test(tok) || tok.startsWith('_')) this.fail(`invalid number "${tok}"`, numStart);
    tok = tok.replace(/_/g, '');
    let v: number;
    if (/^0[xX][0-9a-fA-F]+[lL]?$/.test(tok)) v = parseInt(tok.replace(/[lL]$/, '').slice(2), 16);
    else if (/^0[oO][0-7]+[lL]?$/.test(tok)) v = parseInt(tok.replace(/[lL]$/, '').slice(2), 8);
    else if (/^0[bB][01]+[lL]?$/.test(tok)) v = parseInt(tok.replace(/[lL]$/, '').slice(2), 2);
    else if (/^(?:0+|[1-9][0-9]*)[lL]?$/.test(tok)) v = Number(tok.replace(/[lL]$/, ''));
    else if (/^0[0-7]+[lL]?$/.test(tok)) v = parseInt(tok.replace(/[lL]$/, ''), 8); // Python 2 octal (0755)
    else if (/^(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(tok) && /[.eE]/.test(tok)) v = Number(tok);
    else this.fail(`invalid number "${tok}"`, numStart);
    this.pos = end;
    return sign * v;
  }
}

function setKey(obj: { [key: string]: PyValue }, k: string, v: PyValue): void {
  // defineProperty so a "__proto__" key is an ordinary own property (as in JSON.parse), never the prototype.
  Object.defineProperty(obj, k, { value: v, writable: true, enumerable: true, configurable: true });
}
