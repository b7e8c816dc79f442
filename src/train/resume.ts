/**
 * Resumable training checkpoints (`din train --out DIR`, continued with `din train --resume DIR`):
 *
 *   DIR/checkpoints/step-000001234/state.safetensors   weights, the optimizer's state (full-size, whatever the
 *                                                      thread count), Dice buffers, and early stopping's best weights
 *   DIR/checkpoints/step-000001234/state.json          where training stands: phase, epoch, step, the data order's
 *                                                      and the dropout's random state, losses so far, history …
 *
 * A checkpoint is written into a temporary directory and renamed into place (atomic on one file system), state.json
 * last, so a crash — even mid-write — leaves either the old set of checkpoints or the new one, never a half one; the
 * newest `keep` are kept. Loading validates everything against the model being resumed and names what does not fit.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../checkpoint/safetensors.js';
import type { Float } from '../kernels/backend.js';
import type { Model } from '../models/model.js';
import type { EpochRecord } from './trainer.js';

/** Format name and version written in state.json. */
export const TRAIN_STATE_FORMAT = 'din-train-state';
export const TRAIN_STATE_VERSION = 1;

/** Where a training run stands (state.json). */
export interface TrainerState {
  /** Always `din-train-state` (`TRAIN_STATE_FORMAT`); loading refuses any other. */
  format: typeof TRAIN_STATE_FORMAT;
  /** The layout version it was written with (`TRAIN_STATE_VERSION`, 1); loading refuses another. */
  version: number;
  /** Phase of a run with early stopping and refit: `select` (choosing the epoch count), then `refit`; else `train`. */
  phase: 'train' | 'select' | 'refit';
  /** Epoch (0-based) in progress. */
  epoch: number;
  /** Global batches already done in the epoch in progress (0 at an epoch boundary). */
  step: number;
  /** Optimizer steps over the phase. */
  globalStep: number;
  /** Sum of batch losses × batch sizes in the epoch in progress. */
  lossSum: number;
  /** Training samples seen in the epoch in progress (lossSum / seen is its mean loss so far). */
  seen: number;
  /** Training seconds of the phase so far. */
  trainSeconds: number;
  /** Finished epochs of the phase. */
  history: EpochRecord[];
  /** Early stopping: the best epoch so far (1-based) and its score; its weights are the `best.` tensors. */
  best?: {
    /** The best epoch so far, 1-based. */
    epoch: number;
    /** Its monitored validation score: GAUC, or AUC when GAUC is undefined (no validation user has both labels). */
    gauc: number;
  };
  /** Whether early stopping ended the phase. */
  stoppedEarly?: boolean;
  /** The dropout regularizer's random state and counts. */
  dropout?: {
    /** The state of the dropout's random generator. */
    state: number;
    /** Behaviour ids seen so far. */
    seen: number;
    /** Behaviour ids dropped so far. */
    dropped: number;
  };
  /** The optimizer's step count (Adam's bias correction). */
  optimizerSteps: number;
  /** Threads the run trained on (resuming on another count is allowed; results then differ in rounding). */
  threads: number;
  /** A fingerprint of the training data: resuming on other data is refused. */
  data: string;
  /** Refit phase: what the selection phase found. */
  selection?: {
    /** The selection phase's epochs, validation metrics included. */
    history: EpochRecord[];
    /** Its best epoch, 1-based: the refit's epoch count. */
    bestEpoch: number;
    /** Whether early stopping ended the selection phase before `epochs`. */
    stoppedEarly: boolean;
    /** Its training time in seconds (evaluation not included). */
    seconds: number;
  };
  /** When it was written. */
  createdAt: string;
}

/** A checkpoint in memory: the state and the tensors. */
export interface TrainerCheckpoint {
  /** Where training stands (state.json). */
  state: TrainerState;
  /**
   * The tensors of state.safetensors, by name: `param.<name>` and `buffer.<name>` (the model's weights and buffers),
   * `optimizer.<k>.<name>` (the optimizer's k-th state array of a param, full-size) and, with early stopping,
   * `best.param.<name>` / `best.buffer.<name>` (the best epoch's weights).
   */
  tensors: Record<string, NamedTensor>;
}

const PREFIX = 'step-';

/** The directory resumable checkpoints of a run's output directory go to. */
export function checkpointsDir(out: string): string {
  return join(out, 'checkpoints');
}

/** The tensors of a model's weights and buffers (and, with `prefix`, under that name prefix). */
export function modelTensors(model: Model, prefix = ''): Record<string, NamedTensor> {
  const t: Record<string, NamedTensor> = {};
  for (const p of model.params()) t[`${prefix}param.${p.name}`] = { shape: p.shape, data: p.value as Float32Array | Float64Array };
  for (const [name, b] of Object.entries(model.buffers())) t[`${prefix}buffer.${name}`] = { shape: [b.length], data: b as Float32Array | Float64Array };
  return t;
}

/** Sets a model's weights and buffers from checkpoint tensors; errors name the tensor that is missing or misshapen. */
export function restoreModelTensors(model: Model, tensors: Record<string, NamedTensor>, where: string, prefix = ''): void {
  for (const p of model.params()) {
    const t = tensors[`${prefix}param.${p.name}`];
    if (!t) throw new Error(`${where}: no tensor "${prefix}param.${p.name}" (a checkpoint of another model?)`);
    if (t.shape.join('x') !== p.shape.join('x')) {
      throw new Error(`${where}: "${p.name}" is [${t.shape}] in the checkpoint, the model has [${p.shape}] (another model shape or vocabulary)`);
    }
    p.value.set(t.data);
  }
  for (const [name, b] of Object.entries(model.buffers())) {
    const t = tensors[`${prefix}buffer.${name}`];
    if (!t || t.data.length !== b.length) throw new Error(`${where}: no buffer "${prefix}buffer.${name}" of ${b.length} values`);
    b.set(t.data);
  }
}

function writeFileSynced(path: string, data: Uint8Array | string): void {
  const fd = openSync(path, 'w');
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a checkpoint of `out` atomically and keeps the newest `keep`. `pauseMs` (tests only, env
 * DIN_TEST_CHECKPOINT_PAUSE_MS) sleeps between the two files, so a test can kill the process mid-write.
 */
export function writeTrainerCheckpoint(out: string, ck: TrainerCheckpoint, keep = 2): string {
  const dir = checkpointsDir(out);
  mkdirSync(dir, { recursive: true });
  const name = `${PREFIX}${String(ck.state.globalStep).padStart(9, '0')}${ck.state.phase === 'refit' ? '-refit' : ''}`;
  const tmp = join(dir, `.tmp-${process.pid}-${Date.now()}`);
  mkdirSync(tmp);
  writeFileSynced(join(tmp, 'state.safetensors'), encodeSafetensors(ck.tensors, { format: TRAIN_STATE_FORMAT }));
  const pause = Number(process.env.DIN_TEST_CHECKPOINT_PAUSE_MS ?? 0);
  if (pause > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause);
  writeFileSynced(join(tmp, 'state.json'), JSON.stringify(ck.state));
  const final = join(dir, name);
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
  // Keep the newest `keep`; remove leftovers of interrupted writes.
  const all = listCheckpoints(out);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(join(dir, old), { recursive: true, force: true });
  for (const n of readdirSync(dir)) if (n.startsWith('.tmp-') && join(dir, n) !== tmp) rmSync(join(dir, n), { recursive: true, force: true });
  return final;
}

/** Names of the complete checkpoints of `out`, oldest first (select phase before refit, then by step). */
export function listCheckpoints(out: string): string[] {
  const dir = checkpointsDir(out);
  if (!existsSync(dir)) return [];
  const order = (n: string) => (n.endsWith('-refit') ? 1e12 : 0) + Number(n.slice(PREFIX.length, PREFIX.length + 9));
  return readdirSync(dir)
    .filter((n) => n.startsWith(PREFIX) && existsSync(join(dir, n, 'state.json')))
    .sort((a, b) => order(a) - order(b));
}

/** Reads the newest checkpoint of `out` (null when there is none); a damaged one is an error naming the file. */
export function readLatestCheckpoint(out: string): TrainerCheckpoint | null {
  const names = listCheckpoints(out);
  if (names.length === 0) return null;
  const dir = join(checkpointsDir(out), names[names.length - 1]);
  const jsonPath = join(dir, 'state.json');
  let state: TrainerState;
  try {
    state = JSON.parse(readFileSync(jsonPath, 'utf8')) as TrainerState;
  } catch (e) {
    throw new Error(`${jsonPath}: not valid JSON (${(e as Error).message}); the checkpoint is damaged`);
  }
  if (state.format !== TRAIN_STATE_FORMAT) throw new Error(`${jsonPath}: format "${state.format}", expected "${TRAIN_STATE_FORMAT}"`);
  if (state.version !== TRAIN_STATE_VERSION) throw new Error(`${jsonPath}: version ${state.version}, this din reads ${TRAIN_STATE_VERSION}`);
  const stPath = join(dir, 'state.safetensors');
  if (!existsSync(stPath)) throw new Error(`${stPath}: missing (the checkpoint is damaged)`);
  const { tensors } = decodeSafetensors(readFileSync(stPath), stPath);
  return { state, tensors };
}
