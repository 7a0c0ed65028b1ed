// Wan2.1's DiT forward (diffusers WanTransformer3DModel), composed from the kernels in src/ops.
// It reads like DESIGN.md (shared/docs, not in this repo)'s math; it never touches buffers, pipelines or workers. Parallelism enters
// only through `ShardView` (which token range this device computes) and the `SelfAttention` provider
// (self_attention.ts: how q meets every token's keys and values): a single device is the shard [0, L)
// with `ownKeysAttention`.
//
// Letters: L tokens (this shard: `count`), d = N * D model width, N heads, D head dim, Lt text tokens,
// C / Cout latent channels, F x H x W the latent, F' x H' x W' = F x H/2 x W/2 the token grid.

import type { Gpu } from "../gpu/device.ts";
import { type DType, dtypeBytes, type Grid3 } from "../shape.ts";
import { copyTensor, rowsPerBinding, zeroTensor } from "../gpu/tensor_ops.ts";
import { expectShape, rowsView, type Tensor } from "../gpu/tensor.ts";
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

/**
 * Step caching's hook into forwardBatch (the policy lives in src/pipeline/step_cache.ts): `reuse` skips the
 * blocks and adds this residual [B * stride, d] instead; `store` receives this run's residual of the blocks
 * (h after them - h before, [B * stride, d]), which the receiver then owns and frees.
 */
export interface BlockCache {
  reuse?: Tensor;
  store?: (residual: Tensor) => void;
  /**
   * First-block caching (diffusers' FirstBlockCache): block 0 always runs; then `firstBlock` gets its residual
   * r0 = h1 - h0 [B * stride, d] (the callee owns it: keeps or frees it) and resolves to the residual of blocks
   * 1.. of the last computed step to reuse (h = h1 + it), or null to run them, `store` then receiving their
   * residual h_out - h1. `reuse` is not used with it.
   */
  firstBlock?: (residual: Tensor) => Promise<Tensor | null>;
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
    return await this.forwardBatch([latent], time, [text], shard, selfAttention, { afterBlock });
  }

  /**
   * The transformer over this shard's tokens for B items at one timestep (a batch: classifier-free guidance's
   * two branches, several prompts or seeds): latents[b] [C, F, H, W] f32, texts[b] its prompt. The rows of
   * item b are [b * stride, b * stride + count) of every activation (batchStride: the rows between items are
   * padding, kept so that every item's rows start on a 256-byte binding offset), so each weight is read once
   * for all items and the GEMMs get B times the rows; self- and cross-attention run per item. B = 1 is exactly
   * forwardTokens. Returns y [B * stride, 4 * Cout].
   * `opts.cache`: reuse a residual of the blocks instead of running them (step caching), or hand this run's
   * residual to the caller (src/pipeline/step_cache.ts decides which; the model only adds and subtracts).
   */
  async forwardBatch(
    latents: Tensor[],
    time: TimeState,
    texts: TextState[],
    shard: ShardView,
    selfAttention: SelfAttention,
    opts: { afterBlock?: (i: number, h: Tensor) => Promise<void>; cache?: BlockCache } = {},
  ): Promise<Tensor> {
    const { gpu, w, cfg, d } = this;
    const { start, count } = shard;
    const real = realTokens(shard);
    const B = latents.length;
    if (B < 1 || texts.length !== B) throw new Error(`forwardBatch: ${latents.length} latents and ${texts.length} texts, expected one text per latent (at least one)`);
    const stride = this.batchStride(count, B);
    const rows = B * stride;

    // 1. Patch embedding: h = patches [rows, C*4] W^T + b (pad rows are zero patches, as SGLang pads).
    const patches = gpu.empty([rows, cfg.inChannels * 4], this.dtype, "patches");
    if (real < count || rows > B * count) zeroTensor(gpu, patches);
    if (real > 0) for (let b = 0; b < B; b++) patchify(gpu, latents[b], start, real, rowsView(patches, b * stride, real));
    const h = this.linear(patches, w.patch, rows);
    this.free(patches);

    const cache = opts.cache;
    let first = 0; // the first block that the step cache's residual covers
    let reuse = cache?.reuse;
    if (cache?.firstBlock) {
      if (reuse) throw new Error("forwardBatch: cache.reuse and cache.firstBlock together (the first-block cache finds its own residual)");
      if (w.blocks.length < 2) throw new Error(`forwardBatch: first-block caching needs at least 2 blocks, the model has ${w.blocks.length}`);
      const h0 = gpu.empty([rows, d], this.dtype, "block 0's input");
      copyTensor(gpu, h, h0);
      await this.block(0, h, time, texts, shard, selfAttention, stride);
      if (opts.afterBlock) await opts.afterBlock(0, h);
      const r0 = gpu.empty([rows, d], this.dtype, "block 0's residual");
      addRows(gpu, h, h0, r0, -1); // h1 - h0
      this.free(h0);
      first = 1;
      reuse = (await cache.firstBlock(r0)) ?? undefined;
    }
    if (reuse) {
      // A cached step: h + the blocks' residual of the last computed step, instead of the blocks.
      expectShape("forwardBatch cache.reuse", reuse, [rows, d], this.dtype);
      const out = gpu.empty([rows, d], this.dtype, "activation");
      addRows(gpu, h, reuse, out);
      copyTensor(gpu, out, h);
      this.free(out);
    } else {
      let h0: Tensor | null = null;
      if (cache?.store) {
        h0 = gpu.empty([rows, d], this.dtype, "blocks' input");
        copyTensor(gpu, h, h0);
      }
      for (let i = first; i < w.blocks.length; i++) {
        await this.block(i, h, time, texts, shard, selfAttention, stride);
        if (opts.afterBlock) await opts.afterBlock(i, h);
      }
      if (h0 && cache?.store) {
        const residual = gpu.empty([rows, d], this.dtype, "blocks' residual");
        addRows(gpu, h, h0, residual, -1); // h_out - h_in
        this.free(h0);
        cache.store(residual);
      }
    }

    // Output: (shift, scale) = scale_shift_table [2, d] + temb; y = proj_out(LN(h) * (1 + scale) + shift).
    const mod = gpu.empty([2, d], this.dtype, "out modulation");
    addRows(gpu, w.outModulation, time.temb, mod);
    const n = gpu.empty([rows, d], this.dtype, "norm");
    layerNormModulated(gpu, h, mod, 0, 1, n, cfg.eps);
    const y = this.linear(n, w.projOut, rows);
    this.free(mod, n, h);
    return y;
  }

  /**
   * Rows per item in a batch of B over a shard of `count` computed tokens: count itself for one item, else
   * count rounded up so that item b's rows start on a 256-byte offset in every activation the model views
   * per item (patches [C*4], h / q / o [d], y [4 * Cout]).
   */
  batchStride(count: number, B: number): number {
    if (B === 1) return count;
    const bytes = dtypeBytes(this.dtype);
    const widths = [this.cfg.inChannels * 4 * bytes, this.d * bytes, 4 * this.cfg.outChannels * bytes];
    const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
    const align = widths.reduce((acc, wb) => { const r = 256 / gcd(256, wb); return (acc * r) / gcd(acc, r); }, 1);
    return Math.ceil(count / align) * align;
  }

  /** Scatters this shard's real tokens of y [count, 4 * Cout] into out [Cout, F, H, W] (f32). */
  unpatchifyInto(y: Tensor, shard: ShardView, latentGrid: Grid3, out: Tensor): void {
    const real = realTokens(shard);
    if (real === 0) return;
    unpatchify(this.gpu, rowsView(y, 0, real), shard.start, real, latentGrid, out);
  }

  private async block(i: number, h: Tensor, time: TimeState, texts: TextState[], shard: ShardView, selfAttention: SelfAttention, stride: number): Promise<void> {
    const { gpu, cfg, d } = this;
    const b = this.w.blocks[i];
    const B = texts.length;
    const L = shard.count;
    const rows = B * stride; // L when B = 1
    const item = (t: Tensor, k: number) => (B === 1 ? t : rowsView(t, k * stride, L)); // item k's rows
    // (shift, scale, gate, c_shift, c_scale, c_gate) = scale_shift_table [6, d] + proj [6, d]
    const mod = gpu.empty([6, d], this.dtype, "modulation");
    addRows(gpu, b.modulation, time.proj, mod);
    const n = gpu.empty([rows, d], this.dtype, "norm");

    // a. Self-attention: n = LN(h)(1 + scale) + shift; q, k = RMS(n W + b) with 3D RoPE; v = n Wv + b.
    //    Per item: its own keys (the exchange's sequence number counts items: layer i of item k is i * B + k).
    layerNormModulated(gpu, h, mod, 0, 1, n, cfg.eps);
    const q = this.linear(n, b.attn1.q, rows);
    rmsNorm(gpu, q, b.attn1.normQ, cfg.eps);
    const o = gpu.empty([rows, d], this.dtype, "attention out");
    for (let k = 0; k < B; k++) {
      rope3d(gpu, this.heads(item(q, k)), shard.grid, shard.start);
      await selfAttention.attend(this.attentionLayer(i, shard, i * B + k), this.heads(item(q, k)), item(n, k), this.heads(item(o, k)));
    }
    gemm(gpu, o, b.attn1.o, h, { epilogue: "residual_gate", gate: { tensor: mod, offset: 2 * d } }); // h += (o Wo + bo) * gate
    this.free(q);

    // b. Cross-attention to the text: n = norm2(h); q = RMS(n Wq + b); h += attention(q, K_text, V_text) Wo + bo.
    if (b.norm2) layerNormAffine(gpu, h, b.norm2.weight, b.norm2.bias, n, cfg.eps);
    else copyTensor(gpu, h, n);
    const qc = this.linear(n, b.attn2.q, rows);
    rmsNorm(gpu, qc, b.attn2.normQ, cfg.eps);
    for (let k = 0; k < B; k++) attention(gpu, this.heads(item(qc, k)), texts[k].keys[i], texts[k].values[i], this.heads(item(o, k)));
    gemm(gpu, o, b.attn2.o, h, { epilogue: "residual" });
    this.free(qc, o);

    // c. Feed-forward: n = LN(h)(1 + c_scale) + c_shift; h += (W2 GELU_tanh(W1 n + b1) + b2) * c_gate,
    //    in row chunks so the [rows, ffn] hidden activation fits one storage binding.
    layerNormModulated(gpu, h, mod, 3, 4, n, cfg.eps);
    const rowsPerChunk = rowsPerBinding(gpu, rows, cfg.ffnDim, this.dtype, "a feed-forward chunk");
    for (let r0 = 0; r0 < rows; r0 += rowsPerChunk) {
      const chunk = Math.min(rowsPerChunk, rows - r0);
      const nRows = rowsView(n, r0, chunk), hRows = rowsView(h, r0, chunk);
      const hidden = this.linear(nRows, b.ffn1, chunk, { epilogue: "gelu_tanh" });
      gemm(gpu, hidden, b.ffn2, hRows, { epilogue: "residual_gate", gate: { tensor: mod, offset: 5 * d } });
      this.free(hidden);
    }
    this.free(n, mod);
  }

  /** Block i's self-attention as the provider sees it: keys and values from rows, positions from the shard's grid. */
  private attentionLayer(i: number, shard: ShardView, sequence = i): AttentionLayer {
    return {
      index: sequence,
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
