// patchify: latent x [C, F, H, W] (f32) -> tokens [count, C*4] (run dtype) for the global token range
// [start, start + count) of the (F, H/2, W/2) grid; element c*4 + a*2 + b = x[c, f, 2h+a, 2w+b]
// (see shaders/patchify.wgsl). A leading batch dimension of 1 on x ([1, C, F, H, W]) is accepted.
import type { Gpu } from "../gpu/device.ts";
import { type Grid3 } from "../shape.ts";
import { expectShape, type Tensor } from "../gpu/tensor.ts";
import { expectNoOverlap } from "./checks.ts";
import { workgroups1d } from "./workgroups.ts";

/** Channels C and grid F x H x W of a latent tensor [C, F, H, W] ([1, C, F, H, W] allowed), checking H and W are even. */
export function latentShape(what: string, t: Tensor): { C: number; latentGrid: Grid3 } {
  const s = t.shape.length === 5 && t.shape[0] === 1 ? t.shape.slice(1) : t.shape;
  if (s.length !== 4) throw new Error(`${what}: expected a latent [C, F, H, W] (or [1, C, F, H, W]), found shape [${t.shape}]`);
  const [C, F, H, W] = s;
  if (H % 2 !== 0 || W % 2 !== 0) throw new Error(`${what}: latent H and W must be even for 2x2 patches, found H=${H}, W=${W}`);
  return { C, latentGrid: { F, H, W } };
}

/** Throws unless [start, start + count) lies inside the L = F*H/2*W/2 tokens of the latent grid F x H x W. */
export function expectTokenRange(op: string, start: number, count: number, grid: Grid3): void {
  const L = grid.F * (grid.H / 2) * (grid.W / 2);
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > L) {
    throw new Error(`${op}: token range [${start}, ${start + count}) must lie inside the ${L} tokens of the ${grid.F}x${grid.H / 2}x${grid.W / 2} grid`);
  }
}

export function patchify(gpu: Gpu, x: Tensor, start: number, count: number, out: Tensor): void {
  // 1. validate
  if (x.dtype !== "f32") throw new Error(`patchify x: expected dtype f32 (the latent is always f32), found ${x.dtype}`);
  const { C, latentGrid } = latentShape("patchify x", x);
  expectTokenRange("patchify", start, count, latentGrid);
  expectShape("patchify out", out, [count, C * 4]);
  expectNoOverlap("patchify", ["out", out], ["x", x]);
  // 2. pipeline key: output dtype  3. uniforms  4. dispatch: one invocation per output element
  const n = count * C * 4;
  const kernel = gpu.kernel("patchify", { f16: out.dtype === "f16" });
  gpu.dispatch(kernel, { C, ...latentGrid, start, n }, [x, out], workgroups1d(Math.ceil(n / 256)));
}
