// loraMerge: W[r, :] += scale * B[r, :] · A, in place (see shaders/lora_merge.wgsl). W [rows, cols] is a row
// chunk of a linear layer's weight (nn.Linear [out, in]), A [rank, cols] (lora_A / lora_down), B [rows, rank]
// (the same rows of lora_B / lora_up); all f32 (the merge runs before any f16 conversion).
import type { Gpu } from "../gpu/device.ts";
import { expectShape, type Tensor } from "../gpu/tensor.ts";
import { expect2d, expectNoOverlap } from "./checks.ts";
import { workgroups1d } from "./workgroups.ts";

export function loraMerge(gpu: Gpu, w: Tensor, a: Tensor, b: Tensor, scale: number): void {
  // 1. validate
  const [rows, cols] = expect2d("loraMerge w", w);
  const [rank] = expect2d("loraMerge a", a);
  if (w.dtype !== "f32") throw new Error(`loraMerge w: expected dtype f32 (the merge runs before f16 conversion), found ${w.dtype}`);
  if (rank < 1) throw new Error(`loraMerge a: expected rank >= 1 rows, found shape [${a.shape}]`);
  expectShape("loraMerge a", a, [rank, cols], "f32");
  expectShape("loraMerge b", b, [rows, rank], "f32");
  if (!Number.isFinite(scale)) throw new Error(`loraMerge: scale must be a finite number, found ${scale}`);
  expectNoOverlap("loraMerge", ["w", w], ["a", a]);
  expectNoOverlap("loraMerge", ["w", w], ["b", b]);
  // 2. pipeline key: none compiled in  3. uniforms  4. dispatch: one invocation per element of W
  const n = rows * cols;
  gpu.dispatch(gpu.kernel("lora_merge"), { rows, cols, rank, scale }, [w, a, b], workgroups1d(Math.ceil(n / 256)));
}
