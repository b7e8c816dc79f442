/**
 * Exact ROC AUC = P(score of a random positive > score of a random negative), ties counting 1/2 — the
 * Mann–Whitney statistic with average ranks. O(n log n): positives and negatives are sorted separately (native
 * typed-array sort) and merged. Labels ≥ 0.5 are positives. Returns NaN when a class is missing or a score is NaN.
 */
/** Any array-like of numbers (a plain array or a typed array): what the metrics take as scores, labels and users. */
export type Numbers = ArrayLike<number>;

/** AUC from ascending-sorted positive and negative scores (the merge step shared with GAUC). */
export function aucFromSorted(pos: Float64Array, neg: Float64Array): number {
  const P = pos.length;
  const N = neg.length;
  if (P === 0 || N === 0) return NaN;
  let below = 0; // negatives < current positive score
  let upTo = 0; // negatives ≤ current positive score
  let sum = 0;
  for (let i = 0; i < P; i++) {
    const s = pos[i];
    while (below < N && neg[below] < s) below++;
    if (upTo < below) upTo = below;
    while (upTo < N && neg[upTo] <= s) upTo++;
    sum += below + 0.5 * (upTo - below);
  }
  return sum / P / N;
}

/**
 * Exact ROC AUC: P(score of a random positive > score of a random negative), ties counting 1/2 (the Mann–Whitney
 * statistic), in O(n log n). Scores can be logits or probabilities (only their order matters); labels ≥ 0.5 are
 * positives. With `weights`, each (positive, negative) pair counts w_pos·w_neg. Returns NaN when a class is missing or
 * a score is NaN; throws when the lengths differ.
 */
export function auc(scores: Numbers, labels: Numbers, weights?: Numbers): number {
  const n = scores.length;
  if (labels.length !== n) throw new Error(`auc: ${n} scores but ${labels.length} labels`);
  if (weights !== undefined) return weightedAuc(scores, labels, weights);
  let P = 0;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(scores[i])) return NaN;
    if (labels[i] >= 0.5) P++;
  }
  const pos = new Float64Array(P);
  const neg = new Float64Array(n - P);
  let p = 0;
  let q = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i] >= 0.5) pos[p++] = scores[i];
    else neg[q++] = scores[i];
  }
  pos.sort();
  neg.sort();
  return aucFromSorted(pos, neg);
}

/** Sample-weighted AUC: each (pos, neg) pair counts w_pos·w_neg; ties count half. */
function weightedAuc(scores: Numbers, labels: Numbers, weights: Numbers): number {
  const n = scores.length;
  if (weights.length !== n) throw new Error(`auc: ${n} scores but ${weights.length} weights`);
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(scores[i])) return NaN;
    idx[i] = i;
  }
  idx.sort((a, b) => scores[a] - scores[b]);
  let negBelow = 0;
  let wPos = 0;
  let sum = 0;
  for (let g = 0; g < n; ) {
    const s = scores[idx[g]];
    let gp = 0;
    let gn = 0;
    let h = g;
    for (; h < n && scores[idx[h]] === s; h++) {
      const w = weights[idx[h]];
      if (labels[idx[h]] >= 0.5) gp += w;
      else gn += w;
    }
    sum += gp * (negBelow + 0.5 * gn);
    negBelow += gn;
    wPos += gp;
    g = h;
  }
  if (wPos === 0 || negBelow === 0) return NaN;
  return sum / wPos / negBelow;
}
