/**
 * Group AUC (DIN paper eq. 6): GAUC = Σ_u w_u·AUC_u / Σ_u w_u over users whose samples contain both classes (AUC_u
 * is undefined otherwise; those users are skipped and counted). w_u = the user's number of samples (impressions,
 * default) or of positives (clicks).
 */
import { aucFromSorted, type Numbers } from './auc.js';

/** What {@link gauc} returns: the score and which users it covers. */
export interface GaucResult {
  /** The weighted mean of the per-user AUCs; NaN when no user has both classes or a score is NaN. */
  gauc: number;
  /** Users with both classes (the ones averaged). */
  users: number;
  /** Users skipped because all their samples have one label. */
  skippedUsers: number;
  /** Σ w_u over the users used. */
  weight: number;
}

/** Options of {@link gauc}. */
export interface GaucOptions {
  /** w_u of a user: its number of samples (`impressions`, the default and the paper's) or of positives (`clicks`). */
  weightBy?: 'impressions' | 'clicks';
}

/**
 * Group AUC (DIN paper eq. 6): the AUC of each user's samples, averaged with weight w_u over the users who have both
 * classes; the others are skipped and counted. `users` holds any numeric user key per sample (typically SampleSet
 * user indices). Labels ≥ 0.5 are positives. Throws when the three lengths differ.
 */
export function gauc(scores: Numbers, labels: Numbers, users: Numbers, opts: GaucOptions = {}): GaucResult {
  const n = scores.length;
  if (labels.length !== n || users.length !== n) {
    throw new Error(`gauc: lengths differ (scores ${n}, labels ${labels.length}, users ${users.length})`);
  }
  const byClicks = opts.weightBy === 'clicks';
  // Dense group ids: users are SampleSet indices (dense); anything else is remapped.
  let maxU = -1;
  let dense = true;
  for (let i = 0; i < n; i++) {
    const u = users[i];
    if (!(Number.isInteger(u) && u >= 0)) dense = false;
    else if (u > maxU) maxU = u;
  }
  if (maxU > 4 * n + 1024) dense = false;
  let group: Numbers = users;
  let G = maxU + 1;
  if (!dense) {
    const map = new Map<number, number>();
    const g = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let v = map.get(users[i]);
      if (v === undefined) map.set(users[i], (v = map.size));
      g[i] = v;
    }
    group = g;
    G = map.size;
  }
  const posCount = new Int32Array(G);
  const negCount = new Int32Array(G);
  for (let i = 0; i < n; i++) {
    if (labels[i] >= 0.5) posCount[group[i]]++;
    else negCount[group[i]]++;
  }
  const posOff = new Int32Array(G + 1);
  const negOff = new Int32Array(G + 1);
  for (let u = 0; u < G; u++) {
    posOff[u + 1] = posOff[u] + posCount[u];
    negOff[u + 1] = negOff[u] + negCount[u];
  }
  const pos = new Float64Array(posOff[G]);
  const neg = new Float64Array(negOff[G]);
  const pf = posOff.slice(0, G);
  const nf = negOff.slice(0, G);
  for (let i = 0; i < n; i++) {
    const s = scores[i];
    if (Number.isNaN(s)) return { gauc: NaN, users: 0, skippedUsers: 0, weight: 0 };
    if (labels[i] >= 0.5) pos[pf[group[i]]++] = s;
    else neg[nf[group[i]]++] = s;
  }
  let num = 0;
  let den = 0;
  let used = 0;
  let skippedUsers = 0;
  for (let u = 0; u < G; u++) {
    const p = posCount[u];
    const q = negCount[u];
    if (p + q === 0) continue;
    if (p === 0 || q === 0) {
      skippedUsers++;
      continue;
    }
    const ps = pos.subarray(posOff[u], posOff[u + 1]).sort();
    const ns = neg.subarray(negOff[u], negOff[u + 1]).sort();
    const w = byClicks ? p : p + q;
    num += w * aucFromSorted(ps, ns);
    den += w;
    used++;
  }
  return { gauc: den > 0 ? num / den : NaN, users: used, skippedUsers, weight: den };
}
