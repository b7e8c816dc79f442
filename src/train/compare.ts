import type { RunMetrics } from './run.js';
import { relaImpr } from '../metrics/index.js';

/** A model row of a comparison: a name users type (`din-dice`) and what it means for the config. */
export interface ModelSpec {
  name: string;
  model: string;
  activation?: 'prelu' | 'dice';
  /** '-prod' rows: [u, q, u ⊙ q] as the MLP input (what the original DIN code does). */
  mlpInput?: 'concat-product';
}

/** `-dice`: Dice in the MLP; `-prod`: u ⊙ q added to the MLP input, as the original DIN code has it. */
export const COMPARE_MODELS = [
  'lr', 'base', 'base-dice', 'base-prod', 'wide-deep', 'pnn', 'deepfm', 'din', 'din-dice', 'din-prod',
] as const;

export function parseModelSpec(name: string): ModelSpec {
  if (!(COMPARE_MODELS as readonly string[]).includes(name)) {
    throw new Error(`unknown model "${name}" (expected one of ${COMPARE_MODELS.join(', ')})`);
  }
  if (name.endsWith('-dice')) return { name, model: name.slice(0, -'-dice'.length), activation: 'dice' };
  if (name.endsWith('-prod')) return { name, model: name.slice(0, -'-prod'.length), mlpInput: 'concat-product' };
  return { name, model: name };
}

export interface Stat {
  mean: number;
  std: number;
  values: number[];
}

export function stat(values: number[]): Stat {
  const n = values.length;
  const mean = n ? values.reduce((a, b) => a + b, 0) / n : NaN;
  // Sample standard deviation (n − 1), 0 for a single run.
  const std = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, values };
}

export interface EpochPoint {
  epoch: number;
  trainLoss: number;
  validGauc: number | null;
  testGauc: number | null;
  validAuc: number | null;
  testAuc: number | null;
}

/** One row of compare.json (names are read by other tools: keep them; add fields freely). */
export interface CompareRow {
  model: string;
  reg: string;
  seeds: number[];
  gauc: Stat;
  auc: Stat;
  logloss: Stat;
  /** RelaImpr of the mean GAUC over the `base` row's mean GAUC, in % (null without a base row). */
  relaimpr: number | null;
  /** RelaImpr of the mean AUC over base's, in %. */
  relaimprAuc: number | null;
  bestEpoch: number[];
  trainSeconds: number;
  samplesPerSecond: number;
  /** Per seed, per epoch. */
  history: EpochPoint[][];
}

export interface CompareResult {
  data: string;
  createdAt: string;
  options: Record<string, unknown>;
  rows: CompareRow[];
}

const nullIfNaN = (x: number | undefined): number | null => (x === undefined || !Number.isFinite(x) ? null : x);

export function compareRow(name: string, reg: string, seeds: number[], runs: RunMetrics[]): CompareRow {
  return {
    model: name,
    reg,
    seeds,
    gauc: stat(runs.map((r) => r.test.gauc)),
    auc: stat(runs.map((r) => r.test.auc)),
    logloss: stat(runs.map((r) => r.test.logloss)),
    relaimpr: null,
    relaimprAuc: null,
    bestEpoch: runs.map((r) => r.bestEpoch ?? r.history.length),
    trainSeconds: stat(runs.map((r) => r.train.seconds)).mean,
    samplesPerSecond: stat(runs.map((r) => r.train.samplesPerSecond)).mean,
    // With refit, validation metrics come from the epoch-selection phase (same seed, trained without the held-out
    // samples) and train loss / test metrics from the final run, epoch by epoch.
    history: runs.map((r) => {
      const sel = r.selection?.history ?? r.history;
      const n = Math.max(sel.length, r.history.length);
      return Array.from({ length: n }, (_, i) => {
        const h = r.history[i];
        const v = sel[i];
        return {
          epoch: i + 1,
          trainLoss: (h ?? v).trainLoss,
          validGauc: nullIfNaN(v?.valid?.gauc),
          testGauc: nullIfNaN(h?.test?.gauc),
          validAuc: nullIfNaN(v?.valid?.auc),
          testAuc: nullIfNaN(h?.test?.auc),
        };
      });
    }),
  };
}

/** Fills relaimpr of every row against the `base` row (same reg) when there is one. */
export function addRelaImpr(rows: CompareRow[]): void {
  for (const row of rows) {
    const base = rows.find((r) => r.model === 'base' && r.reg === row.reg) ?? rows.find((r) => r.model === 'base');
    if (!base) continue;
    row.relaimpr = relaImpr(row.gauc.mean, base.gauc.mean);
    row.relaimprAuc = relaImpr(row.auc.mean, base.auc.mean);
  }
}

const f4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : '-');
const pct = (x: number | null) => (x === null ? '-' : `${x >= 0 ? '+' : ''}${x.toFixed(2)}%`);

/** A Markdown table like the paper's Table 3. */
export function compareMarkdown(res: CompareResult): string {
  const lines = [
    `# Model comparison on ${res.data}`,
    '',
    `Test split, mean ± sample std over seeds ${res.rows[0]?.seeds.join(', ') ?? '-'}; RelaImpr = ((GAUC − 0.5)/(GAUC_base − 0.5) − 1) × 100%.`,
    '',
    '| model | reg | GAUC | AUC | log loss | RelaImpr (GAUC) | RelaImpr (AUC) | epochs kept | train s | samples/s |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of res.rows) {
    lines.push(
      `| ${r.model} | ${r.reg} | ${f4(r.gauc.mean)} ± ${f4(r.gauc.std)} | ${f4(r.auc.mean)} ± ${f4(r.auc.std)} | ` +
        `${f4(r.logloss.mean)} | ${pct(r.relaimpr)} | ${pct(r.relaimprAuc)} | ${r.bestEpoch.join(',')} | ` +
        `${r.trainSeconds.toFixed(1)} | ${Math.round(r.samplesPerSecond)} |`,
    );
  }
  lines.push('', `Options: \`${JSON.stringify(res.options)}\``, '');
  return lines.join('\n');
}
