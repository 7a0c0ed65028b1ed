// In-place activations over a tensor of any shape: SiLU and GELU-tanh (see shaders/activation.wgsl).
import type { Gpu } from "../gpu/device.ts";
import { numel } from "../shape.ts";
import { type Tensor } from "../gpu/tensor.ts";
import { workgroups1d } from "./workgroups.ts";

function activation(gpu: Gpu, op: string, x: Tensor, gelu: boolean): void {
  // 1. validate
  const n = numel(x.shape);
  if (x.shape.length === 0) throw new Error(`${op}: x must have at least one dimension, found shape []`);
  // 2. pipeline key: dtype and function  3. uniforms  4. dispatch: one invocation per element
  const kernel = gpu.kernel("activation", { f16: x.dtype === "f16", gelu });
  gpu.dispatch(kernel, { n }, [x], workgroups1d(Math.ceil(n / 256)));
}

/** x <- x * sigmoid(x), in place. */
export function silu(gpu: Gpu, x: Tensor): void {
  activation(gpu, "silu", x, false);
}

/** x <- 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), in place (PyTorch approximate="tanh"). */
export function geluTanh(gpu: Gpu, x: Tensor): void {
  activation(gpu, "geluTanh", x, true);
}
