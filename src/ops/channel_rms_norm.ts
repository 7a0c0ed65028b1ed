// channelRmsNorm: the Wan VAE's RMS norm over the channels of each pixel (F.normalize * sqrt(C) * gamma),
// optionally fused with SiLU, out of place (the residual block still needs its input). See
// shaders/channel_rms_norm.wgsl.
import type { Gpu } from "../gpu/device.ts";
import { numel } from "../shape.ts";
import { expectShape, type Tensor } from "../gpu/tensor.ts";
import { expectNoOverlap } from "./checks.ts";
import { workgroups1d } from "./workgroups.ts";

/** out = act(x / max(||x||, 1e-12) * sqrt(C) * gamma) over the last dim C of x (any leading shape). */
export function channelRmsNorm(gpu: Gpu, x: Tensor, gamma: Tensor, out: Tensor, silu: boolean): void {
  // 1. validate
  if (x.shape.length < 1) throw new Error(`channelRmsNorm: x must have a channel dimension, found shape []`);
  const C = x.shape[x.shape.length - 1];
  expectShape("channelRmsNorm gamma", gamma, [C], x.dtype);
  expectShape("channelRmsNorm out", out, x.shape, x.dtype);
  expectNoOverlap("channelRmsNorm", ["out", out], ["x", x]);
  const P = numel(x.shape) / C;
  // 2. pipeline key: dtype and the fused SiLU  3. uniforms  4. dispatch: 32 pixels per workgroup
  const kernel = gpu.kernel("channel_rms_norm", { f16: x.dtype === "f16", silu });
  gpu.dispatch(kernel, { P, C, scale: Math.sqrt(C) }, [x, gamma, out], workgroups1d(Math.ceil(P / 32)));
}
