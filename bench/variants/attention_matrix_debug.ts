// Debug dump of shaders/attention_matrix.wgsl on one small case (Lq 16, Lk 32, one head of 128, config
// m4x32): the preprocessed kernel is patched to copy, from workgroup 0 / subgroup 0, the S tile, each
// invocation's (m, l), the P tile and O's first 32 columns before normalisation into a spare f32 buffer
// bound as `lse`; each is compared with a JS computation on the same f16 values.
//   deno run -A bench/variants/attention_matrix_debug.ts --webgpu dawn
import { webgpu } from "../common.ts";
import { Gpu, type Kernel } from "../../src/gpu/device.ts";
import { preprocessShader, shaderSource } from "../../src/gpu/shaders.ts";
import { parseUniformStruct } from "../../src/gpu/uniforms.ts";
import { MATRIX_ATTENTION_CONFIGS, matrixAttentionPlan } from "../../src/ops/attention_matrix.ts";
import { randomArray, roundF16 } from "../../src/selftest/harness.ts";

const gpu = await Gpu.create({ label: "debug" });
console.log(`webgpu ${webgpu.implementation}, subgroup matrix ${gpu.features.subgroupMatrix}`);
const [Lq, Lk, N, D] = [16, 32, 1, 128];
const q = roundF16(randomArray(Lq * D, 5, 1)), k = roundF16(randomArray(Lk * D, 6, 1)), v = roundF16(randomArray(Lk * D, 7, 1));
const plan = matrixAttentionPlan(MATRIX_ATTENTION_CONFIGS.m4x32);
let code = preprocessShader(shaderSource("attention_matrix"), { ...plan.defines, lse: true });
const patch = (anchor: string, text: string, before = false) => {
  if (!code.includes(anchor)) throw new Error(`anchor not found: ${anchor}`);
  code = code.replace(anchor, before ? text + anchor : anchor + text);
};
const dbg = (body: string) => `  if (wg.x == 0u && sg == 0u) { ${body} }\n`;
patch("  let head = wg.y;\n", "  if (wg.x == 0u) { lse[5120u + lid * 2u] = f32(sg); lse[5121u + lid * 2u] = f32(lane); }\n");
patch("    // ---- softmax of row r", dbg("for (var j = 0u; j < 16u; j++) { lse[1024u + r * 32u + hf * 16u + j] = ss[sb + r * SS + hf * 16u + j]; }"), true);
patch("    lrow = lrow * alpha + psum;\n", dbg("lse[2048u + lane * 2u] = mrow; lse[2049u + lane * 2u] = lrow; for (var j = 0u; j < 16u; j++) { lse[3072u + r * 32u + hf * 16u + j] = f32(ps[pb + r * PS + hf * 16u + j]); }"));
patch("storePair(sb, r, hf, 0u, row, rs4, hoff, inv);", dbg("for (var j = 0u; j < 16u; j++) { lse[4096u + r * 32u + hf * 16u + j] = ss[sb + r * SS + hf * 16u + j]; }"), true);
const module = gpu.device.createShaderModule({ label: "attention_matrix debug", code });
const kernel: Kernel = { op: "attention_matrix debug", pipeline: gpu.device.createComputePipeline({ label: "attention_matrix debug", layout: "auto", compute: { module, entryPoint: "main" } }), params: parseUniformStruct(code, "Params") };
const qt = gpu.upload(q, [Lq, N, D], "f16"), kt = gpu.upload(k, [Lk, N, D], "f16"), vt = gpu.upload(v, [Lk, N, D], "f16");
const ot = gpu.empty([Lq, N, D], "f16"), dt = gpu.upload(new Float32Array(8192).fill(-7), [8192], "f32");
const qscale = Math.LOG2E / Math.sqrt(D);
gpu.dispatch(kernel, { Lq, Lk, N, validKeys: Lk, qscale }, [qt, kt, vt, ot, dt], [1, N]);
const out = await gpu.read(ot), d = await gpu.read(dt);

const S = new Float64Array(16 * 32), P = new Float64Array(16 * 32), O = new Float64Array(16 * 32), m = new Float64Array(16), l = new Float64Array(16);
for (let r = 0; r < 16; r++) {
  for (let j = 0; j < 32; j++) { let s = 0; for (let c = 0; c < D; c++) s += q[r * D + c] * k[j * D + c]; S[r * 32 + j] = s; }
  m[r] = Math.max(...Array.from({ length: 32 }, (_, j) => S[r * 32 + j] * qscale));
  for (let j = 0; j < 32; j++) { P[r * 32 + j] = 2 ** (S[r * 32 + j] * qscale - m[r]); l[r] += P[r * 32 + j]; }
  for (let c = 0; c < 32; c++) { let o = 0; for (let j = 0; j < 32; j++) o += P[r * 32 + j] * v[j * D + c]; O[r * 32 + c] = o; }
}
const cmp = (name: string, at: number, ref: Float64Array, tol: number) => {
  const bad: string[] = [];
  for (let i = 0; i < ref.length; i++) if (!(Math.abs(d[at + i] - ref[i]) <= tol * Math.max(1, Math.abs(ref[i])))) bad.push(`[${Math.floor(i / 32)},${i % 32}] got ${d[at + i].toPrecision(4)} want ${ref[i].toPrecision(4)}`);
  console.log(`${name}: ${bad.length ? `${bad.length} of ${ref.length} off: ${bad.slice(0, 6).join("; ")}` : "ok"}`);
  if (bad.length) console.log(`  got row 0: ${Array.from(d.slice(at, at + 32), (x) => x.toPrecision(3)).join(" ")}\n  want row 0: ${Array.from(ref.slice(0, 32), (x) => x.toPrecision(3)).join(" ")}`);
};
const ids = Array.from({ length: 128 }, (_, i) => `${d[5120 + 2 * i]}/${d[5121 + 2 * i]}`);
console.log(`subgroup/lane of lid 0, 1, 31, 32, 33, 127: ${[0, 1, 31, 32, 33, 127].map((i) => ids[i]).join(", ")}`);
cmp("S tile (Q K^T)", 1024, S, 1e-3);
const ml = new Float64Array(64);
for (let lane = 0; lane < 32; lane++) { ml[2 * lane] = m[lane >> 1]; ml[2 * lane + 1] = NaN; }
console.log(`m per lane (got/want) lanes 0..3: ${[0, 1, 2, 3].map((ln) => `${d[2048 + 2 * ln].toPrecision(4)}/${m[ln >> 1].toPrecision(4)}`).join(" ")}; l halves lanes 0,1: ${d[2049].toPrecision(4)} + ${d[2051].toPrecision(4)} want ${l[0].toPrecision(4)}`);
cmp("P tile", 3072, P, 2e-3);
cmp("O[:, 0:32] before 1/l", 4096, O, 2e-3);
const want0 = Array.from({ length: 8 }, (_, c) => (O[c] / l[0]).toPrecision(4));
console.log(`out row 0 [0..8]: got ${Array.from(out.slice(0, 8), (x) => x.toPrecision(4)).join(" ")} want ${want0.join(" ")}`);
gpu.destroy();
