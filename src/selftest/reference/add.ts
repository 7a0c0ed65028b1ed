// Float64 reference of shaders/add.wgsl: out[r, :] = a[r, :] + scaleB * b[r % rowsB, :], a [rows, cols], b [rowsB, cols].
export function addRowsRef(a: Float64Array, b: Float64Array, rows: number, rowsB: number, cols: number, scaleB = 1): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[r * cols + c] = a[r * cols + c] + scaleB * b[(r % rowsB) * cols + c];
  }
  return out;
}
