import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Command, Option } from 'commander';
import { createBackend, type BackendKind } from '../kernels/backends.js';
import { RankingEngine } from '../serve/engine/engine.js';
import { requestValidator, type RequestLimits } from '../serve/request-schema.js';
import type { RankRequest, RankResponse } from '../serve/types.js';
import { log } from './common.js';
import { intArg } from './options.js';

/** One output line: the answer, or why the input line could not be ranked. */
export type RankLine = RankResponse | { line: number; error: string };

/** What `din rank` needs of an engine. */
export interface OfflineEngine {
  rankMany(reqs: RankRequest[]): RankResponse[];
  rank(req: RankRequest): RankResponse;
}

export interface RankFileOptions {
  /** Input lines ranked per engine pass. */
  batch: number;
  limits: RequestLimits;
}

export interface RankFileResult {
  lines: number;
  ranked: number;
  errors: number;
}

/**
 * Ranks a JSONL stream of RankRequests, `batch` lines per engine pass, writing one JSON line per input line in input
 * order. A line that is not JSON, fails the request schema (the same as `POST /v1/rank`) or is refused by the engine
 * becomes `{"line": n, "error": "..."}` (n 1-based) and the rest goes on.
 */
export async function rankLines(
  engine: OfflineEngine,
  lines: AsyncIterable<string>,
  write: (s: string) => Promise<void> | void,
  opts: RankFileOptions,
): Promise<RankFileResult> {
  const validate = requestValidator(opts.limits);
  const result: RankFileResult = { lines: 0, ranked: 0, errors: 0 };
  let slots: RankLine[] = [];
  let todo: Array<{ slot: number; line: number; req: RankRequest }> = [];

  const flush = async () => {
    if (todo.length > 0) {
      let answers: RankResponse[] | undefined;
      try {
        answers = todo.length > 1 ? engine.rankMany(todo.map((t) => t.req)) : undefined;
      } catch {
        answers = undefined;
      }
      for (let i = 0; i < todo.length; i++) {
        const t = todo[i];
        if (answers) {
          slots[t.slot] = answers[i];
          continue;
        }
        // The batch failed: rank its requests one by one so only the bad ones fail.
        try {
          slots[t.slot] = engine.rank(t.req);
        } catch (e) {
          slots[t.slot] = { line: t.line, error: e instanceof Error ? e.message : String(e) };
        }
      }
    }
    let out = '';
    for (const s of slots) {
      if ('error' in s) result.errors++;
      else result.ranked++;
      out += JSON.stringify(s) + '\n';
    }
    if (out) await write(out);
    slots = [];
    todo = [];
  };

  for await (const text of lines) {
    const line = ++result.lines;
    let parsed: unknown;
    let error: string | null = null;
    if (text.trim() === '') {
      error = 'empty line';
    } else {
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        error = `invalid JSON: ${(e as Error).message}`;
      }
      if (error === null) error = validate(parsed);
    }
    if (error !== null) {
      slots.push({ line, error });
    } else {
      todo.push({ slot: slots.length, line, req: parsed as RankRequest });
      slots.push({ line, error: 'not ranked' }); // replaced by flush
    }
    if (slots.length >= opts.batch) await flush();
  }
  await flush();
  return result;
}

export function rankCommand(): Command {
  const cmd = new Command('rank').description('rank a JSONL file of requests (one RankRequest per line, as POST /v1/rank) offline');
  cmd.requiredOption('--model <dir>', 'model directory written by `din train --out`');
  cmd.requiredOption('--input <file>', 'requests, one JSON per line ("-": stdin)');
  cmd.option('--output <file>', 'answers, one JSON per input line in order (default: stdout)');
  cmd.option('--batch <n>', 'requests ranked per engine pass', intArg('--batch'), 64);
  cmd.option('--max-candidates <n>', 'most candidates per request (more: an error line)', intArg('--max-candidates'), 1000);
  cmd.option('--max-behaviors <n>', 'most behaviours per request (more: an error line)', intArg('--max-behaviors'), 1000);
  cmd.addOption(new Option('--backend <kind>', 'numeric backend').choices(['auto', 'wasm', 'js', 'js-f32']).default('auto'));
  cmd.action(async (o) => {
    const limits = { maxCandidates: o.maxCandidates, maxBehaviors: o.maxBehaviors };
    const engine = RankingEngine.load(o.model, {
      ...limits,
      ...(o.backend === 'auto' ? {} : { backend: createBackend(o.backend as BackendKind) }),
    });
    const input = o.input === '-' ? process.stdin : createReadStream(o.input, { encoding: 'utf8' });
    const inputError = new Promise<never>((_, reject) => input.once('error', (e: Error) => reject(new Error(`--input ${o.input}: ${e.message}`))));
    const out = o.output ? createWriteStream(o.output) : process.stdout;
    const outputError = new Promise<never>((_, reject) => out.once('error', (e) => reject(new Error(`--output ${o.output ?? 'stdout'}: ${e.message}`))));
    const write = async (s: string) => {
      if (!out.write(s)) await Promise.race([once(out, 'drain'), outputError]);
    };
    const t0 = performance.now();
    const lines = createInterface({ input, crlfDelay: Infinity });
    const r = await Promise.race([rankLines(engine, lines, write, { batch: o.batch, limits }), inputError, outputError]);
    if (o.output) {
      const closed = once(out, 'finish');
      out.end();
      await Promise.race([closed, outputError]);
    }
    const s = (performance.now() - t0) / 1000;
    log(`ranked ${r.ranked} of ${r.lines} requests with ${engine.modelName} ${engine.modelVersion} in ${s.toFixed(2)}s` +
      (r.errors > 0 ? `; ${r.errors} line(s) with errors (see their "error" output lines)` : ''));
  });
  return cmd;
}
