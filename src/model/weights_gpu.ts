// Uploads the plain WanWeights tree (Float32Arrays, checkpoint layout) to one device in the run's
// precision: linear layers become gemm `Linear`s (split across bindings when large), vectors become
// tensors. The tree mirrors WanWeights so the model reads `w.blocks[i].attn1.q`.
import type { Gpu } from "../gpu/device.ts";
import type { DType } from "../shape.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { freeLinear, type Linear, uploadLinear } from "../ops/gemm_common.ts";
import type { AttentionWeights, Linear as LinearF32, WanWeights } from "./weights.ts";
import type { WanConfig } from "./config.ts";

export interface AttentionGpu {
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
  normQ: Tensor;
  normK: Tensor;
}

export interface BlockGpu {
  attn1: AttentionGpu;
  attn2: AttentionGpu;
  norm2: { weight: Tensor; bias: Tensor } | null;
  ffn1: Linear;
  ffn2: Linear;
  /** scale_shift_table [6, d] */
  modulation: Tensor;
}

export interface WanGpuWeights {
  patch: Linear;
  time1: Linear;
  time2: Linear;
  timeProj: Linear;
  text1: Linear;
  text2: Linear;
  blocks: BlockGpu[];
  projOut: Linear;
  /** scale_shift_table [2, d] */
  outModulation: Tensor;
}

export function uploadWanWeights(gpu: Gpu, cfg: WanConfig, w: WanWeights, dtype: DType): WanGpuWeights {
  const d = cfg.dim;
  const linear = (l: LinearF32, inFeatures: number, name: string): Linear =>
    uploadLinear(gpu, l.weight, [l.bias.length, inFeatures], l.bias, dtype, name);
  const vec = (v: Float32Array, shape: number[], name: string) => gpu.upload(v, shape, dtype, name);
  const attention = (a: AttentionWeights, name: string): AttentionGpu => ({
    q: linear(a.q, d, `${name}.to_q`),
    k: linear(a.k, d, `${name}.to_k`),
    v: linear(a.v, d, `${name}.to_v`),
    o: linear(a.o, d, `${name}.to_out.0`),
    normQ: vec(a.normQ, [d], `${name}.norm_q.weight`),
    normK: vec(a.normK, [d], `${name}.norm_k.weight`),
  });
  return {
    patch: linear(w.patchEmbedding, cfg.inChannels * 4, "patch_embedding"),
    time1: linear(w.timeEmbedder.linear1, cfg.freqDim, "condition_embedder.time_embedder.linear_1"),
    time2: linear(w.timeEmbedder.linear2, d, "condition_embedder.time_embedder.linear_2"),
    timeProj: linear(w.timeProj, d, "condition_embedder.time_proj"),
    text1: linear(w.textEmbedder.linear1, cfg.textDim, "condition_embedder.text_embedder.linear_1"),
    text2: linear(w.textEmbedder.linear2, d, "condition_embedder.text_embedder.linear_2"),
    blocks: w.blocks.map((b, i) => ({
      attn1: attention(b.attn1, `blocks.${i}.attn1`),
      attn2: attention(b.attn2, `blocks.${i}.attn2`),
      norm2: b.norm2 ? { weight: vec(b.norm2.weight, [d], `blocks.${i}.norm2.weight`), bias: vec(b.norm2.bias, [d], `blocks.${i}.norm2.bias`) } : null,
      ffn1: linear(b.ffn.up, d, `blocks.${i}.ffn.net.0.proj`),
      ffn2: linear(b.ffn.down, cfg.ffnDim, `blocks.${i}.ffn.net.2`),
      modulation: vec(b.scaleShiftTable, [6, d], `blocks.${i}.scale_shift_table`),
    })),
    projOut: linear(w.projOut, d, "proj_out"),
    outModulation: vec(w.scaleShiftTable, [2, d], "scale_shift_table"),
  };
}

export function freeWanWeights(gpu: Gpu, w: WanGpuWeights): void {
  const attention = (a: AttentionGpu) => {
    [a.q, a.k, a.v, a.o].forEach((l) => freeLinear(gpu, l));
    gpu.freeTensor(a.normQ);
    gpu.freeTensor(a.normK);
  };
  [w.patch, w.time1, w.time2, w.timeProj, w.text1, w.text2, w.projOut].forEach((l) => freeLinear(gpu, l));
  for (const b of w.blocks) {
    attention(b.attn1);
    attention(b.attn2);
    if (b.norm2) [b.norm2.weight, b.norm2.bias].forEach((t) => gpu.freeTensor(t));
    freeLinear(gpu, b.ffn1);
    freeLinear(gpu, b.ffn2);
    gpu.freeTensor(b.modulation);
  }
  gpu.freeTensor(w.outModulation);
}
