/**
 * Synthetic CTR data with planted *local activation*: whether a user clicks a candidate depends only on the part of
 * the user's history that is related to the candidate — exactly the structure DIN's attention (candidate as query)
 * can pick out and sum-pooling (BaseModel) blurs.
 *
 * Generative process (all draws from one seeded Rng; same options ⇒ identical dataset):
 *  1. Items 0..I−1 are dealt (after a seeded shuffle) round-robin into C clusters; clusters are grouped into S
 *     super-clusters (cluster c belongs to super-cluster c mod S). An item's attributes are [its cluster, its
 *     super-cluster] (attr keys "c<k>" and "s<k>"), so the category embedding sees both levels. Within a cluster, item
 *     popularity is Zipf(`zipf`) over a random rank; each item has a small effect e_i ~ N(0, itemEffect²).
 *  2. Each user has 2–3 interest clusters (`interestsMin..interestsMax`): the first uniform, each further one with
 *     probability ½ from the first one's super-cluster, otherwise uniform (all distinct), with Dirichlet(1) weights.
 *  3. The user's behaviour sequence has h0 + S items, h0 ~ U{historyMin..historyMax}, S = trainPerUser +
 *     testPerUser. Each behaviour: with probability `interestFraction` an interest cluster (by weight), otherwise a
 *     uniformly random cluster (noise); then an item of that cluster by popularity.
 *  4. Sample s = 0..S−1 of the user sees history b1..b(h0+s) (one new behaviour between consecutive samples). Its
 *     candidate comes with probability `candidateInterestProb` from a uniformly chosen interest cluster of the user,
 *     otherwise from a uniformly random cluster; then an item by popularity.
 *  5. frac = fraction of the sample's history items in the candidate's cluster;
 *     P(click) = sigmoid(a·frac + b + e_candidate); label ~ Bernoulli(P).
 * Split by time: each user's first `trainPerUser` samples are training, the last `testPerUser` are test (test
 * histories are the longest, like the Amazon protocol's leave-last-out).
 *
 * Why DIN should beat BaseModel: the logit is a *match* between the candidate's cluster and a histogram of the
 * history's clusters. Sum-pooling folds 2–3 interests plus noise into one fixed vector and leaves the MLP to learn the
 * bilinear match; attention scores each behaviour against the candidate and pools mostly the matching ones.
 * `stats.oracleTestAuc` is the AUC of the true P(click) on the test set — the ceiling any model can reach.
 */
import type { Dataset } from '../../core/types.js';
import { allocSampleSet } from '../sample-set.js';
import { Rng } from '../../util/rng.js';
import { sigmoid } from '../../util/math.js';
import { auc } from '../../metrics/auc.js';

/** Parameters of the generator (see the file header for the process they drive). */
export interface SyntheticOptions {
  /** Seed of the generator's one Rng: the same options give the identical dataset. */
  seed: number;
  /** Number of users (≥ 1). */
  users: number;
  /** Number of items (≥ `clusters`, so no cluster is empty). */
  items: number;
  /** Number of item clusters C, the fine category level (attribute keys `c<k>`); ≥ 1. */
  clusters: number;
  /** Number of super-clusters S, the coarse level (keys `s<k>`; cluster c belongs to c mod S); 1..clusters. */
  superClusters: number;
  /** Fewest interest clusters per user (≥ 1); each user's count is uniform in interestsMin..interestsMax. */
  interestsMin: number;
  /** Most interest clusters per user (interestsMin..clusters). */
  interestsMax: number;
  /** Initial history length range (before the user's first sample). */
  historyMin: number;
  /** Upper end (inclusive, ≥ historyMin) of the initial history length, drawn uniformly per user. */
  historyMax: number;
  /** Training samples per user (≥ 0): the user's first ones in time. */
  trainPerUser: number;
  /** Test samples per user (≥ 0): the user's last ones, with the longest histories. */
  testPerUser: number;
  /** Probability that a behaviour comes from the user's interests (rest is noise). */
  interestFraction: number;
  /** Probability that a candidate comes from the user's interests. */
  candidateInterestProb: number;
  /** Logit = a·frac + b + e_item. */
  a: number;
  /**
   * Logit bias: with a = 8 and b = −2, a candidate matching none of the history clicks with p ≈ sigmoid(−2) ≈ 0.12
   * (before its item effect).
   */
  b: number;
  /** Standard deviation of the per-item logit effect. */
  itemEffect: number;
  /** Zipf exponent of item popularity within a cluster (0 = uniform). */
  zipf: number;
}

/** A named option set: `default` (10,000 users) or `small` (500 users, for tests). */
export type SyntheticPreset = 'default' | 'small';

/** The option sets of the presets (`synthetic` / `synthetic:small` as a data path). */
export const SYNTHETIC_PRESETS: Record<SyntheticPreset, SyntheticOptions> = {
  // 10,000 users × (16 train + 3 test) = 160,000 train / 30,000 test samples.
  default: {
    seed: 1,
    users: 10000,
    items: 5000,
    clusters: 100,
    superClusters: 10,
    interestsMin: 2,
    interestsMax: 3,
    historyMin: 5,
    historyMax: 40,
    trainPerUser: 16,
    testPerUser: 3,
    interestFraction: 0.85,
    candidateInterestProb: 0.5,
    a: 8,
    b: -2,
    itemEffect: 0.3,
    zipf: 1,
  },
  // 500 users × (12 + 3) = 6,000 train / 1,500 test samples: for tests.
  small: {
    seed: 1,
    users: 500,
    items: 400,
    clusters: 20,
    superClusters: 4,
    interestsMin: 2,
    interestsMax: 3,
    historyMin: 3,
    historyMax: 20,
    trainPerUser: 12,
    testPerUser: 3,
    interestFraction: 0.85,
    candidateInterestProb: 0.5,
    a: 8,
    b: -2,
    itemEffect: 0.3,
    zipf: 1,
  },
};

/**
 * The options of `preset` with the keys of `over` that are not undefined applied on top. Throws for an unknown preset;
 * the values are checked by `generateSynthetic`.
 */
export function syntheticOptions(preset: SyntheticPreset = 'default', over: Partial<SyntheticOptions> = {}): SyntheticOptions {
  const base = SYNTHETIC_PRESETS[preset];
  if (base === undefined) throw new Error(`unknown synthetic preset "${preset}" (expected default or small)`);
  const o: SyntheticOptions = { ...base };
  for (const [k, v] of Object.entries(over)) if (v !== undefined) (o as unknown as Record<string, unknown>)[k] = v;
  return o;
}

function check(o: SyntheticOptions): void {
  const int = (k: keyof SyntheticOptions, min: number): void => {
    const v = o[k];
    if (!Number.isInteger(v) || v < min) throw new Error(`synthetic: ${k} must be an integer ≥ ${min}, got ${v}`);
  };
  int('users', 1);
  int('clusters', 1);
  int('superClusters', 1);
  int('items', o.clusters);
  int('interestsMin', 1);
  int('interestsMax', o.interestsMin);
  int('historyMin', 0);
  int('historyMax', o.historyMin);
  int('trainPerUser', 0);
  int('testPerUser', 0);
  if (o.interestsMax > o.clusters) throw new Error(`synthetic: interestsMax ${o.interestsMax} > clusters ${o.clusters}`);
  if (o.superClusters > o.clusters) throw new Error(`synthetic: superClusters > clusters`);
  for (const k of ['interestFraction', 'candidateInterestProb'] as const) {
    if (!(o[k] >= 0 && o[k] <= 1)) throw new Error(`synthetic: ${k} must be in [0, 1], got ${o[k]}`);
  }
}

/**
 * Generates the synthetic dataset described in the file header, deterministically from `opts`; `name` becomes
 * `Dataset.name`. `stats` holds users, items, the overall CTR and `oracleTrainAuc` / `oracleTestAuc` (the AUC of the
 * true click probabilities; NaN for an empty split). Throws when an option is out of range.
 */
export function generateSynthetic(opts: SyntheticOptions, name = 'synthetic'): Dataset {
  check(opts);
  const { users: U, items: I, clusters: C, superClusters: S } = opts;
  const rng = new Rng(opts.seed);

  // 1. items → clusters, popularity, effects.
  const perm = new Int32Array(I);
  for (let i = 0; i < I; i++) perm[i] = i;
  rng.shuffle(perm);
  const clusterOf = new Int32Array(I);
  const clusterOff = new Int32Array(C + 1);
  for (let k = 0; k < I; k++) clusterOff[(k % C) + 1]++;
  for (let c = 0; c < C; c++) clusterOff[c + 1] += clusterOff[c];
  const members = new Int32Array(I); // items of cluster c: members[clusterOff[c] .. clusterOff[c+1])
  const fill = clusterOff.slice(0, C);
  for (let k = 0; k < I; k++) {
    const c = k % C;
    clusterOf[perm[k]] = c;
    members[fill[c]++] = perm[k];
  }
  // Popularity rank = position in `members` (already random); cumulative Zipf weights per cluster.
  const cum = new Float64Array(I);
  for (let c = 0; c < C; c++) {
    let acc = 0;
    for (let k = clusterOff[c]; k < clusterOff[c + 1]; k++) {
      acc += 1 / Math.pow(k - clusterOff[c] + 1, opts.zipf);
      cum[k] = acc;
    }
  }
  const itemIn = (c: number): number => {
    const a = clusterOff[c];
    const b = clusterOff[c + 1];
    const r = rng.next() * cum[b - 1];
    let lo = a;
    let hi = b - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid] > r) hi = mid;
      else lo = mid + 1;
    }
    return members[lo];
  };
  const effect = new Float64Array(I);
  for (let i = 0; i < I; i++) effect[i] = opts.itemEffect * rng.normal();

  // Catalog: attrs 0..C−1 = clusters, C..C+S−1 = super-clusters.
  const attrOffsets = new Int32Array(I + 1);
  const attrValues = new Int32Array(2 * I);
  for (let i = 0; i < I; i++) {
    attrOffsets[i + 1] = 2 * (i + 1);
    attrValues[2 * i] = clusterOf[i];
    attrValues[2 * i + 1] = C + (clusterOf[i] % S);
  }
  const attrKeys: string[] = [];
  for (let c = 0; c < C; c++) attrKeys.push(`c${c}`);
  for (let s = 0; s < S; s++) attrKeys.push(`s${s}`);

  // 2–4. users, sequences, samples.
  const spu = opts.trainPerUser + opts.testPerUser;
  const trainSize = U * opts.trainPerUser;
  const testSize = U * opts.testPerUser;
  const h0s = new Int32Array(U);
  let histTotal = 0;
  for (let u = 0; u < U; u++) {
    h0s[u] = opts.historyMin + rng.int(opts.historyMax - opts.historyMin + 1);
    histTotal += h0s[u] + Math.max(0, spu - 1);
  }
  const histValues = new Int32Array(histTotal);
  const train = allocSampleSet(trainSize, histValues);
  const test = allocSampleSet(testSize, histValues);
  const trainP = new Float64Array(trainSize);
  const testP = new Float64Array(testSize);
  const interests: number[] = [];
  const weights: number[] = [];
  const clusterCount = new Int32Array(C);
  let h = 0;
  let tr = 0;
  let te = 0;
  let positives = 0;
  for (let u = 0; u < U; u++) {
    const k = opts.interestsMin + rng.int(opts.interestsMax - opts.interestsMin + 1);
    interests.length = 0;
    weights.length = 0;
    interests.push(rng.int(C));
    const sameSuper: number[] = [];
    for (let c = interests[0] % S; c < C; c += S) sameSuper.push(c);
    while (interests.length < k) {
      const c = rng.next() < 0.5 ? sameSuper[rng.int(sameSuper.length)] : rng.int(C);
      if (!interests.includes(c)) interests.push(c);
    }
    let wsum = 0;
    for (let j = 0; j < interests.length; j++) {
      let r = 0;
      while (r === 0) r = rng.next();
      weights.push(-Math.log(r));
      wsum += weights[j];
    }
    const behaviourCluster = (): number => {
      if (rng.next() >= opts.interestFraction) return rng.int(C);
      let r = rng.next() * wsum;
      for (let j = 0; j < interests.length; j++) {
        r -= weights[j];
        if (r < 0) return interests[j];
      }
      return interests[interests.length - 1];
    };
    const base = h;
    const total = h0s[u] + Math.max(0, spu - 1);
    clusterCount.fill(0);
    for (let t = 0; t < total; t++) histValues[h++] = itemIn(behaviourCluster());
    for (let t = 0; t < h0s[u]; t++) clusterCount[clusterOf[histValues[base + t]]]++;
    for (let s = 0; s < spu; s++) {
      const len = h0s[u] + s;
      if (s > 0) clusterCount[clusterOf[histValues[base + len - 1]]]++;
      const cc = rng.next() < opts.candidateInterestProb ? interests[rng.int(interests.length)] : rng.int(C);
      const cand = itemIn(cc);
      const frac = len > 0 ? clusterCount[cc] / len : 0;
      const p = sigmoid(opts.a * frac + opts.b + effect[cand]);
      const label = rng.next() < p ? 1 : 0;
      positives += label;
      const isTrain = s < opts.trainPerUser;
      const set = isTrain ? train : test;
      const i = isTrain ? tr++ : te++;
      (isTrain ? trainP : testP)[i] = p;
      set.labels[i] = label;
      set.users[i] = u;
      set.items[i] = cand;
      set.histStart[i] = base;
      set.histLen[i] = len;
    }
  }
  const itemKeys: string[] = new Array(I);
  for (let i = 0; i < I; i++) itemKeys[i] = `i${i}`;
  const userKeys: string[] = new Array(U);
  for (let u = 0; u < U; u++) userKeys[u] = `u${u}`;

  return {
    name,
    format: 'synthetic',
    catalog: { numItems: I, numAttrs: C + S, attrOffsets, attrValues, itemKeys, attrKeys },
    numUsers: U,
    userKeys,
    train,
    test,
    skipped: {},
    buildOptions: { ...opts, split: 'by-time' },
    stats: {
      users: U,
      items: I,
      ctr: positives / (trainSize + testSize),
      oracleTrainAuc: trainSize > 0 ? auc(trainP, train.labels) : NaN,
      oracleTestAuc: testSize > 0 ? auc(testP, test.labels) : NaN,
    },
  };
}
