import { GEMM_TILES } from "../../ops/gemm.ts";
import { gemmW16 } from "../../ops/gemm_w16.ts";
import { uploadLinear } from "../../ops/gemm_common.ts";
import { gemmW16Ref } from "../reference/gemm_w16.ts";
import { expectClose, f64, randomArray, roundF16, test, TOL, withGpuF16 } from "../harness.ts";

// f16 weights (rounded on the host, so the reference sees exactly what the GPU holds), f32 activations:
// the f32 bound holds, as only the storage of W is half precision.
async function check(M: number, N: number, K: number, residual: boolean, maxChunkBytes?: number, tile?: string) {
  await withGpuF16(async (gpu) => {
    const x = randomArray(M * K, M + K, 3), w = roundF16(randomArray(N * K, N + 1, 1 / Math.sqrt(K))), y0 = randomArray(M * N, N + 5);
    const layer = uploadLinear(gpu, w, [N, K], null, "f16", "w16 test", maxChunkBytes);
    const out = gpu.upload(residual ? y0 : new Float32Array(M * N), [M, N], "f32");
    gemmW16(gpu, gpu.upload(x, [M, K], "f32"), layer, out, { residual, tile: tile ? GEMM_TILES[tile] : undefined });
    const ref = gemmW16Ref(f64(x), f64(w), M, N, K, residual ? f64(y0) : null);
    expectClose(`gemmW16 ${M}x${N}x${K}${residual ? " residual" : ""}${tile ? ` ${tile}` : ""}`, await gpu.read(out), ref, TOL.matmul.f32);
  });
}

test("gemm_w16 1x1x1", () => check(1, 1, 1, false), { needs: ["f16"] });
test("gemm_w16 37x70x45 (odd everything)", () => check(37, 70, 45, false), { needs: ["f16"] });
test("gemm_w16 130x64x300 residual", () => check(130, 64, 300, true), { needs: ["f16"] });
test("gemm_w16 9x300x40 residual, weight in 3 chunks", () => check(9, 300, 40, true, 128 * 40 * 2), { needs: ["f16"] });
// gemm's tiles at the umT5 shapes (pickTile at 512 tokens: 128x128x8 for the d_ff outputs, 64x64x8 for d_model;
// 128x64x8 between), each tile's loads once with f16 and once with int8 weights
for (const tile of ["128x128x8", "64x64x8"]) test(`gemm_w16 130x200x72 residual, tile ${tile}`, () => check(130, 200, 72, true, undefined, tile), { needs: ["f16"] });
