// The one scratch region the JS side hands the kernels at startup (16-byte aligned): the activation kernels'
// constant table first, then the gemm packing buffers.
import { setScratch as gemmSetScratch, scratchBytes as gemmScratchBytes } from './gemm';
import { ACT_CONSTANT_BYTES, setConstants } from './math';

export function setScratch(ptr: usize, bytes: i32): i32 {
  if (bytes < ACT_CONSTANT_BYTES + gemmScratchBytes() || (ptr & 15) != 0) return 0;
  setConstants(ptr);
  return gemmSetScratch(ptr + <usize>ACT_CONSTANT_BYTES, bytes - ACT_CONSTANT_BYTES);
}

export function scratchBytes(): i32 {
  return ACT_CONSTANT_BYTES + gemmScratchBytes();
}
