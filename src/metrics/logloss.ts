import type { Numbers } from './auc.js';

/**
 * Mean binary cross-entropy from logits z, computed stably as softplus(z) − y·z
 * = max(z, 0) − y·z + log1p(exp(−|z|)) — no probability ever rounds to 0 or 1.
 */
export function logloss(logits: Numbers, labels: Numbers): number {
  const n = logits.length;
  if (labels.length !== n) throw new Error(`logloss: ${n} logits but ${labels.length} labels`);
  if (n === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const z = logits[i];
    sum += Math.max(z, 0) - labels[i] * z + Math.log1p(Math.exp(-Math.abs(z)));
  }
  return sum / n;
}

/** Mean binary cross-entropy from probabilities, clamped to [eps, 1 − eps] (default eps 1e-7). */
export function loglossFromProbs(probs: Numbers, labels: Numbers, eps = 1e-7): number {
  const n = probs.length;
  if (labels.length !== n) throw new Error(`logloss: ${n} probabilities but ${labels.length} labels`);
  if (n === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const p = Math.min(1 - eps, Math.max(eps, probs[i]));
    const y = labels[i];
    sum -= y * Math.log(p) + (1 - y) * Math.log(1 - p);
  }
  return sum / n;
}
