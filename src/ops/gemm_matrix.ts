// gemm on the matrix units (shaders/gemm_matrix.wgsl): f16 X and W, f32 accumulation, f16 Y, the same
// epilogues and weight chunks as the scalar gemm. src/ops/gemm.ts validates the operands and calls this
// when the device has subgroup matrices with an f16 -> f32 16x16x16 config and the run is f16.
import type { Gpu } from "../gpu/device.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { dispatchChunks, epilogueDefines, type GemmEpilogue, type Linear } from "./gemm_common.ts";

/**
 * Workgroup tile of the matrix kernel: SGR x SGC subgroups, each owning 2 x TC result matrices of
 * 16 x 16 (TC 2 or 4), so BM = 32 SGR, BN = 16 TC SGC; K step BK (16 or 32), rows padded by PAD halves.
 */
export interface MatrixTile {
  SGR: number;
  SGC: number;
  TC: 2 | 4;
  BK: number;
  PAD: number;
}

/** Named configurations (the bench sweeps these by name). */
export const MATRIX_TILES: Record<string, MatrixTile> = {
  "64x64x32": { SGR: 2, SGC: 2, TC: 2, BK: 32, PAD: 8 },
  "64x64x16": { SGR: 2, SGC: 2, TC: 2, BK: 16, PAD: 8 },
  "64x128x32": { SGR: 2, SGC: 4, TC: 2, BK: 32, PAD: 8 },
  "128x64x32": { SGR: 4, SGC: 2, TC: 2, BK: 32, PAD: 8 },
  "128x128x16": { SGR: 4, SGC: 4, TC: 2, BK: 16, PAD: 8 },
  "64x128x16t4": { SGR: 2, SGC: 2, TC: 4, BK: 16, PAD: 8 },
  "128x128x32t4": { SGR: 4, SGC: 2, TC: 4, BK: 32, PAD: 8 },
  "64x256x16t4": { SGR: 2, SGC: 4, TC: 4, BK: 16, PAD: 8 },
};

/** The default tile (first that fits the adapter's limits; measured on the H200, bench/RESULTS.md). */
export const MATRIX_TILE_ORDER = ["128x128x16", "64x64x16", "64x64x32"];

/** Whether the matrix kernel can run on this device: an f16 x f16 -> f32 16x16x16 config and one subgroup size. */
export function matrixGemmSupport(gpu: Gpu): { ok: true; subgroupSize: number } | { ok: false; reason: string } {
  const f = gpu.features;
  if (!f.subgroupMatrix) return { ok: false, reason: `${gpu.label} (${gpu.implementation}) has no chromium-experimental-subgroup-matrix feature` };
  const cfg = f.subgroupMatrixConfigs.find((c) => c.componentType === "f16" && c.resultComponentType === "f32" && c.M === 16 && c.N === 16 && c.K === 16);
  if (!cfg) return { ok: false, reason: `${gpu.label}: no f16 -> f32 16x16x16 subgroup matrix config` };
  if (!(f.subgroupMinSize > 0 && f.subgroupMinSize === f.subgroupMaxSize)) {
    return { ok: false, reason: `${gpu.label}: subgroup size varies (${f.subgroupMinSize}..${f.subgroupMaxSize}); the kernel needs one` };
  }
  return { ok: true, subgroupSize: f.subgroupMaxSize };
}

/** Bytes of workgroup memory of a tile: the double-buffered X and W tiles in f16, plus a 16x16 f32 scratch per subgroup. */
export function matrixWorkgroupBytes(t: MatrixTile): number {
  const BM = 32 * t.SGR, BN = 16 * t.TC * t.SGC;
  return 2 * (BM + BN) * (t.BK + t.PAD) * 2 + t.SGR * t.SGC * 256 * 4;
}

/** The defines of one pipeline (exported for the bench, which reports them). */
export function matrixGemmDefines(K: number, tile: MatrixTile, subgroupSize: number, epilogue: GemmEpilogue, hasBias: boolean): Record<string, number | boolean> {
  const { SGR, SGC, TC, BK, PAD } = tile;
  const THREADS = SGR * SGC * subgroupSize, BM = 32 * SGR, BN = 16 * TC * SGC;
  const LA = (BM * BK) / 4 / THREADS, LB = (BN * BK) / 4 / THREADS;
  const ok = (TC === 2 || TC === 4) && (BK === 16 || BK === 32) && PAD % 4 === 0 && [1, 2, 4].includes(LA) && [1, 2, 4].includes(LB);
  if (!ok) {
    throw new Error(`gemm_matrix: unsupported tile ${JSON.stringify(tile)} with subgroup size ${subgroupSize} (TC 2 or 4, BK 16 or 32, 1, 2 or 4 vec4 loads of X and W per invocation; got ${LA} and ${LB})`);
  }
  return {
    vec: K % 4 === 0,
    SG: subgroupSize, SGC, THREADS, BM, BN, BK, PAD,
    TCOLS: 16 * TC,
    tc4: TC === 4,
    bk32: BK === 32,
    la2: LA >= 2, la4: LA === 4,
    lb2: LB >= 2, lb4: LB === 4,
    A_SMEM: 2 * BM * (BK + PAD),
    B_SMEM: 2 * BN * (BK + PAD),
    C_SMEM: SGR * SGC * 256,
    ...epilogueDefines(epilogue, hasBias),
  };
}

/** The default tile on this device: the first of MATRIX_TILE_ORDER within its workgroup memory and invocation limits. */
export function pickMatrixTile(gpu: Gpu, subgroupSize: number): MatrixTile {
  for (const name of MATRIX_TILE_ORDER) {
    const t = MATRIX_TILES[name];
    if (fits(gpu, t, subgroupSize)) return t;
  }
  throw new Error(`${gpu.label}: no matrix GEMM tile fits maxComputeWorkgroupStorageSize ${gpu.limits.maxComputeWorkgroupStorageSize} and maxComputeInvocationsPerWorkgroup ${gpu.limits.maxComputeInvocationsPerWorkgroup}`);
}

function fits(gpu: Gpu, t: MatrixTile, subgroupSize: number): boolean {
  return matrixWorkgroupBytes(t) <= gpu.limits.maxComputeWorkgroupStorageSize &&
    t.SGR * t.SGC * subgroupSize <= gpu.limits.maxComputeInvocationsPerWorkgroup;
}

/**
 * Dispatches out[M, N] = epilogue(x · W^T + b) on the matrix units. The operands were validated by gemm()
 * (shapes, f16, offsets, gate); this checks the device and the tile.
 */
export function gemmMatrix(
  gpu: Gpu,
  x: Tensor,
  layer: Linear,
  out: Tensor,
  epilogue: GemmEpilogue,
  gate: { tensor: Tensor; offset: number } | undefined,
  tile?: MatrixTile,
): void {
  const name = layer.name ?? "linear";
  const support = matrixGemmSupport(gpu);
  if (!support.ok) throw new Error(`${name}: the matrix gemm cannot run: ${support.reason}`);
  if (x.dtype !== "f16") throw new Error(`${name}: the matrix gemm takes f16 operands, found ${x.dtype}`);
  const t = tile ?? pickMatrixTile(gpu, support.subgroupSize);
  if (!fits(gpu, t, support.subgroupSize)) {
    throw new Error(`${name}: matrix tile ${JSON.stringify(t)} needs ${matrixWorkgroupBytes(t)} bytes of workgroup memory and ${t.SGR * t.SGC * support.subgroupSize} invocations; the adapter allows ${gpu.limits.maxComputeWorkgroupStorageSize} and ${gpu.limits.maxComputeInvocationsPerWorkgroup}`);
  }
  const defines = matrixGemmDefines(layer.inFeatures, t, support.subgroupSize, epilogue, layer.bias !== null);
  dispatchChunks(gpu, gpu.kernel("gemm_matrix", defines), x, layer, out, gate, defines.BM as number, defines.BN as number);
}
