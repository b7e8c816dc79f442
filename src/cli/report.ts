import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { renderReport } from '../report/report.js';
import { writeFileAtomic } from '../util/fs.js';
import { backendFrom, log } from './common.js';
import { intArg } from './options.js';

export function reportCommand(): Command {
  const cmd = new Command('report').description(
    'write one self-contained HTML report of a run: training curves, the comparison table, DIN attention on a test user\'s behaviours and a 2-D map of goods embeddings (the paper\'s Fig 4–6, Table 3)',
  );
  cmd
    .option('--run <dir>', 'a run directory written by `din train --out` (metrics.json; model.json for the attention and embedding views)')
    .option('--compare <dir>', 'a `din compare --out` directory: its runs overlaid in the curves and its table')
    .requiredOption('--out <file>', 'the HTML file to write')
    .option('--user <key>', 'raw key of the test user to show (default: one sampled with --seed)')
    .option('--seed <n>', 'seed of the sampled user and of the projection', intArg('--seed', 0), 1)
    .option('--max-points <n>', 'at most this many goods in the embedding map', intArg('--max-points'), 600)
    .option('--categories <n>', 'categories in the embedding map', intArg('--categories'), 5)
    .addOption(new Option('--backend <kind>', 'numeric backend').choices(['auto', 'wasm', 'js', 'js-f32']).default('auto'));
  cmd.action(async (o) => {
    if (!o.run && !o.compare) throw new Error('give --run <dir> and/or --compare <dir>');
    const html = await renderReport({
      run: o.run, compare: o.compare, user: o.user, seed: o.seed, maxPoints: o.maxPoints, categories: o.categories,
      backend: backendFrom(o), log,
    });
    const out = resolve(o.out);
    writeFileAtomic(out, html);
    log(`report written to ${out}`);
  });
  return cmd;
}
