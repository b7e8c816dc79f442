/**
 * Daily incremental training (issue 17), measured: the training data cut by time into D "days" (each user's samples
 * in D consecutive parts by history length, `--train-slice`), then for every day d:
 *   scratch — a model trained from scratch on days 1..d (what a team without warm starts retrains every day);
 *   warm    — yesterday's warm model, trained on day d only (`--init-from`, optimizer reset; day 1 = scratch day 1);
 *   warm+opt — the same keeping Adam's state (`--init-optimizer keep`).
 * Every model is evaluated on the same test split (the protocol's last behaviour of every user). Each row runs the
 * real `din train` in a child process; the table is printed and written to bench/results/incremental.json.
 *
 *   node dist/bench/incremental.js [--data ../shared/data/amazon-beauty] [--days 4] [--model din] [--epochs 3]
 *                                  [--seeds 1,2,3] [--threads 2] [--out runs/incremental]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeJsonAtomic } from '../src/util/fs.js';

const HERE = fileURLToPath(import.meta.url);
const BIN = join(HERE, '..', '..', '..', 'bin', 'din.js');
const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
};

interface Row {
  day: number;
  seed: number;
  mode: 'scratch' | 'warm' | 'warm+opt';
  gauc: number;
  auc: number;
  samples: number;
  seconds: number;
}

function train(args: string[], out: string): { gauc: number; auc: number; samples: number; seconds: number } {
  const r = spawnSync(process.execPath, [BIN, 'train', ...args, '--out', out, '--quiet'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`din train ${args.join(' ')} failed:\n${r.stderr.slice(-3000)}`);
  const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
  return { gauc: m.test.gauc, auc: m.test.auc, samples: m.train.samples, seconds: m.train.seconds };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function main(): void {
  const data = resolve(arg('data', join(HERE, '..', '..', '..', '..', 'shared', 'data', 'amazon-beauty')));
  const D = Number(arg('days', '4'));
  const model = arg('model', 'din');
  const epochs = arg('epochs', '3');
  const seeds = arg('seeds', '1').split(',').map(Number);
  const threads = arg('threads', '2');
  const out = resolve(arg('out', 'runs/incremental'));
  mkdirSync(out, { recursive: true });
  const rows: Row[] = [];
  for (const seed of seeds) {
    const common = ['--data', data, '--model', model, '--epochs', epochs, '--seed', String(seed), '--threads', threads];
    for (let d = 1; d <= D; d++) {
      const scratch = train([...common, '--train-slice', `1-${d}/${D}`], join(out, `s${seed}-scratch-${d}`));
      rows.push({ day: d, seed, mode: 'scratch', ...scratch });
      process.stderr.write(`seed ${seed} day ${d}: scratch GAUC ${scratch.gauc.toFixed(4)} (${scratch.seconds.toFixed(0)} s)`);
      for (const mode of ['warm', 'warm+opt'] as const) {
        if (d === 1) {
          rows.push({ day: 1, seed, mode, ...scratch });
          continue;
        }
        const prev = join(out, `s${seed}-${mode === 'warm' ? 'warm' : 'warmopt'}-${d - 1}`);
        const from = d === 2 ? join(out, `s${seed}-scratch-1`) : prev;
        const r = train([...common, '--train-slice', `${d}/${D}`, '--init-from', from, '--init-optimizer', mode === 'warm' ? 'reset' : 'keep'],
          join(out, `s${seed}-${mode === 'warm' ? 'warm' : 'warmopt'}-${d}`));
        rows.push({ day: d, seed, mode, ...r });
        process.stderr.write(`, ${mode} ${r.gauc.toFixed(4)} (${r.seconds.toFixed(0)} s)`);
      }
      process.stderr.write('\n');
    }
  }
  writeJsonAtomic(join(HERE, '..', '..', '..', 'bench', 'results', 'incremental.json'), { createdAt: new Date().toISOString(), data, D, model, epochs, seeds, rows });
  console.log(`| day | training samples (scratch / the day) | scratch: GAUC, train s | warm start: GAUC, train s | warm start + Adam state: GAUC, train s |`);
  console.log('|---|---|---|---|---|');
  for (let d = 1; d <= D; d++) {
    const cell = (mode: Row['mode']) => {
      const rs = rows.filter((r) => r.day === d && r.mode === mode);
      return `${mean(rs.map((r) => r.gauc)).toFixed(4)}, ${mean(rs.map((r) => r.seconds)).toFixed(0)}`;
    };
    const s = rows.find((r) => r.day === d && r.mode === 'scratch')!;
    const w = rows.find((r) => r.day === d && r.mode === 'warm')!;
    console.log(`| ${d} | ${s.samples.toLocaleString('en-US')} / ${w.samples.toLocaleString('en-US')} | ${cell('scratch')} | ${cell('warm')} | ${cell('warm+opt')} |`);
  }
}

main();
