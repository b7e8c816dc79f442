import { resolve } from 'node:path';
import { Command } from 'commander';
import { exportCheckpointToOnnx, ONNX_EXPORT_KINDS, ONNX_OPSET, type OnnxIoSpec } from '../export/onnx.js';
import { log } from './common.js';

function describe(s: OnnxIoSpec): string {
  return `  ${s.name.padEnd(10)} ${s.dtype.padEnd(7)} [${s.shape.join(', ')}]  ${s.doc}`;
}

/** `din export --model runs/X --onnx model.onnx`: the inference graph of a checkpoint as an ONNX file. */
export function exportCommand(): Command {
  const cmd = new Command('export').description(
    `export a saved model to ONNX (opset ${ONNX_OPSET}, float32; kinds: ${ONNX_EXPORT_KINDS.join(', ')}) for serving with any ONNX runtime`,
  );
  cmd.requiredOption('--model <dir>', 'model directory written by `din train --out`');
  cmd.requiredOption('--onnx <file>', 'the .onnx file to write');
  cmd.option('--json', 'print the graph\'s inputs and outputs as JSON');
  cmd.action((o) => {
    const out = resolve(o.onnx);
    const r = exportCheckpointToOnnx(o.model, out);
    if (o.json) {
      console.log(JSON.stringify({ file: out, bytes: r.bytes.length, inputs: r.inputs, outputs: r.outputs }, null, 2));
      return;
    }
    log(`wrote ${out} (${(r.bytes.length / 1e6).toFixed(2)} MB, ${r.nodes} nodes; item_table ${r.itemRows} × ${r.itemDim}, last row = padding id -1)`);
    console.log('inputs (ids are rows of model.json catalog.itemKeys / sampleFields[k].keys):');
    for (const i of r.inputs) console.log(describe(i));
    console.log('outputs:');
    for (const i of r.outputs) console.log(describe(i));
    if (r.maxHistory !== undefined) {
      console.log(`histories: pass each user's most recent ${r.maxHistory} behaviours (the truncation the model was trained and evaluated with)`);
    }
  });
  return cmd;
}
