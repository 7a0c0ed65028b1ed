// gemm: linear layers, Y[M, N] = epilogue(X[M, K] · W[N, K]^T + b[N]) (nn.Linear layout), see shaders/gemm.wgsl.
// A weight whose [N, K] exceeds one storage binding is split into row chunks (one buffer each); each chunk
// is one dispatch writing its own output columns. A missing bias compiles the bias binding out (no dummy
// buffer). Tile sizes are compile-time defines; `pickTile` chooses by the output size unless told.
// f16 runs on a device with subgroup matrices go to the matrix units: by default the packed kernel
// (src/ops/gemm_matrix_packed.ts, GEMM_F16_MATRIX_DEFAULT), else the staged one (src/ops/gemm_matrix.ts); the
// scalar kernel here is the fallback and the f32 path. $SHARDIT_GEMM (parsed once, on first use) overrides that choice
// for the whole process, so a forward can be timed with each candidate without a rebuild: "default" (or unset),
// "scalar", "tile:<MATRIX_TILES name>" (the staged matrix kernel at that tile) or "packed:<PACKED_TILES name>"
// (gemm_matrix_packed: weights packed once per Linear, kept until freeLinear). It applies only where "auto"
// would take the matrix kernel (f16 on a device with subgroup matrices, no scalar tile forced); f32 runs and
// devices without matrix units keep the scalar kernel.
import type { Gpu } from "../gpu/device.ts";
import { type DType, numel } from "../shape.ts";
import { type Tensor } from "../gpu/tensor.ts";
import { gemmMatrix, matrixGemmSupport, MATRIX_TILES, type MatrixTile, pickMatrixTile } from "./gemm_matrix.ts";
import { gemmMatrixPacked, PACKED_TILES, type PackedTile } from "./gemm_matrix_packed.ts";
import { readEnv } from "./env.ts";
import { type GemmEpilogue, type Linear, dispatchChunks, epilogueDefines } from "./gemm_common.ts";
// The Linear layer belongs to gemm_common.ts (shared with gemm_matrix.ts); gemm's users import it from here.
export { freeLinear, type GemmEpilogue, type Linear, uploadLinear } from "./gemm_common.ts";

/** Block tile BM x BN, K step BK, per-invocation micro-tile TM x TN (all compile-time). */
export interface GemmTile {
  BM: number;
  BN: number;
  BK: number;
  TM: number;
  TN: number;
}

/**
 * The tiles pickTile chooses (the bench sweeps these by name). The others went after a sweep in which none
 * beat 128x128x8 where it would have competed (the figures: bench/RESULTS.md "Behind the defaults");
 * gemm.wgsl's unrolled inner loop, used only by the two unrolled tiles, went with them.
 */
export const GEMM_TILES: Record<string, GemmTile> = {
  "128x128x8": { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 },
  "128x64x8": { BM: 128, BN: 64, BK: 8, TM: 8, TN: 4 },
  "64x64x8": { BM: 64, BN: 64, BK: 8, TM: 4, TN: 4 },
  "32x64x16": { BM: 32, BN: 64, BK: 16, TM: 4, TN: 4 },
};

/**
 * Default tile: the big 128x128x8 tile once it still gives enough workgroups to fill a large GPU
 * (>= 264, two per SM on a 132-SM GPU), else 128x64x8 / 64x64x8, and a 32-row tile for M <= 32
 * (time embeddings, text context) where most rows of a bigger tile would be wasted; on a CPU adapter
 * (`cpu`: cpuAdapter(gpu), Mesa's llvmpipe) 128x128x8 wherever M > 32. 128x128x8 was the
 * fastest tile measured, and BK = 8 beat BK = 16 at every tile size (bench/RESULTS.md "Behind the defaults").
 */
export function pickTile(M: number, N: number, cpu = false): GemmTile {
  const tiles = (bm: number, bn: number) => Math.ceil(M / bm) * Math.ceil(N / bn);
  if (M <= 32) return GEMM_TILES["32x64x16"];
  // Mesa's CPU adapter (llvmpipe) has a few cores, not SMs to fill: the biggest tile does the least index work
  // per product (lavapipe, embedded model's shapes: 512x96x384 92 -> 49 ms, its 37 gemms 1262 -> 660 ms).
  // Not SwiftShader (Chromium's CPU adapter): there a 128x128x8 pipeline takes ~3 s to compile against ~1 s for
  // 64x64x8, and at the browser suite's small shapes compiling dominates (browser suite 508 -> 729 s with it)
  if (cpu) return GEMM_TILES["128x128x8"];
  if (tiles(128, 128) >= 264) return GEMM_TILES["128x128x8"];
  if (tiles(128, 64) >= 264) return GEMM_TILES["128x64x8"];
  return GEMM_TILES["64x64x8"];
}

export interface GemmOptions {
  epilogue?: GemmEpilogue;
  /** residual_gate: Y += (acc + b) * gate.tensor[gate.offset + n] (offset in elements). */
  gate?: { tensor: Tensor; offset: number };
  /** Force a tile configuration of the scalar kernel (bench, tests); default pickTile(M, N). */
  tile?: GemmTile;
  /**
   * Which kernel: "auto" (default: chooseGemm, i.e. GEMM_F16_MATRIX_DEFAULT for f16 where the device has
   * subgroup matrices and no scalar tile was forced, $SHARDIT_GEMM overriding it, else scalar), "scalar",
   * "matrix" (the staged matrix kernel; an error where it cannot run), or "packed" (the matrix kernel on
   * operands packed in 16 x 16 tiles, src/ops/gemm_matrix_packed.ts: packs the weight once, keeping a second
   * copy, and x per call).
   */
  kernel?: "auto" | "scalar" | "matrix" | "packed";
  /** Force a tile of the matrix kernel (bench, tests); default pickMatrixTile. */
  matrixTile?: MatrixTile;
  /** Force a tile of the packed kernel (bench, tests); default PACKED_TILE_DEFAULT. */
  packedTile?: PackedTile;
}

/** The environment variable that overrides gemm()'s kernel choice (see the header). */
export const GEMM_ENV = "SHARDIT_GEMM";

/** What $SHARDIT_GEMM asks for: today's selection, the scalar kernel, one staged matrix tile or one packed tile. */
export type GemmOverride =
  | { kind: "default" }
  | { kind: "scalar" }
  | { kind: "tile"; name: string; tile: MatrixTile }
  | { kind: "packed"; name: string; tile: PackedTile };

/** Parses a $SHARDIT_GEMM value (unset or empty: "default"); an unknown value is refused in one line. */
export function parseGemmOverride(raw: string | undefined): GemmOverride {
  const v = (raw ?? "").trim();
  if (v === "" || v === "default") return { kind: "default" };
  if (v === "scalar") return { kind: "scalar" };
  const [kind, name] = [v.slice(0, v.indexOf(":")), v.slice(v.indexOf(":") + 1)];
  if (kind === "tile" && Object.hasOwn(MATRIX_TILES, name)) return { kind, name, tile: MATRIX_TILES[name] };
  if (kind === "packed" && Object.hasOwn(PACKED_TILES, name)) return { kind, name, tile: PACKED_TILES[name] };
  throw new Error(`${GEMM_ENV}: expected default, scalar, tile:<${Object.keys(MATRIX_TILES).join("|")}> or packed:<${Object.keys(PACKED_TILES).join("|")}>, found "${v}"`);
}

let parsedOverride: GemmOverride | undefined;

/** $SHARDIT_GEMM, parsed on first use (no Deno or no env permission: "default"). */
export function gemmOverride(): GemmOverride {
  if (!parsedOverride) parsedOverride = parseGemmOverride(readEnv(GEMM_ENV));
  return parsedOverride;
}

/**
 * The default of "auto" for f16 on a device with subgroup matrices: the packed kernel at 128x128/4x4
 * (gemm_matrix_packed; weights packed once per Linear, X per call). Call A (one H100, 2026-12-07,
 * bench/results/2026-12-07_callA_h100/gemm): 153.8 TFLOP/s at 32760x1536x8960 against 103.5 for the staged
 * kernel's 256x128x16/4x4 in the same sweep, both within their Float64 check; bench/RESULTS.md "Call A".
 * { kind: "default" } here would mean the staged matrix kernel at pickMatrixTile's tile.
 */
export const GEMM_F16_MATRIX_DEFAULT: GemmOverride = { kind: "packed", name: "128x128/4x4", tile: PACKED_TILES["128x128/4x4"] };

/** Which kernel "auto" runs: scalar unless the run is f16 on a device with matrix units, then the override or the default. */
export type GemmChoice = { kernel: "scalar" } | { kernel: "matrix"; tile?: MatrixTile } | { kernel: "packed"; tile: PackedTile };

/** gemm()'s "auto" under `override` (f16: the run's dtype; matrixOk: matrixGemmSupport(gpu).ok). */
export function chooseGemm(f16: boolean, matrixOk: boolean, override: GemmOverride): GemmChoice {
  if (!(f16 && matrixOk)) return { kernel: "scalar" };
  const o = override.kind === "default" ? GEMM_F16_MATRIX_DEFAULT : override;
  if (o.kind === "scalar") return { kernel: "scalar" };
  if (o.kind === "tile") return { kernel: "matrix", tile: o.tile };
  if (o.kind === "packed") return { kernel: "packed", tile: o.tile };
  return { kernel: "matrix" };
}

/**
 * What gemm() with kernel "auto" and no forced tile runs for an [M, N] output in `dtype` on `gpu` (the bench
 * labels its "auto" rows with it): the kernel, chooseGemm under $SHARDIT_GEMM, and the tile asked for.
 */
export function gemmAutoChoice(gpu: Gpu, dtype: DType, M: number, N: number):
  | { kernel: "scalar"; tile: GemmTile }
  | { kernel: "matrix"; tile: MatrixTile }
  | { kernel: "packed"; tile: PackedTile } {
  const support = dtype === "f16" ? matrixGemmSupport(gpu) : null;
  const choice = chooseGemm(dtype === "f16", !!support?.ok, gemmOverride());
  if (choice.kernel === "packed") return choice;
  if (choice.kernel === "matrix") return { kernel: "matrix", tile: choice.tile ?? pickMatrixTile(gpu, support?.ok ? support.subgroupSize : 0) };
  return { kernel: "scalar", tile: pickTile(M, N, cpuAdapter(gpu)) };
}

/** The defines of one gemm pipeline (exported for the bench, which reports them). */
export function gemmDefines(dtype: DType, K: number, tile: GemmTile, epilogue: GemmEpilogue, hasBias: boolean): Record<string, number | boolean> {
  const { BM, BN, BK, TM, TN } = tile;
  const WGX = BN / TN, WGY = BM / TM, THREADS = WGX * WGY;
  const LOADS_A = (BM * BK) / 4 / THREADS, LOADS_B = (BN * BK) / 4 / THREADS;
  const ok = [4, 8].includes(TM) && [4, 8].includes(TN) && BK % 4 === 0 && BM % TM === 0 && BN % TN === 0 &&
    [0.5, 1, 2].includes(LOADS_A) && [0.5, 1, 2].includes(LOADS_B) && THREADS <= 1024 && THREADS % 64 === 0;
  if (!ok) throw new Error(`gemm: unsupported tile ${JSON.stringify(tile)} (TM, TN in {4, 8}; 1/2, 1 or 2 vec4 loads of X and W per invocation)`);
  return {
    f16: dtype === "f16",
    vec: K % 4 === 0,
    BM, BN, BK, TM, TN, WGX, WGY, THREADS,
    tm8: TM === 8,
    tn8: TN === 8,
    la2: LOADS_A === 2,
    lb2: LOADS_B === 2,
    ahalf: LOADS_A === 0.5,
    bhalf: LOADS_B === 0.5,
    A_SMEM: (2 * BK * (BM + 4)) / 4,
    B_SMEM: (2 * BK * (BN + 4)) / 4,
    ...epilogueDefines(epilogue, hasBias),
  };
}

/**
 * out[M, N] = epilogue(x[M, K] · W^T + b). x and out may be views (256-byte aligned offsets) of bigger
 * buffers. "residual" and "residual_gate" read out (the residual stream) and add into it in place.
 */
export function gemm(gpu: Gpu, x: Tensor, layer: Linear, out: Tensor, opts: GemmOptions = {}): void {
  const name = layer.name ?? "linear";
  const epilogue = opts.epilogue ?? "none";
  const N = layer.outFeatures, K = layer.inFeatures;
  if (layer.chunks.length === 0) throw new Error(`${name}: layer was freed`);
  const dtype = layer.chunks[0].dtype;
  if (x.shape.length !== 2 || x.shape[1] !== K) throw new Error(`${name}: expected input x [M, ${K}], found [${x.shape}]`);
  const M = x.shape[0];
  if (x.dtype !== dtype) throw new Error(`${name}: expected input x of dtype ${dtype}, found ${x.dtype}`);
  if (out.shape.length !== 2 || out.shape[0] !== M || out.shape[1] !== N) {
    throw new Error(`${name}: expected output [${M}, ${N}], found [${out.shape}]`);
  }
  if (out.dtype !== dtype) throw new Error(`${name}: expected output of dtype ${dtype}, found ${out.dtype}`);
  const align = gpu.limits.minStorageBufferOffsetAlignment;
  for (const [what, t] of [["input x", x], ["output", out]] as const) {
    if (t.offset % align !== 0) throw new Error(`${name}: ${what} offset ${t.offset} is not a multiple of ${align}`);
  }
  if (out.buffer === x.buffer) throw new Error(`${name}: input and output share a buffer (WebGPU forbids a read and a read_write binding of one buffer in a dispatch)`);
  const gate = opts.gate;
  if (epilogue === "residual_gate") {
    if (!gate) throw new Error(`${name}: epilogue residual_gate needs opts.gate`);
    if (gate.tensor.dtype !== dtype) throw new Error(`${name}: expected gate of dtype ${dtype}, found ${gate.tensor.dtype}`);
    const n = numel(gate.tensor.shape);
    if (!(Number.isInteger(gate.offset) && gate.offset >= 0 && gate.offset + N <= n)) {
      throw new Error(`${name}: gate offset ${gate.offset} + ${N} columns exceeds the gate tensor's ${n} elements [${gate.tensor.shape}]`);
    }
  } else if (gate) {
    throw new Error(`${name}: opts.gate given with epilogue ${epilogue} (only residual_gate uses it)`);
  }
  if (M === 0) return;

  const kernelChoice = opts.kernel ?? "auto";
  if (kernelChoice === "packed") {
    gemmMatrixPacked(gpu, x, layer, out, epilogue, gate, opts.packedTile);
    return;
  }
  if (kernelChoice === "matrix") {
    gemmMatrix(gpu, x, layer, out, epilogue, gate, opts.matrixTile);
    return;
  }
  if (kernelChoice === "auto" && !opts.tile) {
    const choice = chooseGemm(dtype === "f16", dtype === "f16" && matrixGemmSupport(gpu).ok, gemmOverride());
    if (choice.kernel === "packed") {
      gemmMatrixPacked(gpu, x, layer, out, epilogue, gate, opts.packedTile ?? choice.tile);
      return;
    }
    if (choice.kernel === "matrix") {
      gemmMatrix(gpu, x, layer, out, epilogue, gate, opts.matrixTile ?? choice.tile);
      return;
    }
  }
  const tile = opts.tile ?? pickTile(M, N, cpuAdapter(gpu));
  const smem = gemmWorkgroupBytes(tile), maxSmem = gpu.limits.maxComputeWorkgroupStorageSize;
  if (smem > maxSmem) {
    throw new Error(`${name}: tile ${tile.BM}x${tile.BN}x${tile.BK} needs ${smem} bytes of workgroup memory, the adapter's maxComputeWorkgroupStorageSize is ${maxSmem}`);
  }
  const kernel = gpu.kernel("gemm", gemmDefines(dtype, K, tile, epilogue, layer.bias !== null));
  dispatchChunks(gpu, kernel, x, layer, out, gate, tile.BM, tile.BN);
}

const cpuAdapters = new WeakMap<Gpu, boolean>();

/** Whether `gpu` is Mesa's CPU adapter (llvmpipe / lavapipe / softpipe by name), where pickTile's CPU rule pays.
 * SwiftShader (also a CPU adapter, also flagged fallback) keeps the GPU rule: see pickTile. */
export function cpuAdapter(gpu: Gpu): boolean {
  let cpu = cpuAdapters.get(gpu);
  if (cpu === undefined) {
    const d = gpu.describe();
    cpu = /llvmpipe|lavapipe|softpipe/i.test(`${d.adapter}`);
    cpuAdapters.set(gpu, cpu);
  }
  return cpu;
}

/** Workgroup memory of a tile: double-buffered X and W tiles of BK x (B + 4 padding) f32 each. */
export function gemmWorkgroupBytes(t: GemmTile): number {
  return 2 * t.BK * (t.BM + 4) * 4 + 2 * t.BK * (t.BN + 4) * 4;
}
