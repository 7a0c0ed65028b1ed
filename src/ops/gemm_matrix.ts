// gemm on the matrix units (shaders/gemm_matrix.wgsl): f16 X and W, f32 accumulation, f16 Y, the same
// epilogues and weight chunks as the scalar gemm. src/ops/gemm.ts validates the operands and calls this
// when the device has subgroup matrices with an f16 -> f32 16x16x16 config and the run is f16.
import type { Gpu } from "../gpu/device.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { dispatchChunks, epilogueDefines, type GemmEpilogue, type Linear } from "./gemm_common.ts";
import { packLinear } from "./gemm_pack.ts";

/**
 * Workgroup tile of the matrix kernels (shaders/gemm_matrix_tile.wgsl): SGR x SGC subgroups, each owning
 * TR x TC result matrices of 16 x 16 (TR, TC 2 or 4), so BM = 16 TR SGR, BN = 16 TC SGC; K step BK (16 or
 * 32), staged rows padded by PAD halves (a multiple of 4); vstage: vec4<f16> staging through the
 * vector-array overload of subgroupMatrixLoad (else one f16 store per element); bdirect: the right
 * matrices straight from the weight's storage buffer, no B staging (taken only where K % BK == 0, K % 4 == 0
 * and every weight chunk's rows % BN == 0, so every read is in bounds; else the same tile staged).
 */
export interface MatrixTile {
  SGR: number;
  SGC: number;
  TR: 2 | 4;
  TC: 2 | 4;
  BK: 16 | 32;
  PAD: number;
  vstage: boolean;
  bdirect?: boolean;
  /**
   * With bdirect: B (the weight) as right matrices straight from its packed copy (src/ops/gemm_pack.ts:
   * 16 x 16 tiles of 512 contiguous bytes), prefetched a K step ahead; only A is staged. Taken where K % 4
   * == 0 (vec4 reads), else the same tile staged. A kernel that forces bdirect off stages B.
   */
  bpack?: boolean;
  /** Diagnostic (sweep only): no global loads after the first K step; the results are wrong. */
  noGlobalLoads?: boolean;
}

const t = (SGR: number, SGC: number, TR: 2 | 4, TC: 2 | 4, BK: 16 | 32, vstage = true, PAD = 8): MatrixTile => ({ SGR, SGC, TR, TC, BK, PAD, vstage });
const d = (tile: MatrixTile): MatrixTile => ({ ...tile, bdirect: true });
const pk = (tile: MatrixTile): MatrixTile => ({ ...tile, bdirect: true, bpack: true });

/**
 * Named configurations, "BMxBNxBK" + "/TRxTC" (the result matrices per subgroup) + "s" for scalar staging,
 * "d" for B straight from storage (bdirect), "k" for B from the packed weight (bpack).
 * The bench and the sweep run them by name.
 */
export const MATRIX_TILES: Record<string, MatrixTile> = {
  // the previous kernel's shapes (2 x 2 or 2 x 4 per subgroup), scalar or vector staging
  "128x128x16/2x2s": t(4, 4, 2, 2, 16, false),
  "128x128x16/2x2": t(4, 4, 2, 2, 16),
  "64x64x32/2x2s": t(2, 2, 2, 2, 32, false),
  "64x64x32/2x2": t(2, 2, 2, 2, 32),
  "64x64x16/2x2": t(2, 2, 2, 2, 16),
  // 64 x 64 per subgroup (16 named accumulators), 4 subgroups: 128 x 128
  "128x128x16/4x4": t(2, 2, 4, 4, 16),
  "128x128x32/4x4": t(2, 2, 4, 4, 32),
  "128x128x32/4x4s": t(2, 2, 4, 4, 32, false),
  // 8 subgroups of 32 x 64 or 64 x 32: 128 x 128
  "128x128x32/2x4": t(4, 2, 2, 4, 32),
  "128x128x32/4x2": t(2, 4, 4, 2, 32),
  "128x128x16/2x4": t(4, 2, 2, 4, 16),
  // 8 subgroups of 64 x 64: 128 x 256 and 256 x 128 (BK 16 within 48 KiB)
  "128x256x16/4x4": t(2, 4, 4, 4, 16),
  "256x128x16/4x4": t(4, 2, 4, 4, 16),
  // 4 subgroups of 32 x 64: 64 x 128; 2 x 4 subgroups of 64 x 32: 128 x 128 BK 16
  "64x128x32/2x4": t(2, 2, 2, 4, 32),
  "128x64x32/4x2": t(2, 2, 4, 2, 32),
  // narrow outputs (the VAE's 96- and 192-channel convs): 128 x 64 and 128 x 32
  "128x64x16/4x4": t(2, 1, 4, 4, 16),
  "128x32x16/4x2": t(2, 1, 4, 2, 16),
  "128x32x32/2x2": t(4, 1, 2, 2, 32),
  // 8 subgroups of 64 x 32: 256 x 64 (the VAE's 192-channel convs in 3 exact tiles)
  "256x64x16/4x2": t(4, 2, 4, 2, 16),
  // the default with other row paddings (PAD 0: rows 32 bytes apart; 16: 64 bytes; the default 8: 48)
  "256x128x16/4x4p0": t(4, 2, 4, 4, 16, true, 0),
  "256x128x16/4x4p16": t(4, 2, 4, 4, 16, true, 16),
  // B (the weight) straight from storage: only A is staged (half the workgroup memory and staging work)
  "128x128x32/4x4d": d(t(2, 2, 4, 4, 32)),
  "128x128x32/2x4d": d(t(4, 2, 2, 4, 32)),
  "128x128x16/4x4d": d(t(2, 2, 4, 4, 16)),
  "128x256x32/4x4d": d(t(2, 4, 4, 4, 32)),
  "256x128x32/4x4d": d(t(4, 2, 4, 4, 32)),
  "128x64x32/4x2d": d(t(2, 2, 4, 2, 32)),
  "128x32x32/2x2d": d(t(4, 1, 2, 2, 32)),
  // B from the packed weight ("k"): only A staged, B's matrices one contiguous tile each, a step ahead
  "256x128x16/4x4k": pk(t(4, 2, 4, 4, 16)),
  "128x256x16/4x4k": pk(t(2, 4, 4, 4, 16)),
  "256x128x32/4x4k": pk(t(4, 2, 4, 4, 32)),
  "128x128x32/4x4k": pk(t(2, 2, 4, 4, 32)),
  "128x128x32/2x4k": pk(t(4, 2, 2, 4, 32)),
  "128x128x16/2x2k": pk(t(4, 4, 2, 2, 16)),
  "256x64x16/4x2k": pk(t(4, 2, 4, 2, 16)),
};

/**
 * The default tile (first that fits the adapter's limits), in the order the confirming sweep ranked them at
 * all three forward shapes: 256x128x16/4x4, then 128x256x16/4x4, then the previous default's shape
 * 128x128x16/2x2 (the figures: bench/RESULTS.md "Behind the defaults").
 */
export const MATRIX_TILE_ORDER = ["256x128x16/4x4", "128x256x16/4x4", "128x128x16/2x2", "64x64x16/2x2", "64x64x32/2x2s"];

/** The name of a tile in MATRIX_TILES (or its JSON). */
export function matrixTileName(tile: MatrixTile): string {
  return Object.entries(MATRIX_TILES).find(([, v]) => JSON.stringify(v) === JSON.stringify(tile))?.[0] ?? JSON.stringify(tile);
}

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

/** Bytes of workgroup memory of a tile: the double-buffered A and B tiles in f16, plus a 16x16 f32 scratch per subgroup. */
export function matrixWorkgroupBytes(t: MatrixTile): number {
  const BM = 16 * t.TR * t.SGR, BN = 16 * t.TC * t.SGC;
  return 2 * (BM + (t.bdirect ? 0 : BN)) * (t.BK + t.PAD) * 2 + t.SGR * t.SGC * 256 * 4;
}

/**
 * The tile as it can run on these operands: a bdirect tile keeps B in storage only where every read is in
 * bounds (K % BK == 0, K % 4 == 0, each weight chunk's rows a multiple of BN), else it is staged.
 */
export function matrixTileFor(tile: MatrixTile, K: number, chunkRows: readonly number[]): MatrixTile {
  if (!tile.bdirect) return tile;
  if (tile.bpack) return K % 4 === 0 ? tile : { ...tile, bdirect: false, bpack: false };
  const BN = 16 * tile.TC * tile.SGC;
  const inBounds = K % tile.BK === 0 && K % 4 === 0 && chunkRows.every((n) => n % BN === 0);
  return inBounds ? tile : { ...tile, bdirect: false };
}

/**
 * The tile defines of gemm_matrix_tile.wgsl (shared by gemm_matrix and vae_conv3d_matrix); throws naming the
 * tile when the kernel cannot be built from it.
 */
export function matrixTileDefines(tile: MatrixTile, subgroupSize: number): Record<string, number | boolean> {
  const { SGR, SGC, TR, TC, BK, PAD, vstage } = tile;
  const THREADS = SGR * SGC * subgroupSize, BM = 16 * TR * SGR, BN = 16 * TC * SGC;
  const LA = (BM * BK) / 4 / THREADS, LB = (BN * BK) / 4 / THREADS;
  const ok = (TR === 2 || TR === 4) && (TC === 2 || TC === 4) && (BK === 16 || BK === 32) && PAD % 4 === 0 && PAD >= 0 &&
    [1, 2, 4, 8].includes(LA) && [1, 2, 4, 8].includes(LB) && THREADS % (BK / 4) === 0;
  if (!ok) {
    throw new Error(`gemm_matrix: unsupported tile ${JSON.stringify(tile)} with subgroup size ${subgroupSize} (TR, TC 2 or 4, BK 16 or 32, PAD a multiple of 4, 1, 2, 4 or 8 vec4 loads of A and B per invocation; got ${LA} and ${LB})`);
  }
  const S = BK + PAD, unit = vstage ? 4 : 1;
  return {
    SG: subgroupSize, SGR, SGC, TR, TC, THREADS, BM, BN, BK, PAD,
    tr4: TR === 4, tc4: TC === 4, bk32: BK === 32, vstage,
    bdirect: !!tile.bdirect && !tile.bpack, bpack: !!tile.bdirect && !!tile.bpack, bstage: !tile.bdirect,
    gload: !tile.noGlobalLoads,
    la2: LA >= 2, la4: LA >= 4, la8: LA === 8,
    lb2: LB >= 2, lb4: LB >= 4, lb8: LB === 8,
    A_SMEM: (2 * BM * S) / unit,
    B_SMEM: tile.bdirect ? 0 : (2 * BN * S) / unit,
    C_SMEM: SGR * SGC * 256,
  };
}

/** The defines of one gemm_matrix pipeline (exported for the bench, which reports them). */
export function matrixGemmDefines(K: number, tile: MatrixTile, subgroupSize: number, epilogue: GemmEpilogue, hasBias: boolean): Record<string, number | boolean> {
  return { vec: K % 4 === 0, ...matrixTileDefines(tile, subgroupSize), ...epilogueDefines(epilogue, hasBias) };
}

/** The default tile on this device: the first of MATRIX_TILE_ORDER within its workgroup memory and invocation limits. */
export function pickMatrixTile(gpu: Gpu, subgroupSize: number): MatrixTile {
  for (const name of MATRIX_TILE_ORDER) {
    const t = MATRIX_TILES[name];
    if (matrixTileFits(gpu, t, subgroupSize)) return t;
  }
  throw new Error(`${gpu.label}: no matrix GEMM tile fits maxComputeWorkgroupStorageSize ${gpu.limits.maxComputeWorkgroupStorageSize} and maxComputeInvocationsPerWorkgroup ${gpu.limits.maxComputeInvocationsPerWorkgroup}`);
}

/** Whether a tile is within the device's workgroup memory and invocations. */
export function matrixTileFits(gpu: Gpu, t: MatrixTile, subgroupSize: number): boolean {
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
  if (!matrixTileFits(gpu, t, support.subgroupSize)) {
    throw new Error(`${name}: matrix tile ${JSON.stringify(t)} needs ${matrixWorkgroupBytes(t)} bytes of workgroup memory and ${t.SGR * t.SGC * support.subgroupSize} invocations; the adapter allows ${gpu.limits.maxComputeWorkgroupStorageSize} and ${gpu.limits.maxComputeInvocationsPerWorkgroup}`);
  }
  let run = matrixTileFor(t, layer.inFeatures, layer.chunks.map((c) => c.shape[0]));
  // A bdirect tile staged for these operands may outgrow workgroup memory (128x256x32): the default then.
  if (!matrixTileFits(gpu, run, support.subgroupSize)) run = pickMatrixTile(gpu, support.subgroupSize);
  const defines = matrixGemmDefines(layer.inFeatures, run, support.subgroupSize, epilogue, layer.bias !== null);
  const weights = run.bdirect && run.bpack ? packLinear(gpu, layer) : undefined;
  dispatchChunks(gpu, gpu.kernel("gemm_matrix", defines), x, layer, out, gate, defines.BM as number, defines.BN as number, weights);
}
