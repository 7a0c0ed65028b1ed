import { ATTENTION_CONFIGS, attention, attentionPlan, attentionWith, type AttentionConfig } from "../../ops/attention.ts";
import { attentionRef } from "../reference/attention.ts";
import { expectClose, expectThrows, f64, randomArray, roundF16, skip, test, TOL, withGpu, withGpuF16 } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType } from "../../shape.ts";

async function check(gpu: Gpu, Lq: number, Lk: number, N: number, D: number, validKeys: number | undefined, dtype: DType, cfgName?: string) {
  const round = dtype === "f16" ? roundF16 : (a: Float32Array) => a;
  const seed = Lq * 1009 + Lk * 31 + N * 7 + D;
  // Scale 2 makes the softmax peaked enough that masking and max-tracking errors would show.
  const q = round(randomArray(Lq * N * D, seed, 2));
  const k = round(randomArray(Lk * N * D, seed + 1, 2));
  const v = round(randomArray(Lk * N * D, seed + 2, 1));
  const qt = gpu.upload(q, [Lq, N, D], dtype), kt = gpu.upload(k, [Lk, N, D], dtype), vt = gpu.upload(v, [Lk, N, D], dtype);
  const ot = gpu.empty([Lq, N, D], dtype);
  if (cfgName) {
    const cfg = ATTENTION_CONFIGS[cfgName];
    if (attentionPlan(cfg, D, dtype === "f16").workgroupBytes > gpu.limits.maxComputeWorkgroupStorageSize) skip(`config ${cfgName} needs more workgroup memory`);
    attentionWith(gpu, qt, kt, vt, ot, validKeys, cfg);
  } else {
    attention(gpu, qt, kt, vt, ot, validKeys === undefined ? undefined : { validKeys });
  }
  const ref = attentionRef(f64(q), f64(k), f64(v), Lq, Lk, N, D, validKeys ?? Lk);
  expectClose(`attention ${Lq}x${Lk} ${N}x${D} valid ${validKeys ?? Lk} ${dtype} ${cfgName ?? "default"}`, await gpu.read(ot), ref, TOL.matmul[dtype]);
}

// [Lq, Lk, N, D, validKeys]
const shapes: [number, number, number, number, number | undefined][] = [
  [45, 45, 2, 12, undefined],
  [45, 45, 2, 12, 40],
  [210, 210, 4, 24, 200],
  [7, 13, 3, 36, undefined],
  [100, 77, 2, 128, 70],
  [210, 13, 4, 24, undefined], // cross-attention-like: many queries, few keys
  [3, 1, 1, 8, undefined],
];
for (const [Lq, Lk, N, D, valid] of shapes) {
  const name = `${Lq}x${Lk} ${N}x${D}${valid !== undefined ? ` valid ${valid}` : ""}`;
  test(`attention f32 ${name}`, () => withGpu((gpu) => check(gpu, Lq, Lk, N, D, valid, "f32")));
  test(`attention f16 ${name}`, () => withGpuF16((gpu) => check(gpu, Lq, Lk, N, D, valid, "f16")), { tags: ["slow"], needs: ["f16"] });
}
// Every tile config (the default pick depends on the adapter's workgroup memory). Deno only: in the browser
// (SwiftShader) each new pipeline takes ~10 s to compile, and the configs are the same WGSL either way.
const deno = { hosts: ["deno" as const] };
for (const cfgName of Object.keys(ATTENTION_CONFIGS)) {
  test(`attention f32 config ${cfgName} 100x77 2x128 valid 70`, () => withGpu((gpu) => check(gpu, 100, 77, 2, 128, 70, "f32", cfgName)), deno);
  test(`attention f32 config ${cfgName} 45x45 2x12`, () => withGpu((gpu) => check(gpu, 45, 45, 2, 12, undefined, "f32", cfgName)), deno);
  test(`attention f16 config ${cfgName} 70x100 1x36 valid 66`, () => withGpuF16((gpu) => check(gpu, 70, 100, 1, 36, 66, "f16", cfgName)), { tags: ["slow"], ...deno, needs: ["f16"] });
}
test("attention validKeys 0 gives zeros", () =>
  withGpu(async (gpu) => {
    const q = gpu.upload(randomArray(5 * 1 * 8, 1), [5, 1, 8]);
    const kv = gpu.upload(randomArray(4 * 1 * 8, 2), [4, 1, 8]);
    const o = gpu.upload(new Float32Array(40).fill(7), [5, 1, 8]);
    attention(gpu, q, kv, kv, o, { validKeys: 0 });
    expectClose("attention validKeys 0", await gpu.read(o), new Float64Array(40), 0);
  }));
test("attention rejects bad shapes", () =>
  withGpu(async (gpu) => {
    const q = gpu.empty([5, 2, 8], "f32"), k = gpu.empty([4, 2, 8], "f32"), o = gpu.empty([5, 2, 8], "f32");
    const bad = gpu.empty([4, 2, 12], "f32");
    await expectThrows("k of another head dim", () => attention(gpu, q, bad, k, o), /attention k: expected shape \[4,2,8\], found \[4,2,12\]/);
    await expectThrows("validKeys past Lk", () => attention(gpu, q, k, k, o, { validKeys: 5 }), /attention: validKeys 5 must be an integer in \[0, 4\]/);
    await expectThrows("head dim 6", () => attention(gpu, gpu.empty([5, 2, 6], "f32"), k, k, o), /attention: head dim 6 must be a positive multiple of 4/);
  }));
