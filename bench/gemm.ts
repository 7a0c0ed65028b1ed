// GEMM bench: Y[M, N] = X[M, K] · W[N, K]^T + b on this adapter, f32 and f16, per kernel and tile variant:
// "auto" (what the model runs: the matrix kernel for f16 where the device has subgroup matrices), "scalar"
// (the scalar kernel's own pick), a scalar tile name (GEMM_TILES), "m:" + a matrix tile (MATRIX_TILES, f16)
// or "p:" + a packed tile (PACKED_TILES: src/ops/gemm_matrix_packed.ts, f16; X packed per call, timed with it).
// First checks 256 sampled outputs (32 rows x 8 columns) against a Float64 dot product of the values the
// GPU holds, then times (warm-up, batches of --iters calls, sync) and prints ms and TFLOP/s (2 M N K).
// Shape keys are "MxKxN" (X [M, K], W [N, K]), the same as bench/torch_gemm.py writes, so the two JSONs
// join on (shape, precision).
//
//   deno run -A bench/gemm.ts [--webgpu auto|dawn|deno] [--small] [--shapes 4096x4096x4096,...] [--precision f32,f16]
//                             [--variants auto|scalar|all|matrix|128x128x8,m:64x64x32,...] [--iters 10] [--timestamps] [--json out.json]
//                             [--gemm default|scalar|tile:T|packed:T] ($SHARDIT_GEMM: what "auto" runs)
//                             [--latest bench/results/latest.json [--torch torch_gemm.json]]
//
// --timestamps: also the GPU time per call from timestamp queries (gpuMs, gpuTFLOP/s). On Dawn the wall clock
// can include idle time between the GPU finishing and onSubmittedWorkDone resolving (bench/RESULTS.md).
//
// --latest: merge this run's figures of the "auto" variant (what gemm() runs) into that JSON as gemm_tflops:
// {f16: {"32760x1536x8960": n, ...}, f32: {...}} (shape keys MxKxN), from GPU time where --timestamps gave it,
// else wall clock (gemm_timing says which), and gemm_kernels (which kernel and tile ran); with --torch,
// bench/torch_gemm.py's TFLOP/s under torch.gemm_tflops: {fp16: ..., bf16: ..., fp32: ...}. Other keys of the
// file are kept; commit comes from $SHARDIT_COMMIT where set.
//
// X or Y larger than one storage binding is processed in row chunks (as the model does), each chunk one
// gemm call on views of the big buffers; a timed call is the whole product.
import { Gpu } from "../src/gpu/device.ts";
import { type DType, dtypeBytes } from "../src/shape.ts";
import { type Tensor } from "../src/gpu/tensor.ts";
import { freeLinear, uploadLinear } from "../src/ops/gemm_common.ts";
import { cpuAdapter, gemm, GEMM_ENV, gemmAutoChoice, GEMM_TILES, type GemmOptions, type GemmTile, parseGemmOverride, pickTile } from "../src/ops/gemm.ts";
import { MATRIX_TILES, matrixGemmSupport, matrixTileName } from "../src/ops/gemm_matrix.ts";
import { PACKED_TILES, packedTileName } from "../src/ops/gemm_matrix_packed.ts";
import { randomArray } from "../src/selftest/harness.ts";
import { benchArgs, benchEnv, overrideFlag, printEnv, printRow, printTable, timeGpu, updateLatest, latestRecord, writeJson } from "./common.ts";

const args = benchArgs("bench/gemm.ts", ["small", "shapes", "precision", "variants", "iters", "json", "timestamps", "latest", "torch", "gemm"], ["small", "timestamps"]);
// --gemm V: $SHARDIT_GEMM for this run, i.e. what the "auto" variant (gemm()'s own choice) runs
const gemmKernel = overrideFlag(args, "gemm", GEMM_ENV, parseGemmOverride);
const FULL = ["4096x4096x4096", "32760x1536x8960", "32760x8960x1536"];
const SMALL = ["256x128x192", "130x100x257", "64x64x64"];
const shapes = (args.get("shapes")?.split(",") ?? (args.has("small") ? SMALL : FULL)).map((s) => {
  const [M, K, N] = s.split("x").map(Number);
  if (![M, K, N].every((v) => Number.isInteger(v) && v > 0)) throw new Error(`bad shape ${s}: expected MxKxN`);
  return { key: `${M}x${K}x${N}`, M, K, N };
});
const precisions = (args.get("precision") ?? "f32,f16").split(",") as DType[];
const variantArg = args.get("variants") ?? "auto";
const matrixNames = Object.keys(MATRIX_TILES).map((n) => "m:" + n);
const packedNames = Object.keys(PACKED_TILES).map((n) => "p:" + n);
// "all": every variant; "matrix": every matrix tile; "scalar-tiles": every scalar tile.
const variantNames = variantArg.split(",").flatMap((v) =>
  v === "all" ? ["auto", "scalar", ...Object.keys(GEMM_TILES), ...matrixNames, ...packedNames] : v === "matrix" ? matrixNames : v === "packed" ? packedNames : v === "scalar-tiles" ? Object.keys(GEMM_TILES) : [v]
);
for (const v of variantNames) {
  if (v !== "auto" && v !== "scalar" && !GEMM_TILES[v] && !(v.startsWith("m:") && MATRIX_TILES[v.slice(2)]) && !(v.startsWith("p:") && PACKED_TILES[v.slice(2)])) {
    throw new Error(`unknown variant ${v} (known: auto, scalar, ${Object.keys(GEMM_TILES)}, ${matrixNames}, ${packedNames})`);
  }
}
const iters = Number(args.get("iters") ?? (args.has("small") ? 3 : 10));

const gpu = await Gpu.create({ label: "bench", profile: args.has("timestamps") });
const env = benchEnv(gpu);
printEnv(env);
console.log(`${GEMM_ENV}=${gemmKernel} (what the "auto" variant runs where the run is f16 on a device with subgroup matrices)`);
const maxBinding = gpu.limits.maxStorageBufferBindingSize;
console.log(`maxStorageBufferBindingSize ${maxBinding}, maxBufferSize ${gpu.limits.maxBufferSize}`);

interface Result {
  shape: string;
  M: number;
  K: number;
  N: number;
  precision: DType;
  variant: string;
  tile: string;
  ms: number;
  tflops: number;
  /** GPU ms per call from timestamp queries (--timestamps), else null. */
  gpuMs: number | null;
  relErr: number;
  ok: boolean;
  batches: number[];
}
const results: Result[] = [];

function tileName(t: GemmTile): string {
  return Object.entries(GEMM_TILES).find(([, v]) => v === t)?.[0] ?? JSON.stringify(t);
}

for (const { key, M, K, N } of shapes) {
  // Host data once per shape (f16 runs get the same values, rounded on upload).
  const x = randomArray(M * K, 1, 1);
  const w = randomArray(N * K, 2, 1 / Math.sqrt(K));
  const b = randomArray(N, 3, 0.5);
  for (const dtype of precisions) {
    if (dtype === "f16" && !gpu.features.f16) {
      console.log(`${key} f16: skipped (no shader-f16)`);
      continue;
    }
    const bytes = dtypeBytes(dtype);
    const layer = uploadLinear(gpu, w, [N, K], b, dtype, `bench ${key}`);
    // Row chunks so each x / out view fits one binding, offsets 256-aligned (rows a multiple of 256).
    const rowsPerChunk = Math.min(M, Math.max(256, Math.floor(maxBinding / (Math.max(K, N) * bytes) / 256) * 256));
    const xBuf = gpu.acquire(M * K * bytes, "bench x");
    const yBuf = gpu.acquire(M * N * bytes, "bench y");
    const view = (buf: GPUBuffer, cols: number, r0: number, rows: number): Tensor => ({ buffer: buf, shape: [rows, cols], dtype, offset: r0 * cols * bytes });
    for (let r0 = 0; r0 < M; r0 += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, M - r0);
      gpu.write(view(xBuf, K, r0, rows), x.subarray(r0 * K, (r0 + rows) * K));
    }
    // What the GPU holds (f16-rounded for f16), for the reference.
    const xs = dtype === "f16" ? new Float16Array(x) : x, ws = dtype === "f16" ? new Float16Array(w) : w, bs = dtype === "f16" ? new Float16Array(b) : b;

    const matrix = matrixGemmSupport(gpu);
    for (const vname of variantNames) {
      // The options of this variant and the tile it runs (named for the table).
      let opts: GemmOptions, tileLabel: string;
      if (vname.startsWith("p:")) {
        if (!matrix.ok || dtype !== "f16") {
          console.log(`${key} ${dtype} ${vname}: skipped (${!matrix.ok ? matrix.reason : "the packed kernel is f16 only"})`);
          continue;
        }
        opts = { kernel: "packed", packedTile: PACKED_TILES[vname.slice(2)] };
        tileLabel = "packed " + vname.slice(2);
      } else if (vname === "auto") {
        // what gemm() runs (its own choice, $SHARDIT_GEMM / --gemm included): no kernel or tile forced
        const c = gemmAutoChoice(gpu, dtype, Math.min(M, rowsPerChunk), N);
        opts = {};
        tileLabel = c.kernel === "scalar" ? tileName(c.tile) : c.kernel === "matrix" ? "matrix " + matrixTileName(c.tile) : "packed " + packedTileName(c.tile);
      } else if (vname.startsWith("m:")) {
        if (!matrix.ok || dtype !== "f16") {
          console.log(`${key} ${dtype} ${vname}: skipped (${!matrix.ok ? matrix.reason : "the matrix kernel is f16 only"})`);
          continue;
        }
        const mt = MATRIX_TILES[vname.slice(2)];
        opts = { kernel: "matrix", matrixTile: mt };
        tileLabel = "matrix " + matrixTileName(mt);
      } else {
        const tile = vname === "scalar" ? pickTile(Math.min(M, rowsPerChunk), N, cpuAdapter(gpu)) : GEMM_TILES[vname];
        opts = { kernel: "scalar", tile };
        tileLabel = tileName(tile);
      }
      const run = () => {
        for (let r0 = 0; r0 < M; r0 += rowsPerChunk) {
          const rows = Math.min(rowsPerChunk, M - r0);
          gemm(gpu, view(xBuf, K, r0, rows), layer, view(yBuf, N, r0, rows), opts);
        }
      };
      // Correctness on 32 sampled rows x 8 sampled columns.
      run();
      let num = 0, den = 0;
      const rs = randomArray(32, 11, 1), cs = randomArray(8, 12, 1);
      for (let i = 0; i < 32; i++) {
        const m = Math.min(M - 1, Math.floor((rs[i] * 0.5 + 0.5) * M));
        // copyBufferToBuffer needs 4-byte aligned offsets: an odd f16 row starts 2 bytes into the read.
        const start = m * N * bytes, at = start % 4;
        const row = await gpu.readBytes(yBuf, start - at, N * bytes + at);
        const got = dtype === "f16" ? new Float16Array(row, at, N) : new Float32Array(row, 0, N);
        for (let j = 0; j < 8; j++) {
          const n = Math.min(N - 1, Math.floor((cs[j] * 0.5 + 0.5) * N));
          let s = Number(bs[n]);
          for (let k = 0; k < K; k++) s += Number(xs[m * K + k]) * Number(ws[n * K + k]);
          num += (Number(got[n]) - s) ** 2;
          den += s * s;
        }
      }
      const relErr = Math.sqrt(num / Math.max(den, 1e-300));
      const ok = relErr <= (dtype === "f16" ? 1e-2 : 1e-4);
      // GPU clocks ramp up under load (call 1 on the H100: the auto variant's GPU mean at 32760x8960x1536 was
      // twice the sweep's): half a second of this variant's calls before any timing.
      for (const t1 = performance.now(); performance.now() - t1 < 500;) {
        run();
        await gpu.sync();
      }
      gpu.opTimes.clear();
      const warmup = 2, repeats = 3;
      const t = await timeGpu(gpu, run, iters, { warmup, repeats });
      const stampedMs = [...gpu.opTimes.values()].reduce((a, o) => a + o.ms, 0);
      const gpuMs = args.has("timestamps") && gpu.opTimes.size > 0 ? stampedMs / (warmup + repeats * iters) : null;
      const r: Result = {
        shape: key, M, K, N, precision: dtype, variant: vname, tile: tileLabel, ms: t.ms, gpuMs,
        tflops: (2 * M * N * K) / (t.ms * 1e-3) / 1e12, relErr, ok, batches: t.batches,
      };
      results.push(r);
      const gpuCols = gpuMs === null ? {} : { gpuMs, "gpuTFLOP/s": (2 * M * N * K) / (gpuMs * 1e-3) / 1e12 };
      printRow({ shape: key, precision: dtype, variant: vname, tile: r.tile, ms: r.ms, "TFLOP/s": r.tflops, ...gpuCols, relErr: r.relErr, ok });
    }
    freeLinear(gpu, layer);
    gpu.release(xBuf);
    gpu.release(yBuf);
    await gpu.sync();
  }
}

console.log("");
printTable(results.map((r) => ({ shape: r.shape, precision: r.precision, variant: r.variant, tile: r.tile, ms: r.ms, "TFLOP/s": r.tflops, gpuMs: r.gpuMs ?? "", relErr: r.relErr, ok: r.ok })));
const jsonPath = args.get("json");
if (jsonPath) writeJson(jsonPath, { bench: "gemm", env, iters, results });
const latestPath = args.get("latest");
if (latestPath) mergeLatest(latestPath, args.get("torch"));

/** Merges gemm_tflops (and torch.gemm_tflops from torchPath) into the JSON at `path`, keeping its other keys. */
function mergeLatest(path: string, torchPath?: string) {
  updateLatest(path, env, (latest, torch) => {
    const tf = latestRecord<Record<string, number>>(latest, "gemm_tflops");
    const kernels = latestRecord<string>(latest, "gemm_kernels");
    for (const r of results) {
      if (r.variant !== "auto" || !r.ok) continue;
      const ms = r.gpuMs ?? r.ms;
      tf[r.precision] = { ...(tf[r.precision] ?? {}), [r.shape]: (2 * r.M * r.N * r.K) / (ms * 1e-3) / 1e12 };
      kernels[`${r.precision} ${r.shape}`] = r.tile;
    }
    latest.gemm_tflops = tf;
    latest.gemm_kernels = kernels;
    latest.gemm_timing = args.has("timestamps") ? "gpu timestamps (TFLOP/s of the mean call)" : "wall clock (TFLOP/s of the best batch)";
    if (!torchPath) return;
    const runs = JSON.parse(Deno.readTextFileSync(torchPath)) as { results: { shape: string; precision: string; tflops: number }[] };
    const names: Record<string, string> = { f16: "fp16", bf16: "bf16", f32: "fp32" };
    const ttf = latestRecord<Record<string, number>>(torch, "gemm_tflops");
    for (const r of runs.results) {
      const p = names[r.precision] ?? r.precision;
      ttf[p] = { ...(ttf[p] ?? {}), [r.shape]: r.tflops };
    }
    torch.gemm_tflops = ttf;
  });
}
gpu.destroy();
if (results.some((r) => !r.ok)) {
  console.error("gemm bench: some results were wrong (relErr over tolerance)");
  Deno.exit(1);
}
