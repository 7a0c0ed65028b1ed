// attentionMatrix: fused flash attention on the matrix units (shaders/attention_matrix.wgsl), the kernel that
// src/ops/attention.ts picks (MATRIX_ATTENTION_AUTO, on) for f16 runs at head dim 128 where the device
// has subgroup matrices (chromium-experimental-subgroup-matrix with f16 -> f32 16x16x16 tiles, subgroup size 32:
// Dawn on NVIDIA).
// Same bindings, masking and LSE contract as the scalar kernel; attention.ts validates the tensors and
// calls dispatchAttentionMatrix. Here: the configs, the support check (with the reason it fails), the plan
// (defines and workgroup memory) and the dispatch.
import type { Gpu } from "../gpu/device.ts";
import type { DType } from "../shape.ts";
import type { Tensor } from "../gpu/tensor.ts";

export interface MatrixAttentionConfig {
  kind: "matrix";
  /** Subgroups per workgroup; each owns 16 query rows (BQ = 16 NSG). */
  NSG: number;
  /** Keys per tile (multiple of 32 for the first kernel; the flash kernel takes 16, 32 or 64). */
  BK: number;
  /**
   * "flash": shaders/attention_flash.wgsl (vector-staged K/V with register prefetch, or K/V straight from
   * storage); "flash2": shaders/attention_flash2.wgsl (32 query rows per subgroup: BQ = 32 NSG, BK 16 or 32);
   * "wide": shaders/attention_flash_wide.wgsl (head dims 256 and 384: the VAE mid block; D says which);
   * absent: shaders/attention_matrix.wgsl, the first kernel (scalar staging), kept for comparison.
   */
  kernel?: "flash" | "flash2" | "wide";
  /** flash: K^T and V right matrices loaded straight from the storage buffers (no K/V staging). */
  direct?: boolean;
  /** flash, staged: two V buffers (one barrier less per tile, more workgroup memory). */
  VDB?: 0 | 1;
  /** flash, staged: K/V global loads of 16 bytes (two vec4<f16> stores each) instead of 8. */
  ld16?: boolean;
  /** flash2: K/V/Q copied as vec4<u32> (16-byte loads and workgroup stores; default) instead of vec4<f16>. */
  kv16?: boolean;
  /** flash2: the next tile's K/V global loads issued into registers a tile ahead (default); off: load and store in one go. */
  pf?: boolean;
  /** flash2: a full tile's S read once (P against the running max; two passes only where a row's max moves by more than TH). */
  onepass?: boolean;
  /**
   * flash2, for the sweep only (wrong results, to time what a part costs): "nocopy" (no K/V copy after tile 0's),
   * "nosoftmax" (tile 0's P reused), "onebar" (a plain barrier instead of the rescale flag's uniform load).
   */
  diag?: FlashDiag[];
  /** wide: the head dim (WIDE_ATTENTION_HEAD_DIMS); the other kernels are D = 128 only. */
  D?: number;
}

export type FlashDiag = "nocopy" | "nosoftmax" | "onebar";

/** Head dims the wide kernel covers (128 DQ, DQ = 2 or 3: the VAE mid block's 384); 512 does not fit 48 KiB. */
export const WIDE_ATTENTION_HEAD_DIMS = [256, 384];

/** The wide kernel's config for head dim D: 64 queries x 32 keys per workgroup (47 KiB at D = 384). */
export function wideAttentionConfig(D: number): MatrixAttentionConfig {
  return { kind: "matrix", kernel: "wide", NSG: 4, BK: 32, D };
}

/** The only head dim the matrix kernel spells out (8 Q and 8 O tiles of 16 columns per subgroup). */
export const MATRIX_ATTENTION_HEAD_DIM = 128;
const SUBGROUP = 32;

/**
 * Named configs (workgroup memory in the comments); the picker takes the first of DEFAULT_ORDER that fits.
 * m*: the first kernel (BQ <= 2 BK: Q is staged in kv). f*: the flash kernel; "o" one V buffer, "d" direct.
 */
export const MATRIX_ATTENTION_CONFIGS: Record<string, MatrixAttentionConfig> = {
  "m4x32": { kind: "matrix", NSG: 4, BK: 32 }, // 64 queries x 32 keys, 128 invocations, 31 KiB
  "m2x64": { kind: "matrix", NSG: 2, BK: 64 }, // 32 x 64, 64 invocations, 47 KiB
  "m2x32": { kind: "matrix", NSG: 2, BK: 32 }, // 32 x 32, 64 invocations, 24 KiB
  "f4x32": { kind: "matrix", kernel: "flash", NSG: 4, BK: 32, VDB: 1 }, // 64 x 32, 40 KiB
  "f4x32o": { kind: "matrix", kernel: "flash", NSG: 4, BK: 32, VDB: 0 }, // 31 KiB
  "f8x32o": { kind: "matrix", kernel: "flash", NSG: 8, BK: 32, VDB: 0 }, // 128 x 32, 256 invocations, 45 KiB
  "f2x64o": { kind: "matrix", kernel: "flash", NSG: 2, BK: 64, VDB: 0 }, // 32 x 64, 47 KiB
  "f2x32": { kind: "matrix", kernel: "flash", NSG: 2, BK: 32, VDB: 1 }, // 32 x 32, 30 KiB
  "f1x32": { kind: "matrix", kernel: "flash", NSG: 1, BK: 32, VDB: 1 }, // one subgroup, 29 KiB
  "f8x32ol": { kind: "matrix", kernel: "flash", NSG: 8, BK: 32, VDB: 0, ld16: true }, // f8x32o with 16-byte loads
  "f8x16": { kind: "matrix", kernel: "flash", NSG: 8, BK: 16, VDB: 1 }, // 128 x 16, 26 KiB
  "f8x16l": { kind: "matrix", kernel: "flash", NSG: 8, BK: 16, VDB: 1, ld16: true }, // 26 KiB
  "f16x16o": { kind: "matrix", kernel: "flash", NSG: 16, BK: 16, VDB: 0 }, // 256 x 16, 512 invocations, 41 KiB (Q in 8 passes)
  "f16x16": { kind: "matrix", kernel: "flash", NSG: 16, BK: 16, VDB: 1 }, // 41 KiB
  "f4x32d": { kind: "matrix", kernel: "flash", NSG: 4, BK: 32, direct: true }, // 31 KiB
  "f8x32d": { kind: "matrix", kernel: "flash", NSG: 8, BK: 32, direct: true }, // 45 KiB (Q in 2 passes)
  "f4x64d": { kind: "matrix", kernel: "flash", NSG: 4, BK: 64, direct: true }, // 43 KiB
  "f2x64d": { kind: "matrix", kernel: "flash", NSG: 2, BK: 64, direct: true }, // 22 KiB
  "f1x32d": { kind: "matrix", kernel: "flash", NSG: 1, BK: 32, direct: true }, // one subgroup, 8 KiB
  // w*: attention_flash2 (32 query rows per subgroup); "o" one V buffer, "n" no register prefetch, "h" vec4<f16> copies
  "w4x32o": { kind: "matrix", kernel: "flash2", NSG: 4, BK: 32, VDB: 0 }, // 128 x 32, 128 invocations, 45 KiB (Q in 2 passes)
  "w4x32on": { kind: "matrix", kernel: "flash2", NSG: 4, BK: 32, VDB: 0, pf: false }, // 45 KiB
  "w4x32oh": { kind: "matrix", kernel: "flash2", NSG: 4, BK: 32, VDB: 0, kv16: false }, // 45 KiB
  "w4x16": { kind: "matrix", kernel: "flash2", NSG: 4, BK: 16, VDB: 1 }, // 128 x 16, 33 KiB
  "w4x16o": { kind: "matrix", kernel: "flash2", NSG: 4, BK: 16, VDB: 0 }, // 33 KiB
  "w4x16n": { kind: "matrix", kernel: "flash2", NSG: 4, BK: 16, VDB: 1, pf: false }, // 33 KiB
  "w4x16h": { kind: "matrix", kernel: "flash2", NSG: 4, BK: 16, VDB: 1, kv16: false }, // 33 KiB
  "w4x32o1": { kind: "matrix", kernel: "flash2", NSG: 4, BK: 32, VDB: 0, onepass: true }, // w4x32o, S read once: 45 KiB
  "w4x16_1": { kind: "matrix", kernel: "flash2", NSG: 4, BK: 16, VDB: 1, onepass: true }, // w4x16, S read once: 33 KiB
  "w8x16o": { kind: "matrix", kernel: "flash2", NSG: 8, BK: 16, VDB: 0 }, // 256 x 16, 256 invocations, 41 KiB (Q in 8 passes)
  "w8x16": { kind: "matrix", kernel: "flash2", NSG: 8, BK: 16, VDB: 1 }, // 45 KiB
  "w2x32": { kind: "matrix", kernel: "flash2", NSG: 2, BK: 32, VDB: 1 }, // 64 x 32, 64 invocations, 40 KiB
  "w2x32o": { kind: "matrix", kernel: "flash2", NSG: 2, BK: 32, VDB: 0 }, // 31 KiB
};
// w8x16 first: the fastest config of call A's sweep at L = 32,760, 12 x 128 (39.96 ms against f8x32o's 53.03 in the
// same run, H100; its Float64 checks and GPU tests passed; 11% slower than f8x32o at 512 text keys, 1.70 vs 1.53 ms:
// bench/RESULTS.md "Behind the defaults"). f8x32o, the default before it, needs more workgroup memory (46,096 bytes
// against 45,840), so it is no fallback; the others are, for devices with less workgroup memory.
const DEFAULT_ORDER = ["w8x16", "f4x32o", "m4x32", "m2x32"];

/**
 * Whether attention() picks the matrix kernel by itself (f16, D = 128, subgroup matrices). On since its Float64
 * tests passed on the GPU host (bench/RESULTS.md "Behind the defaults"); a switch so that a device where it
 * misbehaves can be ruled out at once.
 */
export const MATRIX_ATTENTION_AUTO = true;

export interface MatrixAttentionPlan {
  /** The shader file (without .wgsl). */
  shader: string;
  defines: Record<string, number | boolean>;
  threads: number;
  /** Queries per workgroup. */
  BQ: number;
  workgroupBytes: number;
}

/** Defines, invocations and workgroup memory of `cfg` (the layout of attention_matrix.wgsl or attention_flash.wgsl). */
export function matrixAttentionPlan(cfg: MatrixAttentionConfig): MatrixAttentionPlan {
  const { NSG, BK } = cfg;
  if (cfg.kernel === "flash") return flashPlan(cfg);
  if (cfg.kernel === "flash2") return flash2Plan(cfg);
  if (cfg.kernel === "wide") return widePlan(cfg);
  if (!Number.isInteger(NSG) || NSG < 1 || BK % 32 !== 0 || BK <= 0) throw new Error(`attention_matrix: bad config ${JSON.stringify(cfg)}`);
  const D = MATRIX_ATTENTION_HEAD_DIM;
  const BQ = 16 * NSG, threads = SUBGROUP * NSG;
  const DS = D + 8, SS = BK + 4, PS = BK + 8; // row strides: f16 Q/K/V tile, f32 S tile, f16 P tile
  if (BQ > 2 * BK) throw new Error(`attention_matrix: config ${JSON.stringify(cfg)} has ${BQ} queries, over the ${2 * BK} rows kv can stage`);
  // kv (f16 K and V tiles) + ss (f32 S tile per subgroup) + ps (f16 P tile per subgroup) + the rescale flag (vec4)
  const workgroupBytes = 2 * BK * DS * 2 + NSG * 16 * SS * 4 + NSG * 16 * PS * 2 + 16;
  return { shader: "attention_matrix", defines: { NSG, BK, WG: threads }, threads, BQ, workgroupBytes };
}

/** The most workgroup memory a flash config may plan for (48 KiB, large GPUs' limit; the fit check is per device). */
const FLASH_MAX_BYTES = 48 * 1024;

/** attention_flash.wgsl's layout: kv (vec4<f16>: Q staging, K and V tiles), ss (vec4<f32>), ps (vec4<f16>), flag. */
function flashPlan(cfg: MatrixAttentionConfig): MatrixAttentionPlan {
  const { NSG, BK } = cfg;
  const direct = cfg.direct === true, VDB = direct ? 0 : (cfg.VDB ?? 1), ld16 = !direct && cfg.ld16 === true, LDW = ld16 ? 2 : 1;
  if (!Number.isInteger(NSG) || NSG < 1 || (BK !== 16 && BK !== 32 && BK !== 64)) throw new Error(`attention_flash: NSG must be a positive integer and BK 16, 32 or 64 (config ${JSON.stringify(cfg)})`);
  const BQ = 16 * NSG, threads = SUBGROUP * NSG;
  if (threads > 1024 || (!direct && (BK * 32) % (threads * LDW) !== 0)) throw new Error(`attention_flash: ${threads} invocations do not split a ${BK}-key tile in ${8 * LDW}-byte loads (config ${JSON.stringify(cfg)})`);
  const DS4 = 34, KT = BK * DS4, SS4 = BK / 4 + 1, PS4 = BK / 4 + 2;
  const fixed = NSG * 16 * SS4 * 16 + NSG * 16 * PS4 * 8 + 16;
  const kvTiles = direct ? 0 : (2 + VDB) * KT;
  // Q rows staged per pass: all BQ where kv (as the K/V tiles need it, or the budget left) holds them, else fewer.
  let QROWS = BQ;
  const room = Math.max(kvTiles, Math.floor((FLASH_MAX_BYTES - fixed) / 8));
  while (QROWS > 16 && QROWS * DS4 > room) QROWS /= 2;
  if (QROWS % 16 !== 0 || BQ % QROWS !== 0) throw new Error(`attention_flash: no Q staging fits config ${JSON.stringify(cfg)}`);
  const KVN = Math.max(kvTiles, QROWS * DS4);
  const workgroupBytes = KVN * 8 + fixed;
  const staged = !direct;
  return {
    shader: "attention_flash",
    defines: {
      NSG, BK, WG: threads, direct, staged, VDB, vdb: staged && VDB === 1, oneV: staged && VDB === 0, QROWS, qonce: QROWS === BQ, KVN,
      ld16, ld8: staged && !ld16, LDW, pairs: BK >= 32, singles: BK < 32,
    },
    threads, BQ, workgroupBytes,
  };
}

/**
 * attention_flash2.wgsl's layout: kv (KV elements: vec4<u32> with kv16, else vec4<f16>; Q staging, the K tile and
 * one or two V tiles, rows of 136 halves), ss (vec4<f32>: an S slice [32, BK] per subgroup), ps (vec4<f16>: a P
 * slice [32, BK] per subgroup), flag.
 */
function flash2Plan(cfg: MatrixAttentionConfig): MatrixAttentionPlan {
  const { NSG, BK } = cfg;
  const VDB = cfg.VDB ?? 0, kv16 = cfg.kv16 ?? true, pf = cfg.pf ?? true, diag = cfg.diag ?? [];
  if (!Number.isInteger(NSG) || NSG < 1 || (BK !== 16 && BK !== 32)) throw new Error(`attention_flash2: NSG must be a positive integer and BK 16 or 32 (config ${JSON.stringify(cfg)})`);
  const KVW = kv16 ? 8 : 4, DE = 128 / KVW, DSE = 136 / KVW, KT = BK * DSE;
  const BQ = 32 * NSG, threads = 32 * NSG;
  if (threads > 1024 || (BK * DE) % threads !== 0) throw new Error(`attention_flash2: ${threads} invocations do not split a ${BK}-key tile in ${2 * KVW}-byte copies (config ${JSON.stringify(cfg)})`);
  const SS4 = BK / 4 + 1, PS4 = BK / 4 + 2;
  const fixed = NSG * 32 * SS4 * 16 + NSG * 32 * PS4 * 8 + 16;
  const kvTiles = (2 + VDB) * KT;
  // Q rows staged per pass: all BQ where kv (as the K/V tiles need it, or the budget left) holds them, else fewer.
  let QROWS = BQ;
  const room = Math.max(kvTiles, Math.floor((FLASH_MAX_BYTES - fixed) / (2 * KVW)));
  while (QROWS > 32 && QROWS * DSE > room) QROWS /= 2;
  if (QROWS % 32 !== 0 || BQ % QROWS !== 0 || QROWS * DSE > room) throw new Error(`attention_flash2: no Q staging fits config ${JSON.stringify(cfg)}`);
  const KVN = Math.max(kvTiles, QROWS * DSE);
  return {
    shader: "attention_flash2",
    defines: {
      NSG, BK, WG: threads, VDB, vdb: VDB === 1, oneV: VDB === 0, kv16, KVW, pf, QROWS, KVN, pairs: BK === 32, singles: BK === 16,
      onepass: cfg.onepass === true, diagCopy: !diag.includes("nocopy"), diagNoSoftmax: diag.includes("nosoftmax"), diagOneBar: diag.includes("onebar"),
    },
    threads, BQ, workgroupBytes: KVN * 2 * KVW + fixed,
  };
}

/**
 * attention_flash_wide.wgsl's layout: kv (vec4<f16>: Q staging, the K tile [BK, D + 8] and the V tile [BK, 136] of
 * one 128-column chunk), ss (vec4<f32>: an S slice [16, BK] per subgroup), ps (vec4<f16>: a P slice), flag.
 * Dispatched over DQ = D / 128 column chunks (z).
 */
function widePlan(cfg: MatrixAttentionConfig): MatrixAttentionPlan {
  const { NSG, BK, D } = cfg;
  if (D === undefined || !WIDE_ATTENTION_HEAD_DIMS.includes(D)) throw new Error(`attention_flash_wide: head dim ${D} is not one of ${WIDE_ATTENTION_HEAD_DIMS} (config ${JSON.stringify(cfg)})`);
  if (!Number.isInteger(NSG) || NSG < 1 || BK !== 32) throw new Error(`attention_flash_wide: NSG must be a positive integer and BK 32 (config ${JSON.stringify(cfg)})`);
  const DQ = D / 128, DS4 = 32 * DQ + 2, BQ = 16 * NSG, threads = 32 * NSG;
  const SS4 = BK / 4 + 1, PS4 = BK / 4 + 2;
  const fixed = NSG * 16 * SS4 * 16 + NSG * 16 * PS4 * 8 + 16;
  const kvTiles = BK * DS4 + BK * 34;
  let QROWS = BQ;
  const room = Math.max(kvTiles, Math.floor((FLASH_MAX_BYTES - fixed) / 8));
  while (QROWS > 16 && QROWS * DS4 > room) QROWS /= 2;
  if (QROWS % 16 !== 0 || BQ % QROWS !== 0 || QROWS * DS4 > room) throw new Error(`attention_flash_wide: no Q staging fits config ${JSON.stringify(cfg)}`);
  const KVN = Math.max(kvTiles, QROWS * DS4);
  return { shader: "attention_flash_wide", defines: { NSG, BK, WG: threads, DQ, QROWS, KVN }, threads, BQ, workgroupBytes: KVN * 8 + fixed };
}

/** Why `gpu` cannot run the wide kernel for (D, dtype), or null when it can. */
export function wideAttentionUnsupported(gpu: Gpu, D: number, dtype: DType): string | null {
  if (!WIDE_ATTENTION_HEAD_DIMS.includes(D)) return `wide matrix attention needs head dim ${WIDE_ATTENTION_HEAD_DIMS.join(" or ")} (found ${D})`;
  return matrixAttentionUnsupported(gpu, MATRIX_ATTENTION_HEAD_DIM, dtype);
}

/** Why `gpu` cannot run the matrix kernel for (D, dtype), or null when it can. */
export function matrixAttentionUnsupported(gpu: Gpu, D: number, dtype: DType): string | null {
  const f = gpu.features;
  if (dtype !== "f16") return `matrix attention is f16 only (found ${dtype})`;
  if (D !== MATRIX_ATTENTION_HEAD_DIM) return `matrix attention needs head dim ${MATRIX_ATTENTION_HEAD_DIM} (found ${D})`;
  if (!f.subgroupMatrix) return `${gpu.label} (${gpu.implementation}) has no subgroup matrices (chromium-experimental-subgroup-matrix)`;
  if (!f.subgroupMatrixConfigs.some((c) => c.componentType === "f16" && c.resultComponentType === "f32" && c.M === 16 && c.N === 16 && c.K === 16)) {
    return `${gpu.label} offers no f16 -> f32 16x16x16 subgroup matrix (has ${f.subgroupMatrixConfigs.map((c) => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`).join(", ") || "none"})`;
  }
  if (f.subgroupMinSize !== SUBGROUP || f.subgroupMaxSize !== SUBGROUP) {
    return `matrix attention needs subgroups of exactly ${SUBGROUP} invocations (${gpu.label} reports ${f.subgroupMinSize}..${f.subgroupMaxSize})`;
  }
  return null;
}

/** True when `cfg` fits the device's workgroup memory and invocation limits. */
export function matrixAttentionFits(gpu: Gpu, cfg: MatrixAttentionConfig): boolean {
  const plan = matrixAttentionPlan(cfg);
  return plan.workgroupBytes <= gpu.limits.maxComputeWorkgroupStorageSize && plan.threads <= gpu.limits.maxComputeInvocationsPerWorkgroup;
}

/** The first default matrix config that can run on `gpu` for (D, dtype), whatever MATRIX_ATTENTION_AUTO says. */
export function firstMatrixAttentionConfig(gpu: Gpu, D: number, dtype: DType): MatrixAttentionConfig | null {
  if (matrixAttentionUnsupported(gpu, D, dtype) !== null) return null;
  for (const name of DEFAULT_ORDER) {
    if (matrixAttentionFits(gpu, MATRIX_ATTENTION_CONFIGS[name])) return MATRIX_ATTENTION_CONFIGS[name];
  }
  return null;
}

/** The matrix config attention() uses on `gpu` for (D, dtype), or null (then the scalar kernel runs). */
export function pickMatrixAttentionConfig(gpu: Gpu, D: number, dtype: DType): MatrixAttentionConfig | null {
  return MATRIX_ATTENTION_AUTO ? firstMatrixAttentionConfig(gpu, D, dtype) : null;
}

export interface AttentionDims {
  Lq: number;
  Lk: number;
  N: number;
  D: number;
  validKeys: number;
}

/**
 * Records the matrix kernel on tensors that attention.ts has validated (q/k/v/out f16 [L, N, D], lse [Lq, N]
 * f32). Throws, naming the device and what it lacks, where the kernel cannot run.
 */
export function dispatchAttentionMatrix(
  gpu: Gpu, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor | undefined, dims: AttentionDims, cfg: MatrixAttentionConfig,
): void {
  const wide = cfg.kernel === "wide";
  const why = wide ? wideAttentionUnsupported(gpu, dims.D, q.dtype) : matrixAttentionUnsupported(gpu, dims.D, q.dtype);
  if (why) throw new Error(`attention_matrix: ${why}`);
  if (wide && cfg.D !== dims.D) throw new Error(`attention_matrix: the wide config is for head dim ${cfg.D}, the tensors have ${dims.D}`);
  // pipeline key: tile config (with the head dim for the wide kernel) and LSE output (dtype is fixed)
  const plan = matrixAttentionPlan(cfg);
  if (!matrixAttentionFits(gpu, cfg)) {
    throw new Error(`attention_matrix: config ${JSON.stringify(cfg)} needs ${plan.workgroupBytes} bytes of workgroup memory and ${plan.threads} invocations, over ${gpu.label}'s ${gpu.limits.maxComputeWorkgroupStorageSize} / ${gpu.limits.maxComputeInvocationsPerWorkgroup}`);
  }
  // direct mode reads BK key rows from every tile's start: below BK valid keys the staged twin runs
  if (cfg.kernel === "flash" && cfg.direct && Math.min(dims.validKeys, dims.Lk) < cfg.BK) {
    const staged: MatrixAttentionConfig = { ...cfg, direct: false, VDB: 0 };
    dispatchAttentionMatrix(gpu, q, k, v, out, lse, dims, matrixAttentionFits(gpu, staged) ? staged : MATRIX_ATTENTION_CONFIGS["f4x32o"]);
    return;
  }
  const kernel = gpu.kernel(plan.shader, { ...plan.defines, lse: lse !== undefined });
  // uniforms (the scalar kernel's Params) and dispatch: one workgroup per (BQ queries, head[, 128 output columns])
  const { Lq, Lk, N, D, validKeys } = dims;
  const qscale = Math.LOG2E / Math.sqrt(D);
  gpu.dispatch(kernel, { Lq, Lk, N, validKeys, qscale }, lse ? [q, k, v, out, lse] : [q, k, v, out], [Math.ceil(Lq / plan.BQ), N, wide ? D / 128 : 1]);
}
