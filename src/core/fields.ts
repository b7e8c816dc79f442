/**
 * Categorical fields beyond the built-in goods id and attribute bag, for data with several fields per group (the
 * paper's Table 1: user profile, behaviours, candidate ad, context).
 *
 * - Item fields belong to the catalog: single-valued per item (shop, brand, campaign, price bucket …), −1 where an
 *   item has no value. Candidates and behaviours are items, so a behaviour field shares its table with the
 *   candidate field of the same name — the paper's "hist_shop ↔ shop" pairing. An item that only ever appears as a
 *   behaviour with (cate, brand) and no goods id is an item whose goods row is −1.
 * - Sample fields belong to each sample: user-profile fields (gender, age …, looked up by the sample's user) and
 *   context fields (pid, hour …). They are stored per sample in `SampleSet.fieldValues` and reach the model as
 *   `Batch.fieldValues`.
 *
 * Every field has its own vocabulary; id 0 is the out-of-vocabulary row when the field was built with one (`oov`),
 * so values never seen in training — and at serving time — map to a trained "unknown" row, never to a crash.
 */
export interface CategoricalField {
  /** Unique within its group; becomes part of the table's parameter name. */
  name: string;
  /** Number of ids = rows of the embedding table. */
  size: number;
  /** Raw value of each id (index = id). With `oov`, keys[0] is OOV_KEY. */
  keys: string[];
  /** Id 0 is the out-of-vocabulary row. */
  oov?: boolean;
  /** Built by hashing raw values into `size` buckets (keys are then bucket labels, not values). */
  hashed?: boolean;
}

export const OOV_KEY = '<oov>';

/** A single-valued field of catalog items (shop, brand, campaign …), shared by candidates and behaviours. */
export interface ItemField extends CategoricalField {
  /** Id of this field for each item (length numItems), −1 = the item has no value. */
  values: Int32Array;
}

/** Which of the paper's feature groups a sample field belongs to: `user` (user profile) or `context`. */
export type SampleFieldGroup = 'user' | 'context';

/** A field with one id per sample: a user-profile or a context field. */
export interface SampleField extends CategoricalField {
  /** `user`: a profile field (gender, age …) of the sample's user; `context`: one of the impression (pid, hour …). */
  group: SampleFieldGroup;
}

/** Throws naming the field and item when an item field's values are out of range. */
export function validateItemField(f: ItemField, numItems: number, where = 'item catalog'): void {
  if (f.values.length !== numItems) throw new Error(`${where}: field "${f.name}" has ${f.values.length} values, expected numItems = ${numItems}`);
  if (!(Number.isInteger(f.size) && f.size >= 1)) throw new Error(`${where}: field "${f.name}" has size ${f.size}`);
  for (let i = 0; i < numItems; i++) {
    const v = f.values[i];
    if (!(v >= -1 && v < f.size)) throw new Error(`${where}: item ${i} has ${f.name} id ${v}, expected -1..${f.size - 1}`);
  }
}
