/**
 * The package as a user gets it: `npm pack`, install the tarball into a fresh project, then (a) run the README's
 * example there in plain JavaScript ESM (`import … from 'din'`: trains synthetic:small for one epoch, ranks a request)
 * and (b) type-check a TypeScript consumer against the shipped .d.ts with `tsc --noEmit`. Also checks what the tarball
 * holds (the built WASM kernels; nothing from tests, benches, runs or caches; no stale build output) and prints its size.
 *
 * The install needs the dependencies from the npm registry or npm's cache (`--prefer-offline`: after `npm ci` they are
 * cached, so nothing is downloaded on a machine that just installed this repository).
 */
import assert from 'node:assert/strict';
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'din-pack-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

/** The environment of a user's shell: without the npm_* variables of the `npm test` that runs us (ignore-scripts, prefix …). */
function userEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig', 'npm_config_globalconfig']);
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_') || keep.has(k.toLowerCase())));
}

function run(cmd: string, args: string[], opts: ExecFileSyncOptions = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', env: userEnv(), timeout: 600_000, stdio: ['ignore', 'pipe', 'pipe'], ...opts }) as string;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
}

interface PackInfo {
  filename: string;
  size: number;
  unpackedSize: number;
  files: Array<{ path: string; size: number }>;
}

const version = (pkg: string): string => (JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;

const TS_CONSUMER = `import {
  loadDataset, train, loadModel, RankingEngine, relaImpr, gauc, exportOnnx, DEFAULT_MODEL_CONFIG,
  type EvalResult, type RankRequest, type RankResponse, type TrainSettings, type TrainedModel, type ModelConfig,
} from 'din';

const settings: TrainSettings = { model: 'din', epochs: 1, attentionNorm: 'softmax', reg: 'mba', threads: 1 };
// @ts-expect-error: not a model kind — the settings are typed, not \`any\`
const wrong: TrainSettings = { model: 'dinn' };
const data = await loadDataset({ path: 'synthetic:small' });
const trained = await train(data, settings, { out: 'runs/ts' });
const saved: TrainedModel = trained;
const metrics: EvalResult = trained.metrics.test;
const gain: number = relaImpr(metrics.gauc, 0.6) + gauc([0.1, 0.9], [0, 1], [0, 0]).gauc;
const req: RankRequest = { user: { behaviors: [{ id: data.catalog.itemKeys[0] }] }, candidates: [{ id: data.catalog.itemKeys[1], bid: 2 }] };
const answer: RankResponse = RankingEngine.fromTrained(loadModel('runs/ts')).explain(req);
const weight: number | undefined = answer.candidates[0]?.attention?.[0];
// @ts-expect-error: ctr is a number
const ctr: string = answer.candidates[0].ctr;
const config: ModelConfig = { ...DEFAULT_MODEL_CONFIG, model: 'base' };
const onnx: Uint8Array = exportOnnx(trained.model).bytes;
export { wrong, saved, gain, weight, ctr, config, onnx };
`;

test('npm pack → install in a fresh project → the example runs in JS ESM and a TS consumer type-checks', (t) => {
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT })) as PackInfo[];
  const info = packed[0];
  const tarball = join(work, info.filename);
  assert.ok(existsSync(tarball), tarball);
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(2)} MiB`;
  t.diagnostic(`${info.filename}: ${mib(info.size)} packed, ${mib(info.unpackedSize)} unpacked, ${info.files.length} files`);

  const paths = new Set(info.files.map((f) => f.path));
  for (const p of ['package.json', 'README.md', 'bin/din.js', 'build/kernels-simd.wasm', 'build/kernels-relaxed.wasm', 'dist/src/index.js',
    'dist/src/index.d.ts', 'dist/src/kernels/wasm-backend.js', 'dist/src/train/train-worker.js', 'dist/src/serve/engine/worker.js']) {
    assert.ok(paths.has(p), `the tarball holds ${p}`);
  }
  const stray = [...paths].filter((p) => /^(test|bench|dist\/test|dist\/bench|runs|\.din-cache|data|docs|examples|node_modules|\.ci|scripts)\//.test(p));
  assert.deepEqual(stray, [], 'nothing from tests, benches, runs, caches, docs or CI');
  const stale = [...paths].filter((p) => p.startsWith('dist/src/') && p.endsWith('.js') && !paths.has(`src/${p.slice('dist/src/'.length, -3)}.ts`));
  assert.deepEqual(stale, [], 'every built module has its source (no stale build output)');

  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'din-consumer', version: '1.0.0', private: true, type: 'module' }, null, 2));
  run('npm', ['install', tarball, `typescript@${version('typescript')}`, `@types/node@${version('@types/node')}`,
    '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app });
  assert.ok(existsSync(join(app, 'node_modules', 'din', 'build', 'kernels-simd.wasm')));

  // (a) the README example, unchanged, in plain JavaScript ESM
  copyFileSync(join(ROOT, 'examples', 'library.mjs'), join(app, 'library.mjs'));
  const out = run(process.execPath, ['library.mjs'], { cwd: app });
  t.diagnostic(out.trim().split('\n').join(' | '));
  assert.match(out, /^GAUC: base 0\.\d{4}, DIN 0\.\d{4}, RelaImpr -?\d+\.\d\d%\n#1 item \S+: ctr 0\.\d{3}, eCPM \d+\.\d{3}, attention \[/);
  assert.ok(existsSync(join(app, 'runs', 'library-din', 'weights.safetensors')));
  const bin = run(join(app, 'node_modules', '.bin', 'din'), ['--version'], { cwd: app });
  assert.equal(bin.trim(), (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version, 'the din command works');

  // (b) a TypeScript consumer against the shipped .d.ts, with every library's types checked
  writeFileSync(join(app, 'consumer.ts'), TS_CONSUMER);
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'],
    },
    files: ['consumer.ts'],
  }, null, 2));
  run(process.execPath, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: app });
  // The check has teeth: a wrong call fails it.
  writeFileSync(join(app, 'consumer.ts'), `${TS_CONSUMER}\nawait train(data, { epochs: 'three' });\n`);
  assert.throws(() => run(process.execPath, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: app }),
    /consumer\.ts\(\d+,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
});
