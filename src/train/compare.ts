import type { RunMetrics } from './run.js';
import { relaImpr } from '../metrics/index.js';
import { REG_NAMES, type RegName } from '../optim/index.js';
import { monitored } from './trainer.js';

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

/**
 * A regularizer row of a comparison: `mba`, `mba:0.3` (λ), `dropout:0.5` (rate), `filter:1000` (top-K goods;
 * `filter:0` = no goods ids). Without a value, the value is searched over a grid on the validation split (see
 * {@link selectByValidation}) or takes the regularizer's default.
 */
export interface RegSpec {
  /** As typed (`mba`, `filter:0`). */
  label: string;
  reg: RegName;
  /** The flag its value goes to, if the reg has one. */
  param: 'lambda' | 'dropoutRate' | 'filterTop' | null;
  value?: number;
}

export const REG_PARAM: Record<RegName, RegSpec['param']> = {
  none: null, l2: 'lambda', difacto: 'lambda', mba: 'lambda', dropout: 'dropoutRate', filter: 'filterTop',
};

export function parseRegSpec(text: string): RegSpec {
  const [name, value, extra] = text.split(':');
  if (!(REG_NAMES as readonly string[]).includes(name) || extra !== undefined) {
    throw new Error(`unknown regularizer "${text}" (expected one of ${REG_NAMES.join(', ')}, optionally with :value)`);
  }
  const reg = name as RegName;
  const param = REG_PARAM[reg];
  if (value === undefined) return { label: text, reg, param };
  if (param === null) throw new Error(`regularizer "${reg}" takes no value (got "${text}")`);
  const v = Number(value);
  const ok = param === 'filterTop' ? Number.isInteger(v) && v >= 0 : param === 'dropoutRate' ? v >= 0 && v < 1 : Number.isFinite(v) && v >= 0;
  if (value === '' || !ok) throw new Error(`regularizer "${text}": bad ${param} "${value}"`);
  return { label: text, reg, param, value: v };
}

/** How a regularizer row is shown: `mba (λ=0.3)`, `filter (K=0: no goods ids)`. */
export function regDisplay(reg: string, param: Record<string, number> | undefined): string {
  if (!param) return reg;
  const [[k, v]] = Object.entries(param);
  const sym = k === 'lambda' ? 'λ' : k === 'filterTop' ? 'K' : k === 'dropoutRate' ? 'rate' : k;
  return `${reg} (${sym}=${v}${k === 'filterTop' && v === 0 ? ': no goods ids' : ''})`;
}

/**
 * The validation score of a run: the best monitored validation metric over its epochs (of the epoch-selection phase
 * when it was refit). NaN when the run had no validation split.
 */
export function validationScore(r: RunMetrics): number {
  const h = r.selection?.history ?? r.history;
  let best = NaN;
  for (const e of h) if (e.valid) best = Number.isNaN(best) ? monitored(e.valid) : Math.max(best, monitored(e.valid));
  return best;
}

export interface GridPoint {
  model: string;
  reg: string;
  param: string;
  value: number;
  /** Mean over seeds of each run's best validation GAUC (AUC when no validation user has both labels): the selection criterion. */
  validGauc: number;
  /** Mean test GAUC (reported for transparency; never used to select). */
  testGauc: number;
  chosen: boolean;
}

/** Picks the grid value with the highest mean validation score (ties: the first, i.e. the smallest value given first). */
export function selectByValidation(points: Array<{ value: number; runs: RunMetrics[] }>): number {
  let best = -1;
  let bestScore = -Infinity;
  points.forEach((p, i) => {
    const score = stat(p.runs.map(validationScore)).mean;
    if (!Number.isFinite(score)) throw new Error('a grid search needs validation metrics: train with --patience (validation split carved from training data)');
    if (score > bestScore) {
      bestScore = score;
      best = i;
    }
  });
  return best;
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
  /** The regularizer's value used by this row (chosen on validation when searched), e.g. { lambda: 0.3 }. */
  regParam?: Record<string, number>;
  seeds: number[];
  /** Test GAUC of the kept model (the epoch chosen on validation, or the last one). */
  gauc: Stat;
  auc: Stat;
  logloss: Stat;
  /** RelaImpr of the mean GAUC over the `base` row's mean GAUC, in % (null without a base row). */
  relaimpr: number | null;
  /** RelaImpr of the mean AUC over base's, in %. */
  relaimprAuc: number | null;
  bestEpoch: number[];
  /**
   * The paper's Table 4 statistic: the highest test GAUC over the epochs of each run, and the epoch it occurred at.
   * It peeks at the test split, so it is reported next to the honest `gauc`, never instead of it.
   */
  peakTestGauc: Stat;
  peakEpoch: number[];
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
  /** Grid searches of regularizer values on the validation split (empty without any). */
  search?: GridPoint[];
}

const nullIfNaN = (x: number | undefined): number | null => (x === undefined || !Number.isFinite(x) ? null : x);

export function compareRow(name: string, reg: string, seeds: number[], runs: RunMetrics[], regParam?: Record<string, number>): CompareRow {
  const peaks = runs.map((r) => {
    let best = { gauc: NaN, epoch: 0 };
    r.history.forEach((h, i) => {
      const g = h.test?.gauc;
      if (g !== undefined && Number.isFinite(g) && !(g <= best.gauc)) best = { gauc: g, epoch: i + 1 };
    });
    return best;
  });
  return {
    model: name,
    reg,
    ...(regParam ? { regParam } : {}),
    seeds,
    gauc: stat(runs.map((r) => r.test.gauc)),
    auc: stat(runs.map((r) => r.test.auc)),
    logloss: stat(runs.map((r) => r.test.logloss)),
    relaimpr: null,
    relaimprAuc: null,
    bestEpoch: runs.map((r) => r.bestEpoch ?? r.history.length),
    peakTestGauc: stat(peaks.map((p) => p.gauc)),
    peakEpoch: peaks.map((p) => p.epoch),
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

/** Fills relaimpr of every row against the `base` row without regularization (else the first `base` row). */
export function addRelaImpr(rows: CompareRow[]): void {
  const base = rows.find((r) => r.model === 'base' && r.reg === 'none') ?? rows.find((r) => r.model === 'base');
  if (!base) return;
  for (const row of rows) {
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
      `| ${r.model} | ${regDisplay(r.reg, r.regParam)} | ${f4(r.gauc.mean)} ± ${f4(r.gauc.std)} | ${f4(r.auc.mean)} ± ${f4(r.auc.std)} | ` +
        `${f4(r.logloss.mean)} | ${pct(r.relaimpr)} | ${pct(r.relaimprAuc)} | ${r.bestEpoch.join(',')} | ` +
        `${r.trainSeconds.toFixed(1)} | ${Math.round(r.samplesPerSecond)} |`,
    );
  }
  if (res.rows.some((r) => r.reg !== 'none')) {
    lines.push(
      '',
      '## Regularizers (the paper\'s Table 4 and Fig. 4)',
      '',
      'Test GAUC per epoch (mean over seeds). "kept" = the epoch chosen on the validation split (honest); "peak" = the ' +
        'best test GAUC over epochs, as the paper\'s Table 4 reports it (it looks at the test split).',
      '',
    );
    const E = Math.max(...res.rows.map((r) => Math.max(...r.history.map((h) => h.length))));
    lines.push(`| model | reg | ${Array.from({ length: E }, (_, i) => `ep ${i + 1}`).join(' | ')} | kept | peak (epoch) |`);
    lines.push(`|---|---|${'---|'.repeat(E)}---|---|`);
    for (const r of res.rows) {
      const cells = Array.from({ length: E }, (_, i) => {
        const v = r.history.map((h) => h[i]?.testGauc).filter((x): x is number => typeof x === 'number');
        return v.length === r.history.length ? f4(stat(v).mean) : '-';
      });
      lines.push(`| ${r.model} | ${regDisplay(r.reg, r.regParam)} | ${cells.join(' | ')} | ${f4(r.gauc.mean)} | ` +
        `${f4(r.peakTestGauc.mean)} (${r.peakEpoch.join(',')}) |`);
    }
  }
  if (res.search?.length) {
    lines.push('', '## Grid search on the validation split', '', 'Chosen by mean validation GAUC (best epoch of each run); test GAUC shown for transparency only.', '',
      '| model | reg | value | validation GAUC | test GAUC | chosen |', '|---|---|---|---|---|---|');
    for (const g of res.search) {
      lines.push(`| ${g.model} | ${g.reg} | ${g.param}=${g.value} | ${f4(g.validGauc)} | ${f4(g.testGauc)} | ${g.chosen ? '✓' : ''} |`);
    }
  }
  lines.push('', `Options: \`${JSON.stringify(res.options)}\``, '');
  return lines.join('\n');
}
