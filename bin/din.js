#!/usr/bin/env node
// The `din` command. The TypeScript sources compile to dist/ (`npm run build`, run by `npm ci` via prepare).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/src/', import.meta.url);
if (!existsSync(fileURLToPath(new URL('cli/main.js', dist)))) {
  console.error('din: the package is not built yet — run `npm run build` (npm ci does it for you).');
  process.exit(1);
}
const { enableRelaxedSimd } = await import(new URL('kernels/relaxed-flag.js', dist).href);
enableRelaxedSimd();
const { main } = await import(new URL('cli/main.js', dist).href);
await main(process.argv);
