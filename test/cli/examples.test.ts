/**
 * The experiment files in examples/ run: each through the real command, shrunk by flags (which override the file) to
 * one seed, one epoch and the small synthetic data, so the test checks the files' keys and values, not the hour-long
 * experiments they describe.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'din.js');
const dir = mkdtempSync(join(tmpdir(), 'din-examples-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const SHRINK = ['--data', 'synthetic:small', '--seeds', '1', '--epochs', '1', '--jobs', '1', '--threads', '1'];

for (const [file, models] of [['quickstart.yaml', ['base', 'din']], ['table3-beauty.yaml', null], ['table4-beauty.yaml', ['base']]] as const) {
  test(`examples/${file} runs (shrunk to one seed and epoch on synthetic:small)`, () => {
    const out = join(dir, file);
    const args = [BIN, 'compare', '--config', join(ROOT, 'examples', file), ...SHRINK, '--out', out];
    if (file === 'table3-beauty.yaml') args.push('--models', 'lr,base,din-prod');
    const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    const c = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8'));
    const names = c.rows.map((row: { name?: string; model?: string }) => row.name ?? row.model);
    assert.ok(names.length > 0);
    if (models) for (const m of models) assert.ok(names.some((n: string) => n.startsWith(m)), `row ${m} in ${names}`);
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(saved.seeds, '1', 'the flag overrode the file');
    assert.equal(saved.command, 'compare');
    assert.ok(typeof saved.code === 'string' && saved.code.length > 5, 'the code version is recorded');
  });
}

test('examples/din-beauty.json is a valid din train experiment file', () => {
  const out = join(dir, 'din-beauty');
  const r = spawnSync(process.execPath, [BIN, 'train', '--config', join(ROOT, 'examples', 'din-beauty.json'), '--data', 'synthetic:small', '--epochs', '1', '--threads', '1', '--out', out, '--quiet'],
    { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.ok(existsSync(join(out, 'weights.safetensors')));
});

test('din compare reruns a finished run made by another version of the code', () => {
  const out = join(dir, 'reuse');
  const args = [BIN, 'compare', '--config', join(ROOT, 'examples', 'quickstart.yaml'), ...SHRINK, '--models', 'base', '--out', out];
  let r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  assert.match(r.stderr, /1 already finished, 0 to run/);
  const runJson = join(out, 'runs', 'base-s1', 'run.json');
  const run = JSON.parse(readFileSync(runJson, 'utf8'));
  spawnSync(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(runJson)}, JSON.stringify({ ...${JSON.stringify(run)}, code: '0.0.1+old' }))`]);
  r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /1 finished run\(s\) were made with other options or another version of din/);
  assert.match(r.stderr, /0 already finished, 1 to run/);
});
