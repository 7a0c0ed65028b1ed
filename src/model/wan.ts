// Wan2.1's DiT forward (diffusers WanTransformer3DModel), composed from the kernels in src/ops.
// It reads like DESIGN.md's math; it never touches buffers, pipelines or workers. Parallelism enters
// only through `ShardView` (which token range this device computes) and `KvExchange` (how this
// device obtains every token's self-attention keys and values): a single device is the shard [0, L)
// with an exchange that returns its own keys.
//
// Letters: L tokens (this shard: `count`), d = N * D model width, N heads, D head dim, Lt text tokens,
// C / Cout latent channels, F x H x W the latent, F' x H' x W' = F x H/2 x W/2 the token grid.

import type { Gpu } from "../gpu/device.ts";
import { type DType, dtypeBytes, numel, type Tensor } from "../gpu/tensor.ts";
import { gemm, type Linear } from "../ops/gemm.ts";
import { attention } from "../ops/attention.ts";
import { attentionMerge } from "../ops/attention_merge.ts";
import { rope3d, type RopeGap } from "../ops/rope3d.ts";
import { rmsNorm } from "../ops/rms_norm.ts";
import { layerNormAffine, layerNormModulated } from "../ops/layer_norm.ts";
import { timestepEmbedding } from "../ops/timestep_embedding.ts";
import { geluTanh, silu } from "../ops/activation.ts";
import { addRows } from "../ops/add.ts";
import { patchify } from "../ops/patchify.ts";
import { unpatchify } from "../ops/unpatchify.ts";
import type { WanConfig } from "./config.ts";
import type { WanGpuWeights } from "./weights_gpu.ts";

export interface TokenGrid {
  F: number;
  H: number;
  W: number;
}

/** The token range one device computes, in the computed index space (frame mode pads whole frames). */
export interface ShardView {
  /** First computed token of this shard and how many it computes (pad tokens included). */
  start: number;
  count: number;
  /** Real tokens L; computed tokens at index >= L are padding (masked as keys, dropped from output). */
  tokens: number;
  /** Computed tokens of the whole run (L, or F_pad * H' * W' in frame mode). */
  computedTokens: number;
  /** The computed token grid (F_pad x H' x W' in frame mode): RoPE positions of pad tokens. */
  grid: TokenGrid;
}

/** How many of a shard's computed tokens are real (not frame-mode padding, which sits past L). */
export function realTokens(shard: ShardView): number {
  return Math.max(0, Math.min(shard.start + shard.count, shard.tokens) - shard.start);
}

/**
 * Gives each device, per layer, what every token's self-attention key and value are computed from: the
 * rows n [computedTokens, d] of the modulated LayerNorm (k = RMS(n Wk + bk) with RoPE, v = n Wv + bv).
 * Exchanging n rather than k and v halves the bytes each device moves; every device then projects the
 * other devices' rows itself (two GEMMs over them, a few percent of a layer).
 */
export interface KvExchange {
  /** n of every computed token [computedTokens, d], this device's rows included. */
  allGather(layer: number, n: Tensor): Promise<Tensor>;
  /** Releases what allGather or gatherOthers returned (no-op when it returned the input). */
  release(t: Tensor): void;
  /**
   * The overlapped flavour (optional; the model uses it when present): shares this device's rows, calls
   * `local()` to record the GPU work over its own keys, which runs while the rows travel, and returns only
   * the other devices' rows [computedTokens - count, d]: the range before this shard, then the range after
   * it (padding tokens, at the tail of the computed space, stay at the tail, so the first `tokens - real`
   * rows are real tokens).
   */
  gatherOthers?(layer: number, n: Tensor, local: () => void): Promise<Tensor>;
}

/** One device's own rows are all the rows. */
export const localExchange: KvExchange = {
  allGather: (_layer, n) => Promise.resolve(n),
  release: () => {},
};

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
    gpu.copy(temb.buffer, temb.offset, act.buffer, act.offset, this.d * dtypeBytes(this.dtype));
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
    exchange: KvExchange,
    afterBlock?: (i: number, h: Tensor) => Promise<void>,
  ): Promise<Tensor> {
    const { gpu, w, cfg, d } = this;
    const { start, count } = shard;
    const real = realTokens(shard);

    // 1. Patch embedding: h = patches [count, C*4] W^T + b (pad rows are zero patches, as SGLang pads).
    const patches = gpu.empty([count, cfg.inChannels * 4], this.dtype, "patches");
    if (real < count) gpu.write(patches, new Float32Array(count * cfg.inChannels * 4));
    if (real > 0) patchify(gpu, latent, start, real, { ...patches, shape: [real, cfg.inChannels * 4] });
    const h = this.linear(patches, w.patch, count);
    this.free(patches);

    for (let i = 0; i < w.blocks.length; i++) {
      await this.block(i, h, time, text, shard, exchange);
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
  unpatchifyInto(y: Tensor, shard: ShardView, latentDims: { F: number; H: number; W: number }, out: Tensor): void {
    const real = realTokens(shard);
    if (real === 0) return;
    const rows = { ...y, shape: [real, y.shape[1]] };
    unpatchify(this.gpu, rows, shard.start, real, { F: latentDims.F, H: latentDims.H, W: latentDims.W, C: this.cfg.outChannels }, out);
  }

  private async block(i: number, h: Tensor, time: TimeState, text: TextState, shard: ShardView, exchange: KvExchange): Promise<void> {
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
    await this.selfAttention(i, this.heads(q), n, this.heads(o), shard, exchange);
    gemm(gpu, o, b.attn1.o, h, { epilogue: "residual_gate", gate: { tensor: mod, offset: 2 * d } }); // h += (o Wo + bo) * gate
    this.free(q);

    // b. Cross-attention to the text: n = norm2(h); q = RMS(n Wq + b); h += attention(q, K_text, V_text) Wo + bo.
    if (b.norm2) layerNormAffine(gpu, h, b.norm2.weight, b.norm2.bias, n, cfg.eps);
    else gpu.copy(h.buffer, h.offset, n.buffer, n.offset, numel(h.shape) * dtypeBytes(this.dtype));
    const qc = this.linear(n, b.attn2.q, L);
    rmsNorm(gpu, qc, b.attn2.normQ, cfg.eps);
    attention(gpu, this.heads(qc), text.keys[i], text.values[i], this.heads(o));
    gemm(gpu, o, b.attn2.o, h, { epilogue: "residual" });
    this.free(qc, o);

    // c. Feed-forward: n = LN(h)(1 + c_scale) + c_shift; h += (W2 GELU_tanh(W1 n + b1) + b2) * c_gate,
    //    in row chunks so the [rows, ffn] hidden activation fits one storage binding.
    layerNormModulated(gpu, h, mod, 3, 4, n, cfg.eps);
    const rowsPerChunk = this.ffnChunkRows(L);
    const bytes = dtypeBytes(this.dtype);
    for (let r0 = 0; r0 < L; r0 += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, L - r0);
      const nRows: Tensor = { ...n, offset: n.offset + r0 * d * bytes, shape: [rows, d] };
      const hRows: Tensor = { ...h, offset: h.offset + r0 * d * bytes, shape: [rows, d] };
      const hidden = this.linear(nRows, b.ffn1, rows, { epilogue: "gelu_tanh" });
      gemm(gpu, hidden, b.ffn2, hRows, { epilogue: "residual_gate", gate: { tensor: mod, offset: 5 * d } });
      this.free(hidden);
    }
    this.free(n, mod);
  }

  /**
   * Keys k = RMS(x Wk + bk) with RoPE and values v = x Wv + bv, [rows, N, D], from rows x [rows, d] of the
   * modulated LayerNorm; row r is grid token start + r (+ gap.tokens from row gap.at on).
   */
  private keysValues(i: number, x: Tensor, grid: TokenGrid, start: number, gap?: RopeGap): { k: Tensor; v: Tensor } {
    const b = this.w.blocks[i].attn1;
    const rows = x.shape[0];
    const k = this.linear(x, b.k, rows);
    rmsNorm(this.gpu, k, b.normK, this.cfg.eps);
    rope3d(this.gpu, this.heads(k), grid, start, gap);
    return { k: this.heads(k), v: this.heads(this.linear(x, b.v, rows)) };
  }

  /**
   * o = softmax(q K^T / sqrt(D)) V over every real token's keys, K and V from every token's rows n. Either
   * all keys at once (allGather), or, when the exchange has the overlapped flavour, exactly in two parts
   * merged through their log-sum-exp: own keys (computed while the rows are exchanged), then the others'.
   */
  private async selfAttention(i: number, q: Tensor, n: Tensor, o: Tensor, shard: ShardView, exchange: KvExchange): Promise<void> {
    const gpu = this.gpu;
    if (!exchange.gatherOthers) {
      const all = await exchange.allGather(i, n); // [computedTokens, d]
      const kv = this.keysValues(i, all, shard.grid, 0);
      attention(gpu, q, kv.k, kv.v, o, { validKeys: shard.tokens });
      exchange.release(all);
      this.free(kv.k, kv.v);
      return;
    }
    const real = realTokens(shard);
    const [L, N, D] = q.shape;
    const own = { o: gpu.empty([L, N, D], this.dtype, "attention out (own keys)"), lse: gpu.empty([L, N], "f32", "attention lse (own keys)") };
    let ownKv: { k: Tensor; v: Tensor } | null = null;
    const others = await exchange.gatherOthers(i, n, () => {
      ownKv = this.keysValues(i, n, shard.grid, shard.start);
      attention(gpu, q, ownKv.k, ownKv.v, own.o, { validKeys: real, lse: own.lse });
    });
    // The others' rows: tokens [0, start), then [start + count, computedTokens).
    const kv = this.keysValues(i, others, shard.grid, 0, { at: shard.start, tokens: shard.count });
    exchange.release(others);
    const rest = { o: gpu.empty([L, N, D], this.dtype, "attention out (other keys)"), lse: gpu.empty([L, N], "f32", "attention lse (other keys)") };
    attention(gpu, q, kv.k, kv.v, rest.o, { validKeys: shard.tokens - real, lse: rest.lse });
    attentionMerge(gpu, own.o, own.lse, rest.o, rest.lse, o);
    this.free(own.o, own.lse, rest.o, rest.lse, kv.k, kv.v, ownKv!.k, ownKv!.v);
  }

  /** Rows per feed-forward chunk: all of them when [L, ffn] fits a binding, else a multiple of 128 that does. */
  private ffnChunkRows(L: number): number {
    const maxRows = Math.floor(this.gpu.limits.maxStorageBufferBindingSize / (this.cfg.ffnDim * dtypeBytes(this.dtype)));
    if (maxRows >= L) return L;
    const rows = Math.floor(maxRows / 128) * 128;
    if (rows < 128) throw new Error(`${this.gpu.label}: a feed-forward chunk of 128 rows x ${this.cfg.ffnDim} does not fit maxStorageBufferBindingSize ${this.gpu.limits.maxStorageBufferBindingSize}`);
    return rows;
  }
}
