// Attention bench: fused flash attention O = softmax(Q K^T / sqrt(D)) V, Q/K/V/O [L, N, D], self-attention
// (Lq = Lk = L), f32 and f16, per kernel and tile config. First checks sampled query rows (all heads) against a
// Float64 computation on the values the GPU holds, then times (warm-up, batches of --iters calls, sync)
// and prints ms and TFLOP/s (4 L^2 N D). Shape keys are "L{L}xN{N}xD{D}", the same as
// bench/torch_attention.py writes, so the two JSONs join on (shape, precision).
//
//   deno run -A bench/attention.ts [--webgpu auto|dawn|deno] [--small] [--shapes 4096x12x128,32760x12x128]
//        [--precision f32,f16] [--variants] [--configs auto,scalar,m4x32,128x32,...] [--iters 5] [--rows 8]
//        [--diag-f16] [--timestamps] [--json out.json]
//   default: "auto" (what attention() runs), "scalar" (the scalar kernel's pick) and "matrix" (the first matrix
//   config that runs here: f16, D = 128, subgroup matrices), each once; --variants adds every
//   config of ATTENTION_CONFIGS, MATRIX_ATTENTION_CONFIGS and bench/variants/attention_configs.ts that fits;
//   --configs names some. --diag-f16: the f32 scalar kernel compiled with `enable f16;` in front (same code,
//   f32 storage), to tell the f16 storage path from the f16 compile mode when f16 runs slower than f32.
//   --timestamps: also the GPU time per call from timestamp queries (gpuMs), beside the wall-clock ms, which
//   includes how long the implementation takes to report the work done.
import { Gpu } from "../src/gpu/device.ts";
import type { DType } from "../src/gpu/tensor.ts";
import { ATTENTION_CONFIGS, type AttentionConfig, attentionPlan, attentionWith, pickAttention, pickAttentionConfig } from "../src/ops/attention.ts";
import {
  firstMatrixAttentionConfig, MATRIX_ATTENTION_CONFIGS, type MatrixAttentionConfig, matrixAttentionFits, matrixAttentionPlan, matrixAttentionUnsupported,
} from "../src/ops/attention_matrix.ts";
import { preprocessShader, shaderSource } from "../src/gpu/shaders.ts";
import { parseUniformStruct } from "../src/gpu/uniforms.ts";
import type { Kernel } from "../src/gpu/device.ts";
import type { Tensor } from "../src/gpu/tensor.ts";
import { ATTENTION_VARIANT_CONFIGS } from "./variants/attention_configs.ts";
import { attentionRef } from "../src/selftest/reference/attention.ts";
import { randomArray, relL2, roundF16 } from "../src/selftest/harness.ts";
import { benchArgs, benchEnv, printEnv, printRow, printTable, timeGpu, writeJson } from "./common.ts";

const args = benchArgs("bench/attention.ts", ["small", "shapes", "precision", "variants", "configs", "iters", "json", "rows", "diag-f16", "timestamps"], ["small", "variants", "diag-f16", "timestamps"]);
const FULL = ["4096x12x128", "32760x12x128"];
const SMALL = ["300x2x128", "77x3x36"];
const shapes = (args.get("shapes")?.split(",") ?? (args.has("small") ? SMALL : FULL)).map((s) => {
  const [L, N, D] = s.split("x").map(Number);
  if (![L, N, D].every((v) => Number.isInteger(v) && v > 0) || D % 4) throw new Error(`bad shape ${s}: expected LxNxD, D a multiple of 4`);
  return { key: `L${L}xN${N}xD${D}`, L, N, D };
});
const precisions = (args.get("precision") ?? "f32,f16").split(",") as DType[];
// Every named config: production scalar, matrix, and the scalar ones kept only for this bench.
const NAMED: Record<string, AttentionConfig | MatrixAttentionConfig> = { ...ATTENTION_CONFIGS, ...ATTENTION_VARIANT_CONFIGS, ...MATRIX_ATTENTION_CONFIGS };
const variantNames = args.get("configs")?.split(",") ?? (args.has("variants") ? ["auto", "scalar", "matrix", ...Object.keys(NAMED)] : ["auto", "scalar", "matrix"]);
for (const v of variantNames) if (!["auto", "scalar", "matrix"].includes(v) && !NAMED[v]) throw new Error(`unknown variant ${v} (known: auto, scalar, matrix, ${Object.keys(NAMED)})`);
const iters = Number(args.get("iters") ?? (args.has("small") ? 3 : 5));
const nRows = Number(args.get("rows") ?? 8);

const gpu = await Gpu.create({ label: "bench", profile: args.has("timestamps") });
const env = benchEnv(gpu);
printEnv(env);
console.log(`maxComputeWorkgroupStorageSize ${gpu.limits.maxComputeWorkgroupStorageSize}, maxStorageBufferBindingSize ${gpu.limits.maxStorageBufferBindingSize}`);
console.log(`matrix attention (f16, D 128): ${matrixAttentionUnsupported(gpu, 128, "f16") ?? "available"}`);

/** The f32 scalar kernel of `cfg` compiled with `enable f16;` in front (--diag-f16): f16 mode, f32 storage. */
function f16ModeKernel(cfg: AttentionConfig, D: number): Kernel {
  const code = "enable f16;\n" + preprocessShader(shaderSource("attention"), { ...attentionPlan(cfg, D, false).defines, lse: false });
  const module = gpu.device.createShaderModule({ label: "attention f16-mode", code });
  const pipeline = gpu.device.createComputePipeline({ label: "attention f16-mode", layout: "auto", compute: { module, entryPoint: "main" } });
  return { op: "attention f16-mode", pipeline, params: parseUniformStruct(code, "Params") };
}

interface Result {
  shape: string;
  L: number;
  N: number;
  D: number;
  precision: DType;
  variant: string;
  kernel: string;
  config: string;
  workgroupBytes: number;
  ms: number;
  /** GPU time per call from timestamp queries (--timestamps), else null. */
  gpuMs: number | null;
  tflops: number;
  relErr: number;
  ok: boolean;
  batches: number[];
}
const results: Result[] = [];
const skipped: string[] = [];

for (const { key, L, N, D } of shapes) {
  const n = L * N * D;
  const q32 = randomArray(n, 11, 1), k32 = randomArray(n, 12, 1), v32 = randomArray(n, 13, 1);
  // Sampled query rows: first, last and spread between (all heads of each).
  const rows = [...new Set(Array.from({ length: nRows }, (_, i) => Math.round((i * (L - 1)) / Math.max(nRows - 1, 1))))];
  for (const precision of precisions) {
    if (precision === "f16" && !gpu.features.f16) {
      skipped.push(`${key} f16 (no shader-f16)`);
      continue;
    }
    const [q, k, v] = precision === "f16" ? [roundF16(q32), roundF16(k32), roundF16(v32)] : [q32, k32, v32];
    const qt = gpu.upload(q, [L, N, D], precision), kt = gpu.upload(k, [L, N, D], precision), vt = gpu.upload(v, [L, N, D], precision);
    const ot = gpu.empty([L, N, D], precision);
    const t0 = performance.now();
    const ref = attentionRef(q, k, v, L, L, N, D, L, rows);
    const refMs = performance.now() - t0;
    const f16 = precision === "f16";
    const runs: { variant: string; cfg: AttentionConfig | MatrixAttentionConfig | null }[] = [];
    for (const variant of variantNames) {
      const cfg = variant === "auto" ? pickAttention(gpu, D, f16) : variant === "scalar" ? pickAttentionConfig(gpu, D, f16)
        : variant === "matrix" ? firstMatrixAttentionConfig(gpu, D, precision) : NAMED[variant];
      if (cfg === null) {
        skipped.push(`${key} ${precision} matrix (${matrixAttentionUnsupported(gpu, D, precision) ?? "no config fits"})`);
        continue;
      }
      if (runs.some((r) => r.cfg === cfg)) continue; // e.g. "scalar" is "auto" where the matrix kernel is not picked
      runs.push({ variant, cfg });
    }
    if (args.has("diag-f16") && !f16 && gpu.features.f16) runs.push({ variant: "f16-mode", cfg: null });
    for (const { variant, cfg } of runs) {
      const matrix = cfg !== null && "kind" in cfg;
      const cfgName = variant === "f16-mode" ? `${Object.entries(NAMED).find(([, c]) => c === pickAttentionConfig(gpu, D, false))?.[0]} + enable f16` : Object.entries(NAMED).find(([, c]) => c === cfg)?.[0] ?? JSON.stringify(cfg);
      if (matrix) {
        const why = matrixAttentionUnsupported(gpu, D, precision);
        if (why || !matrixAttentionFits(gpu, cfg)) {
          skipped.push(`${key} ${precision} ${variant} (${why ?? `needs ${matrixAttentionPlan(cfg).workgroupBytes} B workgroup memory`})`);
          continue;
        }
      } else if (cfg !== null) {
        const plan = attentionPlan(cfg, D, f16);
        if (plan.workgroupBytes > gpu.limits.maxComputeWorkgroupStorageSize || plan.threads > gpu.limits.maxComputeInvocationsPerWorkgroup) {
          skipped.push(`${key} ${precision} ${variant} (needs ${plan.workgroupBytes} B workgroup memory)`);
          continue;
        }
      }
      const workgroupBytes = cfg === null ? 0 : matrix ? matrixAttentionPlan(cfg).workgroupBytes : attentionPlan(cfg, D, f16).workgroupBytes;
      let run: () => void;
      if (cfg === null) {
        const scalarCfg = pickAttentionConfig(gpu, D, false);
        const kernel = f16ModeKernel(scalarCfg, D);
        run = () => gpu.dispatch(kernel, { Lq: L, Lk: L, N, validKeys: L, qscale: Math.LOG2E / Math.sqrt(D) }, [qt, kt, vt, ot] as Tensor[], [Math.ceil(L / scalarCfg.BQ), N]);
      } else {
        run = () => attentionWith(gpu, qt, kt, vt, ot, undefined, cfg);
      }
      run();
      const out = await gpu.read(ot);
      const got: number[] = [], want: number[] = [];
      for (const r of rows) for (let i = r * N * D; i < (r + 1) * N * D; i++) [got[got.length], want[want.length]] = [out[i], ref[i]];
      const relErr = relL2(got, want);
      const tol = f16 ? 1e-2 : 1e-4;
      gpu.opTimes.clear();
      const timing = await timeGpu(gpu, run, iters, { warmup: 1, repeats: 3 });
      const stamped = [...gpu.opTimes.values()].reduce((a, t) => ({ ms: a.ms + t.ms, count: a.count + t.count }), { ms: 0, count: 0 });
      const gpuMs = args.has("timestamps") && stamped.count > 0 ? stamped.ms / stamped.count : null;
      const tflops = (4 * L * L * N * D) / (timing.ms * 1e-3) / 1e12;
      const kernelName = matrix ? "matrix" : "scalar";
      const r: Result = {
        shape: key, L, N, D, precision, variant, kernel: kernelName, config: cfgName, workgroupBytes,
        ms: timing.ms, gpuMs, tflops, relErr, ok: relErr <= tol && Number.isFinite(relErr), batches: timing.batches,
      };
      results.push(r);
      printRow({ shape: key, precision, variant, kernel: kernelName, config: cfgName, ms: r.ms, gpuMs: r.gpuMs ?? "-", TFLOPs: r.tflops, relErr, ok: r.ok, refMs: Math.round(refMs) });
    }
    for (const t of [qt, kt, vt, ot]) gpu.freeTensor(t);
    await gpu.sync();
  }
}

console.log();
printTable(results.map((r) => ({ ...r, batches: r.batches.map((b) => b.toFixed(2)).join(" ") })), ["shape", "precision", "variant", "kernel", "config", "workgroupBytes", "ms", "gpuMs", "tflops", "relErr", "ok", "batches"]);
for (const s of skipped) console.log(`skipped: ${s}`);
const jsonPath = args.get("json");
if (jsonPath) writeJson(jsonPath, { bench: "attention", env, flops: "4*L^2*N*D", sampledRows: nRows, results, skipped });
gpu.destroy();
if (results.some((r) => !r.ok)) {
  console.error("some results were wrong");
  Deno.exit(1);
}
