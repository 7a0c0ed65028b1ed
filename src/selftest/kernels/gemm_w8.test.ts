import { GEMM_TILES } from "../../ops/gemm.ts";
import { gemmW8, quantizeW8, uploadLinearW8 } from "../../ops/gemm_w8.ts";
import { gemmW8Ref } from "../reference/gemm_w8.ts";
import { expectClose, f64, randomArray, relL2, test, TOL, withGpu } from "../harness.ts";

async function check(M: number, N: number, K: number, residual: boolean, maxChunkBytes?: number, tile?: string) {
  await withGpu(async (gpu) => {
    const x = randomArray(M * K, M + K, 3), w = randomArray(N * K, N + 1, 1 / Math.sqrt(K)), y0 = randomArray(M * N, N + 5);
    const layer = uploadLinearW8(gpu, w, [N, K], "w8 test", maxChunkBytes);
    const out = gpu.upload(residual ? y0 : new Float32Array(M * N), [M, N], "f32");
    gemmW8(gpu, gpu.upload(x, [M, K], "f32"), layer, out, { residual, tile: tile ? GEMM_TILES[tile] : undefined });
    const { dequantized } = quantizeW8(w, N, K);
    expectClose(`gemmW8 ${M}x${N}x${K}${residual ? " residual" : ""}${tile ? ` ${tile}` : ""}`, await gpu.read(out), gemmW8Ref(f64(x), f64(dequantized), M, N, K, residual ? f64(y0) : null), TOL.matmul.f32);
  });
}

test("gemm_w8 1x1x1", () => check(1, 1, 1, false));
test("gemm_w8 37x70x45 (odd everything, K not a multiple of 4)", () => check(37, 70, 45, false));
test("gemm_w8 130x64x300 residual", () => check(130, 64, 300, true));
test("gemm_w8 9x300x42 residual, weight in 3 chunks", () => check(9, 300, 42, true, 128 * 11 * 4));
// gemm's tiles at the umT5 shapes (pickTile at 512 tokens: 128x128x8 for the d_ff outputs, 64x64x8 for d_model;
// 128x64x8 between), each tile's loads once with f16 and once with int8 weights
for (const tile of ["128x64x8", "64x64x8"]) test(`gemm_w8 130x200x70 residual, tile ${tile}`, () => check(130, 200, 70, true, undefined, tile));
test("gemm_w8: quantizeW8 is symmetric per row (max |q| = 127, negative values packed and unpacked)", () => {
  const w = Float32Array.from([0.5, -1, 0.25, 0, 3, -3, 1.5, 0.75, 0.1]);
  const { packed, scale, dequantized } = quantizeW8(w, 3, 3);
  if (scale[0] !== Math.fround(1 / 127) || scale[1] !== Math.fround(3 / 127)) throw new Error(`scales ${scale}`);
  if ((packed[0] >> 8 & 0xff) !== 0x81) throw new Error(`-1 / (1/127) = -127 packs as 0x81, found ${packed[0].toString(16)}`);
  if (relL2(dequantized, w) > 1e-2) throw new Error(`dequantized ${dequantized} vs ${w}`);
});
