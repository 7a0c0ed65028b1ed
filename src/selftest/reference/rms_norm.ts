// Float64 reference of shaders/rms_norm.wgsl: x [rows, cols] -> x / sqrt(mean(x^2) + eps) * weight.
export function rmsNormRef(x: Float64Array, weight: Float64Array, rows: number, cols: number, eps = 1e-6): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * cols + c] ** 2;
    const inv = 1 / Math.sqrt(s / cols + eps);
    for (let c = 0; c < cols; c++) y[r * cols + c] = x[r * cols + c] * inv * weight[c];
  }
  return y;
}
