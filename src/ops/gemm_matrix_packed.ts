// The packed matrix GEMM (shaders/gemm_matrix_packed.wgsl): both operands in 16 x 16 tiles of 512
// contiguous bytes (shaders/gemm_pack.wgsl), loaded as subgroup matrices straight from storage, no
// workgroup staging. The weights are packed once per layer (packLinear, kept in Linear.packed: a second
// copy of the weight); X is packed per call into a pooled scratch. gemm() (src/ops/gemm.ts) validates the
// operands and calls gemmMatrixPacked for kernel "packed".
import type { Gpu } from "../gpu/device.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { epilogueDefines, type GemmEpilogue, type Linear } from "./gemm_common.ts";
import { matrixGemmSupport } from "./gemm_matrix.ts";
import { packedElements, packLinear, packRows } from "./gemm_pack.ts";

/** SGR x SGC subgroups, each owning TR x TC result matrices of 16 x 16: BM = 16 TR SGR, BN = 16 TC SGC. */
export interface PackedTile {
  SGR: number;
  SGC: number;
  TR: 2 | 4;
  TC: 2 | 4;
  /** Diagnostic: every K step reads slice 0 (wrong results; the sweep times the products without the operand stream). */
  samek?: boolean;
}

/** Named configurations "BMxBN/TRxTC" (the bench and the sweep run them by name). */
export const PACKED_TILES: Record<string, PackedTile> = {
  "128x128/4x4": { SGR: 2, SGC: 2, TR: 4, TC: 4 },
  "256x128/4x4": { SGR: 4, SGC: 2, TR: 4, TC: 4 },
  "128x256/4x4": { SGR: 2, SGC: 4, TR: 4, TC: 4 },
  "128x128/2x4": { SGR: 4, SGC: 2, TR: 2, TC: 4 },
  "128x128/4x2": { SGR: 2, SGC: 4, TR: 4, TC: 2 },
  "64x128/2x4": { SGR: 2, SGC: 2, TR: 2, TC: 4 },
  "64x64/2x2": { SGR: 2, SGC: 2, TR: 2, TC: 2 },
  "64x64/4x4": { SGR: 1, SGC: 1, TR: 4, TC: 4 },
};

/** The name of a packed tile in PACKED_TILES (or its JSON). */
export function packedTileName(tile: PackedTile): string {
  return Object.entries(PACKED_TILES).find(([, v]) => JSON.stringify(v) === JSON.stringify(tile))?.[0] ?? JSON.stringify(tile);
}

/** The defines of one gemm_matrix_packed pipeline; throws naming the tile when it cannot be built. */
export function packedGemmDefines(tile: PackedTile, subgroupSize: number, epilogue: GemmEpilogue, hasBias: boolean): Record<string, number | boolean> {
  const { SGR, SGC, TR, TC } = tile;
  if (!((TR === 2 || TR === 4) && (TC === 2 || TC === 4) && SGR >= 1 && SGC >= 1 && Number.isInteger(SGR) && Number.isInteger(SGC))) {
    throw new Error(`gemm_matrix_packed: unsupported tile ${JSON.stringify(tile)} (TR, TC 2 or 4; SGR, SGC positive integers)`);
  }
  return {
    SG: subgroupSize, SGR, SGC, TR, TC, tr4: TR === 4, tc4: TC === 4,
    THREADS: SGR * SGC * subgroupSize, BM: 16 * TR * SGR, BN: 16 * TC * SGC,
    C_SMEM: SGR * SGC * TC * 256,
    samek: !!tile.samek,
    ...epilogueDefines(epilogue, hasBias),
  };
}

/** Workgroup memory of a packed tile: the epilogue's scratch only, TC result matrices of f32 per subgroup. */
export function packedWorkgroupBytes(t: PackedTile): number {
  return t.SGR * t.SGC * t.TC * 256 * 4;
}

/** The default packed tile (call A, one H100: 128x128/4x4 153.8 TFLOP/s at 32760x1536x8960, 256x128/4x4 145.0, 128x256/4x4 144.0, 128x128/2x4 100.7). */
export const PACKED_TILE_DEFAULT = "128x128/4x4";

/**
 * Dispatches out[M, N] = epilogue(x · W^T + b) through the packed kernel: packs x into a pooled scratch,
 * then one dispatch per packed weight chunk. Operands validated by gemm().
 */
export function gemmMatrixPacked(
  gpu: Gpu,
  x: Tensor,
  layer: Linear,
  out: Tensor,
  epilogue: GemmEpilogue,
  gate: { tensor: Tensor; offset: number } | undefined,
  tile: PackedTile = PACKED_TILES[PACKED_TILE_DEFAULT],
): void {
  const name = layer.name ?? "linear";
  const support = matrixGemmSupport(gpu);
  if (!support.ok) throw new Error(`${name}: the packed matrix gemm cannot run: ${support.reason}`);
  if (x.dtype !== "f16") throw new Error(`${name}: the packed matrix gemm takes f16 operands, found ${x.dtype}`);
  const threads = tile.SGR * tile.SGC * support.subgroupSize;
  if (packedWorkgroupBytes(tile) > gpu.limits.maxComputeWorkgroupStorageSize || threads > gpu.limits.maxComputeInvocationsPerWorkgroup) {
    throw new Error(`${name}: packed tile ${JSON.stringify(tile)} needs ${packedWorkgroupBytes(tile)} bytes of workgroup memory and ${threads} invocations; the adapter allows ${gpu.limits.maxComputeWorkgroupStorageSize} and ${gpu.limits.maxComputeInvocationsPerWorkgroup}`);
  }
  const M = x.shape[0], N = layer.outFeatures, K = layer.inFeatures;
  const packed = packLinear(gpu, layer);
  const xp = gpu.empty([packedElements(M, K)], "f16", `${name}: packed x`);
  packRows(gpu, x, xp, name);
  const d = packedGemmDefines(tile, support.subgroupSize, epilogue, layer.bias !== null);
  const kernel = gpu.kernel("gemm_matrix_packed", d);
  const BM = d.BM as number, BN = d.BN as number;
  const extra: Tensor[] = [];
  if (gate) extra.push(gate.tensor);
  if (layer.bias) extra.push(layer.bias);
  const mTiles = Math.ceil(M / BM);
  const gy = Math.min(mTiles, 65535), gz = Math.ceil(mTiles / 65535);
  let n0 = 0;
  for (const c of packed) {
    gpu.dispatch(kernel, { M, N: c.rows, K, n0, ldo: N, gateOffset: gate?.offset ?? 0 }, [xp, c.w, out, ...extra], [Math.ceil(c.rows / BN), gy, gz]);
    n0 += c.rows;
  }
  gpu.freeTensor(xp);
  if (n0 !== N) throw new Error(`${name}: packed weight chunks cover ${n0} rows, expected ${N}`);
}
