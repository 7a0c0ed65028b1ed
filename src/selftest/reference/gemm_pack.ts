// Reference of shaders/gemm_pack.wgsl: X[R, K] (row-major) as 16 x 16 tiles P[rt][kt][r][k], k fastest,
// rt < ceil(R / 16), kt < ceil(K / 16), zeros past the edges. A copy, so the reference is exact.
export function gemmPackRef(x: ArrayLike<number>, R: number, K: number): Float64Array {
  const KT = Math.ceil(K / 16), RT = Math.ceil(R / 16);
  const out = new Float64Array(RT * KT * 256);
  for (let row = 0; row < R; row++) {
    for (let k = 0; k < K; k++) {
      out[((Math.floor(row / 16) * KT + Math.floor(k / 16)) * 16 + (row % 16)) * 16 + (k % 16)] = x[row * K + k];
    }
  }
  return out;
}
