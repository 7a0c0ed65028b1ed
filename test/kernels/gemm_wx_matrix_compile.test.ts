// The weight-only GEMMs (umT5's linears) compile on Dawn's null backend (Tint's validation) in every variant the
// encoder and the bench can ask for: gemm_wx_matrix (the matrix units) with f16 or int8 weights x vec4 / scalar
// reads x residual or not x every staged tile of MATRIX_TILES, its split pass (gemm_wx_split), and gemm_wx (the
// shader cores) with f16 or int8 weights x vec4 / scalar x residual x every tile of GEMM_TILES. No GPU needed: a GPU
// call then never dies on a WGSL error. Deno only (dawn.node); skips where the addon is missing.
import { preprocessShader, shaderSource } from "../../src/gpu/shaders.ts";
import { GEMM_TILES } from "../../src/ops/gemm.ts";
import { MATRIX_TILES } from "../../src/ops/gemm_matrix.ts";
import { wxDefines } from "../../src/ops/gemm_w16.ts";
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

test("matrix kernels: every gemm_wx_matrix variant (w16 / w8, vec4 / scalar, residual, every staged tile), gemm_wx_split and every gemm_wx variant compile on Dawn's null backend", async () => {
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
  for (const [name, tile] of Object.entries(GEMM_TILES)) {
    for (const w8 of [false, true]) {
      for (const K of [64, 13]) {
        for (const residual of [false, true]) {
          n++;
          await check(`gemm_wx ${name} ${w8 ? "w8" : "w16"} K ${K}${residual ? " residual" : ""}`, "gemm_wx", wxDefines(w8, K, tile, residual));
        }
      }
    }
  }
  if (failures.length) throw new Error(`${failures.length} of ${n} variants do not compile on Dawn's null backend:\n${failures.join("\n")}`);
}, { hosts: ["deno"] });
