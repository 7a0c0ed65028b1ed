// The matrix-unit gemm (shaders/gemm_matrix.wgsl) against the Float64 reference: awkward shapes (edge
// tiles in M, N and K, K % 4 != 0), every epilogue, every tile, chunked weights and views. Runs where the
// device has chromium-experimental-subgroup-matrix (Dawn on NVIDIA: `npm run test:gpu` on the GPU host) and
// skips with the reason elsewhere (lavapipe, SwiftShader and Deno's wgpu have no matrix units).
import { freeLinear, uploadLinear } from "../../ops/gemm_common.ts";
import { gemm } from "../../ops/gemm.ts";
import { MATRIX_TILES, matrixGemmSupport, matrixWorkgroupBytes } from "../../ops/gemm_matrix.ts";
import { expectClose, skip, test, TOL, withGpu } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";
import { type GemmCase, gemmCaseLabel, gemmSetup } from "./gemm_case.ts";

async function check(gpu: Gpu, c: GemmCase) {
  const support = matrixGemmSupport(gpu);
  if (!support.ok) skip(support.reason);
  const { M, N, K, epilogue = "none", bias = true } = c;
  const tile = c.tile ? MATRIX_TILES[c.tile] : undefined;
  if (tile && matrixWorkgroupBytes(tile) > gpu.limits.maxComputeWorkgroupStorageSize) {
    skip(`matrix tile ${c.tile} needs ${matrixWorkgroupBytes(tile)} bytes of workgroup memory, this adapter has ${gpu.limits.maxComputeWorkgroupStorageSize}`);
  }
  const { layer, outBig, xt, out, gate, y0, residual, ref } = gemmSetup(gpu, c, "f16", M * 7919 + N * 31 + K + 17, `matrix${M}x${N}x${K}`);
  const v = c.viewRows ?? 0;
  // Rows outside [v, v + M) hold a sentinel: the kernel must not write past its edge tiles.
  gpu.write(outBig, new Float32Array((v + M + 1) * N).fill(7));
  gpu.write(out, residual ? y0 : new Float32Array(M * N).fill(NaN));
  gemm(gpu, xt, layer, out, { kernel: "matrix", matrixTile: tile, epilogue, gate });
  const what = `gemm_matrix ${M}x${N}x${K} ${epilogue}${bias ? "" : " no bias"}${c.tile ? ` tile ${c.tile}` : ""}`;
  const all = await gpu.read(outBig);
  expectClose(what, all.subarray(v * N, (v + M) * N), ref, TOL.matmul.f16);
  // gpu.write pads an odd f16 count by one element (writeBuffer takes whole 4-byte words): skip that one.
  const after = all.subarray((v + M) * N + ((M * N) % 2));
  if (after.some((e) => e !== 7)) throw new Error(`${what}: the row after the output view was overwritten`);
  freeLinear(gpu, layer);
}

const cases: GemmCase[] = [
  // awkward shapes: edge tiles in M and N, K not a multiple of the K step (32) or of 4
  { M: 1, N: 24, K: 12 },
  { M: 45, N: 96, K: 64 },
  { M: 130, N: 257, K: 100 },
  { M: 210, N: 1000, K: 13 },
  { M: 67, N: 129, K: 530, bias: false },
  // every epilogue
  { M: 45, N: 96, K: 64, epilogue: "gelu_tanh" },
  { M: 130, N: 257, K: 100, epilogue: "gelu_tanh", bias: false },
  { M: 45, N: 96, K: 64, epilogue: "residual" },
  { M: 210, N: 257, K: 37, epilogue: "residual", bias: false },
  { M: 45, N: 96, K: 64, epilogue: "residual_gate" },
  { M: 130, N: 257, K: 100, epilogue: "residual_gate", bias: false },
  // every tile on an edge-heavy shape
  ...Object.keys(MATRIX_TILES).map((tile) => ({ M: 130, N: 257, K: 100, tile, epilogue: "gelu_tanh" as const })),
  // B straight from storage (bdirect tiles: K % 32 == 0, N a multiple of the tile width), edge rows in M,
  // every epilogue, and 256-row weight chunks (each chunk's own w binding)
  ...Object.keys(MATRIX_TILES).filter((t) => t.endsWith("d")).map((tile) => ({ M: 130, N: 256, K: 96, tile, epilogue: "residual_gate" as const })),
  { M: 67, N: 512, K: 64, tile: "128x128x32/4x4d", epilogue: "gelu_tanh" as const, maxChunkBytes: 256 * 64 * 2 },
  { M: 200, N: 768, K: 160, tile: "128x256x32/4x4d", maxChunkBytes: 256 * 160 * 2 },
  // B from the packed weight (bpack tiles, "k"): any N and K % 4 == 0 (K 13 stages B), chunks packed each
  // on its own, every epilogue
  ...Object.keys(MATRIX_TILES).filter((t) => t.endsWith("k")).map((tile) => ({ M: 130, N: 300, K: 52, tile, epilogue: "residual_gate" as const })),
  { M: 67, N: 300, K: 100, tile: "256x128x16/4x4k", maxChunkBytes: 128 * 100 * 2, epilogue: "gelu_tanh" as const },
  { M: 45, N: 96, K: 13, tile: "256x128x16/4x4k", epilogue: "residual" as const },
  // chunked weights (128-row chunks) writing columns [n0, n0 + n_i), and views at row offsets
  { M: 45, N: 257, K: 64, maxChunkBytes: 128 * 64 * 2 },
  { M: 130, N: 257, K: 100, maxChunkBytes: 128 * 100 * 2, epilogue: "residual_gate" },
  { M: 45, N: 96, K: 64, viewRows: 128, epilogue: "residual" },
];

for (const c of cases) {
  test(gemmCaseLabel("gemm_matrix", c), () => withGpu((gpu) => check(gpu, c)), { needs: ["subgroupMatrix"] });
}

test("gemm_matrix: asked for where the device has no subgroup matrices, the error names the device and the reason", () =>
  withGpu(async (gpu) => {
    if (matrixGemmSupport(gpu).ok) skip("this device has subgroup matrices (the error path is for those without)");
    if (!gpu.features.f16) skip("adapter has no shader-f16");
    const layer = uploadLinear(gpu, new Float32Array(8 * 4), [8, 4], null, "f16", "blocks.0.attn1.to_q");
    const x = gpu.empty([3, 4], "f16"), out = gpu.empty([3, 8], "f16");
    let msg = "";
    try {
      gemm(gpu, x, layer, out, { kernel: "matrix" });
    } catch (e) {
      msg = (e as Error).message;
    }
    if (!msg.includes("blocks.0.attn1.to_q") || !msg.includes("subgroup")) throw new Error(`unhelpful error: "${msg}"`);
  }), { needs: ["f16"] });
