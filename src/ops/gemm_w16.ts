// gemmW16: a linear layer with f16 weights and f32 activations on the shader cores (shaders/gemm_wx.wgsl, gemm's
// tile): out [M, N] = x [M, K] · W^T, or out += that with `residual` (the f32 residual stream, in place). W is a
// Linear uploaded as f16 (uploadLinear: row chunks that fit a storage binding, each dispatch writing its own
// columns); no bias. The matrix units' twin is gemm_wx_matrix.ts.
import type { Gpu } from "../gpu/device.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { Linear } from "./gemm_common.ts";
import { gemmDefines, type GemmTile, pickTile } from "./gemm.ts";

/** The defines of one gemm_wx pipeline (shared with gemmW8): gemm's tile, the weight format, the epilogue. */
export function wxDefines(w8: boolean, K: number, tile: GemmTile, residual: boolean): Record<string, number | boolean> {
  const t = gemmDefines("f32", K, tile, "none", false);
  return { BM: t.BM, BN: t.BN, BK: t.BK, TM: t.TM, TN: t.TN, WGX: t.WGX, WGY: t.WGY, THREADS: t.THREADS, tm8: t.tm8, tn8: t.tn8,
    la2: t.la2, lb2: t.lb2, ahalf: t.ahalf, bhalf: t.bhalf, A_SMEM: t.A_SMEM, B_SMEM: t.B_SMEM, vec: t.vec, w8, f16: !w8, residual };
}

export function gemmW16(gpu: Gpu, x: Tensor, layer: Linear, out: Tensor, opts: { residual?: boolean; tile?: GemmTile } = {}): void {
  // 1. validate
  const name = layer.name ?? "linear";
  const N = layer.outFeatures, K = layer.inFeatures;
  if (layer.chunks.length === 0) throw new Error(`${name}: layer was freed`);
  if (layer.chunks[0].dtype !== "f16") throw new Error(`${name}: gemmW16 takes f16 weights, found ${layer.chunks[0].dtype}`);
  if (layer.bias) throw new Error(`${name}: gemmW16 has no bias (umT5's linears have none)`);
  if (x.shape.length !== 2 || x.shape[1] !== K || x.dtype !== "f32") throw new Error(`${name}: expected input x [M, ${K}] f32, found [${x.shape}] ${x.dtype}`);
  const M = x.shape[0];
  if (out.shape.length !== 2 || out.shape[0] !== M || out.shape[1] !== N || out.dtype !== "f32") throw new Error(`${name}: expected output [${M}, ${N}] f32, found [${out.shape}] ${out.dtype}`);
  if (out.buffer === x.buffer) throw new Error(`${name}: input and output share a buffer`);
  if (M === 0) return;
  // 2. pipeline key: gemm's tile (pickTile), vec reads, residual, the f16 feature check  3. uniforms  4. dispatch per chunk
  const defines = wxDefines(false, K, opts.tile ?? pickTile(M, N), opts.residual === true);
  const kernel = gpu.kernel("gemm_wx", defines);
  const BM = defines.BM as number, BN = defines.BN as number;
  let n0 = 0;
  for (const c of layer.chunks) {
    const n = c.shape[0];
    gpu.dispatch(kernel, { M, N: n, K, K4: Math.ceil(K / 4), ldo: N, n0 }, [x, c, out], [Math.ceil(n / BN), Math.ceil(M / BM)]);
    n0 += n;
  }
}
