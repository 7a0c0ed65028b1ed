import { freeLinear, uploadLinear } from "../../ops/gemm_common.ts";
import { chooseGemm, gemm, GEMM_TILES, type GemmTile, gemmWorkgroupBytes, parseGemmOverride } from "../../ops/gemm.ts";
import { MATRIX_TILES } from "../../ops/gemm_matrix.ts";
import { PACKED_TILES } from "../../ops/gemm_matrix_packed.ts";
import { gemmRef } from "../reference/gemm.ts";
import { expectClose, expectThrows, f64, skip, test, TOL, withGpu, withGpuF16 } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType } from "../../shape.ts";
import { type GemmCase, gemmCaseLabel, gemmSetup } from "./gemm_case.ts";

async function check(gpu: Gpu, c: GemmCase, dtype: DType) {
  const { M, N, K, epilogue = "none", bias = true } = c;
  const { layer, xt, out, gate, y0, residual, ref } = gemmSetup(gpu, c, dtype, M * 7919 + N * 31 + K, `test${M}x${N}x${K}`);
  gpu.write(out, residual ? y0 : new Float32Array(M * N).fill(NaN));
  const tile: GemmTile | undefined = c.tile ? GEMM_TILES[c.tile] : undefined;
  if (tile && gemmWorkgroupBytes(tile) > gpu.limits.maxComputeWorkgroupStorageSize) {
    skip(`tile ${c.tile} needs ${gemmWorkgroupBytes(tile)} bytes of workgroup memory, this adapter has ${gpu.limits.maxComputeWorkgroupStorageSize}`);
  }
  gemm(gpu, xt, layer, out, { epilogue, tile, gate });
  expectClose(`gemm ${M}x${N}x${K} ${dtype} ${epilogue}${bias ? "" : " no bias"}`, await gpu.read(out), ref, TOL.matmul[dtype]);
  freeLinear(gpu, layer);
}

const cases: GemmCase[] = [
  // awkward shapes, default tile choice
  { M: 1, N: 24, K: 12 },
  { M: 45, N: 96, K: 64 },
  { M: 210, N: 1000, K: 100 },
  { M: 130, N: 257, K: 256 },
  { M: 1, N: 1000, K: 256 },
  { M: 45, N: 257, K: 12 },
  { M: 210, N: 24, K: 256, bias: false },
  { M: 130, N: 96, K: 100 },
  // K % 4 != 0: the scalar-load path
  { M: 45, N: 96, K: 13 },
  { M: 130, N: 257, K: 37, bias: false },
  // every epilogue
  { M: 45, N: 96, K: 64, epilogue: "gelu_tanh" },
  { M: 130, N: 257, K: 100, epilogue: "gelu_tanh", bias: false },
  { M: 45, N: 96, K: 64, epilogue: "residual" },
  { M: 210, N: 257, K: 37, epilogue: "residual", bias: false },
  { M: 45, N: 96, K: 64, epilogue: "residual_gate" },
  { M: 130, N: 257, K: 100, epilogue: "residual_gate", bias: false },
  // every tile configuration on an edge-heavy shape
  ...Object.keys(GEMM_TILES).map((tile) => ({ M: 130, N: 257, K: 100, tile })),
  { M: 210, N: 1000, K: 13, tile: "128x128x8" },
  // chunked weights (128-row chunks) writing columns [n0, n0 + n_i), with each epilogue
  { M: 45, N: 257, K: 64, maxChunkBytes: 128 * 64 * 4 },
  { M: 130, N: 1000, K: 12, maxChunkBytes: 300 * 12 * 4, epilogue: "gelu_tanh" },
  { M: 45, N: 257, K: 64, maxChunkBytes: 128 * 64 * 4, epilogue: "residual" },
  { M: 130, N: 257, K: 100, maxChunkBytes: 128 * 100 * 4, epilogue: "residual_gate", tile: "128x128x8" },
  // x and out as views at row offsets of bigger buffers (offsets 256-aligned: 64 rows of >= 12 elements)
  { M: 45, N: 96, K: 64, viewRows: 64, epilogue: "residual" },
  { M: 130, N: 257, K: 100, viewRows: 128, maxChunkBytes: 128 * 100 * 4, epilogue: "residual_gate" },
];

for (const c of cases) {
  const label = gemmCaseLabel("gemm", c);
  test(`${label} f32`, () => withGpu((gpu) => check(gpu, c, "f32")), { tags: ["slow"] });
  // f16 chunk sizes: half the bytes per row, so halve maxChunkBytes to keep the same row split.
  const c16 = c.maxChunkBytes ? { ...c, maxChunkBytes: c.maxChunkBytes / 2 } : c;
  test(`${label} f16`, () => withGpuF16((gpu) => check(gpu, c16, "f16")), { tags: ["slow"], needs: ["f16"] });
}

test("gemm gelu_tanh stays finite for huge inputs", () =>
  withGpu(async (gpu) => {
    const K = 4, N = 8, M = 1;
    const x = new Float32Array([1, 1, 1, 1]);
    const w = Float32Array.from({ length: N * K }, (_, i) => [1e4, -1e4, 30, -30, 1e20, -1e20, 0, 5][i >> 2] / 4);
    const layer = uploadLinear(gpu, w, [N, K], null, "f32", "gelu_huge");
    const out = gpu.empty([M, N], "f32");
    gemm(gpu, gpu.upload(x, [M, K]), layer, out, { epilogue: "gelu_tanh" });
    const got = await gpu.read(out);
    const ref = gemmRef(f64(x), f64(w), null, M, N, K, "gelu_tanh");
    for (let i = 0; i < N; i++) {
      if (!Number.isFinite(got[i]) || Math.abs(got[i] - ref[i]) > 1e-4 * Math.abs(ref[i]) + 1e-6) {
        throw new Error(`gelu_tanh(${[1e4, -1e4, 30, -30, 1e20, -1e20, 0, 5][i]}) = ${got[i]}, expected ${ref[i]}`);
      }
    }
  }));

test("gemm errors name the layer and the shapes", () =>
  withGpu(async (gpu) => {
    const layer = uploadLinear(gpu, new Float32Array(8 * 4), [8, 4], null, "f32", "blocks.0.ffn.0");
    const x = gpu.empty([3, 5], "f32");
    const out = gpu.empty([3, 8], "f32");
    let msg = "";
    try {
      gemm(gpu, x, layer, out);
    } catch (e) {
      msg = (e as Error).message;
    }
    if (!msg.includes("blocks.0.ffn.0") || !msg.includes("[M, 4]") || !msg.includes("[3,5]")) throw new Error(`unhelpful error: "${msg}"`);
  }));

test("gemm override: SHARDIT_GEMM values and the kernel gemm()'s auto runs under each", async () => {
  for (const v of [undefined, "", "default", " default "]) if (parseGemmOverride(v).kind !== "default") throw new Error(`"${v}" should be the default`);
  if (parseGemmOverride("scalar").kind !== "scalar") throw new Error("scalar not parsed");
  const t = parseGemmOverride("tile:256x128x16/4x4k"), p = parseGemmOverride("packed:128x128/2x4");
  if (t.kind !== "tile" || t.tile !== MATRIX_TILES["256x128x16/4x4k"]) throw new Error(`tile:256x128x16/4x4k parsed as ${JSON.stringify(t)}`);
  if (p.kind !== "packed" || p.tile !== PACKED_TILES["128x128/2x4"]) throw new Error(`packed:128x128/2x4 parsed as ${JSON.stringify(p)}`);
  // unknown names, a tile of the other kind, a bare tile name, Object's own keys: one line naming the variable
  for (const bad of ["bogus", "packed:256x128x16/4x4", "tile:256x128/4x4", "256x128x16/4x4", "tile:toString", "matrix", "tile:"]) {
    await expectThrows(bad, () => parseGemmOverride(bad), new RegExp(`^SHARDIT_GEMM: expected default, scalar, tile:<[^\\n]*256x128x16/4x4k[^\\n]*> or packed:<[^\\n]*128x128/2x4[^\\n]*>, found "${bad}"$`));
  }
  const same = (what: string, got: unknown, want: unknown) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${what}: chose ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  };
  // only f16 on a device with matrix units follows the override; f32 and plain devices keep the scalar kernel
  for (const o of [parseGemmOverride("default"), t, p]) {
    same(`f32 under ${o.kind}`, chooseGemm(false, true, o), { kernel: "scalar" });
    same(`no matrices under ${o.kind}`, chooseGemm(true, false, o), { kernel: "scalar" });
  }
  // the default for f16 on matrix units: the packed kernel at 128x128/4x4 (GEMM_F16_MATRIX_DEFAULT)
  same("f16 default", chooseGemm(true, true, parseGemmOverride(undefined)), { kernel: "packed", tile: PACKED_TILES["128x128/4x4"] });
  same("f16 scalar", chooseGemm(true, true, parseGemmOverride("scalar")), { kernel: "scalar" });
  same("f16 tile", chooseGemm(true, true, t), { kernel: "matrix", tile: MATRIX_TILES["256x128x16/4x4k"] });
  same("f16 packed", chooseGemm(true, true, p), { kernel: "packed", tile: PACKED_TILES["128x128/2x4"] });
});
