// WanVaeDecoder: the Wan2.1 VAE decoder (diffusers' AutoencoderKLWan.decode) on one Gpu, composed like
// diffusers: z -> post_quant_conv -> the decoder one latent frame at a time with a feature cache of the
// last CACHE_T = 2 input frames of every causal conv -> clamp. It reads like the math; the GPU work is in
// src/ops (vae_conv3d, channel_rms_norm, upsample2x, gemm, attention, video_frames).
//
// Layout: every activation is channels-last [T, rows, W, C] (T = frames of the current chunk, rows = the
// band's rows at this stage). A band's rows of a frame are contiguous, a halo is whole rows, a frame is
// contiguous for the feature cache, and a conv is an implicit GEMM with K = taps * Cin.
//
// Chunks (diffusers' _decode): latent frame 0 alone decodes to 1 video frame (the time upsamplers leave the
// first chunk single: their "Rep" state), every later latent frame to 2^(time upsamplers) = 4 frames.
// Feature cache: a causal 3x3x3 conv sees [cache frames ++ chunk frames] with the cache = the last 2 of
// its previous inputs (zeros before there are any: the causal padding), so memory stays one chunk's
// activations plus 2 frames per conv. The time upsampler's (3,1,1) conv starts its cache at chunk 1 (its
// "Rep" state at chunk 0 skips it; zero cache frames then equal diffusers' zero padding and zeros_like).
//
// Sharding: with opts.band the decoder owns latent rows [y0, y1) (x2 at every spatial upsampler) and
// asks opts.halo for one neighbour row above and below before each 3x3 spatial conv (the cache then holds
// the haloed frames, so cached frames carry their halo too) and for the whole frame before the mid
// block's attention (keys and values of every pixel; queries of its own rows). Without a band there is no
// exchange: conv zero padding is the frame's edge.
import type { Gpu } from "../gpu/device.ts";
import { type DType, type Grid3, numel } from "../shape.ts";
import { type Tensor } from "../gpu/tensor.ts";
import { copyFrames } from "../gpu/tensor_ops.ts";
import { type Linear, freeLinear, uploadLinear } from "../ops/gemm_common.ts";
import { gemm } from "../ops/gemm.ts";
import { attention, attentionOverride, attentionPlan, attentionWith, pickAttentionConfig, type AttentionConfig } from "../ops/attention.ts";
import { matrixAttentionFits, type MatrixAttentionConfig, wideAttentionConfig, wideAttentionUnsupported } from "../ops/attention_matrix.ts";
import { channelRmsNorm } from "../ops/channel_rms_norm.ts";
import { type ConvLayer, freeConv, uploadConv, vaeConv3d } from "../ops/vae_conv3d.ts";
import { upsample2x } from "../ops/upsample2x.ts";
import { videoFrames } from "../ops/video_frames.ts";
import { vaeDecoderPlan, vaeSpatialScale, vaeVideoFrames, type WanVaeConfig } from "./config.ts";
import type { VaeConv, VaeResBlockWeights, WanVaeWeights } from "./weights.ts";
import { assertFinite, overflowHint } from "../gpu/finite.ts";
import { type BandExchange, checkBand, type RowBand } from "./band.ts";

export type { BandExchange, RowBand } from "./band.ts";
export { latentsToZ } from "./config.ts";

/**
 * Whether f16 decodes run the mid block's attention on the matrix units (attention_flash_wide.wgsl). Off until its
 * Float64 tests have passed on a GPU (attention_matrix.test.ts "wide"); a switch to rule the kernel out at once.
 */
export const VAE_MATRIX_ATTENTION = false;

/**
 * The mid block's single-head attention has head dim C (384 in Wan2.1); attention.ts's default tiles stop
 * at D = 256. 128-key tiles (32 invocations per row group) cover D up to 512: 64 queries in 45 KiB of
 * workgroup memory (GPUs: 48 KiB), or 32 queries in 22.5 KiB (software adapters: 32 KiB).
 */
export const VAE_WIDE_ATTENTION: AttentionConfig[] = [{ BQ: 64, BK: 128, DC: 16, TM: 8 }, { BQ: 32, BK: 128, DC: 8, TM: 8 }];

/**
 * The mid block's attention kernel for head dim D: in f16 on a device with subgroup matrices, the wide matrix
 * kernel (attention_flash_wide.wgsl, D = 256 or 384) where VAE_MATRIX_ATTENTION is on ($SHARDIT_ATTENTION=wide
 * turns it on, =scalar off, without a rebuild: src/ops/attention.ts); else attention.ts's
 * default tile for D, else the first wide tile that fits the adapter (null: the default).
 */
export function vaeAttentionConfig(gpu: Gpu, D: number, f16: boolean, override = attentionOverride().kind): AttentionConfig | MatrixAttentionConfig | null {
  const wide = override === "wide" || (VAE_MATRIX_ATTENTION && override !== "scalar");
  if (wide && f16 && wideAttentionUnsupported(gpu, D, "f16") === null && matrixAttentionFits(gpu, wideAttentionConfig(D))) {
    return wideAttentionConfig(D);
  }
  try {
    pickAttentionConfig(gpu, D, f16);
    return null;
  } catch {
    const fits = VAE_WIDE_ATTENTION.find((c) => {
      const plan = attentionPlan(c, D, f16);
      return plan.workgroupBytes <= gpu.limits.maxComputeWorkgroupStorageSize && plan.threads <= gpu.limits.maxComputeInvocationsPerWorkgroup;
    });
    if (!fits) throw new Error(`${gpu.label}: no attention tile fits the VAE's head dim ${D} in ${gpu.limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory`);
    return fits;
  }
}

/** Frames of the causal convs' feature cache (diffusers' CACHE_T). */
export const CACHE_T = 2;

export interface DecodeOptions {
  /** Decode only these latent rows (the result then holds rows [8 y0, 8 y1)); needs `halo`. */
  band?: RowBand;
  halo?: BandExchange;
  /** Called after each latent frame's chunk with its index and wall milliseconds (GPU work included). */
  onChunk?(t: number, ms: number): void;
  signal?: AbortSignal;
  /**
   * Tests: called with each stage's output of each chunk, channels-last [T, rows, W, C], named like
   * diffusers' modules (post_quant_conv, decoder.conv_in, decoder.mid_block, decoder.up_blocks.i). The
   * tensor is released after the (awaited) call returns.
   */
  intermediates?: (name: string, x: Tensor) => void | Promise<void>;
}

interface ResBlock {
  norm1: Tensor;
  conv1: ConvLayer;
  norm2: Tensor;
  conv2: ConvLayer;
  shortcut: Linear | null;
}

interface UpBlock {
  resnets: ResBlock[];
  upsampler: { resample: ConvLayer; timeConv: ConvLayer | null } | null;
}

/** A feature cache: the last `valid` frames of buf [2, rows, W, C] are the conv's previous input frames. */
interface FeatCache {
  buf: Tensor;
  valid: number;
}

/** Per-decode state: the feature caches by conv name, the band and its exchange. */
interface DecodeState {
  caches: Map<string, FeatCache>;
  band: RowBand | null;
  halo: BandExchange | null;
}

export class WanVaeDecoder {
  private readonly postQuant: Linear;
  private readonly convIn: ConvLayer;
  private readonly mid: { res0: ResBlock; res1: ResBlock; norm: Tensor; q: Linear; k: Linear; v: Linear; proj: Linear };
  private readonly upBlocks: UpBlock[];
  private readonly normOut: Tensor;
  private readonly convOut: ConvLayer;
  private readonly attnConfig: AttentionConfig | MatrixAttentionConfig | null;

  constructor(readonly gpu: Gpu, readonly cfg: WanVaeConfig, w: WanVaeWeights, readonly dtype: DType) {
    if (dtype === "f16" && !gpu.features.f16) throw new Error(`${gpu.label}: VAE decode in f16 needs shader-f16, which this adapter lacks; use f32`);
    const conv = (c: VaeConv, name: string) => uploadConv(gpu, c.weight, c.shape, c.bias, dtype, name);
    const linear = (c: VaeConv, name: string) => uploadLinear(gpu, c.weight, [c.shape[0], c.shape[1]], c.bias, dtype, name);
    const vec = (v: Float32Array, name: string) => gpu.upload(v, [v.length], dtype, name);
    const res = (r: VaeResBlockWeights, p: string): ResBlock => ({
      norm1: vec(r.norm1, `${p}.norm1`),
      conv1: conv(r.conv1, `${p}.conv1`),
      norm2: vec(r.norm2, `${p}.norm2`),
      conv2: conv(r.conv2, `${p}.conv2`),
      shortcut: r.shortcut ? linear(r.shortcut, `${p}.conv_shortcut`) : null,
    });
    this.postQuant = linear(w.postQuantConv, "post_quant_conv");
    this.convIn = conv(w.convIn, "decoder.conv_in");
    const a = w.mid.attention, C = a.proj.shape[0];
    // to_qkv [3C, C, 1, 1] stacks q, k, v: three linears so each lands in its own [L, C] tensor.
    const part = (i: number, name: string) =>
      uploadLinear(gpu, a.toQkv.weight.subarray(i * C * C, (i + 1) * C * C), [C, C], a.toQkv.bias.subarray(i * C, (i + 1) * C), dtype, name);
    this.mid = {
      res0: res(w.mid.resnets[0], "decoder.mid_block.resnets.0"),
      res1: res(w.mid.resnets[1], "decoder.mid_block.resnets.1"),
      norm: vec(a.norm, "decoder.mid_block.attentions.0.norm"),
      q: part(0, "decoder.mid_block.attentions.0.to_q"),
      k: part(1, "decoder.mid_block.attentions.0.to_k"),
      v: part(2, "decoder.mid_block.attentions.0.to_v"),
      proj: linear(a.proj, "decoder.mid_block.attentions.0.proj"),
    };
    this.upBlocks = w.upBlocks.map((b, i) => ({
      resnets: b.resnets.map((r, j) => res(r, `decoder.up_blocks.${i}.resnets.${j}`)),
      upsampler: b.upsampler && {
        resample: conv(b.upsampler.resample, `decoder.up_blocks.${i}.upsamplers.0.resample.1`),
        timeConv: b.upsampler.timeConv && conv(b.upsampler.timeConv, `decoder.up_blocks.${i}.upsamplers.0.time_conv`),
      },
    }));
    this.normOut = vec(w.normOut, "decoder.norm_out");
    this.convOut = conv(w.convOut, "decoder.conv_out");
    this.attnConfig = vaeAttentionConfig(gpu, C, dtype === "f16");
  }

  /** Frees every weight on the GPU. */
  dispose(): void {
    const g = this.gpu;
    const res = (r: ResBlock) => {
      g.freeTensor(r.norm1), g.freeTensor(r.norm2), freeConv(g, r.conv1), freeConv(g, r.conv2);
      if (r.shortcut) freeLinear(g, r.shortcut);
    };
    freeLinear(g, this.postQuant), freeConv(g, this.convIn);
    res(this.mid.res0), res(this.mid.res1), g.freeTensor(this.mid.norm);
    for (const l of [this.mid.q, this.mid.k, this.mid.v, this.mid.proj]) freeLinear(g, l);
    for (const b of this.upBlocks) {
      b.resnets.forEach(res);
      if (b.upsampler) {
        freeConv(g, b.upsampler.resample);
        if (b.upsampler.timeConv) freeConv(g, b.upsampler.timeConv);
      }
    }
    g.freeTensor(this.normOut), freeConv(g, this.convOut);
  }

  /**
   * z [z_dim, T, h, w] (already latents * std + mean: latentsToZ) -> the clamped video
   * [3, 1 + 4 (T - 1), 8 h, 8 w] in [-1, 1] (with a band: its rows [8 y0, 8 y1) only).
   */
  async decode(z: Float32Array, latent: Grid3, opts: DecodeOptions = {}): Promise<Float32Array> {
    const { F: T, H: h, W: w } = latent;
    const C = this.cfg.zDim;
    if (![T, h, w].every((d) => Number.isInteger(d) && d > 0)) throw new Error(`VAE decode: latent grid ${T}x${h}x${w} must be positive integers`);
    if (z.length !== C * T * h * w) throw new Error(`VAE decode: z has ${z.length} values, expected [${C}, ${T}, ${h}, ${w}] = ${C * T * h * w}`);
    assertFinite(z, "VAE decode: z", { width: h * w, rowName: "channel-frame" });
    const band = opts.band ?? null;
    if (band) {
      checkBand(band, h);
      if (!opts.halo) throw new Error(`VAE decode: a band [${band.y0}, ${band.y1}) needs a BandExchange (opts.halo)`);
    }
    const s = vaeSpatialScale(this.cfg);
    const rows = band ? band.y1 - band.y0 : h, y0 = band ? band.y0 : 0;
    const frames = vaeVideoFrames(this.cfg, T), H = s * rows, W = s * w;
    const plane = frames * H * W;
    const video = new Float32Array(3 * plane);
    const st: DecodeState = { caches: new Map(), band, halo: band ? opts.halo! : null };
    const gpu = this.gpu;
    const mark = gpu.liveMark();
    try {
      let t0 = 0;
      for (let t = 0; t < T; t++) {
        if (opts.signal?.aborted) throw opts.signal.reason ?? new Error("VAE decode cancelled");
        const start = performance.now();
        // Latent frame t, this band's rows, channels-last [1, rows, w, C].
        const zc = new Float32Array(rows * w * C);
        for (let c = 0; c < C; c++) {
          const src = (c * T + t) * h * w + y0 * w;
          for (let i = 0; i < rows * w; i++) zc[i * C + c] = z[src + i];
        }
        const zt = gpu.upload(zc, [1, rows, w, C], this.dtype, "vae z chunk");
        const rgb = await this.chunk(st, zt, t === 0, opts.intermediates);
        const n = rgb.shape[0];
        const planar = gpu.empty([3, n, H, W], "f32", "vae video chunk");
        videoFrames(gpu, rgb, planar);
        gpu.release(rgb.buffer);
        const got = await gpu.read(planar);
        gpu.release(planar.buffer);
        const hint = overflowHint(this.dtype);
        assertFinite(got, `VAE decode on ${gpu.label}: frames ${t0}..${t0 + n - 1} (latent frame ${t})`, { width: n * H * W, rowName: "colour channel", hint });
        for (let c = 0; c < 3; c++) video.set(got.subarray(c * n * H * W, (c + 1) * n * H * W), c * plane + t0 * H * W);
        t0 += n;
        opts.onChunk?.(t, performance.now() - start);
      }
      if (t0 !== frames) throw new Error(`VAE decode: produced ${t0} frames, expected ${frames}`);
      for (const c of st.caches.values()) gpu.release(c.buf.buffer);
    } catch (e) {
      // A failed or cancelled decode gives back everything taken since it started (on success every
      // activation was released as it was consumed, so concurrent band decodes on one Gpu stay apart).
      gpu.releaseSince(mark);
      throw e;
    }
    return video;
  }

  /** One latent frame through the decoder: [1, rows, w, z_dim] (consumed) -> RGB [frames, 8 rows, 8 w, 3]. */
  private async chunk(st: DecodeState, zt: Tensor, first: boolean, hook: DecodeOptions["intermediates"]): Promise<Tensor> {
    const emit = async (name: string, x: Tensor) => {
      if (hook) await hook(name, x);
    };
    let x = this.linear(zt, this.postQuant);
    await emit("post_quant_conv", x);
    x = await this.causalConv(st, "decoder.conv_in", x, this.convIn);
    await emit("decoder.conv_in", x);
    x = await this.resBlock(st, "decoder.mid_block.resnets.0", x, this.mid.res0);
    x = await this.attentionBlock(st, x);
    x = await this.resBlock(st, "decoder.mid_block.resnets.1", x, this.mid.res1);
    await emit("decoder.mid_block", x);
    for (const [i, b] of this.upBlocks.entries()) {
      for (const [j, r] of b.resnets.entries()) x = await this.resBlock(st, `decoder.up_blocks.${i}.resnets.${j}`, x, r);
      if (b.upsampler) x = await this.upsampler(st, `decoder.up_blocks.${i}.upsamplers.0`, x, b.upsampler, first);
      await emit(`decoder.up_blocks.${i}`, x);
    }
    const a = this.norm(x, this.normOut, true);
    this.gpu.release(x.buffer);
    return await this.causalConv(st, "decoder.conv_out", a, this.convOut);
  }

  // ------------------------------------------------------------------ layers (each consumes its input)

  /** A 1x1(x1) conv over channels: x [..., Cin] -> [..., Cout]. */
  private linear(x: Tensor, l: Linear, keepInput = false): Tensor {
    const lead = x.shape.slice(0, -1), M = numel(lead);
    const out = this.gpu.empty([...lead, l.outFeatures], this.dtype, l.name);
    gemm(this.gpu, { ...x, shape: [M, l.inFeatures] }, l, { ...out, shape: [M, l.outFeatures] });
    if (!keepInput) this.gpu.release(x.buffer);
    return out;
  }

  /** RMS norm over channels (+ SiLU): a new tensor; x is kept. */
  private norm(x: Tensor, gamma: Tensor, silu: boolean): Tensor {
    const out = this.gpu.empty(x.shape, this.dtype, "vae norm");
    channelRmsNorm(this.gpu, x, gamma, out, silu);
    return out;
  }

  /**
   * A causal conv with its feature cache: out = conv([cache ++ x]) (+ residual), then cache = the last
   * CACHE_T frames of [cache ++ x]. 3x3 kernels get their halo rows from the exchange in band mode.
   */
  private async causalConv(st: DecodeState, name: string, x: Tensor, l: ConvLayer, opts: { residual?: Tensor; splitC?: number } = {}): Promise<Tensor> {
    const gpu = this.gpu;
    const haloed = st.halo && l.KH === 3 ? await st.halo.withHalo(name, x, 1) : null;
    if (haloed) gpu.release(x.buffer);
    const xin = haloed ?? x;
    const [T, Hin, W, Cin] = xin.shape;
    const Hout = haloed ? Hin - 2 : Hin;
    const splitC = opts.splitC ?? l.Cout;
    const out = gpu.empty([T * (l.Cout / splitC), Hout, W, splitC], this.dtype, name);
    let cache = st.caches.get(name);
    if (!cache) {
      cache = { buf: gpu.empty([CACHE_T, Hin, W, Cin], this.dtype, `${name} cache`), valid: 0 };
      st.caches.set(name, cache);
    }
    vaeConv3d(gpu, xin, l, out, {
      cache: l.KT > 1 ? cache.buf : undefined,
      zeroFrames: l.KT > 1 ? CACHE_T - cache.valid : 0,
      padTop: haloed ? 0 : (l.KH - 1) / 2,
      residual: opts.residual,
      splitC,
    });
    // New cache: the last CACHE_T frames of [valid cache frames ++ x frames], right-aligned in a new buffer.
    const next = gpu.empty([CACHE_T, Hin, W, Cin], this.dtype, `${name} cache`);
    const seq: { buf: Tensor; frame: number }[] = [];
    for (let f = CACHE_T - cache.valid; f < CACHE_T; f++) seq.push({ buf: cache.buf, frame: f });
    for (let f = 0; f < T; f++) seq.push({ buf: xin, frame: f });
    const keep = seq.slice(-CACHE_T);
    keep.forEach((src, i) => {
      const dst = CACHE_T - keep.length + i;
      copyFrames(gpu, `${name} feature cache`, src.buf, src.frame, next, dst);
    });
    gpu.release(cache.buf.buffer);
    st.caches.set(name, { buf: next, valid: keep.length });
    if (haloed) st.halo!.release(haloed);
    else gpu.release(x.buffer);
    if (opts.residual) gpu.release(opts.residual.buffer);
    return out;
  }

  /** WanResidualBlock: shortcut(x) + conv2(SiLU(norm2(conv1(SiLU(norm1(x)))))). */
  private async resBlock(st: DecodeState, name: string, x: Tensor, r: ResBlock): Promise<Tensor> {
    const h = r.shortcut ? this.linear(x, r.shortcut, true) : x;
    const a = this.norm(x, r.norm1, true);
    if (r.shortcut) this.gpu.release(x.buffer);
    const y = await this.causalConv(st, `${name}.conv1`, a, r.conv1);
    const b = this.norm(y, r.norm2, true);
    this.gpu.release(y.buffer);
    // h is released by causalConv after the residual add (x itself when there is no shortcut).
    return await this.causalConv(st, `${name}.conv2`, b, r.conv2, { residual: h });
  }

  /** WanAttentionBlock: x + proj(softmax(q k^T / sqrt(C)) v), one head over each frame's pixels. */
  private async attentionBlock(st: DecodeState, x: Tensor): Promise<Tensor> {
    const gpu = this.gpu, m = this.mid;
    const [T, rows, W, C] = x.shape;
    if (T !== 1) throw new Error(`mid block attention: expected one frame per chunk, found ${T}`);
    const name = "decoder.mid_block.attentions.0";
    const frame = st.halo ? await st.halo.gatherFrame(name, x) : x;
    const L = numel(frame.shape) / C, Lq = rows * W;
    const nf = this.norm(frame, m.norm, false);
    const k = this.linear(nf, m.k, true), v = this.linear(nf, m.v, true);
    const q = st.halo ? this.linear(this.norm(x, m.norm, false), m.q) : this.linear(nf, m.q, true);
    gpu.release(nf.buffer);
    if (st.halo) st.halo.release(frame);
    const o = gpu.empty([Lq, 1, C], this.dtype, `${name} out`);
    const as3 = (t: Tensor, n: number): Tensor => ({ ...t, shape: [n, 1, C] });
    if (this.attnConfig) attentionWith(gpu, as3(q, Lq), as3(k, L), as3(v, L), o, undefined, this.attnConfig);
    else attention(gpu, as3(q, Lq), as3(k, L), as3(v, L), o);
    for (const t of [q, k, v]) gpu.release(t.buffer);
    // x += proj(o): the residual epilogue adds into x in place.
    gemm(gpu, { ...o, shape: [Lq, C] }, m.proj, { ...x, shape: [Lq, C] }, { epilogue: "residual" });
    gpu.release(o.buffer);
    return x;
  }

  /** WanResample (upsample2d / upsample3d): [time conv, frames x2 unless first chunk] -> space x2 -> 3x3 conv to C/2. */
  private async upsampler(st: DecodeState, name: string, x: Tensor, u: { resample: ConvLayer; timeConv: ConvLayer | null }, first: boolean): Promise<Tensor> {
    const gpu = this.gpu;
    if (u.timeConv && !first) {
      // (3,1,1) conv to 2C channels; channels [g C, (g + 1) C) become frame 2t + g.
      x = await this.causalConv(st, `${name}.time_conv`, x, u.timeConv, { splitC: x.shape[3] });
    }
    const [T, rows, W, C] = x.shape;
    const up = gpu.empty([T, 2 * rows, 2 * W, C], this.dtype, `${name} upsampled`);
    upsample2x(gpu, x, up);
    gpu.release(x.buffer);
    const haloed = st.halo ? await st.halo.withHalo(`${name}.resample.1`, up, 1) : null;
    const xin = haloed ?? up;
    const out = gpu.empty([T, 2 * rows, 2 * W, u.resample.Cout], this.dtype, `${name}.resample.1`);
    vaeConv3d(gpu, xin, u.resample, out, { padTop: haloed ? 0 : 1 });
    gpu.release(up.buffer);
    if (haloed) st.halo!.release(haloed);
    return out;
  }
}

/** The decoder's plan (widths per up block), re-exported for tools and the sharded planner. */
export { vaeDecoderPlan };
