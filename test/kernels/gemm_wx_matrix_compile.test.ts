// The weight-only matrix GEMM (gemm_wx_matrix: umT5's linears on the matrix units) compiles on Dawn's null
// backend in every variant the encoder and the bench can ask for: f16 or int8 weights x vec4 / scalar reads x
// residual or not x every staged tile of MATRIX_TILES, and its split pass (gemm_wx_split). No GPU needed: a GPU
// call then never dies on a WGSL error. Deno only (dawn.node); skips where the addon is missing.
import { preprocessShader, shaderSource } from "../../src/gpu/shaders.ts";
import { MATRIX_TILES } from "../../src/ops/gemm_matrix.ts";
import { wxMatrixDefines } from "../../src/ops/gemm_wx_matrix.ts";
import { skip, test } from "../../src/selftest/harness.ts";
import { nullCompileErrors } from "./matrix_compile.test.ts";

function needAddon(): void {
  try {
    Deno.statSync(new URL(`../../node_modules/webgpu/package.json`, import.meta.url));
  } catch {
    skip("node_modules/webgpu (dawn.node) is not installed: npm install");
  }
}

// NVIDIA's subgroup size (the null backend reports 128; the kernels take the device's size as a define)
const SG = 32;

test("matrix kernels: every gemm_wx_matrix variant (w16 / w8, vec4 / scalar, residual, every staged tile) and gemm_wx_split compile on Dawn's null backend", async () => {
  needAddon();
  const failures: string[] = [];
  const check = async (label: string, op: string, defines: Record<string, number | boolean>) => {
    const e = await nullCompileErrors(preprocessShader(shaderSource(op), defines), label);
    if (e) failures.push(e.split("\n")[0]);
  };
  await check("gemm_wx_split", "gemm_wx_split", { f16: true });
  let n = 1;
  for (const [name, tile] of Object.entries(MATRIX_TILES)) {
    if (tile.bdirect) continue; // the same staged tile as its twin without "d"
    for (const [kind, K] of [["w16", 64], ["w16", 13], ["w8", 13]] as const) {
      for (const residual of [false, true]) {
        n++;
        await check(`gemm_wx_matrix ${name} ${kind} K ${K}${residual ? " residual" : ""}`, "gemm_wx_matrix", { f16: true, ...wxMatrixDefines(kind, K, tile, SG, residual) });
      }
    }
  }
  if (failures.length) throw new Error(`${failures.length} of ${n} variants do not compile on Dawn's null backend:\n${failures.join("\n")}`);
}, { hosts: ["deno"] });
