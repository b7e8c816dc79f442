import type { Batch } from '../../src/data/types.js';
import type { Backend } from '../../src/nn/backend.js';
import { DEFAULT_MODEL_CONFIG, type ModelConfig, type ModelContext } from '../../src/models/model.js';
import { Rng } from '../../src/util/rng.js';

/** 12 items, 5 attributes; items 3 and 10 have none, several have more than one. */
export function tinyCatalog(): ModelContext['catalog'] {
  const attrs = [[0], [1, 2], [2], [], [3, 0, 1], [4], [0, 4], [1], [2, 3], [3], [], [4, 4]];
  const attrOffsets = new Int32Array(attrs.length + 1);
  attrs.forEach((a, i) => (attrOffsets[i + 1] = attrOffsets[i] + a.length));
  return { numItems: attrs.length, numAttrs: 5, attrOffsets, attrValues: Int32Array.from(attrs.flat()) };
}

export function tinyConfig(over: Partial<ModelConfig> & Pick<ModelConfig, 'model'>): ModelConfig {
  return { ...DEFAULT_MODEL_CONFIG, goodsDim: 3, attrDim: 2, hidden: [6, 4], attentionHidden: [5, 3], ...over };
}

export function context(backend: Backend, seed = 7): ModelContext {
  return { backend, catalog: tinyCatalog(), seed };
}

/**
 * B = 6, T = 4 with a full row, an empty row, a single-behaviour row, duplicates, and the candidate repeated in the
 * history. Items 9 and 11 appear only at padded positions (they hold ids instead of −1 to prove masking by length).
 */
export function tinyBatch(): Batch {
  const B = 6;
  const T = 4;
  const hist = Int32Array.from([
    1, 2, 3, 4,
    5, 5, 9, 11,
    11, 9, 9, 11,
    0, 9, -1, -1,
    6, 7, 8, 11,
    2, 2, 1, -1,
  ]);
  return {
    size: B,
    T,
    labels: Float32Array.from([1, 0, 1, 0, 0, 1]),
    users: Int32Array.from([0, 1, 2, 3, 4, 5]),
    items: Int32Array.from([2, 5, 7, 0, 10, 3]),
    hist,
    lengths: Int32Array.from([4, 2, 0, 1, 3, 3]),
    index: Int32Array.from([0, 1, 2, 3, 4, 5]),
  };
}

export { Rng };
