// Attention bench: fused flash attention O = softmax(Q K^T / sqrt(D)) V, Q/K/V/O [L, N, D], self-attention
// (Lq = Lk = L), f32 and f16, per tile config. First checks sampled query rows (all heads) against a
// Float64 computation on the values the GPU holds, then times (warm-up, batches of --iters calls, sync)
// and prints ms and TFLOP/s (4 L^2 N D). Shape keys are "L{L}xN{N}xD{D}", the same as
// bench/torch_attention.py writes, so the two JSONs join on (shape, precision).
//
//   deno run -A bench/attention.ts [--small] [--shapes 4096x12x128,32760x12x128] [--precision f32,f16]
//                                  [--variants] [--configs 64x64,64x32,...] [--iters 5] [--rows 8] [--json out.json]
//   default: the config attention() picks on this adapter ("auto"); --variants sweeps auto and every config
//   in ATTENTION_CONFIGS that fits; --configs names some.
import { Gpu } from "../src/gpu/device.ts";
import type { DType } from "../src/gpu/tensor.ts";
import { ATTENTION_CONFIGS, attentionPlan, attentionWith, pickAttentionConfig } from "../src/ops/attention.ts";
import { attentionRef } from "../src/selftest/reference/attention.ts";
import { randomArray, relL2, roundF16 } from "../test/harness.ts";
import { benchArgs, benchEnv, printEnv, printRow, printTable, timeGpu, writeJson } from "./common.ts";

const args = benchArgs("bench/attention.ts", ["small", "shapes", "precision", "variants", "configs", "iters", "json", "rows"], ["small", "variants"]);
const FULL = ["4096x12x128", "32760x12x128"];
const SMALL = ["300x2x128", "77x3x36"];
const shapes = (args.get("shapes")?.split(",") ?? (args.has("small") ? SMALL : FULL)).map((s) => {
  const [L, N, D] = s.split("x").map(Number);
  if (![L, N, D].every((v) => Number.isInteger(v) && v > 0) || D % 4) throw new Error(`bad shape ${s}: expected LxNxD, D a multiple of 4`);
  return { key: `L${L}xN${N}xD${D}`, L, N, D };
});
const precisions = (args.get("precision") ?? "f32,f16").split(",") as DType[];
const variantNames = args.get("configs")?.split(",") ?? (args.has("variants") ? ["auto", ...Object.keys(ATTENTION_CONFIGS)] : ["auto"]);
for (const v of variantNames) if (v !== "auto" && !ATTENTION_CONFIGS[v]) throw new Error(`unknown variant ${v} (known: auto, ${Object.keys(ATTENTION_CONFIGS)})`);
const iters = Number(args.get("iters") ?? (args.has("small") ? 3 : 5));
const nRows = Number(args.get("rows") ?? 8);

const gpu = await Gpu.create({ label: "bench" });
const env = benchEnv(gpu);
printEnv(env);
console.log(`maxComputeWorkgroupStorageSize ${gpu.limits.maxComputeWorkgroupStorageSize}, maxStorageBufferBindingSize ${gpu.limits.maxStorageBufferBindingSize}`);

interface Result {
  shape: string;
  L: number;
  N: number;
  D: number;
  precision: DType;
  variant: string;
  config: string;
  workgroupBytes: number;
  ms: number;
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
    for (const variant of variantNames) {
      const cfg = variant === "auto" ? pickAttentionConfig(gpu, D, precision === "f16") : ATTENTION_CONFIGS[variant];
      const cfgName = Object.entries(ATTENTION_CONFIGS).find(([, c]) => c === cfg)?.[0] ?? JSON.stringify(cfg);
      const plan = attentionPlan(cfg, D, precision === "f16");
      if (plan.workgroupBytes > gpu.limits.maxComputeWorkgroupStorageSize || plan.threads > gpu.limits.maxComputeInvocationsPerWorkgroup) {
        skipped.push(`${key} ${precision} ${variant} (needs ${plan.workgroupBytes} B workgroup memory)`);
        continue;
      }
      const run = () => attentionWith(gpu, qt, kt, vt, ot, undefined, cfg);
      run();
      const out = await gpu.read(ot);
      const got: number[] = [], want: number[] = [];
      for (const r of rows) for (let i = r * N * D; i < (r + 1) * N * D; i++) [got[got.length], want[want.length]] = [out[i], ref[i]];
      const relErr = relL2(got, want);
      const tol = precision === "f16" ? 1e-2 : 1e-4;
      const timing = await timeGpu(gpu, run, iters, { warmup: 1, repeats: 3 });
      const tflops = (4 * L * L * N * D) / (timing.ms * 1e-3) / 1e12;
      const r: Result = {
        shape: key, L, N, D, precision, variant, config: cfgName, workgroupBytes: plan.workgroupBytes,
        ms: timing.ms, tflops, relErr, ok: relErr <= tol && Number.isFinite(relErr), batches: timing.batches,
      };
      results.push(r);
      printRow({ shape: key, precision, variant, config: cfgName, ms: r.ms, TFLOPs: r.tflops, relErr, ok: r.ok, refMs: Math.round(refMs) });
    }
    for (const t of [qt, kt, vt, ot]) gpu.freeTensor(t);
    await gpu.sync();
  }
}

console.log();
printTable(results.map((r) => ({ ...r, batches: r.batches.map((b) => b.toFixed(2)).join(" ") })), ["shape", "precision", "variant", "config", "workgroupBytes", "ms", "tflops", "relErr", "ok", "batches"]);
for (const s of skipped) console.log(`skipped: ${s}`);
const jsonPath = args.get("json");
if (jsonPath) writeJson(jsonPath, { bench: "attention", env, flops: "4*L^2*N*D", sampledRows: nRows, results, skipped });
gpu.destroy();
if (results.some((r) => !r.ok)) {
  console.error("some results were wrong");
  Deno.exit(1);
}
