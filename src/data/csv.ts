/**
 * A small RFC-4180 CSV reader working on bytes, so multi-hundred-MB files (MovieLens 25M) never have to become one
 * JS string (V8 caps strings at ~512 MiB). Handles quoted fields with commas, doubled quotes and newlines, CRLF,
 * and a UTF-8 BOM.
 */
import { readFileSync } from 'node:fs';

export type CsvRowHandler = (fields: string[], line: number) => void;

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

/**
 * Calls `onRow(fields, line)` for every record; `line` is the 1-based line where the record starts. Blank lines
 * are reported as a single empty field (`['']`) so the caller can count them. Throws (naming `file` and the line) on
 * an unterminated quoted field or stray characters after a closing quote.
 */
export function parseCsv(buf: Uint8Array, file: string, onRow: CsvRowHandler): void {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = b.length;
  let i = 0;
  if (n >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) i = 3;
  let line = 1;
  while (i < n) {
    const rowLine = line;
    const fields: string[] = [];
    for (;;) {
      // One field starting at i.
      if (i < n && b[i] === QUOTE) {
        const start = i + 1;
        let j = start;
        let hasEscapes = false;
        for (;;) {
          if (j >= n) throw new Error(`${file}:${rowLine}: unterminated quoted field (expected a closing ")`);
          const c = b[j];
          if (c === QUOTE) {
            if (j + 1 < n && b[j + 1] === QUOTE) {
              hasEscapes = true;
              j += 2;
              continue;
            }
            break;
          }
          if (c === LF) line++;
          j++;
        }
        let s = b.toString('utf8', start, j);
        if (hasEscapes) s = s.replace(/""/g, '"');
        fields.push(s);
        i = j + 1;
        if (i < n && b[i] !== COMMA && b[i] !== LF && b[i] !== CR) {
          throw new Error(`${file}:${line}: unexpected character after a closing quote (expected , or end of line)`);
        }
      } else {
        let j = i;
        while (j < n) {
          const c = b[j];
          if (c === COMMA || c === LF || c === CR) break;
          j++;
        }
        fields.push(b.toString('utf8', i, j));
        i = j;
      }
      if (i < n && b[i] === COMMA) {
        i++;
        continue;
      }
      break;
    }
    // End of record: CRLF, LF, lone CR or end of input.
    if (i < n && b[i] === CR) i++;
    if (i < n && b[i] === LF) i++;
    line++;
    onRow(fields, rowLine);
  }
}

export function readCsvFile(file: string, onRow: CsvRowHandler): void {
  parseCsv(readFileSync(file), file, onRow);
}
