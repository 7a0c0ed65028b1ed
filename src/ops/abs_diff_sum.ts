// absDiffSums: sum |a - b| and sum |b| over every element of a and b (see shaders/abs_diff_sum.wgsl), the
// workgroups' f32 partials added in Float64 on the host. FBCache's distance (src/pipeline/step_cache.ts):
// a = this step's residual of block 0, b = the last computed step's, [rows, d] of one shard and batch item.
import type { Gpu } from "../gpu/device.ts";
import { expectShape, type Tensor } from "../gpu/tensor.ts";
import { expect2d } from "./checks.ts";
import { workgroups1d } from "./workgroups.ts";

/** Elements one workgroup sums (the shader's CHUNK = 256 invocations x 16). */
export const ABS_DIFF_SUM_CHUNK = 4096;

export async function absDiffSums(gpu: Gpu, a: Tensor, b: Tensor): Promise<{ diff: number; base: number }> {
  // 1. validate
  const [rows, cols] = expect2d("absDiffSums a", a);
  expectShape("absDiffSums b", b, [rows, cols], a.dtype);
  const n = rows * cols;
  if (n === 0) return { diff: 0, base: 0 };
  // 2. pipeline key: dtype  3. uniforms  4. dispatch: one workgroup per CHUNK elements
  const groups = Math.ceil(n / ABS_DIFF_SUM_CHUNK);
  const sums = gpu.empty([groups, 2], "f32", "abs diff sums");
  gpu.dispatch(gpu.kernel("abs_diff_sum", { f16: a.dtype === "f16" }), { n }, [a, b, sums], workgroups1d(groups));
  const partial = await gpu.read(sums);
  gpu.freeTensor(sums);
  let diff = 0, base = 0;
  for (let g = 0; g < groups; g++) {
    diff += partial[2 * g];
    base += partial[2 * g + 1];
  }
  return { diff, base };
}
