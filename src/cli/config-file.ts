/**
 * Experiment files: `din train|compare --config exp.json|exp.yaml`. Every option of the command can be set in the
 * file, by its long name (`attention-norm`) or camelCase (`attentionNorm`); flags given on the command line override
 * it; an unknown key is an error listing the valid ones; values go through the same parsing and checks as flags. The
 * resolved options are saved as `config.json` in the run directory, so `din train --config runs/x/config.json`
 * reproduces the run (and `din train --resume runs/x` continues it).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command, Option } from 'commander';
import { parse as parseYaml } from 'yaml';

/** Keys of a resolved config that are not options: the command, the code version. */
const META_KEYS = new Set(['din', 'command', 'code']);
/** Options that say how to run, not what: never taken from a file's resolved values. */
const NOT_SAVED = new Set(['config', 'resume', 'quiet']);

/** Reads a JSON or YAML experiment file into a plain object; errors name the file. */
export function readConfigFile(path: string): Record<string, unknown> {
  if (!existsSync(path)) throw new Error(`${path}: no such experiment file`);
  const text = readFileSync(path, 'utf8');
  let value: unknown;
  try {
    value = /\.ya?ml$/i.test(extname(path)) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid ${/\.ya?ml$/i.test(extname(path)) ? 'YAML' : 'JSON'} (${(e as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${path}: an experiment file must hold an object of options`);
  return value as Record<string, unknown>;
}

const camel = (k: string): string => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * Applies the options of an experiment file to a parsed command: each key the command line did not give is parsed
 * like its flag and set. Throws one error listing every unknown key and every bad value, naming the file.
 */
export function applyConfigFile(cmd: Command, file: Record<string, unknown>, where: string): void {
  const byAttr = new Map<string, Option>();
  for (const o of cmd.options) byAttr.set(o.attributeName(), o);
  const problems: string[] = [];
  const unknown: string[] = [];
  for (const [rawKey, raw] of Object.entries(file)) {
    if (META_KEYS.has(rawKey)) continue;
    const key = camel(rawKey);
    const opt = byAttr.get(key);
    if (!opt || NOT_SAVED.has(key)) {
      unknown.push(rawKey);
      continue;
    }
    if (cmd.getOptionValueSource(key) === 'cli') continue;
    try {
      cmd.setOptionValueWithSource(key, parseValue(opt, raw), 'config' as 'default');
    } catch (e) {
      problems.push(`${rawKey}: ${(e as Error).message}`);
    }
  }
  if (unknown.length > 0) {
    const valid = [...byAttr.keys()].filter((k) => !NOT_SAVED.has(k) && k !== 'version').map(kebab).sort();
    problems.unshift(`unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} (valid: ${valid.join(', ')})`);
  }
  if (problems.length > 0) throw new Error(`${where}: ${problems.join('; ')}`);
}

/** A file value through the flag's parser and choices (numbers and lists are written as the flag would be). */
function parseValue(opt: Option, raw: unknown): unknown {
  const takesArg = opt.required || opt.optional;
  if (!takesArg) {
    if (typeof raw !== 'boolean') throw new Error(`must be true or false, got ${JSON.stringify(raw)}`);
    // A --no-x flag stores x; the file states x directly.
    return raw;
  }
  if (raw === null || raw === undefined) throw new Error('has no value');
  const parse0 = (opt as unknown as { parseArg?: (v: string, prev: unknown) => unknown }).parseArg;
  if (typeof raw === 'object' && !Array.isArray(raw) && parse0) {
    // A repeatable flag (`--grid mba=1,10 --grid filter=1000`) as an object: one `key=values` per entry.
    let acc: unknown = opt.defaultValue === undefined ? undefined : structuredClone(opt.defaultValue);
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) acc = parse0(`${k}=${Array.isArray(v) ? v.join(',') : String(v)}`, acc);
    return acc;
  }
  const text = Array.isArray(raw) ? raw.join(',') : typeof raw === 'object' ? JSON.stringify(raw) : String(raw);
  const choices = (opt as unknown as { argChoices?: string[] }).argChoices;
  if (choices && !choices.includes(text)) throw new Error(`must be one of ${choices.join(', ')}, got "${text}"`);
  const parse = (opt as unknown as { parseArg?: (v: string, prev: unknown) => unknown }).parseArg;
  return parse ? parse(text, undefined) : text;
}

/** The options of a parsed command worth saving (what reproduces the run), by camelCase name. */
export function resolvedOptions(cmd: Command, command: string): Record<string, unknown> {
  const out: Record<string, unknown> = { din: packageVersion(), code: codeVersion(), command };
  const values = cmd.opts() as Record<string, unknown>;
  for (const o of cmd.options) {
    const k = o.attributeName();
    if (NOT_SAVED.has(k) || k === 'version') continue;
    const v = values[k];
    if (v === undefined) continue;
    out[k] = v;
  }
  return out;
}

/** The package version. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

let codeHash: string | undefined;

/**
 * A fingerprint of the code that trains (every built module under dist/src): runs of `din compare` are reused only
 * when it is unchanged, so an upgrade never mixes old results into a new table.
 */
export function codeVersion(): string {
  if (codeHash !== undefined) return codeHash;
  const root = fileURLToPath(new URL('../', import.meta.url));
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.js')) h.update(name).update(readFileSync(p));
    }
  };
  walk(root);
  const wasm = fileURLToPath(new URL('../../../build/', import.meta.url));
  if (existsSync(wasm)) for (const name of readdirSync(wasm).sort()) if (name.endsWith('.wasm')) h.update(name).update(readFileSync(join(wasm, name)));
  codeHash = `${packageVersion()}+${h.digest('hex').slice(0, 12)}`;
  return codeHash;
}
