// Entry point of the kernel module: every export here is a WASM export. Pointers are byte offsets into the memory
// the JS side imports (`env.memory`); sizes are element counts. The JS side (src/kernels/wasm-backend.ts) owns the
// allocator; kernels never allocate.
export { setScratch, scratchBytes } from './scratch';
export { gemm } from './gemm';
export {
  sumSquares, addBias, sumRows, gather, scatterAddRows, attnInput, attnInputBackward, attnPairs, attnPairsBackward, weightedSum,
  weightedSumBackward,
} from './ops';
export { preluForward, preluBackward, diceForward, diceBackward, diceStatsPerChannel, diceSumShifted, diceForwardStats,
  diceBackwardSums, diceBackwardCorrect } from './activations';
export { adamUpdate } from './adam';
export { evalActivationGrid, pairProducts } from './eval';
