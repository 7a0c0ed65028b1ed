// The packed matrix gemm (shaders/gemm_matrix_packed.wgsl, both operands packed in 16 x 16 tiles) against
// the Float64 reference: edge tiles in M, N and K (K % 16 != 0, K % 4 != 0), every epilogue, every tile,
// chunked weights (each chunk packed on its own) and views. Runs where the device has
// chromium-experimental-subgroup-matrix (Dawn on NVIDIA: `npm run test:gpu` on the GPU host) and skips with
// the reason elsewhere; the CPU-side proof is the null-backend compile (test/kernels/matrix_null_compile.test.ts).
import { freeLinear } from "../../ops/gemm_common.ts";
import { gemm, GEMM_ENV, gemmOverride } from "../../ops/gemm.ts";
import { matrixGemmSupport } from "../../ops/gemm_matrix.ts";
import { PACKED_TILES } from "../../ops/gemm_matrix_packed.ts";
import { expectClose, skip, test, TOL, withGpu } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";
import { type GemmCase, gemmCaseLabel, gemmSetup } from "./gemm_case.ts";

/** auto: through gemm()'s own choice (no kernel forced): the f16 default on matrix units is this kernel. */
async function check(gpu: Gpu, c: GemmCase, auto = false) {
  const support = matrixGemmSupport(gpu);
  if (!support.ok) skip(support.reason);
  if (auto && gemmOverride().kind !== "default") skip(`${GEMM_ENV} overrides the default in this process`);
  const { M, N, K, epilogue = "none", bias = true } = c;
  const tile = c.tile ? PACKED_TILES[c.tile] : undefined;
  const { layer, outBig, xt, out, gate, y0, residual, ref } = gemmSetup(gpu, c, "f16", M * 7919 + N * 31 + K + 23, `packed${M}x${N}x${K}`);
  const v = c.viewRows ?? 0;
  // Rows outside [v, v + M) hold a sentinel: the kernel must not write past its edge tiles.
  gpu.write(outBig, new Float32Array((v + M + 1) * N).fill(7));
  gpu.write(out, residual ? y0 : new Float32Array(M * N).fill(NaN));
  gemm(gpu, xt, layer, out, auto ? { epilogue, gate } : { kernel: "packed", packedTile: tile, epilogue, gate });
  const what = `gemm_matrix_packed ${M}x${N}x${K} ${epilogue}${bias ? "" : " no bias"}${c.tile ? ` tile ${c.tile}` : ""}${auto ? " (auto)" : ""}`;
  if (auto && !layer.packed) throw new Error(`${what}: gemm()'s default did not run the packed kernel (no packed weight made)`);
  const all = await gpu.read(outBig);
  expectClose(what, all.subarray(v * N, (v + M) * N), ref, TOL.matmul.f16);
  const after = all.subarray((v + M) * N + ((M * N) % 2));
  if (after.some((e) => e !== 7)) throw new Error(`${what}: the row after the output view was overwritten`);
  freeLinear(gpu, layer);
}

const cases: GemmCase[] = [
  // awkward shapes: edge tiles in M and N, K not a multiple of 16 or of 4
  { M: 1, N: 24, K: 12 },
  { M: 45, N: 96, K: 64 },
  { M: 130, N: 257, K: 100 },
  { M: 210, N: 1000, K: 13 },
  { M: 67, N: 129, K: 530, bias: false },
  // every epilogue
  { M: 45, N: 96, K: 64, epilogue: "gelu_tanh" },
  { M: 210, N: 257, K: 37, epilogue: "residual", bias: false },
  { M: 130, N: 257, K: 100, epilogue: "residual_gate", bias: false },
  // every tile on an edge-heavy shape
  ...Object.keys(PACKED_TILES).map((tile) => ({ M: 130, N: 257, K: 100, tile, epilogue: "gelu_tanh" as const })),
  // chunked weights (128-row chunks, each packed on its own) and views at row offsets
  { M: 45, N: 257, K: 64, maxChunkBytes: 128 * 64 * 2 },
  { M: 130, N: 300, K: 100, maxChunkBytes: 128 * 100 * 2, epilogue: "residual_gate" },
  { M: 45, N: 96, K: 64, viewRows: 128, epilogue: "residual" },
];

for (const c of cases) {
  test(gemmCaseLabel("gemm_matrix_packed", c), () => withGpu((gpu) => check(gpu, c)), { needs: ["subgroupMatrix"] });
}

// gemm()'s default for f16 on matrix units (GEMM_F16_MATRIX_DEFAULT: packed 128x128/4x4), as the model calls it
for (const c of [{ M: 130, N: 257, K: 100, epilogue: "residual_gate" as const, bias: false }, { M: 45, N: 257, K: 64, maxChunkBytes: 128 * 64 * 2 }] as GemmCase[]) {
  test(gemmCaseLabel("gemm_matrix_packed", c) + " (auto: the f16 default)", () => withGpu((gpu) => check(gpu, c, true)), { needs: ["subgroupMatrix"] });
}
