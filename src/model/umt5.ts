// umT5's encoder (transformers' UMT5EncoderModel, Wan's text encoder), the math on the GPU:
//   x = embed(ids)                                   [L, d]  f32 residual stream (gathered on the host)
//   for each layer:
//     n = rms(x) * ln0                                T5 RMS norm: no mean, no bias, eps 1e-6, statistics f32
//     x += Wo · attn(Wq n, Wk n, Wv n, bias_layer)    every layer has its own relative position bias;
//                                                     scores q·k + bias, no 1/sqrt(d_kv), softmax in f32
//     n = rms(x) * ln1
//     x += wo · (gelu_tanh(wi_0 n) * wi_1 n)          gated-GELU feed-forward
//   out = rms(x) * final_ln
// The attention runs over the prompt's seq_len tokens only: WanPipeline masks the padding keys and keeps the
// first seq_len output rows, which is exactly the unpadded computation. The relative position buckets are
// computed once on the host per length; each layer's bias [N, 2L - 1] is gathered from its [buckets, N] table.
// No buffers, pipelines or files here: weights come in as Float32Arrays (src/loaders/umt5.ts reads them).
import type { Gpu } from "../gpu/device.ts";
import { type DType } from "../shape.ts";
import { copyTensor } from "../gpu/tensor_ops.ts";
import { type Tensor } from "../gpu/tensor.ts";
import { type Linear, uploadLinear } from "../ops/gemm_common.ts";
import { gemm } from "../ops/gemm.ts";
import { gemmW16 } from "../ops/gemm_w16.ts";
import { gemmW8, type LinearW8, uploadLinearW8 } from "../ops/gemm_w8.ts";
import { gemmWxMatrix, wxMatrixSupport } from "../ops/gemm_wx_matrix.ts";
import type { MatrixTile } from "../ops/gemm_matrix.ts";
import { gatedGelu } from "../ops/gated_gelu.ts";
import { relAttention } from "../ops/rel_attention.ts";
import { rmsNorm } from "../ops/rms_norm.ts";

export interface Umt5Config {
  dModel: number;
  /** Per-head dim (d_kv); inner dim = heads * dKv (need not equal dModel). */
  dKv: number;
  heads: number;
  dFf: number;
  layers: number;
  vocabSize: number;
  numBuckets: number;
  maxDistance: number;
  eps: number;
}

/** Wan2.1's text encoder (google/umt5-xxl's encoder). */
export const UMT5_XXL: Umt5Config = { dModel: 4096, dKv: 64, heads: 64, dFf: 10240, layers: 24, vocabSize: 256384, numBuckets: 32, maxDistance: 128, eps: 1e-6 };

/**
 * transformers' _relative_position_bucket, bidirectional: relative position r = key - query -> bucket.
 * Half the buckets per direction; |r| below half of those is its own bucket, longer ones log-spaced up to
 * maxDistance. transformers computes the log part in float32 (relative_position.float()), whatever the
 * model's dtype, so it is emulated here with Math.fround at each step (boundaries such as |r| = 16 land
 * where torch's do; test/text/encoder.test.ts checks every r in [-511, 511] against transformers).
 */
export function relativePositionBucket(r: number, numBuckets: number, maxDistance: number): number {
  const f = Math.fround;
  const half = Math.floor(numBuckets / 2);
  const base = r > 0 ? half : 0;
  const n = Math.abs(r);
  const maxExact = Math.floor(half / 2);
  if (n < maxExact) return base + n;
  const ratio = f(f(Math.log(f(n / maxExact))) / f(Math.log(maxDistance / maxExact)));
  const large = maxExact + Math.trunc(f(ratio * (half - maxExact)));
  return base + Math.min(large, half - 1);
}

/** Buckets of every relative position -(L-1) .. L-1, at index r + L - 1. */
export function bucketTable(L: number, cfg: Umt5Config): Int32Array {
  const t = new Int32Array(2 * L - 1);
  for (let i = 0; i < t.length; i++) t[i] = relativePositionBucket(i - (L - 1), cfg.numBuckets, cfg.maxDistance);
  return t;
}

/** A layer's bias per head and relative position: table [buckets, N] (nn.Embedding) -> [N, 2L - 1]. */
export function layerBias(table: Float32Array, buckets: Int32Array, heads: number): Float32Array {
  const R = buckets.length;
  const out = new Float32Array(heads * R);
  for (let h = 0; h < heads; h++) for (let r = 0; r < R; r++) out[h * R + r] = table[buckets[r] * heads + h];
  return out;
}

/** One layer's weights in nn.Linear layout ([out, in]), as Float32Arrays. */
export interface Umt5LayerWeights {
  /** [d] */
  attnNorm: Float32Array;
  /** [N * dKv, d] each */
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  /** [d, N * dKv] */
  o: Float32Array;
  /** [numBuckets, N] */
  relBias: Float32Array;
  /** [d] */
  ffnNorm: Float32Array;
  /** [dFf, d] each */
  wi0: Float32Array;
  wi1: Float32Array;
  /** [d, dFf] */
  wo: Float32Array;
}

/** A linear layer in the encoder's precision: f32/f16 weights (Linear) or int8 with per-channel scales (w8). */
type EncLinear = Linear | LinearW8;

interface GpuLayer {
  attnNorm: Tensor;
  q: EncLinear;
  k: EncLinear;
  v: EncLinear;
  o: EncLinear;
  relBias: Float32Array;
  ffnNorm: Tensor;
  wi0: EncLinear;
  wi1: EncLinear;
  wo: EncLinear;
}

/**
 * How the encoder stores numbers: "f32" everything; "w16" f16 weights (half the memory) with f32 activations,
 * norms and residual stream (the linears through gemm_w16); "f16" everything (umT5-XXL's residual stream can
 * overflow it: the caller checks the output); "w8" int8 weights with one f32 scale per output channel (a quarter
 * of f32), f32 activations (gemm_w8 dequantizes in the kernel).
 */
export type Umt5Precision = "f32" | "w16" | "w8" | "f16";
export const UMT5_PRECISIONS: readonly Umt5Precision[] = ["f32", "w16", "w8", "f16"];

/**
 * Where the linears of w16 and w8 run: "scalar" (gemm_w16 / gemm_w8: f32 products on the shader cores) or
 * "matrix" (gemm_wx_matrix: the f32 activations split into f16 hi + lo per row, both through the matrix units with
 * f32 accumulation, so the activations keep f32's accuracy); "auto": matrix where the device has subgroup matrices,
 * else scalar (by design: not yet timed on a GPU, bench/RESULTS.md "umT5 text encoder"). f32 and f16 ignore it.
 */
export type Umt5GemmPath = "auto" | "scalar" | "matrix";
export const UMT5_GEMM_PATHS: readonly Umt5GemmPath[] = ["auto", "scalar", "matrix"];

export interface Umt5GemmOptions {
  gemm?: Umt5GemmPath;
  /** The matrix path's operand: 2 (hi + lo, the default) or 1 (hi only: f16 accuracy of the activations; the bench's comparison). */
  parts?: 1 | 2;
  /** The matrix path's tile (default: gemm_wx_matrix.ts WX_TILE_ORDER). */
  tile?: MatrixTile;
}

/** Layers [start, end) of the encoder: one device's part of a layer split. */
export interface LayerRange {
  start: number;
  end: number;
}

/** Contiguous layer ranges over `devices` (sizes differ by at most one, the larger first), each non-empty. */
export function splitLayers(layers: number, devices: number): LayerRange[] {
  if (!Number.isInteger(devices) || devices < 1 || devices > layers) throw new Error(`umT5 layer split: ${devices} devices for ${layers} layers (1 to ${layers})`);
  const out: LayerRange[] = [];
  let start = 0;
  for (let i = 0; i < devices; i++) {
    const n = Math.floor(layers / devices) + (i < layers % devices ? 1 : 0);
    out.push({ start, end: start + n });
    start += n;
  }
  return out;
}

/**
 * The encoder's layers [range.start, range.end) on one GPU (all of them by default). The part that holds the last
 * layer also holds the final norm; the others hand their residual stream on (Umt5LayerSplit).
 */
export class Umt5Encoder {
  private readonly layers: GpuLayer[] = [];
  private finalNorm: Tensor | null = null;
  /** Activations, norms and the residual stream. */
  readonly dtype: DType;
  /** The linears' weights. */
  readonly weightDtype: DType;

  readonly range: LayerRange;
  /** Where w16 / w8 linears run on this device (Umt5GemmPath, "auto" resolved); f32 and f16: "scalar" / gemm's own choice. */
  gemmPath: "scalar" | "matrix" = "scalar";
  gemmOptions: Umt5GemmOptions = {};

  constructor(readonly gpu: Gpu, readonly cfg: Umt5Config, readonly precision: Umt5Precision = "f32", range?: LayerRange, gemm: Umt5GemmOptions = {}) {
    this.range = range ?? { start: 0, end: cfg.layers };
    if (!(this.range.start >= 0 && this.range.start < this.range.end && this.range.end <= cfg.layers)) throw new Error(`umT5 encoder: layers [${this.range.start}, ${this.range.end}) outside [0, ${cfg.layers})`);
    this.dtype = precision === "f16" ? "f16" : "f32";
    // w8 quantizes from f32 values (any finite range); w16 and f16 store f16
    this.weightDtype = precision === "w16" || precision === "f16" ? "f16" : "f32";
    this.useGemm(gemm);
  }

  /** Sets where the linears run (the weights stay as loaded: w16 and w8 weights serve both paths; the bench times both). */
  useGemm(gemm: Umt5GemmOptions): void {
    const want = gemm.gemm ?? "auto", support = wxMatrixSupport(this.gpu);
    if (want === "matrix" && !support.ok) throw new Error(`umT5 encoder: the matrix path (gemm matrix) needs subgroup matrices with f16: ${support.reason}`);
    const wx = this.precision === "w16" || this.precision === "w8";
    this.gemmPath = wx && (want === "matrix" || (want === "auto" && support.ok)) ? "matrix" : "scalar";
    this.gemmOptions = gemm;
  }

  /** y = x W^T, or y += x W^T (residual): the kernel for this precision. */
  private linear(x: Tensor, layer: EncLinear, y: Tensor, residual = false): void {
    if (this.gemmPath === "matrix") {
      const w = this.precision === "w8" ? { kind: "w8" as const, layer: layer as LinearW8 } : { kind: "w16" as const, layer: layer as Linear };
      gemmWxMatrix(this.gpu, x, w, y, { residual, parts: this.gemmOptions.parts, tile: this.gemmOptions.tile });
    } else if (this.precision === "w8") gemmW8(this.gpu, x, layer as LinearW8, y, { residual });
    else if (this.precision === "w16") gemmW16(this.gpu, x, layer as Linear, y, { residual });
    else gemm(this.gpu, x, layer as Linear, y, residual ? { epilogue: "residual" } : {});
  }

  /** Uploads layer `i` (in order from range.start): the loader streams them so the host holds one layer at a time. */
  addLayer(i: number, w: Umt5LayerWeights): void {
    const { gpu, cfg, dtype, weightDtype } = this;
    const want = this.range.start + this.layers.length;
    if (i !== want || i >= this.range.end) throw new Error(`umT5 encoder: layer ${i} given, expected layer ${want} (this part holds [${this.range.start}, ${this.range.end}))`);
    const inner = cfg.heads * cfg.dKv, d = cfg.dModel;
    const lin = (a: Float32Array, n: number, k: number, name: string): EncLinear =>
      this.precision === "w8" ? uploadLinearW8(gpu, a, [n, k], `encoder.block.${i}.${name}`) : uploadLinear(gpu, a, [n, k], null, weightDtype, `encoder.block.${i}.${name}`);
    this.layers.push({
      attnNorm: gpu.upload(w.attnNorm, [d], dtype, `encoder.block.${i}.layer.0.layer_norm`),
      q: lin(w.q, inner, d, "q"),
      k: lin(w.k, inner, d, "k"),
      v: lin(w.v, inner, d, "v"),
      o: lin(w.o, d, inner, "o"),
      relBias: w.relBias,
      ffnNorm: gpu.upload(w.ffnNorm, [d], dtype, `encoder.block.${i}.layer.1.layer_norm`),
      wi0: lin(w.wi0, cfg.dFf, d, "wi_0"),
      wi1: lin(w.wi1, cfg.dFf, d, "wi_1"),
      wo: lin(w.wo, d, cfg.dFf, "wo"),
    });
  }

  setFinalNorm(w: Float32Array): void {
    this.finalNorm = this.gpu.upload(w, [this.cfg.dModel], this.dtype, "encoder.final_layer_norm");
  }

  /** Whether this part holds the last layer (and so the final norm). */
  get last(): boolean {
    return this.range.end === this.cfg.layers;
  }

  get complete(): boolean {
    return this.layers.length === this.range.end - this.range.start && (!this.last || this.finalNorm !== null);
  }

  /**
   * Embedding rows x [L, d] (L = seq_len <= 512) -> the encoder's last hidden state [L, d]; for a part without the
   * last layer, the residual stream after its layers (the next part's input).
   */
  async encode(x: Float32Array): Promise<Float32Array> {
    const { gpu, cfg, dtype } = this;
    if (!this.complete) throw new Error(`umT5 encoder: ${this.layers.length} of ${this.range.end - this.range.start} layers loaded${this.last && !this.finalNorm ? ", no final norm" : ""}`);
    const d = cfg.dModel, N = cfg.heads, inner = N * cfg.dKv;
    if (x.length % d !== 0 || x.length === 0) throw new Error(`umT5 encoder: input has ${x.length} values, not a positive multiple of d_model ${d}`);
    const L = x.length / d;
    const mark = gpu.liveMark();
    try {
      const h = gpu.upload(x, [L, d], dtype, "umt5 residual");
      const n = gpu.empty([L, d], dtype, "umt5 normed");
      const [q, k, v, a] = ["q", "k", "v", "attn"].map((s) => gpu.empty([L, inner], dtype, `umt5 ${s}`));
      const g = gpu.empty([L, cfg.dFf], dtype, "umt5 ffn gate"), u = gpu.empty([L, cfg.dFf], dtype, "umt5 ffn up");
      const heads = (t: Tensor): Tensor => ({ ...t, shape: [L, N, cfg.dKv] });
      const buckets = bucketTable(L, cfg);
      for (const layer of this.layers) {
        copyTensor(gpu, h, n);
        rmsNorm(gpu, n, layer.attnNorm, cfg.eps);
        this.linear(n, layer.q, q);
        this.linear(n, layer.k, k);
        this.linear(n, layer.v, v);
        const bias = gpu.upload(layerBias(layer.relBias, buckets, N), [N, 2 * L - 1], "f32", "umt5 position bias");
        relAttention(gpu, heads(q), heads(k), heads(v), bias, heads(a));
        this.linear(a, layer.o, h, true);
        copyTensor(gpu, h, n);
        rmsNorm(gpu, n, layer.ffnNorm, cfg.eps);
        this.linear(n, layer.wi0, g);
        this.linear(n, layer.wi1, u);
        gatedGelu(gpu, g, u);
        this.linear(g, layer.wo, h, true);
        gpu.freeTensor(bias);
      }
      if (this.last) rmsNorm(gpu, h, this.finalNorm!, cfg.eps);
      return await gpu.read(h);
    } finally {
      gpu.releaseSince(mark);
    }
  }

  /**
   * Gives every weight back to the device (destroyed, not pooled: nothing reuses buffers of these sizes, and the
   * DiT that loads next needs the memory; test/text/pipeline.test.ts checks that nothing of them stays held).
   */
  free(): void {
    const gone = (t: Tensor) => this.gpu.destroyTensor(t);
    for (const l of this.layers) {
      for (const lin of [l.q, l.k, l.v, l.o, l.wi0, l.wi1, l.wo]) {
        if (this.precision === "w8") for (const c of (lin as LinearW8).chunks) [c.q, c.scale].forEach(gone);
        else {
          (lin as Linear).chunks.forEach(gone);
          (lin as Linear).packed?.forEach((p) => gone(p.w)); // the 16 x 16 packed copy ($SHARDIT_GEMM=packed:T or a "k" tile)
          (lin as Linear).packed = undefined;
        }
        lin.chunks = [];
      }
      gone(l.attnNorm);
      gone(l.ffnNorm);
    }
    this.layers.length = 0;
    if (this.finalNorm) gone(this.finalNorm);
    this.finalNorm = null;
  }
}

/**
 * The encoder's layers split over devices (memory where one device is short): part i holds splitLayers' range i,
 * and the residual stream [L, d] f32 goes from part to part through the host. Each part runs the same kernels on
 * the same values as one device would, so the output is bitwise the one-device output.
 */
export class Umt5LayerSplit {
  constructor(readonly parts: Umt5Encoder[]) {
    parts.forEach((p, i) => {
      const want = i === 0 ? 0 : parts[i - 1].range.end;
      if (p.range.start !== want) throw new Error(`umT5 layer split: part ${i} starts at layer ${p.range.start}, expected ${want}`);
    });
    if (!parts.length || !parts[parts.length - 1].last) throw new Error("umT5 layer split: the parts do not reach the last layer");
  }

  async encode(x: Float32Array): Promise<Float32Array> {
    for (const p of this.parts) x = await p.encode(x);
    return x;
  }

  free(): void {
    for (const p of this.parts) p.free();
  }
}
