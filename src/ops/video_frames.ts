// videoFrames / videoRgba8: the decoder's RGB output, channels-last [T, H, W, 3], to the clamped planar
// video diffusers returns ([3, T, H, W] f32 in [-1, 1]) or to 8-bit RGBA pixels (shaders/video_frames.wgsl).
import type { Gpu } from "../gpu/device.ts";
import { numel } from "../shape.ts";
import { expectShape, type Tensor } from "../gpu/tensor.ts";
import { workgroups1d } from "./workgroups.ts";

function pixels(op: string, x: Tensor): number {
  if (x.shape.length !== 4 || x.shape[3] !== 3) throw new Error(`${op}: x must be [T, H, W, 3], found [${x.shape}]`);
  return numel(x.shape) / 3;
}

/** out f32 [3, T, H, W] = clamp(x [T, H, W, 3], -1, 1), planar. */
export function videoFrames(gpu: Gpu, x: Tensor, out: Tensor): void {
  const P = pixels("videoFrames", x);
  const [T, H, W] = x.shape;
  expectShape("videoFrames out", out, [3, T, H, W], "f32");
  const kernel = gpu.kernel("video_frames", { f16: x.dtype === "f16", rgba8: false });
  gpu.dispatch(kernel, { P }, [x, out], workgroups1d(Math.ceil(P / 256)));
}

/** out: T*H*W packed RGBA8 u32 (r lowest byte), round(clamp(x / 2 + 0.5, 0, 1) * 255), alpha 255. */
export function videoRgba8(gpu: Gpu, x: Tensor, out: GPUBuffer, outOffset = 0): void {
  const P = pixels("videoRgba8", x);
  if (out.size < outOffset + P * 4) throw new Error(`videoRgba8: out holds ${out.size - outOffset} bytes from offset ${outOffset}, ${P} pixels need ${P * 4}`);
  const kernel = gpu.kernel("video_frames", { f16: x.dtype === "f16", rgba8: true });
  gpu.dispatch(kernel, { P }, [x, { buffer: out, offset: outOffset, size: P * 4 }], workgroups1d(Math.ceil(P / 256)));
}
