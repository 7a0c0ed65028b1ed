// upsample2x: nearest-exact 2x spatial upsampling of channels-last frames (shaders/upsample2x.wgsl).
import type { Gpu } from "../gpu/device.ts";
import { numel } from "../shape.ts";
import { expectShape, type Tensor } from "../gpu/tensor.ts";
import { workgroups1d } from "./workgroups.ts";

/** out [T, 2H, 2W, C] = x [T, H, W, C] repeated 2x2 (nearest-exact at an exact factor 2). */
export function upsample2x(gpu: Gpu, x: Tensor, out: Tensor): void {
  // 1. validate
  if (x.shape.length !== 4) throw new Error(`upsample2x: x must be [T, H, W, C], found [${x.shape}]`);
  const [T, H, W, C] = x.shape;
  expectShape("upsample2x out", out, [T, 2 * H, 2 * W, C], x.dtype);
  if (out.buffer === x.buffer) throw new Error(`upsample2x: out shares x's buffer`);
  const n = numel(out.shape);
  // 2. pipeline key: dtype  3. uniforms  4. dispatch: one invocation per output element
  const kernel = gpu.kernel("upsample2x", { f16: x.dtype === "f16" });
  gpu.dispatch(kernel, { n, H, W, C }, [x, out], workgroups1d(Math.ceil(n / 256)));
}
