// vaeConv3d: the Wan VAE's convolutions over channels-last activations as one implicit GEMM
// (shaders/vae_conv3d.wgsl): the causal 3x3x3 convs (first KT - 1 frames from the feature cache), the
// time upsampler's (3,1,1) conv (output channels split into two frames), the 3x3 Conv2d of the spatial
// upsamplers (KT = 1) and, for completeness, 1x1x1 convs (the decoder runs those through gemm).
import type { Gpu } from "../gpu/device.ts";
import { type DType, numel } from "../shape.ts";
import { expectShape, type Tensor, tensorBytes } from "../gpu/tensor.ts";
import { MAX_WG_X, workgroups1d } from "./workgroups.ts";
import { packedElements, packRows } from "./gemm_pack.ts";
import { GEMM_TILES, type GemmTile, gemmDefines, gemmWorkgroupBytes, pickTile } from "./gemm.ts";
import { readEnv } from "./env.ts";
import { MATRIX_TILES, matrixGemmSupport, type MatrixTile, matrixTileDefines, matrixTileFits, matrixTileFor, matrixWorkgroupBytes } from "./gemm_matrix.ts";

/**
 * A conv on the GPU: weights reordered to w [Cout, K], K = KT*KH*KW*Cin, tap-major with the channel
 * fastest (a GEMM's [N, K] rows), padded with zero rows to 4 when `narrow` (Cout <= 4, Cin % 4 == 0).
 */
export interface ConvLayer {
  w: Tensor;
  bias: Tensor;
  KT: number;
  KH: number;
  KW: number;
  Cin: number;
  Cout: number;
  /** Runs on vae_conv3d_narrow (one invocation per pixel, all <= 4 outputs) unless a GEMM tile is forced. */
  narrow: boolean;
  name: string;
  /** w packed in 16 x 16 tiles (src/ops/gemm_pack.ts), made on first use by a bpack matrix tile; freeConv frees it. */
  packed?: Tensor;
}

/** PyTorch [Cout, Cin, taps] -> [rows >= Cout, taps * Cin] with k = tap * Cin + ci (rows past Cout zero). */
export function convWeightToNxK(weight: Float32Array, Cout: number, Cin: number, taps: number, rows = Cout): Float32Array {
  if (weight.length !== Cout * Cin * taps) throw new Error(`conv weight has ${weight.length} values, expected ${Cout}x${Cin}x${taps}`);
  const K = taps * Cin;
  const out = new Float32Array(rows * K);
  for (let co = 0; co < Cout; co++) {
    for (let ci = 0; ci < Cin; ci++) {
      for (let tap = 0; tap < taps; tap++) out[co * K + tap * Cin + ci] = weight[(co * Cin + ci) * taps + tap];
    }
  }
  return out;
}

/** Uploads a conv given in PyTorch's layout; `shape` is [Cout, Cin, ...kernel] with a kernel of 0 to 3 dims. */
export function uploadConv(gpu: Gpu, weight: Float32Array, shape: readonly number[], bias: Float32Array, dtype: DType, name: string): ConvLayer {
  const [Cout, Cin, ...kernel] = shape;
  const k3 = [...Array(3 - kernel.length).fill(1), ...kernel];
  const [KT, KH, KW] = k3;
  if (kernel.length > 3 || k3.some((k) => k !== 1 && k !== 3)) throw new Error(`${name}: kernel [${kernel}] unsupported (sizes 1 or 3, at most 3 dims)`);
  if (KW === 3 && KH === 1) throw new Error(`${name}: kernel [${kernel}] unsupported (a 3-wide kernel needs 3 rows)`);
  if (weight.length !== numel(shape)) throw new Error(`${name}: weight has ${weight.length} values, shape [${shape}] needs ${numel(shape)}`);
  if (bias.length !== Cout) throw new Error(`${name}: bias has ${bias.length} values, expected ${Cout} (Cout)`);
  const taps = KT * KH * KW;
  const narrow = Cout <= 4 && Cin % 4 === 0;
  const rows = narrow ? 4 : Cout;
  return {
    w: gpu.upload(convWeightToNxK(weight, Cout, Cin, taps, rows), [rows, taps * Cin], dtype, `${name}.weight`),
    bias: gpu.upload(bias, [Cout], dtype, `${name}.bias`),
    KT, KH, KW, Cin, Cout, narrow, name,
  };
}

export function freeConv(gpu: Gpu, l: ConvLayer): void {
  gpu.freeTensor(l.w);
  gpu.freeTensor(l.bias);
  if (l.packed) gpu.destroyTensor(l.packed); // pinned (packConv): destroyed, not pooled, so the pin goes with it
  l.packed = undefined;
}

/** The layer's w [Cout, K] packed in 16 x 16 tiles (once; kept in layer.packed). */
function packConv(gpu: Gpu, l: ConvLayer): Tensor {
  if (l.packed) return l.packed;
  const [rows, K] = l.w.shape;
  const n = packedElements(rows, K);
  gpu.checkBinding(n * 2, `${l.name}: packed weight (${rows} rows of ${K}, rounded up to 16)`);
  const p = gpu.empty([n], l.w.dtype, `${l.name}.packed`);
  gpu.pin(p);
  packRows(gpu, l.w, p, l.name);
  l.packed = p;
  return p;
}

/** gemm's tiles plus a 32-wide one, so 96 (and 160, 224) output channels waste nothing. */
export const CONV_TILES: Record<string, GemmTile> = {
  ...GEMM_TILES,
  "128x32x8": { BM: 128, BN: 32, BK: 8, TM: 8, TN: 4 },
};

/** The tile with no wasted columns where Cout allows (a multiple of 128, 64 or 32), else gemm's choice. */
export function pickConvTile(M: number, N: number): GemmTile {
  if (N % 128 === 0) return pickTile(M, N);
  if (N % 64 === 0) return GEMM_TILES["128x64x8"];
  if (N % 32 === 0) return CONV_TILES["128x32x8"];
  return pickTile(M, N);
}

/**
 * Tiles of vae_conv3d_matrix (f16 on the matrix units), by output width: the decoder's convs have 384, 192
 * and 96 output channels (and 3 on the narrow kernel).
 */
export const CONV_MATRIX_TILES: Record<string, MatrixTile> = {
  "128x128x32/2x4": MATRIX_TILES["128x128x32/2x4"],
  "128x128x16/4x4": MATRIX_TILES["128x128x16/4x4"],
  "128x128x16/2x2": MATRIX_TILES["128x128x16/2x2"],
  "128x64x32/4x2": MATRIX_TILES["128x64x32/4x2"],
  "128x64x16/4x4": MATRIX_TILES["128x64x16/4x4"],
  "128x32x32/2x2": MATRIX_TILES["128x32x32/2x2"],
  "128x32x16/4x2": MATRIX_TILES["128x32x16/4x2"],
  "128x128x32/2x4d": MATRIX_TILES["128x128x32/2x4d"],
  "128x128x32/4x4d": MATRIX_TILES["128x128x32/4x4d"],
  "128x64x32/4x2d": MATRIX_TILES["128x64x32/4x2d"],
  "128x32x32/2x2d": MATRIX_TILES["128x32x32/2x2d"],
  "256x128x16/4x4": MATRIX_TILES["256x128x16/4x4"],
  "256x64x16/4x2": MATRIX_TILES["256x64x16/4x2"],
  "128x256x16/4x4": MATRIX_TILES["128x256x16/4x4"],
  // B from the packed weight (bpack)
  "256x128x16/4x4k": MATRIX_TILES["256x128x16/4x4k"],
  "128x128x16/2x2k": MATRIX_TILES["128x128x16/2x2k"],
  "256x64x16/4x2k": MATRIX_TILES["256x64x16/4x2k"],
  "128x128x32/2x4k": MATRIX_TILES["128x128x32/2x4k"],
};

/**
 * The matrix conv's tile: 128x128x16/2x2 for every width. The sweep over one chunk frame of each decoder
 * stage's 3x3x3 conv ranked it first for 384 and 192 channels (at 192, 128 + 64 wasted columns beat the exact
 * 128x64 tiles) and within 3% of the first for 96; the narrow 128x32 / 128x64 tiles ran far slower
 * (bench/RESULTS.md "Behind the defaults").
 */
export function pickConvMatrixTile(_N: number): MatrixTile {
  return CONV_MATRIX_TILES["128x128x16/2x2"];
}

export interface ConvOptions {
  /** [KT - 1, Hin, W, Cin]: the frames before x (the feature cache), of which the first `zeroFrames` read as zeros. */
  cache?: Tensor;
  /** Leading cache frames that are causal zero padding (default KT - 1: no cache yet, the first chunk). */
  zeroFrames?: number;
  /** Rows of zero padding above (and below): (KH - 1) / 2 for a whole frame (default), 0 when x carries halo rows. */
  padTop?: number;
  /** Added to the output (same shape): the residual block's skip path. */
  residual?: Tensor;
  /** Output channels per output frame (default Cout); Cout / splitC frames per input frame (the time upsampler: Cout / 2). */
  splitC?: number;
  /** Force a GEMM tile of the scalar kernel (tests, bench); default: vae_conv3d_narrow for a narrow layer, else pickConvTile. */
  tile?: GemmTile;
  /**
   * Which kernel for a non-narrow layer: "auto" (default: vae_conv3d_matrix for f16 where the device has
   * subgroup matrices and no scalar tile was forced, at pickConvMatrixTile's tile; $SHARDIT_CONV overrides
   * that: see conv3dOverride), "scalar" or "matrix" (an error where it cannot run).
   */
  kernel?: "auto" | "scalar" | "matrix";
  /** Force a tile of the matrix kernel (tests, bench); default pickConvMatrixTile. */
  matrixTile?: MatrixTile;
}

/** The environment variable that overrides vaeConv3d()'s "auto" choice. */
export const CONV_ENV = "SHARDIT_CONV";

/**
 * What $SHARDIT_CONV asks for: "default" (or unset: today's selection), "scalar" (the FMA conv, for
 * comparisons; was SHARDIT_CONV_MATRIX=0) or "tile:<CONV_MATRIX_TILES name>" (the matrix conv at that tile for
 * every non-narrow layer). Like $SHARDIT_GEMM it applies only where "auto" would take the matrix conv (f16 on a
 * device with subgroup matrices, no scalar tile forced).
 */
export type ConvOverride = { kind: "default" } | { kind: "scalar" } | { kind: "tile"; name: string; tile: MatrixTile };

/** Parses a $SHARDIT_CONV value (unset or empty: "default"); an unknown value is refused in one line. */
export function parseConvOverride(raw: string | undefined): ConvOverride {
  const v = (raw ?? "").trim();
  if (v === "" || v === "default") return { kind: "default" };
  if (v === "scalar") return { kind: "scalar" };
  const name = v.startsWith("tile:") ? v.slice(5) : "";
  if (name && Object.hasOwn(CONV_MATRIX_TILES, name)) return { kind: "tile", name, tile: CONV_MATRIX_TILES[name] };
  throw new Error(`${CONV_ENV}: expected default, scalar or tile:<${Object.keys(CONV_MATRIX_TILES).join("|")}>, found "${v}"`);
}

let parsedOverride: ConvOverride | undefined;

/** $SHARDIT_CONV, parsed on first use (no Deno or no env permission: "default"); the retired $SHARDIT_CONV_MATRIX is refused. */
export function conv3dOverride(): ConvOverride {
  if (parsedOverride) return parsedOverride;
  const old = readEnv("SHARDIT_CONV_MATRIX");
  if (old !== undefined) throw new Error(`SHARDIT_CONV_MATRIX: replaced by ${CONV_ENV} (expected unset; for "0" use ${CONV_ENV}=scalar), found "${old}"`);
  return (parsedOverride = parseConvOverride(readEnv(CONV_ENV)));
}

/** vaeConv3d()'s "auto" for a non-narrow layer under `override`: the scalar conv, or the matrix conv at a tile (undefined: the default tile). */
export function chooseConv(f16: boolean, matrixOk: boolean, override: ConvOverride): { kernel: "scalar" } | { kernel: "matrix"; tile?: MatrixTile } {
  if (!(f16 && matrixOk) || override.kind === "scalar") return { kernel: "scalar" };
  return { kernel: "matrix", tile: override.kind === "tile" ? override.tile : undefined };
}

/**
 * out [T * G, Hout, W, splitC] = conv(x [T, Hin, W, Cin]) with Hout = Hin + 2 padTop - (KH - 1), G = Cout / splitC.
 */
export function vaeConv3d(gpu: Gpu, x: Tensor, layer: ConvLayer, out: Tensor, opts: ConvOptions = {}): void {
  // 1. validate
  const { name, KT, KH, KW, Cin, Cout } = layer;
  if (x.shape.length !== 4 || x.shape[3] !== Cin) throw new Error(`${name}: expected x [T, H, W, ${Cin}], found [${x.shape}]`);
  const [T, Hin, W] = x.shape;
  const padTop = opts.padTop ?? (KH - 1) / 2;
  if (padTop !== 0 && padTop !== (KH - 1) / 2) throw new Error(`${name}: padTop ${padTop} must be 0 or ${(KH - 1) / 2}`);
  const Hout = Hin + 2 * padTop - (KH - 1);
  if (Hout <= 0) throw new Error(`${name}: ${Hin} input rows with padTop ${padTop} leave no output rows`);
  const splitC = opts.splitC ?? Cout;
  if (!(Number.isInteger(splitC) && splitC > 0 && Cout % splitC === 0)) throw new Error(`${name}: splitC ${splitC} must divide Cout ${Cout}`);
  const G = Cout / splitC;
  expectShape(`${name} output`, out, [T * G, Hout, W, splitC], x.dtype);
  if (layer.w.dtype !== x.dtype) throw new Error(`${name}: weights are ${layer.w.dtype}, x is ${x.dtype}`);
  const nCache = KT - 1;
  const zeroFrames = opts.zeroFrames ?? nCache;
  if (!(Number.isInteger(zeroFrames) && zeroFrames >= 0 && zeroFrames <= nCache)) throw new Error(`${name}: zeroFrames ${zeroFrames} must be in [0, ${nCache}]`);
  if (zeroFrames < nCache) {
    if (!opts.cache) throw new Error(`${name}: ${nCache - zeroFrames} cached frames asked for, but no feature cache [${nCache}, ${Hin}, ${W}, ${Cin}] given`);
    expectShape(`${name} cache`, opts.cache, [nCache, Hin, W, Cin], x.dtype);
  } else if (opts.cache && nCache === 0) throw new Error(`${name}: a 1-frame conv takes no cache`);
  if (opts.residual) expectShape(`${name} residual`, opts.residual, out.shape, x.dtype);
  if (out.buffer === x.buffer || (opts.residual && out.buffer === opts.residual.buffer) || (opts.cache && out.buffer === opts.cache.buffer)) {
    throw new Error(`${name}: the output shares a buffer with an input (WebGPU forbids a read and a read_write binding of one buffer)`);
  }
  for (const [what, t] of [["x", x], ["output", out]] as const) gpu.checkBinding(tensorBytes(t), `${name} ${what}`);
  const M = T * Hout * W, K = KT * KH * KW * Cin;
  const params = { M, Cin, Cout, K, Hin, Hout, W, padTop, nCache, zeroFrames, splitC };
  const bindings = [x, opts.cache ?? x, layer.w, layer.bias, out, ...(opts.residual ? [opts.residual] : [])];
  const f16 = x.dtype === "f16", residual = !!opts.residual;
  if (layer.narrow && !opts.tile) {
    if (splitC !== Cout) throw new Error(`${name}: a narrow conv (Cout ${Cout} <= 4) does not split its output into frames`);
    // 2. pipeline key: dtype, kernel size, residual  3. uniforms  4. dispatch: one invocation per pixel
    const kernel = gpu.kernel("vae_conv3d_narrow", { f16, KT, KH, KW, residual });
    gpu.dispatch(kernel, params, bindings, workgroups1d(Math.ceil(M / 64)));
    return;
  }
  const choice = opts.kernel ?? "auto";
  const auto = choice === "auto" && !opts.tile ? chooseConv(f16, f16 && matrixGemmSupport(gpu).ok, conv3dOverride()) : null;
  if (choice === "matrix" || auto?.kernel === "matrix") {
    const support = matrixGemmSupport(gpu);
    if (!support.ok) throw new Error(`${name}: the matrix conv cannot run: ${support.reason}`);
    if (!f16) throw new Error(`${name}: the matrix conv takes f16 operands, found ${x.dtype}`);
    // 2. pipeline key: kernel size, vec4 reads, matrix tile, residual
    const mt = opts.matrixTile ?? (auto?.kernel === "matrix" ? auto.tile : undefined) ?? pickConvMatrixTile(Cout);
    if (!matrixTileFits(gpu, mt, support.subgroupSize)) {
      throw new Error(`${name}: matrix tile ${JSON.stringify(mt)} needs ${matrixWorkgroupBytes(mt)} bytes of workgroup memory and ${mt.SGR * mt.SGC * support.subgroupSize} invocations; the adapter allows ${gpu.limits.maxComputeWorkgroupStorageSize} and ${gpu.limits.maxComputeInvocationsPerWorkgroup}`);
    }
    let run = matrixTileFor(mt, Cin % 4 === 0 ? K : 1, [Cout]);
    if (!matrixTileFits(gpu, run, support.subgroupSize)) run = pickConvMatrixTile(Cout);
    const d = matrixTileDefines(run, support.subgroupSize);
    const kernel = gpu.kernel("vae_conv3d_matrix", { KT, KH, KW, residual, vec: Cin % 4 === 0, ...d });
    if (d.bpack) bindings[2] = packConv(gpu, layer);
    // 3. uniforms  4. dispatch: (N tiles, M tiles over y and z)
    const BM = d.BM as number, BN = d.BN as number;
    const mTiles = Math.ceil(M / BM);
    gpu.dispatch(kernel, params, bindings, [Math.ceil(Cout / BN), Math.min(mTiles, MAX_WG_X), Math.ceil(mTiles / MAX_WG_X)]);
    return;
  }
  // 2. pipeline key: dtype, kernel size, vec4 reads, tile, residual
  const tile = opts.tile ?? pickConvTile(M, Cout);
  const smem = gemmWorkgroupBytes(tile);
  if (smem > gpu.limits.maxComputeWorkgroupStorageSize) throw new Error(`${name}: tile ${tile.BM}x${tile.BN}x${tile.BK} needs ${smem} bytes of workgroup memory, over the adapter's ${gpu.limits.maxComputeWorkgroupStorageSize}`);
  const g = gemmDefines(x.dtype, K, tile, "none", true);
  const defines = {
    f16, KT, KH, KW, residual, vec: Cin % 4 === 0,
    BM: g.BM, BN: g.BN, BK: g.BK, WGX: g.WGX, WGY: g.WGY, THREADS: g.THREADS, tm8: g.tm8, tn8: g.tn8,
    la2: g.la2, lb2: g.lb2, ahalf: g.ahalf, bhalf: g.bhalf, A_SMEM: g.A_SMEM, B_SMEM: g.B_SMEM,
  };
  const kernel = gpu.kernel("vae_conv3d", defines);
  // 3. uniforms  4. dispatch: (N tiles, M tiles over y and z)
  const mTiles = Math.ceil(M / tile.BM);
  gpu.dispatch(kernel, params, bindings, [Math.ceil(Cout / tile.BN), Math.min(mTiles, MAX_WG_X), Math.ceil(mTiles / MAX_WG_X)]);
}
