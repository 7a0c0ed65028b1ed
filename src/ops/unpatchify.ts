// unpatchify: y [count, 4*C] (run dtype) for the global tokens [start, start + count) -> their pixels of
// out [C, F, H, W] (f32): out[c, f, 2h+a, 2w+b] = y[g - start, (a*2+b)*C + c]. Other tokens' pixels are
// untouched, so several shards can write one output (see shaders/unpatchify.wgsl).
// `latentGrid` is the latent's F x H x W; out must be [C, F, H, W] of it ([1, C, F, H, W] accepted too).
import type { Gpu } from "../gpu/device.ts";
import { type Grid3 } from "../shape.ts";
import { expectShape, type Tensor } from "../gpu/tensor.ts";
import { expectNoOverlap } from "./checks.ts";
import { workgroups1d } from "./workgroups.ts";
import { expectTokenRange, latentShape } from "./patchify.ts";

export function unpatchify(gpu: Gpu, y: Tensor, start: number, count: number, latentGrid: Grid3, out: Tensor): void {
  // 1. validate
  const { F, H, W } = latentGrid;
  for (const [k, v] of Object.entries(latentGrid)) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`unpatchify grid: ${k} must be a positive integer, found ${v}`);
  }
  if (out.dtype !== "f32") throw new Error(`unpatchify out: expected dtype f32 (the output latent is always f32), found ${out.dtype}`);
  const { C, latentGrid: o } = latentShape("unpatchify out", out);
  if (o.F !== F || o.H !== H || o.W !== W) {
    throw new Error(`unpatchify out: expected shape [${C},${F},${H},${W}] (the grid), found [${out.shape}]`);
  }
  expectTokenRange("unpatchify", start, count, latentGrid);
  expectShape("unpatchify y", y, [count, 4 * C]);
  expectNoOverlap("unpatchify", ["out", out], ["y", y]);
  // 2. pipeline key: input dtype  3. uniforms  4. dispatch: one invocation per element of y
  const n = count * 4 * C;
  const kernel = gpu.kernel("unpatchify", { f16: y.dtype === "f16" });
  gpu.dispatch(kernel, { C, F, H, W, start, n }, [y, out], workgroups1d(Math.ceil(n / 256)));
}
