// Wan2.1's DiT forward (diffusers WanTransformer3DModel), composed from the kernels in src/ops.
// It reads like DESIGN.md's math; it never touches buffers, pipelines or workers. Parallelism enters
// only through `ShardView` (which token range this device computes) and the `SelfAttention` provider
// (self_attention.ts: how q meets every token's keys and values): a single device is the shard [0, L)
// with `ownKeysAttention`.
//
// Letters: L tokens (this shard: `count`), d = N * D model width, N heads, D head dim, Lt text tokens,
// C / Cout latent channels, F x H x W the latent, F' x H' x W' = F x H/2 x W/2 the token grid.

import type { Gpu } from "../gpu/device.ts";
import { type DType, type Grid3 } from "../shape.ts";
import { copyTensor, rowsPerBinding, zeroTensor } from "../gpu/tensor_ops.ts";
import { rowsView, type Tensor } from "../gpu/tensor.ts";
import { type Linear } from "../ops/gemm_common.ts";
import { gemm } from "../ops/gemm.ts";
import { attention } from "../ops/attention.ts";
import { rope3d, type RopeGap } from "../ops/rope3d.ts";
import { rmsNorm } from "../ops/rms_norm.ts";
import { layerNormAffine, layerNormModulated } from "../ops/layer_norm.ts";
import { timestepEmbedding } from "../ops/timestep_embedding.ts";
import { silu } from "../ops/activation.ts";
import { addRows } from "../ops/add.ts";
import { patchify } from "../ops/patchify.ts";
import { unpatchify } from "../ops/unpatchify.ts";
import type { WanConfig } from "./config.ts";
import type { WanGpuWeights } from "./weights_gpu.ts";
import type { AttentionLayer, KeysValues, SelfAttention } from "./self_attention.ts";
import { type ShardView, realTokens } from "./shard_view.ts";

/** Per prompt: the text context projected into every block's cross-attention keys and values. */
export interface TextState {
  textTokens: number;
  keys: Tensor[]; // per block [Lt, N, D], after norm_k
  values: Tensor[]; // per block [Lt, N, D]
}

/** Per timestep: temb [1, d] (output modulation) and proj [6, d] (block modulation). */
export interface TimeState {
  temb: Tensor;
  proj: Tensor;
}

export class WanModel {
  readonly d: number;
  constructor(readonly gpu: Gpu, readonly cfg: WanConfig, readonly w: WanGpuWeights, readonly dtype: DType) {
    this.d = cfg.dim;
  }

  private linear(x: Tensor, layer: Linear, rows: number, opts?: Parameters<typeof gemm>[4]): Tensor {
    const y = this.gpu.empty([rows, layer.outFeatures], this.dtype, "activation");
    gemm(this.gpu, x, layer, y, opts);
    return y;
  }

  private heads(t: Tensor): Tensor {
    return { ...t, shape: [t.shape[0], this.cfg.heads, this.cfg.headDim] };
  }

  private free(...ts: Tensor[]): void {
    for (const t of ts) this.gpu.freeTensor(t);
  }

  /** ctx = L2(GELU_tanh(L1(text))); then each block's cross-attention K = RMS(ctx Wk + b), V = ctx Wv + b. */
  encodeText(text: Float32Array, textTokens: number): TextState {
    const { gpu, w, cfg } = this;
    const x = gpu.upload(text, [textTokens, cfg.textDim], this.dtype, "text");
    const hidden = this.linear(x, w.text1, textTokens, { epilogue: "gelu_tanh" });
    const ctx = this.linear(hidden, w.text2, textTokens);
    const keys: Tensor[] = [], values: Tensor[] = [];
    for (const block of w.blocks) {
      const k = this.linear(ctx, block.attn2.k, textTokens);
      rmsNorm(gpu, k, block.attn2.normK, cfg.eps);
      keys.push(this.heads(k));
      values.push(this.heads(this.linear(ctx, block.attn2.v, textTokens)));
    }
    this.free(x, hidden, ctx);
    return { textTokens, keys, values };
  }

  freeText(s: TextState): void {
    this.free(...s.keys, ...s.values);
  }

  /** e = sinusoid(t); temb = L2(SiLU(L1(e))); proj = time_proj(SiLU(temb)) viewed as [6, d]. */
  embedTimestep(t: number): TimeState {
    const { gpu, w, cfg } = this;
    const e = gpu.empty([1, cfg.freqDim], this.dtype, "timestep");
    timestepEmbedding(gpu, t, cfg.freqDim, e);
    const hidden = this.linear(e, w.time1, 1);
    silu(gpu, hidden);
    const temb = this.linear(hidden, w.time2, 1);
    const act = gpu.empty([1, this.d], this.dtype, "SiLU(temb)"); // temb itself is kept for the output
    copyTensor(gpu, temb, act);
    silu(gpu, act);
    const proj = this.linear(act, w.timeProj, 1);
    this.free(e, hidden, act);
    return { temb, proj: { ...proj, shape: [6, this.d] } };
  }

  freeTime(s: TimeState): void {
    this.free(s.temb, s.proj);
  }

  /**
   * The transformer over this shard's tokens. latent [C, F, H, W] f32 (the whole latent: each shard
   * patchifies its own range). Returns y [count, 4 * Cout] (pad rows included; the caller drops them).
   */
  async forwardTokens(
    latent: Tensor,
    time: TimeState,
    text: TextState,
    shard: ShardView,
    selfAttention: SelfAttention,
    afterBlock?: (i: number, h: Tensor) => Promise<void>,
  ): Promise<Tensor> {
    const { gpu, w, cfg, d } = this;
    const { start, count } = shard;
    const real = realTokens(shard);

    // 1. Patch embedding: h = patches [count, C*4] W^T + b (pad rows are zero patches, as SGLang pads).
    const patches = gpu.empty([count, cfg.inChannels * 4], this.dtype, "patches");
    if (real < count) zeroTensor(gpu, patches);
    if (real > 0) patchify(gpu, latent, start, real, rowsView(patches, 0, real));
    const h = this.linear(patches, w.patch, count);
    this.free(patches);

    for (let i = 0; i < w.blocks.length; i++) {
      await this.block(i, h, time, text, shard, selfAttention);
      if (afterBlock) await afterBlock(i, h);
    }

    // Output: (shift, scale) = scale_shift_table [2, d] + temb; y = proj_out(LN(h) * (1 + scale) + shift).
    const mod = gpu.empty([2, d], this.dtype, "out modulation");
    addRows(gpu, w.outModulation, time.temb, mod);
    const n = gpu.empty([count, d], this.dtype, "norm");
    layerNormModulated(gpu, h, mod, 0, 1, n, cfg.eps);
    const y = this.linear(n, w.projOut, count);
    this.free(mod, n, h);
    return y;
  }

  /** Scatters this shard's real tokens of y [count, 4 * Cout] into out [Cout, F, H, W] (f32). */
  unpatchifyInto(y: Tensor, shard: ShardView, latentGrid: Grid3, out: Tensor): void {
    const real = realTokens(shard);
    if (real === 0) return;
    unpatchify(this.gpu, rowsView(y, 0, real), shard.start, real, latentGrid, out);
  }

  private async block(i: number, h: Tensor, time: TimeState, text: TextState, shard: ShardView, selfAttention: SelfAttention): Promise<void> {
    const { gpu, cfg, d } = this;
    const b = this.w.blocks[i];
    const L = shard.count;
    // (shift, scale, gate, c_shift, c_scale, c_gate) = scale_shift_table [6, d] + proj [6, d]
    const mod = gpu.empty([6, d], this.dtype, "modulation");
    addRows(gpu, b.modulation, time.proj, mod);
    const n = gpu.empty([L, d], this.dtype, "norm");

    // a. Self-attention: n = LN(h)(1 + scale) + shift; q, k = RMS(n W + b) with 3D RoPE; v = n Wv + b.
    layerNormModulated(gpu, h, mod, 0, 1, n, cfg.eps);
    const q = this.linear(n, b.attn1.q, L);
    rmsNorm(gpu, q, b.attn1.normQ, cfg.eps);
    rope3d(gpu, this.heads(q), shard.grid, shard.start);
    const o = gpu.empty([L, d], this.dtype, "attention out");
    await selfAttention.attend(this.attentionLayer(i, shard), this.heads(q), n, this.heads(o));
    gemm(gpu, o, b.attn1.o, h, { epilogue: "residual_gate", gate: { tensor: mod, offset: 2 * d } }); // h += (o Wo + bo) * gate
    this.free(q);

    // b. Cross-attention to the text: n = norm2(h); q = RMS(n Wq + b); h += attention(q, K_text, V_text) Wo + bo.
    if (b.norm2) layerNormAffine(gpu, h, b.norm2.weight, b.norm2.bias, n, cfg.eps);
    else copyTensor(gpu, h, n);
    const qc = this.linear(n, b.attn2.q, L);
    rmsNorm(gpu, qc, b.attn2.normQ, cfg.eps);
    attention(gpu, this.heads(qc), text.keys[i], text.values[i], this.heads(o));
    gemm(gpu, o, b.attn2.o, h, { epilogue: "residual" });
    this.free(qc, o);

    // c. Feed-forward: n = LN(h)(1 + c_scale) + c_shift; h += (W2 GELU_tanh(W1 n + b1) + b2) * c_gate,
    //    in row chunks so the [rows, ffn] hidden activation fits one storage binding.
    layerNormModulated(gpu, h, mod, 3, 4, n, cfg.eps);
    const rowsPerChunk = rowsPerBinding(gpu, L, cfg.ffnDim, this.dtype, "a feed-forward chunk");
    for (let r0 = 0; r0 < L; r0 += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, L - r0);
      const nRows = rowsView(n, r0, rows), hRows = rowsView(h, r0, rows);
      const hidden = this.linear(nRows, b.ffn1, rows, { epilogue: "gelu_tanh" });
      gemm(gpu, hidden, b.ffn2, hRows, { epilogue: "residual_gate", gate: { tensor: mod, offset: 5 * d } });
      this.free(hidden);
    }
    this.free(n, mod);
  }

  /** Block i's self-attention as the provider sees it: keys and values from rows, positions from the shard's grid. */
  private attentionLayer(i: number, shard: ShardView): AttentionLayer {
    return {
      index: i,
      gpu: this.gpu,
      dtype: this.dtype,
      shard,
      keysValues: (x, start, gap) => this.keysValues(i, x, shard.grid, start, gap),
    };
  }

  /**
   * Keys k = RMS(x Wk + bk) with RoPE and values v = x Wv + bv, [rows, N, D], from rows x [rows, d] of the
   * modulated LayerNorm; row r is grid token start + r (+ gap.tokens from row gap.at on).
   */
  private keysValues(i: number, x: Tensor, grid: Grid3, start: number, gap?: RopeGap): KeysValues {
    const b = this.w.blocks[i].attn1;
    const rows = x.shape[0];
    const k = this.linear(x, b.k, rows);
    rmsNorm(this.gpu, k, b.normK, this.cfg.eps);
    rope3d(this.gpu, this.heads(k), grid, start, gap);
    return { k: this.heads(k), v: this.heads(this.linear(x, b.v, rows)) };
  }
}
