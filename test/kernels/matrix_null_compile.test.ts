// Every matrix-unit shader variant compiles: gemm_matrix (every tile in MATRIX_TILES x every epilogue x
// vec4 / scalar reads) and vae_conv3d_matrix (every kernel size the decoder uses x vec4 / scalar x residual x
// the conv tiles), on Dawn's null backend, which advertises chromium-experimental-subgroup-matrix and runs
// Tint's WGSL validation (including the subgroupMatrixLoad bounds check against a workgroup array's size)
// without a GPU. So a GPU call never dies on a WGSL error. Pipelines are not created: the null backend
// refuses 32-wide workgroups, the modules are what it checks. Deno only (dawn.node); skips where the addon
// is missing.
import { preprocessShader, shaderSource } from "../../src/gpu/shaders.ts";
import type { GemmEpilogue } from "../../src/ops/gemm_common.ts";
import { MATRIX_TILES, matrixGemmDefines, matrixTileDefines, matrixTileFor } from "../../src/ops/gemm_matrix.ts";
import { PACKED_TILES, packedGemmDefines } from "../../src/ops/gemm_matrix_packed.ts";
import { CONV_MATRIX_TILES } from "../../src/ops/vae_conv3d.ts";
import { skip, test } from "../../src/selftest/harness.ts";
import { nullCompileErrors } from "./matrix_compile.test.ts";

/** Skips, naming why, where dawn.node (the null-backend device of matrix_compile.test.ts) is not installed. */
function needAddon(): void {
  try {
    Deno.statSync(new URL(`../../node_modules/webgpu/package.json`, import.meta.url));
  } catch {
    skip("node_modules/webgpu (dawn.node) is not installed: npm install");
  }
}

/** Compiles every (label, op, defines) and throws one line per failing variant: label, first error and its line. */
async function compileAll(variants: { label: string; op: string; defines: Record<string, number | boolean> }[]): Promise<void> {
  needAddon();
  const failures: string[] = [];
  for (const v of variants) {
    // nullCompileErrors captures the module's error in a validation scope: Dawn prints no uncaptured error
    const errors = await nullCompileErrors(preprocessShader(shaderSource(v.op), v.defines), v.label);
    if (errors) failures.push(errors.split("\n")[0]);
  }
  if (failures.length) throw new Error(`${failures.length} of ${variants.length} variants do not compile on Dawn's null backend:\n${failures.join("\n")}`);
}

// Dawn's null backend reports subgroup size 128; the kernels take the device's size as a define, and 32
// (NVIDIA's) is what the GPU host compiles: check that one.
const SG = 32;

test("matrix kernels: every gemm_matrix tile, epilogue and read width compiles on Dawn's null backend", async () => {
  const epilogues: GemmEpilogue[] = ["none", "gelu_tanh", "residual", "residual_gate"];
  const variants = Object.entries(MATRIX_TILES).flatMap(([name, tile]) =>
    epilogues.flatMap((epi) =>
      [true, false].flatMap((hasBias) =>
        // K 64 with 256-row chunks: B straight from storage where the tile says so; K 13: staged, scalar reads
        [64, 13].map((K) => ({ label: `gemm_matrix ${name} ${epi}${hasBias ? "" : " no bias"} K ${K}`, op: "gemm_matrix", defines: matrixGemmDefines(K, matrixTileFor(tile, K, [256]), SG, epi, hasBias) }))
      )
    )
  );
  await compileAll(variants);
}, { tags: ["slow"], hosts: ["deno"] });

test("matrix kernels: every gemm_matrix_packed tile and epilogue, the diagnostics and gemm_pack compile on Dawn's null backend", async () => {
  const epilogues: GemmEpilogue[] = ["none", "gelu_tanh", "residual", "residual_gate"];
  const variants = Object.entries(PACKED_TILES).flatMap(([name, tile]) =>
    epilogues.flatMap((epi) =>
      [true, false].map((hasBias) => ({ label: `gemm_matrix_packed ${name} ${epi}${hasBias ? "" : " no bias"}`, op: "gemm_matrix_packed", defines: packedGemmDefines(tile, SG, epi, hasBias) }))
    )
  );
  variants.push({ label: "gemm_matrix_packed samek", op: "gemm_matrix_packed", defines: packedGemmDefines({ ...PACKED_TILES["256x128/4x4"], samek: true }, SG, "none", true) });
  for (const vec of [true, false]) variants.push({ label: `gemm_pack vec ${vec}`, op: "gemm_pack", defines: { vec } });
  // the sweep's diagnostic of the staged tile (no global loads after step 0), staged and packed B
  for (const name of ["256x128x16/4x4", "256x128x16/4x4k"]) {
    variants.push({ label: `gemm_matrix ${name} without global loads`, op: "gemm_matrix", defines: matrixGemmDefines(64, { ...MATRIX_TILES[name], noGlobalLoads: true }, SG, "none", true) });
  }
  await compileAll(variants);
}, { hosts: ["deno"] });

test("matrix kernels: every vae_conv3d_matrix kernel size, read width, residual and tile compiles on Dawn's null backend", async () => {
  const kernels = [[3, 3, 3], [1, 3, 3], [3, 1, 1], [1, 1, 1]];
  const variants = Object.entries(CONV_MATRIX_TILES).flatMap(([name, tile]) =>
    kernels.flatMap(([KT, KH, KW]) =>
      [true, false].flatMap((vec) =>
        [true, false].map((residual) => ({
          label: `vae_conv3d_matrix ${name} ${KT}x${KH}x${KW}${vec ? "" : " scalar"}${residual ? " residual" : ""}`,
          op: "vae_conv3d_matrix",
          defines: { KT, KH, KW, vec, residual, ...matrixTileDefines(matrixTileFor(tile, vec ? 64 : 1, [256]), SG) },
        }))
      )
    )
  );
  await compileAll(variants);
}, { hosts: ["deno"] });

// The bound the kernels rely on: subgroupMatrixLoad on an array<vec4<f16>> counts offset and stride in vec4s.
// Tint's validation sizes a constant access from them; if it ever counted halves, this load would be in
// bounds and the test would fail.
test("matrix kernels: subgroupMatrixLoad on a vec4<f16> workgroup array counts offset and stride in vec4s (Dawn's null backend)", async () => {
  needAddon();
  const code = (stride: number) => `enable f16; enable subgroups; enable chromium_experimental_subgroup_matrix;
@group(0) @binding(0) var<storage, read_write> o: array<f32>;
var<workgroup> A: array<vec4<f16>, 64>;
@compute @workgroup_size(32) fn main() {
  let a = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&A, 0, ${stride});
  var c: subgroup_matrix_result<f32, 16, 16>;
  c = subgroupMatrixMultiplyAccumulate(a, subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&A, 0, ${stride}), c);
  subgroupMatrixStore<row_major>(&o, 0u, c, 16u);
}`;
  // the refused module's error is captured in a validation scope (nullCompileErrors): it is the expected
  // outcome, not an uncaptured error for Dawn to print at exit
  const errors = async (stride: number) => await nullCompileErrors(code(stride), `vec4 load, stride ${stride}`);
  // 64 vec4s = 256 halves: a 16 x 16 matrix at stride 4 vec4s (16 halves) fits exactly; at stride 16 it
  // fits only if the stride counted halves.
  const fits = await errors(4), over = await errors(16);
  if (fits) throw new Error(`stride 4 vec4s over a 64-vec4 array was refused: ${fits.split("\n")[0]}`);
  if (!over) throw new Error("stride 16 over a 64-vec4 array was accepted: offsets and strides would count halves, the kernels assume vec4s");
}, { hosts: ["deno"] });
