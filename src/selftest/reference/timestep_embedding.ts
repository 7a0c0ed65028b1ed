// Float64 reference of the sinusoidal timestep embedding, transcribed step by step from diffusers'
// get_timestep_embedding (embeddings.py) rather than from src/ops/timestep_embedding.ts, so the two are
// written independently: exponent = -ln(max_period) * arange(half) / (half - downscale_freq_shift);
// emb = t * exp(exponent) * scale; emb = cat(sin(emb), cos(emb)); flip_sin_to_cos swaps the halves.
// Wan's condition embedder calls it with flip_sin_to_cos=True, downscale_freq_shift=0, scale 1,
// max_period 10000, so out [dim] = [cos(t f_j) for j < half, sin(t f_j) for j < half].
export function timestepEmbeddingRef(
  t: number,
  dim: number,
  { flipSinToCos = true, downscaleFreqShift = 0, scale = 1, maxPeriod = 10000 } = {},
): Float64Array {
  const half = Math.floor(dim / 2);
  const args = Array.from({ length: half }, (_, j) => t * Math.exp((-Math.log(maxPeriod) * j) / (half - downscaleFreqShift)) * scale);
  const sinThenCos = [...args.map(Math.sin), ...args.map(Math.cos)];
  const emb = flipSinToCos ? [...sinThenCos.slice(half), ...sinThenCos.slice(0, half)] : sinThenCos;
  if (dim % 2 === 1) emb.push(0); // diffusers zero-pads an odd dim
  return Float64Array.from(emb);
}
