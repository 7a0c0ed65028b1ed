import { uploadLinear } from "../../ops/gemm_common.ts";
import { MATRIX_TILES } from "../../ops/gemm_matrix.ts";
import { quantizeW8, uploadLinearW8 } from "../../ops/gemm_w8.ts";
import { gemmWxMatrix, wxMatrixSupport } from "../../ops/gemm_wx_matrix.ts";
import { gemmRef } from "../reference/gemm.ts";
import { gemmWxMatrixRef } from "../reference/gemm_wx_split.ts";
import { expectClose, f64, randomArray, relL2, roundF16, skip, test, TOL, withGpu } from "../harness.ts";

// The weight-only linears on the matrix units, against the Float64 product of exactly what they hold (the split
// operand, the stored weights) and, with hi + lo, against the plain Float64 product with the f32 X: the f32 bound
// (an f16-rounded X would miss it: ~3e-4 at these sizes).
async function check(kind: "w16" | "w8", M: number, N: number, K: number, o: { residual?: boolean; parts?: 1 | 2; chunkBytes?: number; tile?: string } = {}) {
  await withGpu(async (gpu) => {
    const support = wxMatrixSupport(gpu);
    if (!support.ok) skip(support.reason);
    const parts = o.parts ?? 2, residual = o.residual ?? false;
    const x = randomArray(M * K, M + K, 3), y0 = randomArray(M * N, N + 5);
    for (let k = 0; k < K; k++) x[k] *= 1e5; // row 0 past f16's range (umT5's feed-forward activations are)
    const w = randomArray(N * K, N + 1, 1 / Math.sqrt(K));
    let wd: Float32Array;
    const out = gpu.upload(residual ? y0 : new Float32Array(M * N), [M, N], "f32");
    const xt = gpu.upload(x, [M, K], "f32");
    const opts = { residual, parts, tile: o.tile ? MATRIX_TILES[o.tile] : undefined };
    if (kind === "w16") {
      wd = roundF16(w);
      gemmWxMatrix(gpu, xt, { kind, layer: uploadLinear(gpu, wd, [N, K], null, "f16", "wx16 test", o.chunkBytes) }, out, opts);
    } else {
      wd = quantizeW8(w, N, K).dequantized;
      gemmWxMatrix(gpu, xt, { kind, layer: uploadLinearW8(gpu, w, [N, K], "wx8 test", o.chunkBytes) }, out, opts);
    }
    const got = await gpu.read(out), what = `gemmWxMatrix ${kind} ${M}x${N}x${K}${residual ? " residual" : ""} parts ${parts}${o.tile ? ` ${o.tile}` : ""}`;
    expectClose(`${what} vs the split operand's Float64 product`, got, gemmWxMatrixRef(x, f64(wd), M, N, K, parts, residual ? f64(y0) : null), TOL.matmul.f32);
    const exact = gemmRef(f64(x), f64(wd), null, M, N, K, residual ? "residual" : "none", residual ? f64(y0) : null);
    if (parts === 2) expectClose(`${what} vs the f32 X's Float64 product`, got, exact, TOL.matmul.f32);
    else if (!(relL2(got, exact) > TOL.matmul.f32)) throw new Error(`${what}: hi alone within the f32 bound (${relL2(got, exact)}): the test's X is too kind`);
  });
}

const needs = { needs: ["subgroupMatrix" as const, "f16" as const] };
test("gemm_wx_matrix w16 1x1x1", () => check("w16", 1, 1, 1), needs);
test("gemm_wx_matrix w16 37x70x45 (odd everything, scalar reads)", () => check("w16", 37, 70, 45), needs);
test("gemm_wx_matrix w16 130x300x256 residual, weight in 3 chunks", () => check("w16", 130, 300, 256, { residual: true, chunkBytes: 128 * 256 * 2 }), needs);
test("gemm_wx_matrix w16 200x192x320 hi only (f16 accuracy of X, misses the f32 bound)", () => check("w16", 200, 192, 320, { parts: 1 }), needs);
test("gemm_wx_matrix w16 70x130x96 tile 128x128x16/2x2", () => check("w16", 70, 130, 96, { tile: "128x128x16/2x2" }), needs);
test("gemm_wx_matrix w16 70x130x96 tile 64x64x32/2x2s (scalar staging)", () => check("w16", 70, 130, 96, { tile: "64x64x32/2x2s" }), needs);
test("gemm_wx_matrix w8 37x70x45 (K not a multiple of 4)", () => check("w8", 37, 70, 45), needs);
test("gemm_wx_matrix w8 130x300x258 residual, weight in 3 chunks", () => check("w8", 130, 300, 258, { residual: true, chunkBytes: 128 * 65 * 4 }), needs);
