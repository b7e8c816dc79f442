/** The data of one HTML report (embedded in the page as JSON; the page's script only draws it). */

export interface CurveSeries {
  label: string;
  epochs: number[];
  trainLoss: Array<number | null>;
  validGauc: Array<number | null>;
  testGauc: Array<number | null>;
}

/** One row of the comparison table (the paper's Table 3), from compare.json. */
export interface TableRow {
  model: string;
  reg: string;
  seeds: number;
  gauc: number;
  gaucStd: number;
  auc: number;
  aucStd: number;
  logloss: number;
  relaimpr: number | null;
  relaimprAuc: number | null;
  bestEpoch: string;
  peakTestGauc: number | null;
}

export interface NamedItem {
  /** The item's raw key (item id in the data). */
  key: string;
  /** A human label: the MovieLens title when the data has one, else the key. */
  label: string;
  /** The item's attribute/category names ("" when it has none). */
  category: string;
}

export interface AttentionCandidate extends NamedItem {
  /** positive / negative: the user's test samples of that label; other: a popular item of a frequent category. */
  kind: 'positive' | 'negative' | 'other';
  /** The model's predicted CTR of this candidate for the user. */
  ctr: number;
  /** Attention weight of each behaviour (same order as `behaviours`) for this candidate. */
  weights: number[];
}

export interface AttentionView {
  user: string;
  /** How the user was chosen: "--user" or "sampled (seed N)". */
  chosen: string;
  /** The model's attention normalization ('none' = raw weights as in the paper, 'softmax'). */
  norm: string;
  /** The behaviours of the user's test sample, oldest first (truncated to the run's max history). */
  behaviours: NamedItem[];
  candidates: AttentionCandidate[];
}

export interface EmbeddingPoint {
  x: number;
  y: number;
  key: string;
  label: string;
  ctr: number;
}

export interface EmbeddingMap {
  /** The projection used, e.g. "UMAP (umap-js 1.4.0, nNeighbors 15, minDist 0.1, seed 1)". */
  method: string;
  user: string;
  param: string;
  categories: Array<{ name: string; points: EmbeddingPoint[] }>;
}

/** A section that could not be drawn carries the reason instead. */
export interface Note {
  note: string;
}

export interface ReportData {
  title: string;
  createdAt: string;
  run: null | {
    dir: string;
    model: string;
    dataset: string;
    evaluatedOn: string;
    test: { gauc: number; auc: number; logloss: number; samples: number };
    bestEpoch: number;
  };
  compare: null | { dir: string; data: string };
  curves: CurveSeries[];
  table: TableRow[] | null;
  attention: AttentionView | Note;
  embedding: EmbeddingMap | Note;
}
