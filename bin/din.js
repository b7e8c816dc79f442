#!/usr/bin/env node
// The `din` command. The TypeScript sources compile to dist/ (`npm run build`, run by `npm ci` via prepare).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('din: the package is not built yet — run `npm run build` (npm ci does it for you).');
  process.exit(1);
}
const { main: run } = await import(main.href);
await run(process.argv);
