// gemm_pack (shaders/gemm_pack.wgsl) against its reference (an exact copy into 16 x 16 tiles, zeros past
// the edges): rows and K not multiples of 16, K % 4 != 0 (scalar reads), a view at a row offset, and a
// chunked Linear's packLinear (each chunk packed on its own). Runs on any adapter with shader-f16.
import { freeLinear, uploadLinear } from "../../ops/gemm_common.ts";
import { packedElements, packLinear, packRows } from "../../ops/gemm_pack.ts";
import { rowsView } from "../../gpu/tensor.ts";
import { gemmPackRef } from "../reference/gemm_pack.ts";
import { expectBitwiseEqual, randomArray, roundF16, test, withGpu } from "../harness.ts";

for (const [R, K, view] of [[37, 13, 0], [16, 32, 0], [50, 20, 32], [1, 4, 0], [33, 100, 128]] as const) {
  test(`gemm_pack: [${R}, ${K}]${view ? ` view at row ${view}` : ""} into 16 x 16 tiles`, () =>
    withGpu(async (gpu) => {
      const x = roundF16(randomArray(R * K, R * 131 + K, 1));
      const big = gpu.empty([view + R + 1, K], "f16", "x");
      const xt = rowsView(big, view, R);
      gpu.write(xt, x);
      const out = gpu.empty([packedElements(R, K)], "f16", "packed");
      gpu.write(out, new Float32Array(packedElements(R, K)).fill(NaN));
      packRows(gpu, xt, out, "gemm_pack test");
      expectBitwiseEqual(`gemm_pack [${R}, ${K}]`, await gpu.read(out), new Float32Array(gemmPackRef(x, R, K)));
    }), { needs: ["f16"] });
}

test("gemm_pack: packLinear packs each weight chunk on its own (rows of the chunk, K rounded up to 16)", () =>
  withGpu(async (gpu) => {
    const N = 300, K = 20;
    const w = roundF16(randomArray(N * K, 5, 1));
    const layer = uploadLinear(gpu, w, [N, K], null, "f16", "packed chunks", 128 * K * 2);
    const packed = packLinear(gpu, layer);
    if (packed.length !== layer.chunks.length || packed.length < 2) throw new Error(`expected one packed chunk per weight chunk (${layer.chunks.length}), got ${packed.length}`);
    if (packLinear(gpu, layer) !== packed) throw new Error("packLinear packed a second time instead of reusing layer.packed");
    let r0 = 0;
    for (const [i, c] of packed.entries()) {
      const want = gemmPackRef(w.subarray(r0 * K, (r0 + c.rows) * K), c.rows, K);
      expectBitwiseEqual(`packed chunk ${i} (rows ${r0}..${r0 + c.rows})`, await gpu.read(c.w), new Float32Array(want));
      r0 += c.rows;
    }
    if (r0 !== N) throw new Error(`packed chunks cover ${r0} rows, expected ${N}`);
    freeLinear(gpu, layer);
    if (layer.packed) throw new Error("freeLinear left layer.packed");
  }), { needs: ["f16"] });
