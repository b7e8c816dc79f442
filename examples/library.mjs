import { loadDataset, train, RankingEngine, relaImpr } from 'din';

// Any source loads the same way: a folder of Amazon, MovieLens or Taobao files, or a schema .json for your own logs.
const data = await loadDataset({ path: 'synthetic:small' });
const base = await train(data, { model: 'base', epochs: 1 });
const din = await train(data, { model: 'din', epochs: 1 });
const [b, d] = [base.metrics.test, din.metrics.test]; // GAUC, AUC, log loss on the test split
console.log(`GAUC: base ${b.gauc.toFixed(4)}, DIN ${d.gauc.toFixed(4)}, RelaImpr ${relaImpr(d.gauc, b.gauc).toFixed(2)}%`);

din.save('runs/library-din'); // model.json + weights.safetensors, as `din train --out` writes them
const engine = RankingEngine.load('runs/library-din'); // what `din serve` runs
const item = (i) => ({ id: data.catalog.itemKeys[i] });
const answer = engine.explain({
  user: { behaviors: [item(1), item(2), item(3)] }, // oldest first
  candidates: [{ ...item(4), bid: 1.5 }, { ...item(5), bid: 0.8 }, { ...item(6), bid: 1.2 }],
});
for (const c of answer.candidates) {
  const weights = c.attention.map((w) => w.toFixed(2)).join(' ');
  console.log(`#${c.rank} item ${c.id}: ctr ${c.ctr.toFixed(3)}, eCPM ${c.ecpm.toFixed(3)}, attention [${weights}]`);
}
