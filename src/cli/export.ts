import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createBackend } from '../kernels/backends.js';
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
  cmd.option('--model <dir>', 'model directory written by `din train --out`');
  cmd.option('--store <url>', 'instead of --model: the run of a Redis store (redis://host:port[,…]), as of its last checkpoint');
  cmd.option('--store-name <name>', 'with --store: the run\'s namespace');
  cmd.option('--to <dir>', 'write the model as an ordinary checkpoint directory (model.json + weights.safetensors): with --store, the way out of the store');
  cmd.option('--onnx <file>', 'the .onnx file to write');
  cmd.option('--json', 'print the graph\'s inputs and outputs as JSON');
  cmd.action(async (o) => {
    if (!o.onnx && !o.to) throw new Error('give --onnx FILE and/or --to DIR');
    if (o.store) {
      if (o.model) throw new Error('give either --model DIR or --store URL, not both');
      if (!o.storeName) throw new Error('--store needs --store-name');
      const { loadModelFromStore } = await import('../train/store-model.js');
      const trained = await loadModelFromStore(o.store, o.storeName, createBackend('js-f32'));
      const dir = o.to ? resolve(o.to) : mkdtempSync(join(tmpdir(), 'din-export-'));
      trained.save(dir);
      if (o.to) log(`wrote ${dir} (model.json, weights.safetensors) from ${o.store} ${o.storeName}`);
      else process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
      o.model = dir;
    } else if (o.to) {
      if (!o.model) throw new Error('--to copies a model: give --model DIR or --store URL');
      const { TrainedModel } = await import('../train/trained-model.js');
      TrainedModel.load(o.model, { backend: 'js-f32' }).save(resolve(o.to));
      log(`wrote ${resolve(o.to)} from ${o.model}`);
    }
    if (!o.model) throw new Error('give --model DIR (a `din train --out` directory) or --store URL --store-name NAME');
    if (!o.onnx) return;
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
