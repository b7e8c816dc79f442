/**
 * The API reference is generated from the TSDoc comments (`npm run docs`, TypeDoc): every export of src/index.ts — and
 * every member of what it exports — must be documented, every `{@link}` must resolve and no exported signature may
 * name a type the package does not export. TypeDoc's own validation checks all three; a warning fails this test.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

test('TypeDoc documents the whole public API without a warning', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--emit', 'none', '--treatWarningsAsErrors'], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }, timeout: 300_000,
  });
  const out = `${r.stdout}\n${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
  assert.equal(r.status, 0, `typedoc reported problems:\n${out.split('\n').filter((l) => /warning|error/.test(l)).slice(0, 40).join('\n')}`);
});
