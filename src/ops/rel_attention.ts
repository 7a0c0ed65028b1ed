// relAttention: T5 / umT5 self-attention with a relative position bias, no 1/sqrt(D) scaling (see
// shaders/rel_attention.wgsl). q, k, v, out [L, N, D] (the projections' rows [L, N * D]); bias [N, 2L - 1] f32,
// head h's bias at relative position j - i in column j - i + L - 1 (umt5RelativeBias builds it on the host).
import type { Gpu } from "../gpu/device.ts";
import { expectShape, type Tensor } from "../gpu/tensor.ts";
import { expectNoOverlap } from "./checks.ts";

/** Longest sequence (the scores of one query live in workgroup memory) and largest head dim of the kernel. */
export const REL_ATTENTION_MAX_L = 512;
export const REL_ATTENTION_MAX_D = 256;

export function relAttention(gpu: Gpu, q: Tensor, k: Tensor, v: Tensor, bias: Tensor, out: Tensor): void {
  // 1. validate
  if (q.shape.length !== 3) throw new Error(`relAttention: q must be [L, N, D], found [${q.shape}]`);
  const [L, N, D] = q.shape;
  if (L < 1 || L > REL_ATTENTION_MAX_L) throw new Error(`relAttention: ${L} tokens, the kernel takes 1 to ${REL_ATTENTION_MAX_L}`);
  if (D > REL_ATTENTION_MAX_D) throw new Error(`relAttention: head dim ${D} over the kernel's ${REL_ATTENTION_MAX_D}`);
  expectShape("relAttention k", k, [L, N, D], q.dtype);
  expectShape("relAttention v", v, [L, N, D], q.dtype);
  expectShape("relAttention out", out, [L, N, D], q.dtype);
  expectShape("relAttention bias", bias, [N, 2 * L - 1], "f32");
  for (const [name, t] of [["q", q], ["k", k], ["v", v], ["bias", bias]] as const) expectNoOverlap("relAttention", ["out", out], [name, t]);
  if (N > gpu.limits.maxComputeWorkgroupsPerDimension) throw new Error(`relAttention: ${N} heads exceed maxComputeWorkgroupsPerDimension`);
  // 2. pipeline key: dtype only  3. uniforms  4. dispatch: one workgroup per (query, head)
  const kernel = gpu.kernel("rel_attention", { f16: q.dtype === "f16" });
  gpu.dispatch(kernel, { L, N, D }, [q, k, v, bias, out], [L, N]);
}
