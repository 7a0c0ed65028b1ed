// gemmW16: a linear layer with f16 weights and f32 activations (see shaders/gemm_w16.wgsl): out [M, N] = x [M, K]
// · W^T, or out += that with `residual` (the f32 residual stream, in place). W is a Linear uploaded as f16
// (uploadLinear: row chunks that fit a storage binding, each dispatch writing its own columns); no bias.
import type { Gpu } from "../gpu/device.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { Linear } from "./gemm_common.ts";

export function gemmW16(gpu: Gpu, x: Tensor, layer: Linear, out: Tensor, opts: { residual?: boolean } = {}): void {
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
  // 2. pipeline key: epilogue (and the f16 feature check)  3. uniforms  4. dispatch: a 64 x 64 tile per workgroup, per chunk
  const kernel = gpu.kernel("gemm_w16", { f16: true, residual: opts.residual === true });
  let n0 = 0;
  for (const c of layer.chunks) {
    const n = c.shape[0];
    gpu.dispatch(kernel, { M, N: n, K, ldo: N, n0 }, [x, c, out], [Math.ceil(n / 64), Math.ceil(M / 64)]);
    n0 += n;
  }
}
