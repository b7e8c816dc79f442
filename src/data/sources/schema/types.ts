/** The types of a schema file (see ./index.ts for the format) and of the loader's options. */
import type { VocabOptions } from '../../field-vocab.js';
import type { RowErrorPolicy } from '../row-errors.js';

/** The format of a data file: from the schema's `format`, else the file's extension (see the file header). */
export type DataFileFormat = 'csv' | 'jsonl' | 'parquet';

/** Vocabulary options as written in a schema (null = not set). */
export interface SchemaVocabOptions {
  /** Values seen fewer times than this in training share the OOV row; an integer ≥ 1 (default 1: keep all). */
  minCount?: number;
  /** Keep only the K most frequent training values, the rest go to OOV; an integer ≥ 0, null: no cut. */
  topK?: number | null;
  /** Hash raw values into this many buckets instead of a vocabulary (no OOV row); 1..2^30, null: no hashing. */
  hashBuckets?: number | null;
}

/**
 * How the rows of `files.all` are split into train and test (only used with `files.all`; see the file header): by a
 * time column, by user, or by the value of a column.
 */
export type SchemaSplit =
  | {
      /** Split by time: the latest rows are test. */
      by: 'time';
      /** The time column: numbers (used as they are) or dates (ISO strings, Parquet timestamps; as Unix seconds). */
      column: string;
      /**
       * The last round(f·rows) rows by time (ties: file order) are test, at least 1 and at most all but 1. In (0, 1);
       * give this or `testFrom`. Not usable when converting to shards (it needs every row's time at once).
       */
      testFraction?: number;
      /** Rows whose time is ≥ this (a number, or a date as Unix seconds) are test; give this or `testFraction`. */
      testFrom?: number | string;
    }
  | {
      /** Split by user: the test users give all their rows to test, so they are unseen in training. */
      by: 'user';
      /**
       * Fraction of users, in (0, 1), drawn by a seeded shuffle as test users: round(f·users), at least 1 and at most
       * all but 1.
       */
      testFraction: number;
    }
  | {
      /** Split by the value of a column (e.g. an existing "split" column). */
      by: 'column';
      /** The column whose value decides the split. */
      column: string;
      /** Values of `column` that mark test rows (compared as trimmed text: 1 matches "1"); all other rows are train. */
      testValues: Array<string | number | boolean>;
    };

/** The schema file as written (after validation). */
export interface SchemaSpec {
  /** URL or path of a JSON Schema for editors; accepted and ignored by the loader. */
  $schema?: string;
  /** Free text about the data; accepted and ignored by the loader. */
  description?: string;
  /** Dataset name (`Dataset.name`); default: the schema file's name without its extension. */
  name?: string;
  /**
   * Format of every data file; default: each file's extension (.csv / .tsv / .txt, .jsonl / .ndjson / .json,
   * .parquet / .pq; each optionally + .gz).
   */
  format?: DataFileFormat;
  /**
   * The data files, each entry a path or a list of paths relative to the schema file: `train` and `test` (used as the
   * split), or `all` (split by `split`).
   */
  files: {
    /** Training file(s); requires `test`. */
    train?: string | string[];
    /** Test file(s); requires `train`. */
    test?: string | string[];
    /** File(s) holding every row; requires `split`, excludes `train` / `test`. */
    all?: string | string[];
  };
  /** How the rows of `files.all` are split; required with `files.all`, not allowed otherwise. */
  split?: SchemaSplit;
  /** CSV field separator, one ASCII character other than a quote or newline; default `,` (tab for `.tsv`). */
  separator?: string;
  /** CSV: whether the first line names the columns. Default true; with false, `columns` names them. */
  header?: boolean;
  /** CSV without a header: the column names, in file order; only allowed with `header: false`. */
  columns?: string[];
  /** Separator inside sequence cells (CSV cells, and string cells of JSONL / Parquet). Default `|`. */
  sequenceSeparator?: string;
  /** The label column: 0/1, true/false, or "1.0"/"0.0"; any other value is a row error (`badLabels`). */
  label: string;
  /**
   * The user-id column: groups samples for GAUC and for the split by user. Not a feature: list it in `userFields` to
   * embed it.
   */
  user: string;
  /** Columns of the candidate ad; at least one key. */
  candidate: {
    /** The candidate's goods-id column (the goods table). */
    goods?: string;
    /** The candidate's category column (the category table; an item's category is its attribute). */
    category?: string;
    /** Further single-valued item-field columns (shop, brand …), each with its own table shared with behaviours. */
    fields?: string[];
  };
  /** Sequence columns of the user's behaviours, position-aligned with each other; at least one key when present. */
  behaviors?: {
    /** Sequence column of behaviour goods ids; shares the goods table with the candidate. */
    goods?: string;
    /** Sequence column of behaviour categories; shares the category table with the candidate. */
    category?: string;
    /** Behaviour field columns keyed by the candidate field whose table they share: `{"shop_id": "hist_shop_ids"}`. */
    fields?: Record<string, string>;
    /** Order of the sequences in the data; they are stored oldest first either way. Default `oldest-first`. */
    order?: 'oldest-first' | 'newest-first';
  };
  /** User-profile columns (gender, age …): sample fields of group `user`, one vocabulary each. */
  userFields?: string[];
  /** Context columns (pid, hour …): sample fields of group `context`, one vocabulary each. */
  contextFields?: string[];
  /** Keep at most this many most recent behaviours per row (an integer ≥ 1); default: all. */
  maxHistory?: number;
  /** Vocabulary options of every field (the loader's `vocab` option overrides them key by key), then `perField`. */
  vocab?: SchemaVocabOptions & {
    /** Options of single fields, keyed by field name (its candidate column; see the file header); null unsets a key. */
    perField?: Record<string, SchemaVocabOptions>;
  };
}

/** One data file of a schema, resolved. */
export interface SchemaDataFile {
  /** Absolute path. */
  path: string;
  /** How the file is read: the schema's `format`, else from its extension. */
  format: DataFileFormat;
  /** Which `files` entry listed it: `train` / `test` rows as given, or `all` rows split by the schema's `split`. */
  role: 'train' | 'test' | 'all';
}

/** A validated schema with its data files resolved. */
export interface DataSchema {
  /** Absolute path of the schema file. */
  path: string;
  /** Dataset name: the schema's `name`, else the schema file's name without its extension. */
  name: string;
  /** The schema as written. */
  spec: SchemaSpec;
  /** The data files, absolute: train files, then test files, then `all` files, each in the order listed. */
  files: SchemaDataFile[];
}

/** Options of `loadSchemaDataset`. */
export interface SchemaLoadOptions {
  /** Seed of the user split (`"split": {"by": "user"}`). Default 1. */
  seed?: number;
  /** Row errors (see the file header): 'skip' counts them in `skipped` (default), 'fail' throws at the first. */
  onError?: RowErrorPolicy;
  /** Replaces the schema's global vocab options (e.g. from CLI flags); `vocab.perField` still applies. */
  vocab?: VocabOptions;
  /** Receives human-readable progress lines (rows read per file, the first skipped row of each kind, totals). */
  onProgress?: (msg: string) => void;
}
