#!/usr/bin/env node
// Compiles the AssemblyScript kernels (src/kernels/assembly) into two WebAssembly modules:
//   build/kernels-simd.wasm     SIMD128 (runs on every current engine; the common path on Node 20)
//   build/kernels-relaxed.wasm  SIMD128 + relaxed SIMD (fused multiply-add), picked at load time where supported
// Both come from the same sources: the kernels branch on the compile-time constant ASC_FEATURE_RELAXED_SIMD.
// Memory is imported (env.memory) so the JS side owns one fixed-size arena; the stub runtime never runs a GC.
//
// Usage: node scripts/build-wasm.mjs [--force] [--wat]
//   Skips the build when both outputs are newer than every source (and this script); --force rebuilds anyway,
//   --wat also writes the text format next to each module for inspection.
import { mkdirSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'src', 'kernels', 'assembly');
const entry = join(srcDir, 'index.ts');
const outDir = join(root, 'build');
const args = new Set(process.argv.slice(2));

const targets = [
  { out: join(outDir, 'kernels-simd.wasm'), features: ['simd'] },
  { out: join(outDir, 'kernels-relaxed.wasm'), features: ['simd', 'relaxed-simd'] },
];

function fail(msg) {
  console.error(`build-wasm: ${msg}`);
  process.exit(1);
}

function sources() {
  return readdirSync(srcDir).filter((f) => f.endsWith('.ts')).map((f) => join(srcDir, f));
}

if (!existsSync(entry)) fail(`missing kernel entry point ${relative(root, entry)}`);

const inputs = [...sources(), fileURLToPath(import.meta.url)];
const newestInput = Math.max(...inputs.map((f) => statSync(f).mtimeMs));
const upToDate = targets.every((t) => existsSync(t.out) && statSync(t.out).mtimeMs > newestInput);
if (upToDate && !args.has('--force') && !args.has('--wat')) {
  console.log('build-wasm: kernels up to date');
  process.exit(0);
}

let asc;
try {
  asc = (await import('assemblyscript/asc')).default;
} catch (e) {
  fail(`cannot load the AssemblyScript compiler (devDependency "assemblyscript"): ${e.message}\n` +
    '  run `npm ci` (or `npm install`) first');
}

mkdirSync(outDir, { recursive: true });
for (const t of targets) {
  const argv = [
    relative(process.cwd(), entry),
    '--outFile', t.out,
    '-O3', '--noAssert',
    '--runtime', 'stub',
    '--importMemory', '--noExportMemory',
    '--enable', t.features.join(','),
  ];
  if (args.has('--wat')) argv.push('--textFile', t.out.replace(/\.wasm$/, '.wat'));
  let stderr = '';
  const result = await asc.main(argv, {
    stderr: { write: (s) => { stderr += s; return true; } },
    stdout: { write: (s) => { process.stdout.write(s); return true; } },
  });
  if (result.error) {
    const why = stderr || result.error.message;
    fail(`asc failed for ${relative(root, t.out)} (--enable ${t.features.join(',')}):\n${why}`);
  }
  if (stderr) process.stderr.write(stderr); // warnings
  if (!existsSync(t.out)) fail(`asc reported success but ${relative(root, t.out)} was not written`);
  const bytes = statSync(t.out).size;
  console.log(`build-wasm: ${relative(root, t.out)} (${bytes} bytes, --enable ${t.features.join(',')})`);
}
