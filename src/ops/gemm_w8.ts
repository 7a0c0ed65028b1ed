// gemmW8: a linear layer with int8 weights (one f32 scale per output channel) and f32 activations on the shader
// cores (shaders/gemm_wx.wgsl with w8, gemm's tile): out [M, N] = x [M, K] · (scale ⊙ q)^T, or out += that with `residual`. quantizeW8 makes
// the weights: scale_n = max_k |W[n, k]| / 127, q = round(W / scale_n) (symmetric, per output channel).
import type { Gpu } from "../gpu/device.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { type GemmTile, pickTile } from "./gemm.ts";
import { wxDefines } from "./gemm_w16.ts";

/** int8 weights on the GPU: row chunks of packed q [n_i, ceil(K/4)] u32 and their scales [n_i]. */
export interface LinearW8 {
  chunks: { q: Tensor; scale: Tensor; rows: number }[];
  outFeatures: number;
  inFeatures: number;
  name: string;
}

/**
 * W [N, K] -> q (int8, packed 4 per u32, rows padded to a whole word) and per-row scales; `dequantized` (W as the
 * kernel sees it, scale_n q[n, k] in f32) is computed when read, so an upload does not pay for it. Written for
 * speed (umT5-XXL's 5.7 B weights go through it at load): plain loops, no per-element Math.max / clamp calls.
 */
export function quantizeW8(w: Float32Array, N: number, K: number): { packed: Uint32Array; scale: Float32Array; readonly dequantized: Float32Array } {
  const K4 = Math.ceil(K / 4);
  const packed = new Uint32Array(N * K4), scale = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    const row = n * K, base = n * K4;
    let max = 0;
    for (let k = 0; k < K; k++) {
      const a = w[row + k], b = a < 0 ? -a : a;
      if (b > max) max = b;
    }
    const s = Math.fround(max / 127) || 1;
    scale[n] = s;
    for (let k = 0; k < K; k++) {
      let v = Math.round(w[row + k] / s);
      v = v > 127 ? 127 : v < -127 ? -127 : v;
      packed[base + (k >> 2)] |= (v & 0xff) << ((k & 3) << 3);
    }
  }
  let dq: Float32Array | null = null;
  return {
    packed,
    scale,
    get dequantized() {
      if (!dq) {
        dq = new Float32Array(N * K);
        for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) dq[n * K + k] = ((packed[n * K4 + (k >> 2)] << (24 - 8 * (k & 3))) >> 24) * scale[n];
      }
      return dq;
    },
  };
}

/** Quantizes W [N, K] and uploads it in row chunks that fit a storage binding. */
export function uploadLinearW8(gpu: Gpu, w: Float32Array, shape: [number, number], name: string, maxChunkBytes?: number): LinearW8 {
  const [N, K] = shape;
  if (w.length !== N * K) throw new Error(`${name}: weight has ${w.length} values, shape [${N}, ${K}] needs ${N * K}`);
  const { packed, scale } = quantizeW8(w, N, K);
  const K4 = Math.ceil(K / 4);
  const maxBytes = Math.min(maxChunkBytes ?? Infinity, gpu.limits.maxStorageBufferBindingSize);
  const rows = Math.max(1, Math.min(N, Math.floor(maxBytes / (K4 * 4) / 64) * 64 || Math.floor(maxBytes / (K4 * 4))));
  const chunks: LinearW8["chunks"] = [];
  for (let r0 = 0; r0 < N; r0 += rows) {
    const n = Math.min(rows, N - r0);
    const q = gpu.empty([n, K4], "f32", `${name}.q[${r0}:${r0 + n}]`); // 4-byte words holding packed int8
    const part = packed.subarray(r0 * K4, (r0 + n) * K4);
    gpu.writeBytes(q.buffer, q.offset, part.buffer, part.byteOffset, part.byteLength);
    chunks.push({ q, scale: gpu.upload(scale.subarray(r0, r0 + n), [n], "f32", `${name}.scale[${r0}:${r0 + n}]`), rows: n });
  }
  return { chunks, outFeatures: N, inFeatures: K, name };
}

export function freeLinearW8(gpu: Gpu, l: LinearW8): void {
  for (const c of l.chunks) {
    gpu.freeTensor(c.q);
    gpu.freeTensor(c.scale);
  }
  l.chunks = [];
}

export function gemmW8(gpu: Gpu, x: Tensor, layer: LinearW8, out: Tensor, opts: { residual?: boolean; tile?: GemmTile } = {}): void {
  // 1. validate
  const N = layer.outFeatures, K = layer.inFeatures, name = layer.name;
  if (layer.chunks.length === 0) throw new Error(`${name}: layer was freed`);
  if (x.shape.length !== 2 || x.shape[1] !== K || x.dtype !== "f32") throw new Error(`${name}: expected input x [M, ${K}] f32, found [${x.shape}] ${x.dtype}`);
  const M = x.shape[0];
  if (out.shape.length !== 2 || out.shape[0] !== M || out.shape[1] !== N || out.dtype !== "f32") throw new Error(`${name}: expected output [${M}, ${N}] f32, found [${out.shape}] ${out.dtype}`);
  if (out.buffer === x.buffer) throw new Error(`${name}: input and output share a buffer`);
  if (M === 0) return;
  // 2. pipeline key: gemm's tile (pickTile), vec reads, residual  3. uniforms  4. dispatch per chunk
  const defines = wxDefines(true, K, opts.tile ?? pickTile(M, N), opts.residual === true);
  const kernel = gpu.kernel("gemm_wx", defines);
  const BM = defines.BM as number, BN = defines.BN as number, K4 = Math.ceil(K / 4);
  let n0 = 0;
  for (const c of layer.chunks) {
    gpu.dispatch(kernel, { M, N: c.rows, K, K4, ldo: N, n0 }, [x, c.q, out, c.scale], [Math.ceil(c.rows / BN), Math.ceil(M / BM)]);
    n0 += c.rows;
  }
}
