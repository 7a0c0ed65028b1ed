// Float64 reference of gemmW8 (shaders/gemm_wx.wgsl with w8): Y = X Wd^T (+ Y0), Wd the dequantized weights (quantizeW8's
// `dequantized`: scale_n * q[n, k], exact in f32), so this checks the kernel's unpacking and sums exactly.
import { gemmRef } from "./gemm.ts";

export function gemmW8Ref(x: Float64Array, wd: Float64Array, M: number, N: number, K: number, y0: Float64Array | null = null): Float64Array {
  return gemmRef(x, wd, null, M, N, K, y0 ? "residual" : "none", y0);
}
