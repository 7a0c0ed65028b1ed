// Float64 reference of the sinusoidal timestep embedding (diffusers get_timestep_embedding with
// flip_sin_to_cos=True, downscale_freq_shift=0): half = dim/2, f_j = exp(-ln(10000) j / half),
// out [dim] = [cos(t f_j) for j < half, sin(t f_j) for j < half].
export function timestepEmbeddingRef(t: number, dim: number): Float64Array {
  const half = dim / 2;
  const out = new Float64Array(dim);
  for (let j = 0; j < half; j++) {
    const arg = t * Math.exp(-Math.log(10000) * j / half);
    out[j] = Math.cos(arg);
    out[half + j] = Math.sin(arg);
  }
  return out;
}
