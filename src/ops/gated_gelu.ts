// gatedGelu: T5's gated-GELU gate in place, g <- gelu_tanh(g) * u (see shaders/gated_gelu.wgsl).
import type { Gpu } from "../gpu/device.ts";
import { numel } from "../shape.ts";
import { expectShape, type Tensor } from "../gpu/tensor.ts";
import { expectNoOverlap } from "./checks.ts";
import { workgroups1d } from "./workgroups.ts";

export function gatedGelu(gpu: Gpu, g: Tensor, u: Tensor): void {
  // 1. validate
  if (g.shape.length === 0) throw new Error("gatedGelu: g must have at least one dimension, found shape []");
  expectShape("gatedGelu u", u, g.shape, g.dtype);
  expectNoOverlap("gatedGelu", ["g", g], ["u", u]);
  // 2. pipeline key: dtype  3. uniforms  4. dispatch: one invocation per element
  const n = numel(g.shape);
  const kernel = gpu.kernel("gated_gelu", { f16: g.dtype === "f16" });
  gpu.dispatch(kernel, { n }, [g, u], workgroups1d(Math.ceil(n / 256)));
}
