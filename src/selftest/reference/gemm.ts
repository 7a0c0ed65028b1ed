// Float64 reference of shaders/gemm.wgsl: Y[M, N] = epilogue(X[M, K] · W[N, K]^T + b[N]).
// `y0` is the residual stream Y reads before adding (residual epilogues); `gate` is the gate row [N].
export type RefEpilogue = "none" | "gelu_tanh" | "residual" | "residual_gate";

export function geluTanhRef(v: number): number {
  return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
}

export function gemmRef(
  x: Float64Array,
  w: Float64Array,
  b: Float64Array | null,
  M: number,
  N: number,
  K: number,
  epilogue: RefEpilogue = "none",
  y0: Float64Array | null = null,
  gate: Float64Array | null = null,
): Float64Array {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = b ? b[n] : 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      if (epilogue === "gelu_tanh") s = geluTanhRef(s);
      if (epilogue === "residual_gate") s *= gate![n];
      if (epilogue === "residual" || epilogue === "residual_gate") s += y0![m * N + n];
      y[m * N + n] = s;
    }
  }
  return y;
}
