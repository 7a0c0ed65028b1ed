// Float64 reference of gemmW16 (shaders/gemm_wx.wgsl): Y = X W^T (+ Y0 with the residual epilogue); W's f16 rounding is the
// caller's (the test rounds W on the host, so this sees exactly the stored weights).
import { gemmRef } from "./gemm.ts";

export function gemmW16Ref(x: Float64Array, w: Float64Array, M: number, N: number, K: number, y0: Float64Array | null = null): Float64Array {
  return gemmRef(x, w, null, M, N, K, y0 ? "residual" : "none", y0);
}
