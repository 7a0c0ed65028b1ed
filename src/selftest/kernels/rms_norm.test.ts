import { rmsNorm } from "../../ops/rms_norm.ts";
import { rmsNormRef } from "../reference/rms_norm.ts";
import { expectClose, f64, randomArray, roundF16, test, TOL, withGpu, withGpuF16 } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType } from "../../shape.ts";

async function check(gpu: Gpu, rows: number, cols: number, dtype: DType) {
  const round = dtype === "f16" ? roundF16 : (a: Float32Array) => a;
  const x = round(randomArray(rows * cols, rows * 31 + cols, 3));
  const w = round(Float32Array.from(randomArray(cols, cols + 7, 0.1), (v) => 1 + v));
  const xt = gpu.upload(x, [rows, cols], dtype);
  rmsNorm(gpu, xt, gpu.upload(w, [cols], dtype));
  expectClose(`rmsNorm ${rows}x${cols} ${dtype}`, await gpu.read(xt), rmsNormRef(f64(x), f64(w), rows, cols), TOL.elementwise[dtype]);
}

for (const [rows, cols] of [[1, 24], [45, 48], [210, 96], [7, 1536], [3, 1000]]) {
  test(`rms_norm f32 ${rows}x${cols}`, () => withGpu((gpu) => check(gpu, rows, cols, "f32")));
  test(`rms_norm f16 ${rows}x${cols}`, () => withGpuF16((gpu) => check(gpu, rows, cols, "f16")), { needs: ["f16"] });
}
