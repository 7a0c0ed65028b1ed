import { gatedGelu } from "../../ops/gated_gelu.ts";
import { gatedGeluRef } from "../reference/gated_gelu.ts";
import { expectClose, f64, randomArray, roundF16, test, TOL, withGpu, withGpuF16 } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType } from "../../shape.ts";

async function check(gpu: Gpu, n: number, dtype: DType) {
  const round = dtype === "f16" ? roundF16 : (a: Float32Array) => a;
  const g = round(randomArray(n, n + 1, 6)), u = round(randomArray(n, n + 2, 2));
  const gt = gpu.upload(g, [n], dtype);
  gatedGelu(gpu, gt, gpu.upload(u, [n], dtype));
  expectClose(`gatedGelu ${n} ${dtype}`, await gpu.read(gt), gatedGeluRef(f64(g), f64(u)), TOL.elementwise[dtype]);
}

for (const n of [1, 37, 1000, 70000]) test(`gated_gelu f32 ${n}`, () => withGpu((gpu) => check(gpu, n, "f32")));
test("gated_gelu f16 1000", () => withGpuF16((gpu) => check(gpu, 1000, "f16")), { needs: ["f16"] });
