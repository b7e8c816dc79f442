import { auc, type Numbers } from './auc.js';
import { gauc } from './gauc.js';
import { logloss } from './logloss.js';

export { auc, aucFromSorted, type Numbers } from './auc.js';
export { gauc, type GaucOptions, type GaucResult } from './gauc.js';
export { logloss, loglossFromProbs } from './logloss.js';
export { relaImpr } from './relaimpr.js';

/** Metrics of one pass of a model over a sample set (see `evaluate`). */
export interface EvalResult {
  /** AUC over all samples; NaN when one class is missing. */
  auc: number;
  /** Impression-weighted GAUC over the users with both classes; NaN when there are none. */
  gauc: number;
  /** Mean binary cross-entropy of the logits (natural log). */
  logloss: number;
  /** Samples evaluated. */
  samples: number;
  /** Users averaged in GAUC (both classes present). */
  gaucUsers: number;
  /** Users skipped by GAUC (one class only). */
  gaucSkippedUsers: number;
}

/** AUC (logits rank like probabilities), impression-weighted GAUC and logloss of one pass over a sample set. */
export function evaluate(logits: Numbers, labels: Numbers, users: Numbers): EvalResult {
  const g = gauc(logits, labels, users);
  return {
    auc: auc(logits, labels),
    gauc: g.gauc,
    logloss: logloss(logits, labels),
    samples: logits.length,
    gaucUsers: g.users,
    gaucSkippedUsers: g.skippedUsers,
  };
}
