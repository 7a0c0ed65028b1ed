import { type AttentionChoice, ATTENTION_CONFIGS, attention, attentionPlan, attentionWith, chooseAttention, parseAttentionOverride } from "../../ops/attention.ts";
import { MATRIX_ATTENTION_CONFIGS, wideAttentionConfig } from "../../ops/attention_matrix.ts";
import { vaeAttentionConfig } from "../../vae/decoder.ts";
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

// $SHARDIT_ATTENTION (src/ops/attention.ts): the values it takes, and what attention() then runs on devices with
// and without matrix units (stand-in Gpu objects: only features, limits and label are read; no GPU work).
function fakeGpu(matrix: boolean, workgroupBytes = 48 * 1024): Gpu {
  return {
    label: matrix ? "fake-matrix" : "fake-plain",
    implementation: "dawn",
    features: {
      f16: true, timestamps: false, subgroups: matrix, subgroupMatrix: matrix,
      subgroupMatrixConfigs: matrix ? [{ componentType: "f16", resultComponentType: "f32", M: 16, N: 16, K: 16 }] : [],
      subgroupMinSize: 32, subgroupMaxSize: 32,
    },
    limits: { maxComputeWorkgroupStorageSize: workgroupBytes, maxComputeInvocationsPerWorkgroup: 1024 },
  } as unknown as Gpu;
}

test("attention override: SHARDIT_ATTENTION values", async () => {
  for (const v of [undefined, "", "default"]) if (parseAttentionOverride(v).kind !== "default") throw new Error(`"${v}" should be the default`);
  if (parseAttentionOverride("scalar").kind !== "scalar" || parseAttentionOverride("wide").kind !== "wide") throw new Error("scalar / wide not parsed");
  const w = parseAttentionOverride("w4x32o"), s = parseAttentionOverride("128x32");
  if (w.kind !== "config" || w.cfg !== MATRIX_ATTENTION_CONFIGS["w4x32o"]) throw new Error(`w4x32o parsed as ${JSON.stringify(w)}`);
  if (s.kind !== "config" || s.cfg !== ATTENTION_CONFIGS["128x32"]) throw new Error(`128x32 parsed as ${JSON.stringify(s)}`);
  // unknown names, the sweep's diagnostic variants (wrong results by design) and Object's own keys are refused in one line
  for (const bad of ["bogus", "w4x32o+nocopy", "toString", "F8X32O"]) {
    await expectThrows(bad, () => parseAttentionOverride(bad), new RegExp(`^SHARDIT_ATTENTION: expected default, scalar, wide or a config name \\([^\\n]*f8x32o[^\\n]*\\), found "${bad.replace("+", "\\+")}"$`));
  }
});

test("attention override: the choice, and the fallback where a config cannot run", () => {
  const mx = fakeGpu(true), plain = fakeGpu(false), small = fakeGpu(true, 32 * 1024);
  const expect = (what: string, c: AttentionChoice, cfg: object, fallback?: RegExp) => {
    if (c.cfg !== cfg) throw new Error(`${what}: chose ${JSON.stringify(c.cfg)}, expected ${JSON.stringify(cfg)}`);
    if (fallback ? !(c.fallback && fallback.test(c.fallback)) : c.fallback !== undefined) throw new Error(`${what}: fallback "${c.fallback}", expected ${fallback ?? "none"}`);
  };
  const o = parseAttentionOverride;
  const w8 = MATRIX_ATTENTION_CONFIGS["w8x16"], t8 = ATTENTION_CONFIGS["128x64t8"];
  expect("default, f16 D 128", chooseAttention(mx, 128, true, o("default")), w8);
  expect("f8x32o, f16", chooseAttention(mx, 128, true, o("f8x32o")), MATRIX_ATTENTION_CONFIGS["f8x32o"]);
  expect("default, f32", chooseAttention(mx, 128, false, o("default")), t8);
  expect("scalar, f16", chooseAttention(mx, 128, true, o("scalar")), t8);
  expect("w4x32o, f16", chooseAttention(mx, 128, true, o("w4x32o")), MATRIX_ATTENTION_CONFIGS["w4x32o"]);
  expect("128x32, f16", chooseAttention(mx, 128, true, o("128x32")), ATTENTION_CONFIGS["128x32"]);
  expect("w4x32o, f32", chooseAttention(mx, 128, false, o("w4x32o")), t8, /^SHARDIT_ATTENTION=w4x32o cannot run f32 attention at head dim 128: matrix attention is f16 only \(found f32\)$/);
  expect("w4x32o, D 64", chooseAttention(mx, 64, true, o("w4x32o")), t8, /head dim 64: matrix attention needs head dim 128 \(found 64\)$/);
  expect("w4x32o, no matrices", chooseAttention(plain, 128, true, o("w4x32o")), t8, /fake-plain \(dawn\) has no subgroup matrices/);
  expect("f8x32o, 32 KiB", chooseAttention(small, 128, true, o("f8x32o")), MATRIX_ATTENTION_CONFIGS["f4x32o"], /f8x32o .*: needs \d+ bytes of workgroup memory and 256 invocations \(fake-matrix: 32768 \/ 1024\)$/);
  expect("128x64t8, 32 KiB", chooseAttention(small, 128, false, o("128x64t8")), ATTENTION_CONFIGS["64x32"], /128x64t8 .*needs \d+ bytes/);
  expect("wide, D 128", chooseAttention(mx, 128, true, o("wide")), w8, /wide cannot run f16 attention at head dim 128: wide matrix attention needs head dim 256 or 384 \(found 128\)$/);
  const wide = chooseAttention(mx, 384, true, o("wide"));
  if (JSON.stringify(wide.cfg) !== JSON.stringify(wideAttentionConfig(384)) || wide.fallback) throw new Error(`wide at D 384: ${JSON.stringify(wide)}`);
  // the VAE mid block: "wide" turns the wide kernel on, "scalar" off, whatever VAE_MATRIX_ATTENTION says
  if (JSON.stringify(vaeAttentionConfig(mx, 384, true, "wide")) !== JSON.stringify(wideAttentionConfig(384))) throw new Error("vae: wide not taken");
  if (vaeAttentionConfig(mx, 384, true, "scalar")?.hasOwnProperty("kind")) throw new Error("vae: scalar took a matrix kernel");
  if (vaeAttentionConfig(plain, 384, true, "wide")?.hasOwnProperty("kind")) throw new Error("vae: wide without matrices");
});
