import { upsample2x } from "../../ops/upsample2x.ts";
import { upsample2xRef } from "../reference/upsample2x.ts";
import { expectClose, f64, randomArray, roundF16, test, withGpu, withGpuF16 } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType } from "../../shape.ts";

async function check(gpu: Gpu, T: number, H: number, W: number, C: number, dtype: DType) {
  const round = dtype === "f16" ? roundF16 : (a: Float32Array) => a;
  const x = round(randomArray(T * H * W * C, T + H * 7 + W * 13 + C, 2));
  const out = gpu.empty([T, 2 * H, 2 * W, C], dtype);
  upsample2x(gpu, gpu.upload(x, [T, H, W, C], dtype), out);
  // A copy: exact in either precision.
  expectClose(`upsample2x ${T}x${H}x${W}x${C} ${dtype}`, await gpu.read(out), upsample2xRef(f64(x), T, H, W, C), 0);
}

for (const [T, H, W, C] of [[1, 1, 1, 3], [2, 3, 5, 7], [4, 5, 3, 16], [1, 7, 9, 96]]) {
  test(`upsample2x ${T}x${H}x${W}x${C} f32`, () => withGpu((gpu) => check(gpu, T, H, W, C, "f32")));
  test(`upsample2x ${T}x${H}x${W}x${C} f16`, () => withGpuF16((gpu) => check(gpu, T, H, W, C, "f16")), { needs: ["f16"], hosts: ["deno"] });
}
