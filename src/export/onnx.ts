/**
 * ONNX export of a trained model's inference graph (eval mode), so it can be served by any ONNX runtime
 * (onnxruntime, TensorRT, a browser …) without our code. Supported kinds: `base` and `din` (the paper's main
 * table), with PReLU or Dice, any attention activation and normalization, `concat` or `concat-product` MLP input,
 * goods filters, item fields and user-profile/context sample fields. Other kinds are refused by name.
 *
 * Graph inputs (B = batch, T = history length; both dynamic):
 *   items    int64 [B]     candidate item ids = rows of the checkpoint's catalog (model.json catalog.itemKeys[i] is the
 *                          raw key of id i); −1 = no item (a zero embedding, as our engine does).
 *   hist     int64 [B, T]  behaviour item ids, oldest first, most recent last; pad with −1.
 *   lengths  int64 [B]     valid behaviours per row: positions t ≥ lengths[b] are padding whatever id they hold
 *                          (lengths > T count as T).
 *   <group>_<field> int64 [B]   one per sample field of the model, in model order (e.g. `user_gender`, `ctx_pid`): the
 *                          field's id (model.json sampleFields[k].keys). Absent when the model has no sample fields.
 * Outputs, in this order:
 *   ctr      float32 [B]   sigmoid(logit),
 *   logit    float32 [B]   the model's logit (what src/train/evaluator.ts `predict` returns).
 * Ids ≥ the table size make the runtime fail (Gather bounds check); ids below −1 are treated as −1.
 * The graph takes any T, but the model was trained and evaluated on the most recent `maxHistory` behaviours
 * (model.json train.maxHistory, also stored as metadata `din.max_history`): pass the same truncation to get the
 * same numbers as `din eval`.
 *
 * Everything comes from the model's inference plan (src/models/inference-plan.ts), the same one the serving engine
 * runs: the graph is that plan written as ONNX operators.
 *
 * How items are represented: in eval mode an item's encoding e(i) = [goods_emb[goodsRow(i)], mean of attr_emb over
 * i's attributes, item-field embeddings] does not depend on anything but i, so it is precomputed from the plan's item
 * tables (the item encoder's eval form) into one constant `item_table` [numItems + 1, D] (and `item_bias` [numItems + 1]); the extra last row is
 * zero, which ONNX's Gather reaches with index −1 (negative indices count from the end) — that is the padding row.
 * Exactly what the model computes, and the cheapest graph to run; the cost is a table of numItems × D floats (the
 * goods table already is about that size) and no encoding of items outside the catalog.
 *
 * The rest is the plan's function:
 *   mask = t < lengths[b];  K = item_table[hist masked to −1] [B, T, D];  q = item_table[items] [B, D]
 *   DIN:  the attention unit's folded first layer, q·Wq + b once per row plus [k, q⊙k]·[Wk; Wp] per
 *         behaviour; activations; the unit's MLP → score s [B, T]; w = s on valid positions, 0 elsewhere ('none'), or
 *         the masked softmax of s/√D ('softmax'); u = Σ_t w·k
 *   Base: u = Σ_t mask·k (sum) or that / #valid (avg)
 *   x = [u, q, (u ⊙ q), sample-field embeddings]; MLP with PReLU (PRelu op) or Dice with its moving averages
 *   (x·(α + (1 − α)·sigmoid((x − mean)/√(var + ε)))); logit = MLP(x) + item_bias[items].
 */
import onnxProto from 'onnx-proto';
import type { EvalActivation, Float } from '../kernels/backend.js';
import type { DenseEval } from '../nn/eval-form.js';
import { encodeItemsEval } from '../nn/item-encoder.js';
import type { Model } from '../models/model.js';
import { InterestModel } from '../models/interest-model.js';
import { loadCheckpoint } from '../checkpoint/checkpoint.js';
import { writeFileAtomic } from '../util/fs.js';
import { checkOnnxModel, readOnnxModel } from './onnx-check.js';

const { onnx } = onnxProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type ValueInfoProto = onnxProto.onnx.IValueInfoProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;

/** Model kinds the exporter knows. */
export const ONNX_EXPORT_KINDS = ['base', 'din'] as const;
export const ONNX_OPSET = 17;
/** IR version 8 (ONNX 1.10+): what onnx-proto's schema describes, read by every current runtime. */
export const ONNX_IR_VERSION = 8;

/** One input or output of the exported graph. */
export interface OnnxIoSpec {
  /** Value name in the graph, e.g. `items`, `hist`, `user_gender`, `ctr`. */
  name: string;
  /** Element type: ids are int64, scores float32. */
  dtype: 'int64' | 'float32';
  /** Dimensions; strings are dynamic (`batch`, `history`). */
  shape: Array<string | number>;
  /** One-line description, also stored as the value's doc_string in the graph. */
  doc: string;
}

/** An exported graph and what it contains (see {@link exportOnnx}). */
export interface OnnxExport {
  /** The serialized ModelProto. */
  bytes: Uint8Array;
  /** Graph inputs in order: `items`, `hist`, `lengths`, then one per sample field of the model. */
  inputs: OnnxIoSpec[];
  /** Graph outputs: `ctr` and `logit`. */
  outputs: OnnxIoSpec[];
  /** Counts for the export message. */
  nodes: number;
  /** Number of constant tensors (weights, `item_table`, `item_bias` …). */
  initializers: number;
  /** Width D of an item's encoding, and rows of item_table (numItems + 1). */
  itemDim: number;
  /** Rows of `item_table`: numItems + 1 (the last, all zeros, is the padding row reached by id −1). */
  itemRows: number;
  /** The checkpoint's training history truncation (set by {@link exportCheckpointToOnnx}). */
  maxHistory?: number;
}

/** Options of {@link exportOnnx} and {@link exportCheckpointToOnnx}. */
export interface OnnxExportOptions {
  /** producer_version of the ModelProto (default: unset). */
  producerVersion?: string;
  /** Free-form key/values stored as metadata_props (model path, dataset …). */
  metadata?: Record<string, string>;
  /**
   * Items encoded per call to the model's item encoder while building item_table (bounds its workspace; default 4096).
   */
  chunk?: number;
}

const FLOAT = 1; // TensorProto.DataType.FLOAT
const BOOL = 9;
const INT64 = 7;

/** A tiny SSA graph builder over onnx-proto's message interfaces. */
class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used = new Set<string>();
  private readonly consts = new Map<string, string>();
  private k = 0;

  /** An unused value name starting with `hint` (not reserved yet). */
  private unused(hint: string): string {
    let name = hint;
    while (this.used.has(name)) name = `${hint}_${++this.k}`;
    return name;
  }

  /** A fresh value name starting with `hint`, reserved. */
  fresh(hint: string): string {
    return this.reserve(this.unused(hint));
  }

  reserve(name: string): string {
    if (this.used.has(name)) throw new Error(`onnx export: value name "${name}" used twice`);
    this.used.add(name);
    return name;
  }

  op(type: string, inputs: string[], opts: { out?: string; hint?: string; attrs?: AttributeProto[] } = {}): string {
    const out = opts.out !== undefined ? this.reserve(opts.out) : this.fresh(opts.hint ?? type.toLowerCase());
    this.nodes.push({ opType: type, input: inputs, output: [out], name: `${type}_${this.nodes.length}`, attribute: opts.attrs ?? [] });
    return out;
  }

  f32(name: string, data: ArrayLike<number>, dims: number[]): string {
    const n = this.reserve(name);
    const a = Float32Array.from(data);
    const count = dims.reduce((x, y) => x * y, 1);
    if (a.length !== count) throw new Error(`onnx export: constant "${name}" has ${a.length} values, dims [${dims}] need ${count}`);
    this.initializers.push({ name: n, dataType: FLOAT, dims, rawData: new Uint8Array(a.buffer, a.byteOffset, a.byteLength) });
    return n;
  }

  i64(name: string, data: number[], dims: number[]): string {
    const n = this.reserve(name);
    const a = BigInt64Array.from(data.map((v) => BigInt(v)));
    this.initializers.push({ name: n, dataType: INT64, dims, rawData: new Uint8Array(a.buffer) });
    return n;
  }

  /** A shared int64 constant (axes lists, scalars): one initializer per distinct value. */
  constI64(data: number[], scalar = false): string {
    const key = `i64:${scalar ? 's' : 'v'}:${data.join(',')}`;
    let n = this.consts.get(key);
    if (!n) {
      n = this.i64(this.unused(`c_i64_${data.join('_').replace(/-/g, 'm')}`), data, scalar ? [] : [data.length]);
      this.consts.set(key, n);
    }
    return n;
  }

  /** A shared float32 scalar constant. */
  constF32(v: number): string {
    const key = `f32:${v}`;
    let n = this.consts.get(key);
    if (!n) {
      n = this.f32(this.unused(`c_f32_${this.consts.size}`), [v], []);
      this.consts.set(key, n);
    }
    return n;
  }

  unsqueeze(x: string, axes: number[], hint?: string): string {
    return this.op('Unsqueeze', [x, this.constI64(axes)], { hint: hint ?? `${x}_unsq` });
  }

  squeeze(x: string, axes: number[], hint?: string, out?: string): string {
    return this.op('Squeeze', [x, this.constI64(axes)], { hint: hint ?? `${x}_sq`, out });
  }
}

const attrInt = (name: string, i: number): AttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });
const attrInts = (name: string, ints: number[]): AttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints });

function valueInfo(spec: OnnxIoSpec): ValueInfoProto {
  return {
    name: spec.name,
    docString: spec.doc,
    type: {
      tensorType: {
        elemType: spec.dtype === 'int64' ? INT64 : FLOAT,
        shape: { dim: spec.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Float32 copy of a backend array (float64 backends included). */
function f32(a: Float): Float32Array {
  return Float32Array.from(a);
}

/** y = x·W + b for a dense layer of the plan (x [..., in], W [in, out]). */
function linear(g: GraphBuilder, x: string, l: DenseEval, out?: string): string {
  const W = g.f32(`${l.name}.weight`, f32(l.W), [l.inDim, l.outDim]);
  const b = g.f32(`${l.name}.bias`, f32(l.b), [l.outDim]);
  const xw = g.op('MatMul', [x, W], { hint: `${l.name}.matmul` });
  return g.op('Add', [xw, b], { hint: `${l.name}.out`, out });
}

/** An eval-mode activation of C channels, named `name` (its initializers are `<name>.alpha` …). */
function activation(g: GraphBuilder, x: string, act: EvalActivation, name: string, C: number): string {
  switch (act.kind) {
    case 'none':
      return x;
    case 'prelu':
      return g.op('PRelu', [x, g.f32(`${name}.alpha`, act.alpha, [C])], { hint: `${name}.out` });
    case 'sigmoid':
      return g.op('Sigmoid', [x], { hint: `${name}.out` });
    case 'dice': {
      // The moving averages; 1/sqrt(var + ε) as the layer computes it (float64), then rounded once.
      const oneMinus = new Float32Array(C);
      for (let c = 0; c < C; c++) oneMinus[c] = 1 - act.alpha[c];
      const mean = g.f32(`${name}.mean`, act.mean, [C]);
      const invT = g.f32(`${name}.inv_std`, act.invStd, [C]);
      const aT = g.f32(`${name}.alpha`, act.alpha, [C]);
      const bT = g.f32(`${name}.one_minus_alpha`, oneMinus, [C]);
      const z = g.op('Mul', [g.op('Sub', [x, mean], { hint: `${name}.centered` }), invT], { hint: `${name}.z` });
      const p = g.op('Sigmoid', [z], { hint: `${name}.p` });
      const gate = g.op('Add', [g.op('Mul', [p, bT], { hint: `${name}.p1a` }), aT], { hint: `${name}.gate` });
      return g.op('Mul', [x, gate], { hint: `${name}.out` });
    }
  }
}

/** A dense stack of the plan (hidden layers with their activations, then the linear output of width 1). */
function mlp(g: GraphBuilder, x: string, layers: readonly DenseEval[]): string {
  let h = x;
  for (const l of layers) h = activation(g, linear(g, h, l), l.act, l.actName ?? l.name, l.outDim);
  return h;
}

/** ONNX-safe input name of a sample field: `<user|ctx>_<name>` with other characters replaced by `_`. */
export function sampleFieldInputName(group: 'user' | 'context', name: string): string {
  return `${group === 'user' ? 'user' : 'ctx'}_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/**
 * Builds the ONNX inference graph of a Base or DIN model (see the file header). The model's weights are read as they
 * are now; Dice uses its moving averages (eval mode).
 */
export function exportOnnx(model: Model, opts: OnnxExportOptions = {}): OnnxExport {
  const kind = model.config.model;
  if (!(model instanceof InterestModel) || (kind !== 'base' && kind !== 'din')) {
    throw new Error(`onnx export: model kind "${kind}" is not supported (supported: ${ONNX_EXPORT_KINDS.join(', ')})`);
  }
  const plan = model.inferencePlan();
  const items = plan.items;
  const D = plan.D;
  const catalog = items.catalog;
  const numItems = catalog.numItems;
  const g = new GraphBuilder();

  // ---- constants: the per-item encodings (+ a zero padding row reached by index −1) and biases
  const rows = numItems + 1;
  const table = new Float32Array(rows * D);
  const biasTable = items.bias ? items.bias.value : null;
  const bias = biasTable ? new Float32Array(rows) : null;
  const F = items.fields.length;
  const fieldValues = (catalog.itemFields ?? []).map((f) => f.values);
  const chunk = Math.max(1, opts.chunk ?? 4096);
  const goodsRow = new Int32Array(Math.min(chunk, Math.max(1, numItems)));
  const fieldIds = new Int32Array(goodsRow.length * F);
  for (let s = 0; s < numItems; s += chunk) {
    const n = Math.min(chunk, numItems - s);
    for (let i = 0; i < n; i++) {
      goodsRow[i] = items.goodsMap ? items.goodsMap[s + i] : s + i;
      for (let f = 0; f < F; f++) fieldIds[i * F + f] = fieldValues[f][s + i];
    }
    encodeItemsEval(items, n, goodsRow, catalog.attrOffsets.subarray(s), catalog.attrValues, fieldIds, table, s * D);
    if (bias) for (let i = 0; i < n; i++) bias[s + i] = goodsRow[i] >= 0 ? biasTable![goodsRow[i]] : 0;
  }
  const itemTable = g.f32('item_table', table, [rows, D]);
  const itemBias = bias ? g.f32('item_bias', bias, [rows]) : null;

  // ---- inputs
  const inputs: OnnxIoSpec[] = [
    { name: 'items', dtype: 'int64', shape: ['batch'], doc: `candidate item ids (catalog rows 0..${numItems - 1}; -1 = none)` },
    { name: 'hist', dtype: 'int64', shape: ['batch', 'history'], doc: 'behaviour item ids, oldest first, -1 padded' },
    { name: 'lengths', dtype: 'int64', shape: ['batch'], doc: 'valid behaviours per row (positions >= length are padding)' },
  ];
  const sf = plan.sampleFields;
  const fieldInputs: string[] = [];
  for (const f of sf?.fields ?? []) {
    const name = sampleFieldInputName(f.group, f.name);
    if (inputs.some((i) => i.name === name)) throw new Error(`onnx export: two sample fields map to the input name "${name}"`);
    inputs.push({ name, dtype: 'int64', shape: ['batch'], doc: `${f.group} field "${f.name}" id (0..${f.size - 1})` });
    fieldInputs.push(name);
  }
  for (const i of inputs) g.reserve(i.name);

  // ---- mask and item encodings
  const minus1 = g.constI64([-1], true);
  const tLen = g.op('Shape', ['hist'], { hint: 'T_1d', attrs: [attrInt('start', 1), attrInt('end', 2)] });
  const tScalar = g.squeeze(tLen, [0], 'T');
  const range = g.op('Range', [g.constI64([0], true), tScalar, g.constI64([1], true)], { hint: 'positions' });
  const mask = g.op('Less', [g.unsqueeze(range, [0], 'positions_row'), g.unsqueeze('lengths', [1], 'lengths_col')], { hint: 'mask' });
  const maskF = g.op('Cast', [mask], { hint: 'mask_f', attrs: [attrInt('to', FLOAT)] });
  const histIds = g.op('Where', [mask, g.op('Max', ['hist', minus1], { hint: 'hist_clamped' }), minus1], { hint: 'hist_ids' });
  const candIds = g.op('Max', ['items', minus1], { hint: 'item_ids' });
  const K = g.op('Gather', [itemTable, histIds], { hint: 'K', attrs: [attrInt('axis', 0)] }); // [B, T, D]
  const q = g.op('Gather', [itemTable, candIds], { hint: 'q', attrs: [attrInt('axis', 0)] }); // [B, D]

  // ---- behaviour weights w [B, T]
  let w: string;
  const att = plan.attention;
  if (att !== null) {
    const first = att.first;
    const H = att.H;
    // The unit's own folding (its eval form), in float32.
    const wqT = g.f32(`${first.name}.weight_q`, f32(first.Wq), [D, H]);
    const wkpT = g.f32(`${first.name}.weight_k_qk`, f32(first.Wkp), [2 * D, H]);
    const b0 = g.f32(`${first.name}.bias`, f32(first.b), [H]);
    const P = g.op('Add', [g.op('MatMul', [q, wqT], { hint: 'att.q_part' }), b0], { hint: 'att.q_part_b' }); // [B, H]
    const qk = g.op('Mul', [K, g.unsqueeze(q, [1], 'q_row')], { hint: 'att.q_times_k' }); // [B, T, D]
    const x2 = g.op('Concat', [K, qk], { hint: 'att.x2', attrs: [attrInt('axis', 2)] }); // [B, T, 2D]
    let y = g.op('Add', [g.op('MatMul', [x2, wkpT], { hint: 'att.k_part' }), g.unsqueeze(P, [1], 'att.q_part_row')], { hint: 'att.0.out' });
    y = mlp(g, activation(g, y, first.act, first.actName ?? first.name, H), att.rest);
    const s = g.squeeze(y, [2], 'att.score'); // [B, T]
    const zero = g.constF32(0);
    if (att.norm === 'none') {
      w = g.op('Where', [mask, s, zero], { hint: 'att.weights' });
    } else {
      const sc = g.op('Mul', [s, g.constF32(att.scale)], { hint: 'att.scaled' });
      const masked = g.op('Where', [mask, sc, g.constF32(-3.0e38)], { hint: 'att.scaled_masked' });
      const mx = g.op('ReduceMax', [masked], { hint: 'att.max', attrs: [attrInts('axes', [1]), attrInt('keepdims', 1)] });
      const ex = g.op('Exp', [g.op('Sub', [sc, mx], { hint: 'att.shifted' })], { hint: 'att.exp' });
      // Where (not Mul): on an all-padding row exp can overflow to ∞, and ∞·0 would be NaN.
      const e = g.op('Where', [mask, ex, zero], { hint: 'att.exp_masked' });
      const sum = g.op('ReduceSum', [e, g.constI64([1])], { hint: 'att.sum', attrs: [attrInt('keepdims', 1)] });
      w = g.op('Div', [e, g.op('Max', [sum, g.constF32(1e-30)], { hint: 'att.sum_safe' })], { hint: 'att.weights' });
    }
  } else if (plan.pooling === 'avg') {
    const count = g.op('ReduceSum', [maskF, g.constI64([1])], { hint: 'hist_count', attrs: [attrInt('keepdims', 1)] });
    w = g.op('Div', [maskF, g.op('Max', [count, g.constF32(1)], { hint: 'hist_count_safe' })], { hint: 'pool_weights' });
  } else {
    w = maskF;
  }
  // u = Σ_t w[b, t]·K[b, t, :] as a batched [1, T]·[T, D] product.
  const u = g.squeeze(g.op('MatMul', [g.unsqueeze(w, [1], 'w_row'), K], { hint: 'u_row' }), [1], 'u'); // [B, D]

  // ---- MLP input and output
  const parts = [u, q];
  if (plan.mlpInput === 'concat-product') parts.push(g.op('Mul', [u, q], { hint: 'u_times_q' }));
  if (sf) {
    sf.tables.forEach((t, k) => {
      const tab = g.f32(t.name, f32(t.value), [t.rows, t.dim]);
      parts.push(g.op('Gather', [tab, fieldInputs[k]], { hint: `${t.name}.emb`, attrs: [attrInt('axis', 0)] }));
    });
  }
  const x = g.op('Concat', parts, { hint: 'mlp_input', attrs: [attrInt('axis', 1)] });
  const y = g.squeeze(mlp(g, x, plan.mlp), [1], 'mlp_logit');
  let logit: string;
  if (itemBias) {
    const bv = g.op('Gather', [itemBias, candIds], { hint: 'item_bias_value', attrs: [attrInt('axis', 0)] });
    logit = g.op('Add', [y, bv], { out: 'logit' });
  } else {
    logit = g.op('Identity', [y], { out: 'logit' });
  }
  g.op('Sigmoid', [logit], { out: 'ctr' });

  const outputs: OnnxIoSpec[] = [
    { name: 'ctr', dtype: 'float32', shape: ['batch'], doc: 'click probability sigmoid(logit)' },
    { name: 'logit', dtype: 'float32', shape: ['batch'], doc: 'logit of the model (pre-sigmoid)' },
  ];
  const meta: Record<string, string> = {
    'din.model': kind,
    'din.num_items': String(numItems),
    'din.item_dim': String(D),
    'din.inputs': JSON.stringify(inputs.map(({ name, dtype, shape }) => ({ name, dtype, shape }))),
    ...(opts.metadata ?? {}),
  };
  const proto: onnxProto.onnx.IModelProto = {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'din',
    producerVersion: opts.producerVersion,
    domain: 'din',
    modelVersion: 1,
    docString: `Deep Interest Network (${kind}) inference graph exported by din. Inputs: ${inputs.map((i) => i.name).join(', ')}; outputs: ctr, logit.`,
    graph: {
      name: `din_${kind.replace(/-/g, '_')}`,
      node: g.nodes,
      initializer: g.initializers,
      input: inputs.map(valueInfo),
      output: outputs.map(valueInfo),
    },
    metadataProps: Object.entries(meta).map(([key, value]) => ({ key, value })),
  };
  const bytes = onnx.ModelProto.encode(onnx.ModelProto.create(proto)).finish();
  return { bytes, inputs, outputs, nodes: g.nodes.length, initializers: g.initializers.length, itemDim: D, itemRows: rows };
}

/** Loads a checkpoint directory, exports it and writes the .onnx file. */
export function exportCheckpointToOnnx(modelDir: string, outPath: string, opts: OnnxExportOptions = {}): OnnxExport {
  const { model, info } = loadCheckpoint(modelDir);
  const kind = info.config.model;
  if (!(ONNX_EXPORT_KINDS as readonly string[]).includes(kind)) {
    throw new Error(`${modelDir}: model kind "${kind}" cannot be exported to ONNX (supported: ${ONNX_EXPORT_KINDS.join(', ')})`);
  }
  const maxHistory = typeof info.train?.maxHistory === 'number' ? info.train.maxHistory : undefined;
  const result: OnnxExport = {
    ...exportOnnx(model, {
      ...opts,
      metadata: { 'din.dataset': info.dataset?.name ?? '', 'din.max_history': String(maxHistory ?? ''), ...(opts.metadata ?? {}) },
    }),
    maxHistory,
  };
  const problems = checkOnnxModel(readOnnxModel(result.bytes, outPath));
  if (problems.length > 0) throw new Error(`onnx export of ${modelDir}: the graph is malformed: ${problems.slice(0, 5).join('; ')}`);
  writeFileAtomic(outPath, result.bytes);
  return result;
}
