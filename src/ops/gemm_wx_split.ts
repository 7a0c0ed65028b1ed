// splitF16: f32 activations X [M, K] -> the matrix units' f16 operand XP [M, parts * Kp] and row scales s [M]
// (shaders/gemm_wx_split.wgsl): X[m, k] = s[m] (hi + lo), hi at [m, k], lo at [m, Kp + k]; parts 1 keeps hi only.
// gemm_wx_matrix.ts runs the product on XP; the caller frees the two tensors (after the dispatches that read them).
import type { Gpu } from "../gpu/device.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { workgroups1d } from "./workgroups.ts";

/** K rounded up to the matrix kernels' largest K step (32), so hi and lo each fill whole K steps. */
export function splitStride(K: number): number {
  return Math.ceil(K / 32) * 32;
}

export interface SplitF16 {
  /** [M, parts * Kp] f16 */
  xp: Tensor;
  /** [M] f32, powers of two */
  s: Tensor;
  Kp: number;
  parts: 1 | 2;
}

export function splitF16(gpu: Gpu, x: Tensor, parts: 1 | 2): SplitF16 {
  // 1. validate
  if (x.shape.length !== 2 || x.dtype !== "f32") throw new Error(`splitF16: expected x [M, K] f32, found [${x.shape}] ${x.dtype}`);
  if (parts !== 1 && parts !== 2) throw new Error(`splitF16: parts ${parts}, expected 1 (hi) or 2 (hi and lo)`);
  const [M, K] = x.shape, Kp = splitStride(K);
  const xp = gpu.empty([M, parts * Kp], "f16", "split f16 operand"), s = gpu.empty([M], "f32", "split row scales");
  // 2. pipeline key: nothing but the f16 feature  3. uniforms  4. dispatch: one workgroup per row
  if (M > 0) gpu.dispatch(gpu.kernel("gemm_wx_split", { f16: true }), { M, K, Kp, parts }, [x, xp, s], workgroups1d(M));
  return { xp, s, Kp, parts };
}
