// rmsNorm: in place over the last dimension, x [rows, cols] <- x / rms(x) * weight [cols].
import type { Gpu } from "../gpu/device.ts";
import { expectShape, type Tensor } from "../gpu/tensor.ts";
import { workgroups1d } from "./workgroups.ts";

export function rmsNorm(gpu: Gpu, x: Tensor, weight: Tensor, eps = 1e-6): void {
  // 1. validate
  if (x.shape.length !== 2) throw new Error(`rmsNorm: x must be [rows, cols], found [${x.shape}]`);
  const [rows, cols] = x.shape;
  expectShape("rmsNorm weight", weight, [cols], x.dtype);
  // 2. pipeline key: only the dtype is compiled in
  const kernel = gpu.kernel("rms_norm", { f16: x.dtype === "f16" });
  // 3. uniforms  4. dispatch: one workgroup per row
  gpu.dispatch(kernel, { rows, cols, eps }, [x, weight], workgroups1d(rows));
}
