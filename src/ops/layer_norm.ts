// LayerNorm over the last dimension without learned affine, either modulated by two rows of an adaLN
// modulation tensor (Wan's norm1 / norm3 / output norm) or with weight and bias (norm2).
// x [L, d] -> out [L, d], statistics in f32 (see shaders/layer_norm.wgsl).
import type { Gpu } from "../gpu/device.ts";
import { expectShape, type Tensor } from "../gpu/tensor.ts";
import { expect2d, expectIndex, expectNoOverlap } from "./checks.ts";
import { workgroups1d } from "./workgroups.ts";

/** out = LN(x) * (1 + mod[scaleRow, :]) + mod[shiftRow, :]; mod is [R, d] (R = 6 per block, 2 at the output). */
export function layerNormModulated(gpu: Gpu, x: Tensor, mod: Tensor, shiftRow: number, scaleRow: number, out: Tensor, eps = 1e-6): void {
  // 1. validate
  const [rows, cols] = expect2d("layerNormModulated x", x);
  const [modRows] = expect2d("layerNormModulated mod", mod);
  expectShape("layerNormModulated mod", mod, [modRows, cols], x.dtype);
  expectIndex("layerNormModulated shiftRow", shiftRow, modRows);
  expectIndex("layerNormModulated scaleRow", scaleRow, modRows);
  expectShape("layerNormModulated out", out, [rows, cols], x.dtype);
  expectNoOverlap("layerNormModulated", ["out", out], ["x", x]);
  expectNoOverlap("layerNormModulated", ["out", out], ["mod", mod]);
  // 2. pipeline key: dtype, epilogue and the vector width (2 when cols is even) are compiled in
  const kernel = gpu.kernel("layer_norm", { f16: x.dtype === "f16", affine: false, pairs: cols % 2 === 0 });
  // 3. uniforms (rows of mod as element offsets)  4. dispatch: one workgroup per row
  const params = { rows, cols, eps, shift_off: shiftRow * cols, scale_off: scaleRow * cols };
  gpu.dispatch(kernel, params, [x, out, mod], workgroups1d(rows));
}

/** out = LN(x) * weight + bias; weight and bias are [d]. */
export function layerNormAffine(gpu: Gpu, x: Tensor, weight: Tensor, bias: Tensor, out: Tensor, eps = 1e-6): void {
  const [rows, cols] = expect2d("layerNormAffine x", x);
  expectShape("layerNormAffine weight", weight, [cols], x.dtype);
  expectShape("layerNormAffine bias", bias, [cols], x.dtype);
  expectShape("layerNormAffine out", out, [rows, cols], x.dtype);
  expectNoOverlap("layerNormAffine", ["out", out], ["x", x]);
  expectNoOverlap("layerNormAffine", ["out", out], ["weight", weight]);
  expectNoOverlap("layerNormAffine", ["out", out], ["bias", bias]);
  const kernel = gpu.kernel("layer_norm", { f16: x.dtype === "f16", affine: true, pairs: cols % 2 === 0 });
  gpu.dispatch(kernel, { rows, cols, eps, shift_off: 0, scale_off: 0 }, [x, out, weight, bias], workgroups1d(rows));
}
