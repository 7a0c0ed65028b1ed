// attentionMerge: exact merge of two attention results of the same queries over disjoint key sets
// (see shaders/attention_merge.wgsl): out = (O1 w1 + O2 w2) / (w1 + w2), w_i = exp(LSE_i - max).
// o1, o2, out [Lq, N, D]; lse1, lse2 (and the optional merged lseOut) [Lq, N] f32, as attention writes
// them with its `lse` option. A part with no valid key (LSE -1e30) has weight 0.
import type { Gpu } from "../gpu/device.ts";
import { expectShape, tensorBytes, type Tensor } from "../gpu/tensor.ts";
import { expectNoOverlap } from "./checks.ts";
import { workgroups1d } from "./workgroups.ts";

export function attentionMerge(gpu: Gpu, o1: Tensor, lse1: Tensor, o2: Tensor, lse2: Tensor, out: Tensor, lseOut?: Tensor): void {
  // 1. validate
  if (o1.shape.length !== 3) throw new Error(`attentionMerge o1: expected [Lq, N, D], found [${o1.shape}]`);
  const [Lq, N, D] = o1.shape;
  if (D % 4 !== 0) throw new Error(`attentionMerge: head dim ${D} must be a multiple of 4`);
  expectShape("attentionMerge o2", o2, [Lq, N, D], o1.dtype);
  expectShape("attentionMerge out", out, [Lq, N, D], o1.dtype);
  expectShape("attentionMerge lse1", lse1, [Lq, N], "f32");
  expectShape("attentionMerge lse2", lse2, [Lq, N], "f32");
  if (lseOut) expectShape("attentionMerge lseOut", lseOut, [Lq, N], "f32");
  for (const [name, t] of [["o1", o1], ["lse1", lse1], ["o2", o2], ["lse2", lse2]] as const) {
    expectNoOverlap("attentionMerge", ["out", out], [name, t]);
    if (lseOut) expectNoOverlap("attentionMerge", ["lseOut", lseOut], [name, t]);
    gpu.checkBinding(tensorBytes(t), `attentionMerge ${name}`);
  }
  if (lseOut) expectNoOverlap("attentionMerge", ["lseOut", lseOut], ["out", out]);
  // 2. pipeline key: dtype, merged-LSE output  3. uniforms  4. dispatch: one invocation per vec4 of out
  const n4 = (Lq * N * D) / 4;
  const kernel = gpu.kernel("attention_merge", { f16: o1.dtype === "f16", lse_out: lseOut !== undefined });
  const bindings = [o1, lse1, o2, lse2, out];
  gpu.dispatch(kernel, { n4, D4: D / 4, N }, lseOut ? [...bindings, lseOut] : bindings, workgroups1d(Math.ceil(n4 / 256)));
}
