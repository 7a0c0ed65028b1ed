// Attention bench: fused flash attention O = softmax(Q K^T / sqrt(D)) V, Q/K/V/O [L, N, D], self-attention
// (Lq = Lk = L) or cross-attention (a shape Lq:Lk x N x D, e.g. 32760:512x12x128: the 512 text keys), f32 and
// f16, per kernel and tile config. First checks sampled query rows (all heads) against a
// Float64 computation on the values the GPU holds, then times (warm-up, batches of --iters calls, sync)
// and prints ms and TFLOP/s (4 Lq Lk N D; from the GPU time with --timestamps, else the wall clock). Shape keys are "L{L}xN{N}xD{D}" (cross: "L{Lq}xLk{Lk}xN{N}xD{D}"), the
// same as bench/torch_attention.py writes, so the two JSONs join on (shape, precision).
//
//   deno run -A bench/attention.ts [--webgpu auto|dawn|deno] [--small] [--shapes 4096x12x128,32760x12x128]
//        [--precision f32,f16] [--variants] [--configs auto,scalar,m4x32,128x32,...] [--iters 5] [--rows 8]
//        [--diag-f16] [--timestamps] [--json out.json] [--latest bench/results/latest.json [--torch torch.json]]
//   default: "auto" (what attention() runs), "scalar" (the scalar kernel's pick) and "matrix" (the first matrix
//   config that runs here: f16, D = 128, subgroup matrices), each once; --variants adds every
//   config of ATTENTION_CONFIGS, MATRIX_ATTENTION_CONFIGS and bench/variants/attention_configs.ts that fits;
//   --configs names some. --diag-f16: the f32 scalar kernel compiled with `enable f16;` in front (same code,
//   f32 storage), to tell the f16 storage path from the f16 compile mode when f16 runs slower than f32.
//   --timestamps: also the GPU time per call from timestamp queries (gpuMs), beside the wall-clock ms, which
//   includes how long the implementation takes to report the work done.
//   --latest: merge this run's f16 figures of the "auto" variant (what attention() runs) into that JSON as
//   attention_ms: {f16: {"4096": ms, "32760": ms, "512text": ms}} (12 x 128 shapes; "512text" = 32,760 queries x
//   512 keys), GPU ms where --timestamps gave them, else wall (attention_timing says which); with --torch, the
//   default SDPA backend's ms from bench/torch_attention.py's JSON under torch.attention_ms: {fp16: ..., bf16: ...}.
//   Other keys of the file are kept.
import { Gpu } from "../src/gpu/device.ts";
import type { DType } from "../src/shape.ts";
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
import { benchArgs, benchEnv, latestRecord, printEnv, printRow, printTable, timeGpu, updateLatest, writeJson } from "./common.ts";

const args = benchArgs("bench/attention.ts", ["small", "shapes", "precision", "variants", "configs", "iters", "json", "rows", "diag-f16", "timestamps", "latest", "torch"], ["small", "variants", "diag-f16", "timestamps"]);
const FULL = ["4096x12x128", "32760x12x128", "32760:512x12x128"];
const SMALL = ["300x2x128", "77x3x36", "100:7x2x128"];
const shapes = (args.get("shapes")?.split(",") ?? (args.has("small") ? SMALL : FULL)).map((s) => {
  const [Ls, Ns, Ds] = s.split("x");
  const [L, Lk] = Ls?.includes(":") ? Ls.split(":").map(Number) : [Number(Ls), Number(Ls)];
  const [N, D] = [Number(Ns), Number(Ds)];
  if (![L, Lk, N, D].every((v) => Number.isInteger(v) && v > 0) || D % 4) throw new Error(`bad shape ${s}: expected LxNxD or Lq:LkxNxD, D a multiple of 4`);
  return { key: Lk === L ? `L${L}xN${N}xD${D}` : `L${L}xLk${Lk}xN${N}xD${D}`, L, Lk, N, D };
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
  Lk: number;
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

for (const { key, L, Lk, N, D } of shapes) {
  const n = L * N * D, nk = Lk * N * D;
  const q32 = randomArray(n, 11, 1), k32 = randomArray(nk, 12, 1), v32 = randomArray(nk, 13, 1);
  // Sampled query rows: first, last and spread between (all heads of each).
  const rows = [...new Set(Array.from({ length: nRows }, (_, i) => Math.round((i * (L - 1)) / Math.max(nRows - 1, 1))))];
  for (const precision of precisions) {
    if (precision === "f16" && !gpu.features.f16) {
      skipped.push(`${key} f16 (no shader-f16)`);
      continue;
    }
    const [q, k, v] = precision === "f16" ? [roundF16(q32), roundF16(k32), roundF16(v32)] : [q32, k32, v32];
    const qt = gpu.upload(q, [L, N, D], precision), kt = gpu.upload(k, [Lk, N, D], precision), vt = gpu.upload(v, [Lk, N, D], precision);
    const ot = gpu.empty([L, N, D], precision);
    const t0 = performance.now();
    const ref = attentionRef(q, k, v, L, Lk, N, D, Lk, rows);
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
    // GPU clocks ramp up under load (the attention sweep's first variant ran batches of 14.3, 9.2 and 3.8 ms):
    // half a second of what attention() runs before any timing.
    for (const t1 = performance.now(); performance.now() - t1 < 500;) {
      attentionWith(gpu, qt, kt, vt, ot, undefined, pickAttention(gpu, D, f16));
      await gpu.sync();
    }
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
        run = () => gpu.dispatch(kernel, { Lq: L, Lk, N, validKeys: Lk, qscale: Math.LOG2E / Math.sqrt(D) }, [qt, kt, vt, ot] as Tensor[], [Math.ceil(L / scalarCfg.BQ), N]);
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
      const tflops = (4 * L * Lk * N * D) / ((gpuMs ?? timing.ms) * 1e-3) / 1e12;
      const kernelName = matrix ? "matrix" : "scalar";
      const r: Result = {
        shape: key, L, Lk, N, D, precision, variant, kernel: kernelName, config: cfgName, workgroupBytes,
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
if (jsonPath) writeJson(jsonPath, { bench: "attention", env, flops: "4*L*Lk*N*D", sampledRows: nRows, results, skipped });
const latestPath = args.get("latest");
if (latestPath) mergeLatest(latestPath, args.get("torch"));

/** The latest.json name of a 12 x 128 shape: "4096", "32760", "512text" (32,760 queries x 512 keys); else the key. */
function latestName(r: { shape: string; L: number; Lk: number; N: number; D: number }): string {
  if (r.N !== 12 || r.D !== 128) return r.shape;
  if (r.Lk === r.L) return String(r.L);
  return r.L === 32760 && r.Lk === 512 ? "512text" : r.shape;
}

/** Merges attention_ms (and torch.attention_ms from torchPath) into the JSON at `path`, keeping its other keys. */
function mergeLatest(path: string, torchPath?: string) {
  updateLatest(path, env, (latest, torch) => {
    const ms = latestRecord<Record<string, number>>(latest, "attention_ms");
    for (const r of results) {
      if (r.variant !== "auto" || !r.ok) continue;
      ms[r.precision] = { ...(ms[r.precision] ?? {}), [latestName(r)]: r.gpuMs ?? r.ms };
    }
    latest.attention_ms = ms;
    latest.attention_timing = args.has("timestamps") ? "gpu timestamps (ms per call)" : "wall clock (ms per call, best batch)";
    latest.attention_kernels = Object.fromEntries(results.filter((r) => r.variant === "auto").map((r) => [`${r.precision} ${latestName(r)}`, `${r.kernel} ${r.config}`]));
    if (!torchPath) return;
    const runs = JSON.parse(Deno.readTextFileSync(torchPath)) as { results: { shape: string; L: number; Lk?: number; N: number; D: number; precision: string; ms: number; default_backend: string }[] };
    const tms = latestRecord<Record<string, number>>(torch, "attention_ms");
    const backends: Record<string, string> = {};
    for (const r of runs.results) {
      const name = latestName({ ...r, Lk: r.Lk ?? r.L });
      tms[r.precision] = { ...(tms[r.precision] ?? {}), [name]: r.ms };
      backends[`${r.precision} ${name}`] = r.default_backend;
    }
    torch.attention_ms = tms;
    torch.attention_backends = backends;
  });
}
gpu.destroy();
if (results.some((r) => !r.ok)) {
  console.error("some results were wrong");
  Deno.exit(1);
}
