/**
 * Reading and structurally checking ONNX files (the exporter's self-check and the tests'). Kept apart from onnx.ts so
 * the exporter's public declarations never mention onnx-proto's generated types, whose .d.ts does not type-check
 * on its own (it names protobufjs's `Long` without importing it): a consumer with `skipLibCheck: false` stays clean.
 */
import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
/** A decoded ONNX model (onnx-proto's message type). */
export type ModelProto = onnxProto.onnx.ModelProto;

const FLOAT = 1; // TensorProto.DataType.FLOAT
const BOOL = 9;
const INT64 = 7;

/** Decodes an ONNX file (throws with the path if it is not a ModelProto). */
export function readOnnxModel(bytes: Uint8Array, where = 'onnx'): ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new Error(`${where}: not a valid ONNX ModelProto (${(e as Error).message})`);
  }
}

/**
 * Structural checks of a decoded model: a graph, an opset, every node input defined before use (graph input,
 * initializer or an earlier node's output), unique value names, initializers whose raw data match their dims, and
 * every graph output produced. Returns a list of problems (empty = fine). No operator semantics: a runtime checks those.
 */
export function checkOnnxModel(m: ModelProto): string[] {
  const problems: string[] = [];
  const g = m.graph;
  if (!g) return ['no graph'];
  if (!m.opsetImport?.length) problems.push('no opset_import');
  const defined = new Set<string>();
  const define = (name: string, what: string) => {
    if (defined.has(name)) problems.push(`${what} "${name}" is defined twice`);
    defined.add(name);
  };
  for (const i of g.input ?? []) define(i.name ?? '', 'input');
  for (const t of g.initializer ?? []) {
    define(t.name ?? '', 'initializer');
    const count = (t.dims ?? []).reduce<number>((a, d) => a * Number(d), 1);
    const size = t.dataType === FLOAT ? 4 : t.dataType === INT64 ? 8 : t.dataType === BOOL ? 1 : 0;
    const have = t.rawData?.length ?? 0;
    if (size > 0 && have > 0 && have !== count * size) problems.push(`initializer "${t.name}": ${have} bytes for dims [${t.dims}]`);
  }
  for (const n of g.node ?? []) {
    for (const i of n.input ?? []) if (i !== '' && !defined.has(i)) problems.push(`node ${n.name} (${n.opType}) reads "${i}" before it is defined`);
    for (const o of n.output ?? []) define(o, `output of node ${n.name}`);
  }
  for (const o of g.output ?? []) if (!defined.has(o.name ?? '')) problems.push(`graph output "${o.name}" is never produced`);
  return problems;
}

/** Reads and structurally checks an exported file (re-decode + {@link checkOnnxModel}). */
export function readOnnxFile(path: string): ModelProto {
  const m = readOnnxModel(readFileSync(path), path);
  const problems = checkOnnxModel(m);
  if (problems.length > 0) throw new Error(`${path}: ${problems.slice(0, 5).join('; ')}`);
  return m;
}
