// Every matrix-attention variant compiles (Dawn's null backend, no GPU): the check that comes before any
// call to the GPU host, so that a sweep there never dies on a WGSL error, and that CI repeats.
// Dawn's null backend (`backend=null` with allow_unsafe_apis) advertises chromium-experimental-subgroup-matrix
// and runs Tint over the module (createShaderModule + getCompilationInfo); it refuses pipelines with
// 32-wide workgroups (its subgroup size is 128), so modules are compiled, not pipelines. Deno only (the addon
// is a Node-API module). A deliberately broken variant must fail, so the check can fail.
import {
  type FlashDiag, MATRIX_ATTENTION_CONFIGS, matrixAttentionPlan, WIDE_ATTENTION_HEAD_DIMS, wideAttentionConfig,
} from "../../src/ops/attention_matrix.ts";
import { preprocessShader, shaderSource } from "../../src/gpu/shaders.ts";
import { test } from "../../src/selftest/harness.ts";

interface NullDevice {
  createShaderModule(d: { code: string; label?: string }): { getCompilationInfo(): Promise<{ messages: readonly { type: string; lineNum: number; message: string }[] }> };
  pushErrorScope(filter: "validation"): void;
  popErrorScope(): Promise<unknown>;
}

let device: Promise<NullDevice> | null = null;
/** The instance and adapter, held to the end of the process: dawn.node segfaulted (in libc) once they were collected. */
const kept: unknown[] = [];

/** A device of Dawn's null backend with f16, subgroups and subgroup matrices (one per process). */
export function nullMatrixDevice(): Promise<NullDevice> {
  device ??= (async () => {
    const nodeModule = "node:module"; // through a variable: the browser build must not resolve it
    const { createRequire } = await import(nodeModule) as { createRequire(from: string): (id: string) => unknown };
    const arch = Deno.build.arch === "x86_64" ? "x64" : "arm64";
    const dir = Deno.build.os === "darwin" ? "darwin-universal" : `${Deno.build.os === "windows" ? "win32" : Deno.build.os}-${arch}`;
    const path = new URL(`../../node_modules/webgpu/dist/${dir}/dawn.node`, import.meta.url).pathname;
    const addon = createRequire(import.meta.url)(path) as { create(flags: string[]): GPU };
    const gpu = addon.create(["enable-dawn-features=allow_unsafe_apis", "backend=null"]);
    const adapter = await gpu.requestAdapter();
    kept.push(gpu, adapter);
    if (!adapter) throw new Error(`Dawn's null backend gave no adapter (${path})`);
    const want = ["shader-f16", "subgroups", "chromium-experimental-subgroup-matrix"] as GPUFeatureName[];
    const missing = want.filter((f) => !adapter.features.has(f));
    if (missing.length) throw new Error(`Dawn's null backend lacks ${missing.join(", ")} (${path})`);
    return await adapter.requestDevice({ requiredFeatures: want }) as unknown as NullDevice;
  })();
  return device;
}

/** The compile errors of `code` on the null device, one line each ("" when it compiles). */
export async function nullCompileErrors(code: string, label: string): Promise<string> {
  // dawn.node settles the promise from its own event processing, which does not keep Deno's event loop
  // alive: without a pending timer Deno may exit mid-wait (seen: exit code 1 after a dozen compiles).
  const keepAlive = setInterval(() => {}, 20);
  try {
    const dev = await nullMatrixDevice();
    dev.pushErrorScope("validation"); // the messages come from getCompilationInfo; keep Dawn from printing them
    const module = dev.createShaderModule({ code, label });
    const info = await module.getCompilationInfo();
    await dev.popErrorScope();
    return info.messages.filter((m) => m.type === "error").map((m) => `${label}:${m.lineNum}: ${m.message}`).join("\n");
  } finally {
    clearInterval(keepAlive);
  }
}

/** Every config of MATRIX_ATTENTION_CONFIGS, with and without LSE. */
function attentionVariants(): { label: string; shader: string; defines: Record<string, number | boolean> }[] {
  const out: { label: string; shader: string; defines: Record<string, number | boolean> }[] = [];
  for (const [name, cfg] of Object.entries(MATRIX_ATTENTION_CONFIGS)) {
    const plan = matrixAttentionPlan(cfg);
    for (const lse of [false, true]) out.push({ label: `${name}${lse ? " lse" : ""}`, shader: plan.shader, defines: { ...plan.defines, lse } });
  }
  // the wide kernel (the VAE mid block's head dims)
  for (const D of WIDE_ATTENTION_HEAD_DIMS) {
    const plan = matrixAttentionPlan(wideAttentionConfig(D));
    for (const lse of [false, true]) out.push({ label: `wide D ${D}${lse ? " lse" : ""}`, shader: plan.shader, defines: { ...plan.defines, lse } });
  }
  // the sweep's diagnostic flash2 variants (bench/attention_sweep.ts: "w4x32o+nocopy+onebar" and the like)
  for (const diag of [["nocopy"], ["nosoftmax"], ["onebar"], ["nocopy", "nosoftmax", "onebar"]] as FlashDiag[][]) {
    for (const name of ["w4x32o", "w4x16", "w8x16"]) {
      const plan = matrixAttentionPlan({ ...MATRIX_ATTENTION_CONFIGS[name], diag });
      out.push({ label: `${name}+${diag.join("+")}`, shader: plan.shader, defines: { ...plan.defines, lse: false } });
    }
  }
  return out;
}

test("matrix attention: every variant compiles on Dawn's null backend", async () => {
  const errors: string[] = [];
  for (const v of attentionVariants()) {
    const e = await nullCompileErrors(preprocessShader(shaderSource(v.shader), v.defines), `${v.shader} ${v.label}`);
    if (e) errors.push(e);
  }
  if (errors.length) throw new Error(`matrix attention variants that do not compile:\n${errors.join("\n")}`);
  // the check can fail: a P load that forgets its row stride is a compile error there
  const plan = matrixAttentionPlan(MATRIX_ATTENTION_CONFIGS["f4x32"]);
  const broken = preprocessShader(shaderSource(plan.shader), { ...plan.defines, lse: false }).replace(", PS4);", ");");
  if (!(await nullCompileErrors(broken, "broken"))) throw new Error("a broken attention_flash variant compiled on the null backend: the check proves nothing");
  // ... and in attention_flash2: a P slice load past the end of ps (row block b's offset doubled) is refused
  const plan2 = matrixAttentionPlan(MATRIX_ATTENTION_CONFIGS["w4x32o"]);
  const src2 = preprocessShader(shaderSource(plan2.shader), { ...plan2.defines, lse: false });
  if (await nullCompileErrors(src2, "w4x32o")) throw new Error("w4x32o does not compile");
  const broken2 = src2.replace("&ps, (pb + RP + j * 4u), PS4);", "&ps, (pb + RP + j * 4u), 64u * PS4);");
  if (broken2 === src2 || !(await nullCompileErrors(broken2, "broken2"))) throw new Error("a broken attention_flash2 variant compiled on the null backend: the check proves nothing");
}, { hosts: ["deno"] });
