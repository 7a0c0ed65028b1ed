// gemmWxMatrix: the weight-only linear layers of gemmW16 (f16 W) and gemmW8 (int8 W, per-channel scales) on the
// matrix units (shaders/gemm_wx_matrix.wgsl): out [M, N] (+)= x [M, K] · W^T with x f32. x is first split into
// f16 hi + lo with a power-of-two scale per row (splitF16), and both halves meet every weight in one f32
// accumulation, so the product keeps f32's accuracy of x (parts 2, the default); parts 1 (hi only) rounds x to
// f16 (the bench measures both). Needs subgroup matrices with an f16 -> f32 16x16x16 config (matrixGemmSupport).
import type { Gpu } from "../gpu/device.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { Linear } from "./gemm_common.ts";
import { MATRIX_TILES, matrixGemmSupport, type MatrixTile, matrixTileDefines, matrixTileFits } from "./gemm_matrix.ts";
import type { LinearW8 } from "./gemm_w8.ts";
import { splitF16 } from "./gemm_wx_split.ts";

/** A weight-only layer: f16 rows (uploadLinear with dtype f16) or int8 rows with scales (uploadLinearW8). */
export type WxLinear = { kind: "w16"; layer: Linear } | { kind: "w8"; layer: LinearW8 };

/**
 * The default tile: the first of these within the adapter's limits. Staged tiles only (the weights are not an
 * [N, K'] vec4<f16> array). The umT5 shapes have M = the prompt's tokens (<= 512), so smaller tiles than the
 * DiT's 256 x 128 keep more workgroups in flight: bench/umt5_encoder.ts --wx-tiles measures the choices.
 */
export const WX_TILE_ORDER = ["128x128x32/4x4", "128x128x16/2x2", "64x64x16/2x2", "64x64x32/2x2s"];

export interface WxMatrixOptions {
  residual?: boolean;
  /** 2: hi and lo (f32 accuracy of x, the default); 1: hi only (x rounded to f16). */
  parts?: 1 | 2;
  tile?: MatrixTile;
}

/** Whether the matrix path can run here (and why not). */
export function wxMatrixSupport(gpu: Gpu): { ok: true; subgroupSize: number } | { ok: false; reason: string } {
  if (!gpu.features.f16) return { ok: false, reason: `${gpu.label} has no shader-f16` };
  return matrixGemmSupport(gpu);
}

export function pickWxTile(gpu: Gpu, subgroupSize: number): MatrixTile {
  for (const name of WX_TILE_ORDER) if (matrixTileFits(gpu, MATRIX_TILES[name], subgroupSize)) return MATRIX_TILES[name];
  throw new Error(`${gpu.label}: no weight-only matrix tile fits maxComputeWorkgroupStorageSize ${gpu.limits.maxComputeWorkgroupStorageSize}`);
}

/** The defines of one gemm_wx_matrix pipeline (exported for the compile test and the bench). */
export function wxMatrixDefines(kind: "w16" | "w8", K: number, tile: MatrixTile, subgroupSize: number, residual: boolean): Record<string, number | boolean> {
  return { w8: kind === "w8", vec: kind === "w16" && K % 4 === 0, residual, ...matrixTileDefines({ ...tile, bdirect: false }, subgroupSize) };
}

export function gemmWxMatrix(gpu: Gpu, x: Tensor, w: WxLinear, out: Tensor, opts: WxMatrixOptions = {}): void {
  // 1. validate
  const layer = w.layer, name = layer.name ?? "linear";
  const N = layer.outFeatures, K = layer.inFeatures, parts = opts.parts ?? 2;
  if (layer.chunks.length === 0) throw new Error(`${name}: layer was freed`);
  if (w.kind === "w16" && w.layer.chunks[0].dtype !== "f16") throw new Error(`${name}: the w16 matrix gemm takes f16 weights, found ${w.layer.chunks[0].dtype}`);
  if (w.kind === "w16" && w.layer.bias) throw new Error(`${name}: the weight-only matrix gemm has no bias`);
  if (x.shape.length !== 2 || x.shape[1] !== K || x.dtype !== "f32") throw new Error(`${name}: expected input x [M, ${K}] f32, found [${x.shape}] ${x.dtype}`);
  const M = x.shape[0];
  if (out.shape.length !== 2 || out.shape[0] !== M || out.shape[1] !== N || out.dtype !== "f32") throw new Error(`${name}: expected output [${M}, ${N}] f32, found [${out.shape}] ${out.dtype}`);
  if (out.buffer === x.buffer) throw new Error(`${name}: input and output share a buffer`);
  const support = wxMatrixSupport(gpu);
  if (!support.ok) throw new Error(`${name}: the weight-only matrix gemm cannot run: ${support.reason}`);
  const tile = { ...(opts.tile ?? pickWxTile(gpu, support.subgroupSize)), bdirect: false };
  if (!matrixTileFits(gpu, tile, support.subgroupSize)) throw new Error(`${name}: matrix tile ${JSON.stringify(tile)} does not fit ${gpu.label}'s workgroup limits`);
  if (M === 0) return;
  // 2. pipeline key: weight kind, vec reads, residual, the tile  3. uniforms  4. dispatch: the split, then per chunk
  const defines = wxMatrixDefines(w.kind, K, tile, support.subgroupSize, opts.residual === true);
  const kernel = gpu.kernel("gemm_wx_matrix", { f16: true, ...defines });
  const { xp, s, Kp } = splitF16(gpu, x, parts);
  const BM = defines.BM as number, BN = defines.BN as number, K4 = Math.ceil(K / 4), KX = parts * Kp;
  const gy = Math.ceil(M / BM), grid = (n: number): [number, number, number] => [Math.ceil(n / BN), Math.min(gy, 65535), Math.ceil(gy / 65535)];
  let n0 = 0;
  if (w.kind === "w16") {
    for (const c of w.layer.chunks) {
      const n = c.shape[0];
      gpu.dispatch(kernel, { M, N: n, K, Kp, KX, K4, ldo: N, n0 }, [xp, c, s, out], grid(n));
      n0 += n;
    }
  } else {
    for (const c of w.layer.chunks) {
      gpu.dispatch(kernel, { M, N: c.rows, K, Kp, KX, K4, ldo: N, n0 }, [xp, c.q, s, out, c.scale], grid(c.rows));
      n0 += c.rows;
    }
  }
  // the queue orders these after the dispatches that read them (Gpu.release)
  gpu.freeTensor(xp);
  gpu.freeTensor(s);
  if (n0 !== N) throw new Error(`${name}: weight chunks cover ${n0} rows, expected ${N}`);
}
