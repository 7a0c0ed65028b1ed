import { channelRmsNorm } from "../../ops/channel_rms_norm.ts";
import { channelRmsNormRef } from "../reference/channel_rms_norm.ts";
import { expectClose, f64, randomArray, roundF16, test, TOL, withGpu, withGpuF16 } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType } from "../../shape.ts";

async function check(gpu: Gpu, P: number, C: number, silu: boolean, dtype: DType) {
  const round = dtype === "f16" ? roundF16 : (a: Float32Array) => a;
  const x = round(randomArray(P * C, P * 31 + C, 3));
  if (P > 2) x.fill(0, C, 2 * C); // an all-zero pixel: F.normalize's eps keeps it 0, not NaN
  const g = round(Float32Array.from(randomArray(C, C + 7, 0.1), (v) => 1 + v));
  const out = gpu.empty([P, C], dtype);
  channelRmsNorm(gpu, gpu.upload(x, [P, C], dtype), gpu.upload(g, [C], dtype), out, silu);
  expectClose(`channelRmsNorm ${P}x${C} silu=${silu} ${dtype}`, await gpu.read(out), channelRmsNormRef(f64(x), f64(g), P, C, silu), TOL.elementwise[dtype]);
}

// Pixel counts off the 32-pixel workgroup, channel counts off the 8 lanes (3: RGB-sized; 384: Wan2.1's widest).
for (const [P, C] of [[1, 3], [37, 16], [300, 96], [45, 384], [33, 13]]) {
  for (const silu of [false, true]) {
    test(`channel_rms_norm ${P}x${C}${silu ? " +silu" : ""} f32`, () => withGpu((gpu) => check(gpu, P, C, silu, "f32")));
    test(`channel_rms_norm ${P}x${C}${silu ? " +silu" : ""} f16`, () => withGpuF16((gpu) => check(gpu, P, C, silu, "f16")), { needs: ["f16"], hosts: ["deno"] });
  }
}
