/**
 * Production training (issue 17): resumable checkpoints survive SIGKILL — mid-epoch and mid-write of a checkpoint —
 * and the resumed run ends bit-identical to the uninterrupted one; damaged or foreign checkpoints are clear errors;
 * experiment files; warm starts that grow the vocabulary. Runs the real `din` command in child processes.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { decodeSafetensors } from '../../src/checkpoint/safetensors.js';
import { loadModel } from '../../src/index.js';
import { tableKeys } from '../../src/train/warm-start.js';

const BIN = fileURLToPath(new URL('../../../bin/din.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'din-resume-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function din(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const TRAIN = ['train', '--data', 'synthetic:small', '--model', 'din', '--epochs', '2', '--checkpoint-every', '30', '--quiet', '--no-cache'];

/** Starts a run and SIGKILLs it as soon as `when(checkpointsDirEntries)` holds; resolves once it is dead. */
function runAndKill(args: string[], out: string, when: (names: string[]) => boolean, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  return new Promise((resolveKill, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, ...env }, stdio: 'ignore' });
    let seen: string[] = [];
    const timer = setInterval(() => {
      const ck = join(out, 'checkpoints');
      seen = existsSync(ck) ? readdirSync(ck) : [];
      if (when(seen)) {
        clearInterval(timer);
        child.kill('SIGKILL');
      }
    }, 5);
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      if (signal !== 'SIGKILL') reject(new Error(`the run ended by itself (code ${code}) before it could be killed; checkpoints: ${seen}`));
      else resolveKill(seen);
    });
  });
}

const steps = (names: string[]) => names.filter((n) => n.startsWith('step-')).map((n) => Number(n.slice(5, 14)));

function sameWeights(a: string, b: string): boolean {
  return readFileSync(join(a, 'weights.safetensors')).equals(readFileSync(join(b, 'weights.safetensors')));
}

function maxRelDiff(a: string, b: string): number {
  const x = decodeSafetensors(readFileSync(join(a, 'weights.safetensors'))).tensors;
  const y = decodeSafetensors(readFileSync(join(b, 'weights.safetensors'))).tensors;
  let worst = 0;
  for (const [name, t] of Object.entries(x)) {
    const u = y[name];
    for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i] - u.data[i]) / Math.max(1e-3, Math.abs(t.data[i])));
  }
  return worst;
}

for (const threads of [1, 2]) {
  test(`SIGKILL mid-epoch, then --resume: the model equals the uninterrupted run's (${threads} thread${threads > 1 ? 's' : ''}, Dice)`, async () => {
    const args = [...TRAIN, '--threads', String(threads), '--activation', 'dice'];
    const ref = join(dir, `ref-${threads}`);
    assert.equal(din([...args, '--out', ref]).code, 0);
    const out = join(dir, `killed-${threads}`);
    const seen = await runAndKill([...args, '--out', out], out, (n) => steps(n).some((s) => s >= 240));
    assert.ok(Math.max(...steps(seen)) < 376, 'killed before the end');
    const r = din(['train', '--resume', out, '--quiet']);
    assert.equal(r.code, 0, r.out);
    if (threads === 1) assert.ok(sameWeights(ref, out), 'bit-identical');
    else assert.ok(maxRelDiff(ref, out) < 1e-5, `within float tolerance: ${maxRelDiff(ref, out)}`);
    const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    assert.equal(m.history.length, 2, 'both epochs in the history');
  });
}

test('SIGKILL mid-write of a checkpoint: the half-written one is ignored, the resumed model is bit-identical', async () => {
  const ref = join(dir, 'ref-1');
  if (!existsSync(join(ref, 'weights.safetensors'))) assert.equal(din([...TRAIN, '--threads', '1', '--activation', 'dice', '--out', ref]).code, 0);
  const out = join(dir, 'killed-write');
  const seen = await runAndKill([...TRAIN, '--threads', '1', '--activation', 'dice', '--out', out], out,
    (n) => steps(n).length >= 2 && n.some((x) => x.startsWith('.tmp-')), { DIN_TEST_CHECKPOINT_PAUSE_MS: '3000' });
  assert.ok(seen.some((x) => x.startsWith('.tmp-')), 'killed while a checkpoint was being written');
  const r = din(['train', '--resume', out, '--quiet']);
  assert.equal(r.code, 0, r.out);
  assert.ok(sameWeights(ref, out), 'bit-identical');
  assert.deepEqual(readdirSync(join(out, 'checkpoints')).filter((n) => n.startsWith('.tmp-')), [], 'the half-written checkpoint is cleaned up');
});

test('a damaged or foreign checkpoint is a clear error naming what is wrong', () => {
  const src = join(dir, 'ref-1');
  if (!existsSync(join(src, 'weights.safetensors'))) assert.equal(din([...TRAIN, '--threads', '1', '--activation', 'dice', '--out', src]).code, 0);
  // Another model shape: the run's config says hidden 200,80; the checkpoint is of hidden 16.
  const other = join(dir, 'other-shape');
  assert.equal(din([...TRAIN, '--threads', '1', '--activation', 'dice', '--hidden', '16', '--epochs', '1', '--out', other]).code, 0);
  const cfg = JSON.parse(readFileSync(join(other, 'config.json'), 'utf8'));
  writeFileSync(join(other, 'config.json'), JSON.stringify({ ...cfg, hidden: '200,80', epochs: 2 }));
  let r = din(['train', '--resume', other, '--quiet']);
  assert.notEqual(r.code, 0);
  assert.match(r.out, /"mlp\.0\.weight" is \[[\d,]+\] in the checkpoint, the model has \[[\d,]+\]/);
  // A truncated tensor file.
  const names = readdirSync(join(src, 'checkpoints')).filter((n) => n.startsWith('step-'));
  const broken = join(dir, 'truncated');
  mkdirSync(join(broken, 'checkpoints', names[0]), { recursive: true });
  writeFileSync(join(broken, 'config.json'), readFileSync(join(src, 'config.json')));
  for (const f of ['state.json', 'state.safetensors']) writeFileSync(join(broken, 'checkpoints', names[0], f), readFileSync(join(src, 'checkpoints', names[0], f)));
  truncateSync(join(broken, 'checkpoints', names[0], 'state.safetensors'), 5000);
  r = din(['train', '--resume', broken, '--quiet']);
  assert.notEqual(r.code, 0);
  assert.match(r.out, new RegExp(`${names[0]}/state\\.safetensors`));
  // Nothing to resume.
  r = din(['train', ...TRAIN.slice(1), '--resume', join(dir, 'nowhere')]);
  assert.match(r.out, /no config\.json there/);
});

test('experiment files: JSON or YAML, flags override, unknown keys list the valid ones, config.json reproduces the run', () => {
  const yaml = join(dir, 'exp.yaml');
  writeFileSync(yaml, 'data: synthetic:small\nmodel: base\nepochs: 1\nhidden: [24, 12]\nembedding-dim: 8\nthreads: 1\nno-cache-is-not-a-key: 1\n');
  let r = din(['train', '--config', yaml, '--quiet']);
  assert.notEqual(r.code, 0);
  assert.match(r.out, /exp\.yaml: unknown option "no-cache-is-not-a-key" \(valid: .*attention-norm.*embedding-dim.*\)/);
  writeFileSync(yaml, 'data: synthetic:small\nmodel: base\nepochs: 1\nhidden: [24, 12]\nembedding-dim: 8\nthreads: 1\ncache: false\n');
  const a = join(dir, 'exp-a');
  r = din(['train', '--config', yaml, '--seed', '3', '--out', a, '--quiet']);
  assert.equal(r.code, 0, r.out);
  const saved = JSON.parse(readFileSync(join(a, 'config.json'), 'utf8'));
  assert.equal(saved.seed, 3, 'the flag overrode the file');
  assert.equal(saved.hidden, '24,12');
  assert.equal(saved.model, 'base');
  const b = join(dir, 'exp-b');
  r = din(['train', '--config', join(a, 'config.json'), '--out', b, '--quiet']);
  assert.equal(r.code, 0, r.out);
  assert.ok(sameWeights(a, b), 'the saved config.json reproduces the run bit for bit');
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ epochs: 0, model: 'dinn' }));
  r = din(['train', '--config', join(dir, 'bad.json'), '--data', 'synthetic:small']);
  assert.match(r.out, /bad\.json: .*model: must be one of lr, base, wide-deep, pnn, deepfm, din, got "dinn"/);
  assert.match(r.out, /epochs: --epochs must be an integer >= 1/);
});

/**
 * An Amazon-sequence dataset where time brings new goods: 300 users, 12 behaviours each; the first 8 from 150 old
 * goods, the last 4 from 5,000 goods that appear only then (ids n0..n4999), categories by id modulo 10.
 */
function growingSequences(): string {
  const d = join(dir, 'growing');
  mkdirSync(d, { recursive: true });
  const lines: string[] = [];
  let s = 7;
  const rnd = (n: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % n;
  };
  for (let u = 0; u < 300; u++) {
    const seq: string[] = [];
    while (seq.length < 8) {
      const k = `o${rnd(150)}`;
      if (!seq.includes(k)) seq.push(k);
    }
    while (seq.length < 12) {
      const k = `n${rnd(5000)}`;
      if (!seq.includes(k)) seq.push(k);
    }
    lines.push(`u${u} ${seq.join(' ')}`);
  }
  writeFileSync(join(d, 'Grow.txt'), `${lines.join('\n')}\n`);
  const attrs: Record<string, number[]> = {};
  for (let i = 0; i < 150; i++) attrs[`o${i}`] = [i % 10];
  for (let i = 0; i < 5000; i++) attrs[`n${i}`] = [i % 10];
  writeFileSync(join(d, 'Grow_item2attributes.json'), JSON.stringify(attrs));
  return d;
}

test('warm start: day 2 begins from day 1, rows matched by key, new goods start fresh, the optimizer kept or reset', () => {
  const day1 = join(dir, 'day1');
  const common = ['--data', growingSequences(), '--model', 'din', '--epochs', '1', '--threads', '1', '--embedding-dim', '8', '--quiet', '--no-cache'];
  let r = din(['train', ...common, '--train-slice', '1/2', '--out', day1]);
  assert.equal(r.code, 0, r.out);
  const day2 = join(dir, 'day2');
  // Check the carried rows through a day-2 run with a learning rate of ~0 (0 epochs is not a run).
  r = din(['train', ...common, '--train-slice', '2/2', '--init-from', day1, '--lr', '1e-30', '--out', day2]);
  assert.equal(r.code, 0, r.out);
  const m = JSON.parse(readFileSync(join(day2, 'metrics.json'), 'utf8'));
  const goods = m.warmStart.tables.goods_emb;
  assert.ok(goods.kept > 0 && goods.fresh > 0, `some goods rows carried over, some new: ${JSON.stringify(goods)}`);
  const a = loadModel(day1);
  const b = loadModel(day2);
  const ka = tableKeys(a.catalog, a.sampleFields).get('goods_emb')!;
  const kb = tableKeys(b.catalog, b.sampleFields).get('goods_emb')!;
  const ga = a.model.params().find((p) => p.name === 'goods_emb')!;
  const gb = b.model.params().find((p) => p.name === 'goods_emb')!;
  const dim = ga.shape[1];
  const rowOf = new Map(ka.map((k, i) => [k, i]));
  let compared = 0;
  kb.forEach((k, r2) => {
    const r1 = rowOf.get(k);
    if (r1 === undefined || k.startsWith('\u0000')) return;
    for (let d = 0; d < dim; d++) assert.ok(Math.abs(gb.value[r2 * dim + d] - ga.value[r1 * dim + d]) < 1e-6, `goods "${k}" kept its row`);
    compared++;
  });
  assert.ok(compared > 10);
  // keep: needs the trained run's resumable checkpoint, which --out wrote.
  r = din(['train', ...common, '--train-slice', '2/2', '--init-from', day1, '--init-optimizer', 'keep', '--out', join(dir, 'day2-keep')]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /warm start from .*optimizer keep/);
  r = din(['train', ...common, '--model', 'base', '--train-slice', '2/2', '--init-from', day1]);
  assert.match(r.out, /--init-from .*architecture differs \(model: "din" vs "base"\)/);
});
