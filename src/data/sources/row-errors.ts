/**
 * The row-error policy shared by every text source (`onError`):
 *
 *  - Structural problems (a missing file or column, an empty file, a corrupt gzip stream, an input that cannot be the
 *    format at all, nothing usable left) always throw, naming the file.
 *  - Row errors (one malformed line or entry: wrong field count, a non-numeric id, …) are skipped and counted in
 *    `Dataset.skipped` under a descriptive key with `onError: 'skip'` (the default), or throw
 *    `<file>:<line>: <what was expected>, found …` at the first one with `onError: 'fail'`.
 *
 * Each source documents in its header which of its problems are which.
 */

export type RowErrorPolicy = 'skip' | 'fail';

/** How many skipped-row messages a Dataset keeps as examples (`Dataset.skippedExamples`). */
export const MAX_SKIPPED_EXAMPLES = 3;

/** The policy of `onError`, default 'skip'; throws on anything else. */
export function rowErrorPolicy(onError: unknown): RowErrorPolicy {
  const p = onError ?? 'skip';
  if (p !== 'skip' && p !== 'fail') throw new Error(`onError must be 'skip' or 'fail', got ${String(p)}`);
  return p;
}

/** Longest message kept as an example (the thrown message under 'fail' is never shortened). */
const EXAMPLE_CHARS = 300;

/** Collects skipped counts and examples of skipped rows; throws at the first row error under 'fail'. */
export class RowErrors {
  /** Counts by reason: row errors and the source's ordinary counts (blank lines, …) alike. */
  readonly skipped: Record<string, number> = {};
  /** Row errors skipped so far (not the ordinary counts). */
  rows = 0;
  private readonly byReason = new Map<string, string[]>();
  /** Per file: row errors skipped and the first message. */
  private readonly byFile = new Map<string, { rows: number; first: string }>();

  constructor(readonly policy: RowErrorPolicy) {}

  /** An ordinary count (never an error). */
  count(reason: string, n = 1): void {
    if (n > 0) this.skipped[reason] = (this.skipped[reason] ?? 0) + n;
  }

  /**
   * A row error in `file` at `at` — a 1-based line number, or a description such as `item "x"` for an entry of a JSON
   * file: throws `file:line: what` (`file: item "x": what`) under 'fail'; under 'skip' counts it under `reason` and
   * keeps the message as a possible example. The 3-argument form takes the location as one string (`file:line`).
   */
  row(reason: string, where: string, what: string): void;
  row(reason: string, file: string, at: number | string, what: string): void;
  row(reason: string, a: string, b: number | string, c?: string): void {
    let file: string;
    let msg: string;
    if (c === undefined) {
      msg = `${a}: ${b}`;
      file = /^(.*):\d+$/.exec(a)?.[1] ?? a;
    } else {
      file = a;
      msg = typeof b === 'number' ? `${a}:${b}: ${c}` : `${a}: ${b}: ${c}`;
    }
    if (this.policy === 'fail') throw new Error(msg);
    this.count(reason);
    this.rows++;
    const list = this.byReason.get(reason);
    const kept = msg.length > EXAMPLE_CHARS ? `${msg.slice(0, EXAMPLE_CHARS - 1)}…` : msg;
    if (list === undefined) this.byReason.set(reason, [kept]);
    else if (list.length < MAX_SKIPPED_EXAMPLES) list.push(kept);
    const f = this.byFile.get(file);
    if (f === undefined) this.byFile.set(file, { rows: 1, first: kept });
    else f.rows++;
  }

  /** The first skipped row of each reason, in order of first occurrence. */
  firsts(): string[] {
    return [...this.byReason.values()].map((l) => l[0]);
  }

  /** Up to MAX_SKIPPED_EXAMPLES messages: the first of each reason before the second of any, in order. */
  examples(): string[] {
    const out: string[] = [];
    const lists = [...this.byReason.values()];
    for (let k = 0; k < MAX_SKIPPED_EXAMPLES && out.length < MAX_SKIPPED_EXAMPLES; k++) {
      for (const l of lists) {
        if (k < l.length && out.length < MAX_SKIPPED_EXAMPLES) out.push(l[k]);
      }
    }
    return out;
  }

  /**
   * A suffix for a structural error thrown because nothing usable was left: how many rows (of `file`, or of any file)
   * were skipped and the first of them; empty when none was.
   */
  hint(file?: string): string {
    const f = file === undefined ? { rows: this.rows, first: this.firsts()[0] } : this.byFile.get(file);
    if (f === undefined || f.rows === 0) return '';
    return ` (${f.rows} malformed ${f.rows === 1 ? 'row was' : 'rows were'} skipped, e.g. ${f.first})`;
  }
}

/** A short JSON rendering of a parsed value for messages; never throws (deeply nested values overflow JSON.stringify). */
export function preview(v: unknown, max = 120): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = Array.isArray(v) ? '[…] (nested too deeply to show)' : '{…} (nested too deeply to show)';
  }
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
