// Float64 reference of shaders/lora_merge.wgsl: W + scale * B A, W [rows, cols], A [rank, cols], B [rows, rank].
export function loraMergeRef(w: Float64Array, a: Float64Array, b: Float64Array, rows: number, cols: number, rank: number, scale: number): Float64Array {
  const out = Float64Array.from(w);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < rank; k++) {
      const s = scale * b[r * rank + k];
      for (let c = 0; c < cols; c++) out[r * cols + c] += s * a[k * cols + c];
    }
  }
  return out;
}
