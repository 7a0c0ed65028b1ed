// Element-wise and layout kernels bench at Wan2.1 shapes: layerNormModulated / layerNormAffine
// ([L, d], d = 1536 and 5120, and d = 24 for the tiny-d path), silu / geluTanh ([L, ffn]), addRows,
// patchify / unpatchify of a 480p latent. Checks sampled rows against Float64 first, then times
// and prints GPU ms per call (timestamp queries around each dispatch; the wall clock of bench/common.ts
// timeGpu is also printed, but for kernels this short it mostly measures submit/sync latency) and GB/s
// (bytes each kernel must read + write once).
//
//   deno run -A bench/elementwise.ts [--precision f32,f16] [--iters 50] [--json out.json]
import { Gpu } from "../src/gpu/device.ts";
import type { DType } from "../src/shape.ts";
import type { Tensor } from "../src/gpu/tensor.ts";
import { layerNormAffine, layerNormModulated } from "../src/ops/layer_norm.ts";
import { geluTanh, silu } from "../src/ops/activation.ts";
import { addRows } from "../src/ops/add.ts";
import { patchify } from "../src/ops/patchify.ts";
import { unpatchify } from "../src/ops/unpatchify.ts";
import { layerNormModulatedRef } from "../src/selftest/reference/layer_norm.ts";
import { randomArray, relL2 } from "../src/selftest/harness.ts";
import { benchArgs, benchEnv, printEnv, printTable, timeGpu, writeJson } from "./common.ts";

const args = benchArgs("bench/elementwise.ts", ["precision", "iters", "json"]);
const precisions = (args.get("precision") ?? "f32,f16").split(",") as DType[];
const iters = Number(args.get("iters") ?? 50);
const gpu = await Gpu.create({ label: "bench", profile: true });
if (!gpu.features.timestamps) throw new Error("bench/elementwise.ts needs timestamp-query for GPU times");
const env = benchEnv(gpu);
printEnv(env);

const rows: Record<string, unknown>[] = [];
const bytesOf = (dt: DType) => (dt === "f16" ? 2 : 4);

async function run(op: string, shape: string, precision: DType, bytes: number, fn: () => void, check?: () => Promise<number>) {
  const relErr = check ? await check() : NaN;
  const t = await timeGpu(gpu, fn, iters);
  // GPU time: reset the per-op accumulators, run once more as a batch, read the mean.
  gpu.opTimes.clear();
  for (let i = 0; i < iters; i++) fn();
  await gpu.sync();
  const acc = [...gpu.opTimes.values()].reduce((a, v) => ({ ms: a.ms + v.ms, count: a.count + v.count }), { ms: 0, count: 0 });
  const gpuMs = acc.ms / iters;
  const row = { op, shape, precision, gpuMs, GBps: bytes / gpuMs / 1e6, wallMs: t.ms, relErr };
  rows.push(row);
  console.log(JSON.stringify(row));
}

for (const dt of precisions) {
  if (dt === "f16" && !gpu.features.f16) continue;
  const b = bytesOf(dt);
  for (const [L, d] of [[32760, 1536], [75600, 1536], [32760, 5120], [32760, 24]]) {
    const x32 = randomArray(L * d, 1, 2);
    const x = gpu.upload(x32, [L, d], dt), out = gpu.empty([L, d], dt);
    const mod32 = randomArray(6 * d, 2, 0.5);
    const mod = gpu.upload(mod32, [6, d], dt);
    await run("layerNormModulated", `${L}x${d}`, dt, 2 * L * d * b, () => layerNormModulated(gpu, x, mod, 3, 4, out), async () => {
      layerNormModulated(gpu, x, mod, 3, 4, out);
      const got = await gpu.read(out);
      const r = 8; // first 8 rows, on the values the GPU holds
      const xs = Float64Array.from(await gpu.read(x)).subarray(0, r * d), ms = Float64Array.from(await gpu.read(mod));
      return relL2(got.subarray(0, r * d), layerNormModulatedRef(xs, ms, 3, 4, r, d));
    });
    const w = gpu.upload(randomArray(d, 3, 1), [d], dt), bi = gpu.upload(randomArray(d, 4, 1), [d], dt);
    await run("layerNormAffine", `${L}x${d}`, dt, 2 * L * d * b, () => layerNormAffine(gpu, x, w, bi, out));
    for (const t of [x, out, mod, w, bi]) gpu.freeTensor(t);
  }
  {
    const L = 32760, f = 8960;
    const h = gpu.upload(randomArray(L * f, 5, 3), [L, f], dt);
    await run("silu", `${L}x${f}`, dt, 2 * L * f * b, () => silu(gpu, h));
    await run("geluTanh", `${L}x${f}`, dt, 2 * L * f * b, () => geluTanh(gpu, h));
    gpu.freeTensor(h);
  }
  {
    const d = 5120;
    const a = gpu.upload(randomArray(6 * d, 6), [6, d], dt), p = gpu.upload(randomArray(d, 7), [1, d], dt), o = gpu.empty([6, d], dt);
    await run("addRows", `6x${d}+1x${d}`, dt, 13 * d * b, () => addRows(gpu, a, p, o));
  }
  {
    const C = 16, F = 21, H = 60, W = 104, L = F * (H / 2) * (W / 2);
    const lat = gpu.upload(randomArray(C * F * H * W, 8), [C, F, H, W], "f32");
    const tok = gpu.empty([L, 4 * C], dt);
    await run("patchify", `${C}x${F}x${H}x${W}`, dt, C * F * H * W * (4 + b), () => patchify(gpu, lat, 0, L, tok));
    await run("unpatchify", `${C}x${F}x${H}x${W}`, dt, C * F * H * W * (4 + b), () => unpatchify(gpu, tok, 0, L, { F, H, W }, lat));
  }
}
printTable(rows);
const json = args.get("json");
if (json) writeJson(json, { env, rows });
gpu.destroy();
