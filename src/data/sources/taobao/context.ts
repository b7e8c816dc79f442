/** Options of the Taobao loader and converter, validated once into the context every layout reader shares. */
import { basename, resolve } from 'node:path';
import { validateVocabOptions, type VocabOptions } from '../../field-vocab.js';
import { RowErrors, rowErrorPolicy, type RowErrorPolicy } from '../row-errors.js';
import { isFileAt, type TaobaoFiles } from './layout.js';
import { taobaoDayStart } from './text.js';

export const TAOBAO_DEFAULT_MAX_HISTORY = 50;
export const TAOBAO_DEFAULT_TEST_DAY = '2017-05-13';
export const TAOBAO_DEFAULT_TEST_FRACTION = 0.2;

/** Options of `loadTaobao`. */
export interface TaobaoOptions {
  /** Seed of the single-file user split of the 'sampled' layout. Default 1. */
  seed?: number;
  /** Dataset name; default: the directory name (the file stem when given a file). */
  name?: string;
  /** Row errors (see ./index.ts): 'skip' counts them in `skipped` (default), 'fail' throws at the first. */
  onError?: RowErrorPolicy;
  /** Id-space controls of the id-like fields (adgroup, campaign, customer, brand, user fields). */
  vocab?: VocabOptions;
  /** Most recent behaviours kept per history. Default 50. */
  maxHistory?: number;
  /** 'tianchi' and single-file 'joined': first day (YYYY-MM-DD, UTC+8) of the test split. Default 2017-05-13. */
  testDay?: string;
  /** Single-file 'sampled': fraction of users held out as test. Default 0.2. */
  testFraction?: number;
  /** Receives human-readable progress lines (lines read per file, the first skipped row of each kind). */
  onProgress?: (msg: string) => void;
}

/** What every layout reader shares: the row errors, progress, and the validated options. */
export interface Ctx {
  errors: RowErrors;
  policy: RowErrorPolicy;
  progress: (msg: string) => void;
  maxHistory: number;
  vocab: VocabOptions;
  /** Unix seconds where the test split starts (00:00 UTC+8 of testDay). */
  testCut: number;
  testDay: string;
  /** Dataset name. */
  name: string;
  seed: number;
  testFraction: number;
}

/** Validates the options (throws on a bad value) and builds the context of reading `files` found at `path`. */
export function taobaoContext(path: string, files: TaobaoFiles, opts: TaobaoOptions): Ctx {
  const policy = rowErrorPolicy(opts.onError);
  const maxHistory = opts.maxHistory ?? TAOBAO_DEFAULT_MAX_HISTORY;
  if (!(Number.isInteger(maxHistory) && maxHistory >= 1)) {
    throw new Error(`maxHistory must be a positive integer, got ${maxHistory}`);
  }
  const vocab = { ...(opts.vocab ?? {}) };
  validateVocabOptions(vocab, 'taobao vocab');
  const testDay = opts.testDay ?? TAOBAO_DEFAULT_TEST_DAY;
  const testCut = taobaoDayStart(testDay);
  const seed = opts.seed ?? 1;
  const testFraction = opts.testFraction ?? TAOBAO_DEFAULT_TEST_FRACTION;
  if (files.layout === 'sampled' && files.test === null && !(testFraction > 0 && testFraction < 1)) {
    throw new Error(`testFraction must be in (0, 1), got ${testFraction}`);
  }
  const abs = resolve(path);
  const stem = basename(abs).replace(/\.(csv|txt)(\.gz)?$/i, '');
  const name = opts.name ?? (isFileAt(abs) && files.layout !== 'tianchi' ? stem : basename(files.dir));
  return {
    errors: new RowErrors(policy),
    policy,
    progress: opts.onProgress ?? (() => {}),
    maxHistory,
    vocab,
    testCut,
    testDay,
    name,
    seed,
    testFraction,
  };
}
