// Float64 reference of shaders/rel_attention.wgsl: q, k, v [L, N, D], bias [N, 2L - 1] (relative position
// j - i at column j - i + L - 1) -> out [L, N, D] = softmax_j(q_i . k_j + bias) v, no 1/sqrt(D) scaling.
export function relAttentionRef(q: Float64Array, k: Float64Array, v: Float64Array, bias: Float64Array, L: number, N: number, D: number): Float64Array {
  const out = new Float64Array(L * N * D);
  const s = new Float64Array(L);
  for (let h = 0; h < N; h++) {
    for (let i = 0; i < L; i++) {
      let m = -Infinity;
      for (let j = 0; j < L; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[(i * N + h) * D + d] * k[(j * N + h) * D + d];
        s[j] = dot + bias[h * (2 * L - 1) + j - i + L - 1];
        m = Math.max(m, s[j]);
      }
      let sum = 0;
      for (let j = 0; j < L; j++) sum += (s[j] = Math.exp(s[j] - m));
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let j = 0; j < L; j++) acc += s[j] * v[(j * N + h) * D + d];
        out[(i * N + h) * D + d] = acc / sum;
      }
    }
  }
  return out;
}
