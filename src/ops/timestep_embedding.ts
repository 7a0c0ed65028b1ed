// Sinusoidal timestep embedding (diffusers get_timestep_embedding, flip_sin_to_cos=True,
// downscale_freq_shift=0): half = dim/2, f_j = exp(-ln(10000) j / half),
// out [1, dim] = [cos(t f_j) for j < half, sin(t f_j) for j < half].
//
// Computed on the host in Float64 and uploaded; there is no WGSL kernel, on purpose. At t = 999 the
// argument t f_j reaches 999 rad, where one f32 ulp is 6e-5: an f32 product t * f_j (plus f32 exp for
// f_j and WGSL's loosely specified sin/cos, whose accuracy bound is only absolute on [-pi, pi]) gives
// errors around 1e-4 relative, ten times the 1e-5 budget. Getting it right on the GPU would need
// double-f32 arithmetic whose exactness depends on the backend not contracting or reassociating
// (fma is not guaranteed fused in WGSL). The vector is only `dim` values (256 in Wan) once per
// denoising step, so f64 on the host is exact to the output rounding and costs nothing measurable.
import type { Gpu } from "../gpu/device.ts";
import { type Tensor } from "../gpu/tensor.ts";

/** The Float64 embedding values (src/selftest/reference/timestep_embedding.ts transcribes diffusers independently). */
export function timestepEmbeddingValues(t: number, dim: number): Float64Array {
  const half = dim / 2;
  const out = new Float64Array(dim);
  for (let j = 0; j < half; j++) {
    const arg = t * Math.exp(-Math.log(10000) * j / half);
    out[j] = Math.cos(arg);
    out[half + j] = Math.sin(arg);
  }
  return out;
}

export function timestepEmbedding(gpu: Gpu, t: number, dim: number, out: Tensor): void {
  // 1. validate
  if (!Number.isFinite(t)) throw new Error(`timestepEmbedding: t must be a finite number, found ${t}`);
  if (!Number.isInteger(dim) || dim < 2 || dim % 2 !== 0) throw new Error(`timestepEmbedding: dim must be a positive even integer, found ${dim}`);
  if (out.shape.length !== 2 || out.shape[0] !== 1 || out.shape[1] !== dim) {
    throw new Error(`timestepEmbedding out: expected shape [1, ${dim}], found [${out.shape}]`);
  }
  // 2-4. Upload: gpu.write is ordered after work already recorded (which may still read the previous
  // step's embedding from this same tensor).
  gpu.write(out, Float32Array.from(timestepEmbeddingValues(t, dim)));
}
