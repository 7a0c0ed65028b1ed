// Float64 references of shaders/activation.wgsl (element-wise; the GPU ops work in place).
export function siluRef(x: Float64Array): Float64Array {
  return x.map((v) => v / (1 + Math.exp(-v)));
}

/** GELU with the tanh approximation (PyTorch approximate="tanh"). */
export function geluTanhRef(x: Float64Array): Float64Array {
  const k = Math.sqrt(2 / Math.PI);
  return x.map((v) => 0.5 * v * (1 + Math.tanh(k * (v + 0.044715 * v * v * v))));
}
