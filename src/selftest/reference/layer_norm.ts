// Float64 references of shaders/layer_norm.wgsl: LayerNorm over the last dim (no affine), then either
// the adaLN modulation with two rows of mod [R, cols] or weight/bias. x [rows, cols] -> [rows, cols].
function normalizeRows(x: Float64Array, rows: number, cols: number, eps: number, epilogue: (v: number, c: number) => number): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * cols + c];
    const mean = s / cols;
    let q = 0;
    for (let c = 0; c < cols; c++) q += (x[r * cols + c] - mean) ** 2;
    const inv = 1 / Math.sqrt(q / cols + eps);
    for (let c = 0; c < cols; c++) y[r * cols + c] = epilogue((x[r * cols + c] - mean) * inv, c);
  }
  return y;
}

export function layerNormModulatedRef(
  x: Float64Array, mod: Float64Array, shiftRow: number, scaleRow: number, rows: number, cols: number, eps = 1e-6,
): Float64Array {
  return normalizeRows(x, rows, cols, eps, (v, c) => v * (1 + mod[scaleRow * cols + c]) + mod[shiftRow * cols + c]);
}

export function layerNormAffineRef(
  x: Float64Array, weight: Float64Array, bias: Float64Array, rows: number, cols: number, eps = 1e-6,
): Float64Array {
  return normalizeRows(x, rows, cols, eps, (v, c) => v * weight[c] + bias[c]);
}
