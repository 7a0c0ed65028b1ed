import { timestepEmbedding } from "../../ops/timestep_embedding.ts";
import { silu } from "../../ops/activation.ts";
import { timestepEmbeddingRef } from "../reference/timestep_embedding.ts";
import { siluRef } from "../reference/activation.ts";
import { expectClose, f64, test, TOL, withGpu, withGpuF16 } from "../harness.ts";
import { golden, linearF64, readFixture } from "./golden.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType } from "../../shape.ts";

async function check(gpu: Gpu, t: number, dim: number, dtype: DType) {
  const out = gpu.empty([1, dim], dtype);
  timestepEmbedding(gpu, t, dim, out);
  expectClose(`timestepEmbedding t=${t} dim=${dim} ${dtype}`, await gpu.read(out), timestepEmbeddingRef(t, dim), TOL.elementwise[dtype]);
}

// Wan's freq_dim is 256; the fixtures use 32 and 64. Large t (637, 999) is where f32 argument math fails.
for (const t of [0, 1.5, 637, 999]) {
  for (const dim of [256, 32, 64, 2]) {
    test(`timestep_embedding f32 t=${t} dim=${dim}`, () => withGpu((gpu) => check(gpu, t, dim, "f32")));
  }
  test(`timestep_embedding f16 t=${t} dim=256`, () => withGpuF16((gpu) => check(gpu, t, 256, "f16")), { needs: ["f16"] });
}

// Anchors that need no transcription: cos(0) = 1 and sin(0) = 0 at t = 0; frequency 0 is 1 (t itself);
// frequency half/2 is 10000^(-1/2) = 0.01.
test("timestep_embedding f32 anchors: t=0, the first frequency, and 10000^(-1/2) at j = half/2", () =>
  withGpu(async (gpu) => {
    const dim = 256, half = 128, t = 637;
    for (const [tt, want] of [
      [0, (j: number) => (j < half ? 1 : 0)],
      [t, (j: number) => (j === 0 ? Math.cos(t) : j === half ? Math.sin(t) : j === half / 2 ? Math.cos(t * 0.01) : j === half + half / 2 ? Math.sin(t * 0.01) : NaN)],
    ] as [number, (j: number) => number][]) {
      const out = gpu.empty([1, dim], "f32");
      timestepEmbedding(gpu, tt, dim, out);
      const got = await gpu.read(out);
      for (let j = 0; j < dim; j++) {
        const w = want(j);
        if (!Number.isNaN(w) && Math.abs(got[j] - w) > 1e-6) throw new Error(`t=${tt} element ${j}: got ${got[j]}, expected ${w}`);
      }
    }
  }));

// Reusing one tensor for two timesteps: the second write must not overtake work recorded on the first.
test("timestep_embedding f32 rewrite is ordered after recorded reads", () =>
  withGpu(async (gpu) => {
    const e = gpu.empty([1, 256], "f32");
    timestepEmbedding(gpu, 999, 256, e);
    silu(gpu, e); // recorded, not yet submitted
    const copy = gpu.empty([1, 256], "f32");
    gpu.copy(e.buffer, e.offset, copy.buffer, copy.offset, 256 * 4);
    timestepEmbedding(gpu, 3, 256, e);
    expectClose("silu(emb(999)) before the rewrite", await gpu.read(copy), siluRef(timestepEmbeddingRef(999, 256)), TOL.elementwise.f32);
    expectClose("emb(3) after the rewrite", await gpu.read(e), timestepEmbeddingRef(3, 256), TOL.elementwise.f32);
  }));

test("timestep_embedding errors name the tensor, expected vs found", () =>
  withGpu(async (gpu) => {
    for (const [f, re] of [
      [() => timestepEmbedding(gpu, 1, 256, gpu.empty([256], "f32")), /timestepEmbedding out: expected shape \[1, 256\], found \[256\]/],
      [() => timestepEmbedding(gpu, 1, 31, gpu.empty([1, 31], "f32")), /dim must be a positive even integer, found 31/],
      [() => timestepEmbedding(gpu, NaN, 32, gpu.empty([1, 32], "f32")), /t must be a finite number/],
    ] as [() => void, RegExp][]) {
      let msg = "";
      try { f(); } catch (e) { msg = (e as Error).message; }
      if (!re.test(msg)) throw new Error(`expected ${re}, got ${msg || "no error"}`);
    }
  }));

// Golden: temb = linear_2(SiLU(linear_1(e))) and proj = time_proj(SiLU(temb)) against diffusers' float64
// intermediates, from the GPU embedding and the GPU SiLU (the linears in Float64 here).
for (const name of ["wan-tiny", "wan-small"] as const) {
  test(`timestep_embedding f32 + time MLP vs ${name} golden condition_embedder.0/.1`, () =>
    withGpu(async (gpu) => {
      const [io, model] = await Promise.all([readFixture(name, "io.safetensors"), readFixture(name, "model.safetensors")]);
      const w = (k: string) => golden(model, k).data;
      const t = golden(io, "timestep").data[0];
      const [d, freq] = golden(model, "condition_embedder.time_embedder.linear_1.weight").shape;
      const e = gpu.empty([1, freq], "f32");
      timestepEmbedding(gpu, t, freq, e);
      const h = gpu.upload(Float32Array.from(linearF64(f64(await gpu.read(e)), w("condition_embedder.time_embedder.linear_1.weight"), w("condition_embedder.time_embedder.linear_1.bias"), 1, freq, d)), [1, d]);
      silu(gpu, h);
      const temb = linearF64(f64(await gpu.read(h)), w("condition_embedder.time_embedder.linear_2.weight"), w("condition_embedder.time_embedder.linear_2.bias"), 1, d, d);
      expectClose(`${name} temb (t=${t})`, temb, golden(io, "intermediate.condition_embedder.0").data, TOL.elementwise.f32);
      const st = gpu.upload(Float32Array.from(temb), [1, d]);
      silu(gpu, st);
      const proj = linearF64(f64(await gpu.read(st)), w("condition_embedder.time_proj.weight"), w("condition_embedder.time_proj.bias"), 1, d, 6 * d);
      expectClose(`${name} timestep proj`, proj, golden(io, "intermediate.condition_embedder.1").data, TOL.elementwise.f32);
    }));
}
