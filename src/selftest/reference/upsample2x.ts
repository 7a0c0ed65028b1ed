// Float64 reference of shaders/upsample2x.wgsl: PyTorch's nearest-exact interpolation at scale 2, written
// as its definition (source index = min(floor((i + 0.5) * in / out), in - 1)) rather than as i / 2.
export function upsample2xRef(x: Float64Array, T: number, H: number, W: number, C: number): Float64Array {
  const H2 = 2 * H, W2 = 2 * W;
  const src = (i: number, n: number, n2: number) => Math.min(Math.floor((i + 0.5) * (n / n2)), n - 1);
  const out = new Float64Array(T * H2 * W2 * C);
  for (let t = 0; t < T; t++) {
    for (let y = 0; y < H2; y++) {
      for (let xo = 0; xo < W2; xo++) {
        for (let c = 0; c < C; c++) out[((t * H2 + y) * W2 + xo) * C + c] = x[((t * H + src(y, H, H2)) * W + src(xo, W, W2)) * C + c];
      }
    }
  }
  return out;
}
