/**
 * The ranking service's request and answer (the JSON of `POST /v1/rank`, one line of `din rank --input`), and the
 * engine interface the HTTP layer and the offline ranker call. Raw ids are strings (numbers are accepted and taken as
 * their JSON text); ids the model never saw in training map to the out-of-vocabulary row of their table.
 */

/**
 * An item: a candidate ad or a behaviour. `id` is the goods id (the dataset's item key, e.g. an Amazon ASIN or a
 * MovieLens movie id). When `id` is a known item, the catalog's attributes and fields are used and the fields given
 * here are ignored (the model was trained with the catalog's); when it is unknown or absent, `category` (one value or
 * a list: the attribute bag) and `fields` (item fields such as shop_id, brand) describe it, each mapped through its
 * vocabulary (unknown values → OOV row, or zeros for tables without one).
 */
export interface RankItem {
  /**
   * Goods id (the dataset's item key). A known id takes the catalog's attributes and fields; an unknown one takes the
   * goods table's OOV row or hash bucket when it has one, else adds zeros.
   */
  id?: string | number;
  /** Attribute value, or the attribute bag, of an item not in the catalog (ignored for known ids). */
  category?: string | number | Array<string | number>;
  /** Item-field values by field name, for an item not in the catalog; a name the model lacks is an error. */
  fields?: Record<string, string | number>;
}

/** A candidate to rank: an item, with a bid when ranking by eCPM. */
export interface RankCandidate extends RankItem {
  /** Bid for eCPM = ctr^alpha · bid. */
  bid?: number;
}

/** One ranking request: a user (behaviours, profile), the context and the candidates to score. */
export interface RankRequest {
  /** The user; absent: no behaviours and no profile (a cold user). */
  user?: {
    /** The caller's user key: accepted, not used for scoring (the models have no user-id feature). */
    id?: string | number;
    /** User-profile fields (e.g. gender, age_level), by field name. */
    profile?: Record<string, string | number>;
    /** Behaviours, oldest first, most recent last. */
    behaviors?: RankItem[];
  };
  /** The candidates to score: at most maxCandidates (the HTTP schema also requires at least one). */
  candidates: RankCandidate[];
  /** Context fields (e.g. pid, hour), by field name. */
  context?: Record<string, string | number>;
  /** eCPM exponent (default 1). */
  alpha?: number;
  /** Return the attention weight of every behaviour for each returned candidate (DIN; other models: absent). */
  explain?: boolean;
  /** Return only the best topK candidates (default: all). */
  topK?: number;
}

/** One scored candidate of a {@link RankResponse}. */
export interface RankedCandidate {
  /** Position of the candidate in the request. */
  index: number;
  /** The candidate's `id` as sent (absent when it had none). */
  id?: string | number;
  /** Predicted click probability: sigmoid of the model's logit. */
  ctr: number;
  /** ctr^alpha · bid; present when the candidate has a bid. */
  ecpm?: number;
  /** 1-based rank (by ecpm when every candidate has a bid, else by ctr). */
  rank: number;
  /**
   * With explain (DIN): weight of each behaviour used (same order as the used behaviours): the raw scores, or their
   * masked softmax when the model was trained with `attentionNorm` 'softmax'.
   */
  attention?: number[];
}

/** The answer to a {@link RankRequest}. */
export interface RankResponse {
  /** Model kind, e.g. "din". */
  model: string;
  /** Identifies the loaded checkpoint (changes on reload). */
  modelVersion: string;
  /** `ecpm` when every candidate has a bid, else `ctr`. */
  rankedBy: 'ecpm' | 'ctr';
  /** Best first; only the best `topK` when the request set it. */
  candidates: RankedCandidate[];
  /** Behaviours used (after truncation to the most recent maxHistory). */
  behaviorsUsed: number;
  /** True when the history was longer than the model's limit and only the most recent ones were used. */
  truncated?: boolean;
  /** Values that were not in the model's vocabularies (mapped to OOV), counted by field; absent when none. */
  unknown?: Record<string, number>;
}
