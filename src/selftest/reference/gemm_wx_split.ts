// Float64 references of the matrix path of the weight-only linears: shaders/gemm_wx_split.wgsl (f32 X -> row
// scale s = 2^e, the smallest power of two above max |X[m, :]|, hi = f16(X / s), lo = f16(X / s - hi), f16
// rounding to nearest even as Float16Array does) and shaders/gemm_wx_matrix.wgsl (Y = s (hi + lo) . Wd^T (+ Y0),
// the products and sums exact: what the matrix units compute before f32 rounding). Wd: the weights as stored
// (f16-rounded, or quantizeW8's dequantized values).
import { gemmRef } from "./gemm.ts";

/** Row scale of gemm_wx_split: 2^e with max |row| < 2^e <= 2 max |row| (1 for a zero row). */
export function splitScaleRef(row: ArrayLike<number>): number {
  let top = 0;
  for (let i = 0; i < row.length; i++) top = Math.max(top, Math.abs(row[i]));
  if (top === 0 || !Number.isFinite(top)) return 1;
  let e = Math.floor(Math.log2(top)) + 1;
  // log2 may round across a power of two: settle e so that 2^(e-1) <= top < 2^e
  while (2 ** (e - 1) > top) e--;
  while (2 ** e <= top) e++;
  return 2 ** e;
}

/** x [M, K] -> hi, lo [M, K] (f16 values, unscaled) and s [M]; lo is zero with parts 1. */
export function splitF16Ref(x: ArrayLike<number>, M: number, K: number, parts: 1 | 2): { hi: Float64Array; lo: Float64Array; s: Float64Array } {
  const hi = new Float64Array(M * K), lo = new Float64Array(M * K), s = new Float64Array(M);
  const f16 = (v: number) => new Float16Array([v])[0];
  for (let m = 0; m < M; m++) {
    s[m] = splitScaleRef(Array.prototype.slice.call(x, m * K, (m + 1) * K) as number[]);
    for (let k = 0; k < K; k++) {
      const v = x[m * K + k] / s[m];
      hi[m * K + k] = f16(v);
      if (parts === 2) lo[m * K + k] = f16(v - hi[m * K + k]);
    }
  }
  return { hi, lo, s };
}

/** The matrix path's product in Float64: s (hi + lo) . Wd^T (+ Y0). */
export function gemmWxMatrixRef(x: ArrayLike<number>, wd: Float64Array, M: number, N: number, K: number, parts: 1 | 2, y0: Float64Array | null = null): Float64Array {
  const { hi, lo, s } = splitF16Ref(x, M, K, parts);
  const xs = new Float64Array(M * K);
  for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) xs[m * K + k] = s[m] * (hi[m * K + k] + lo[m * K + k]);
  return gemmRef(xs, wd, null, M, N, K, y0 ? "residual" : "none", y0);
}
