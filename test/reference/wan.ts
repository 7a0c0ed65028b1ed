// Float64 reference of the whole Wan2.1 DiT forward (DESIGN.md (shared/docs, not in this repo) "Wan2.1 DiT forward"), composed from
// the kernels' Float64 references, for configs the golden fixtures do not cover (odd head dims,
// layer counts, token counts, text lengths). Plain loops: keep shapes tiny.
import type { WanWeights } from "../../src/model/weights.ts";
import type { WanConfig } from "../../src/model/config.ts";
import type { ForwardInputs } from "../../src/model/forward.ts";
import { geluTanhRef, siluRef } from "../../src/selftest/reference/activation.ts";
import { attentionRef } from "../../src/selftest/reference/attention.ts";
import { gemmRef } from "../../src/selftest/reference/gemm.ts";
import { layerNormAffineRef, layerNormModulatedRef } from "../../src/selftest/reference/layer_norm.ts";
import { patchifyRef } from "../../src/selftest/reference/patchify.ts";
import { rmsNormRef } from "../../src/selftest/reference/rms_norm.ts";
import { ropeRef } from "../../src/selftest/reference/rope3d.ts";
import { timestepEmbeddingRef } from "../../src/selftest/reference/timestep_embedding.ts";
import { unpatchifyRef } from "../../src/selftest/reference/unpatchify.ts";

const f64 = (a: Float32Array) => Float64Array.from(a);

/**
 * `cache` (step caching, as WanModel.forwardBatch's BlockCache): `reuse` replaces the blocks by h + reuse;
 * `store` receives the blocks' residual h_out - h_in [L, d]. `firstBlock` (the first-block cache): block 0 runs,
 * then gets its residual h1 - h0 and returns the residual of blocks 1.. to reuse (h = h1 + it) or null to run
 * them (`store` then receiving h_out - h1).
 */
export function wanForwardRef(
  cfg: WanConfig,
  w: WanWeights,
  inputs: ForwardInputs,
  cache?: { reuse?: Float64Array; store?: (r: Float64Array) => void; firstBlock?: (r0: Float64Array) => Float64Array | null },
): Float64Array {
  const C = cfg.inChannels, { F, H, W } = inputs.latentGrid;
  const grid = { F, H: H / 2, W: W / 2 };
  const L = grid.F * grid.H * grid.W, d = cfg.dim, N = cfg.heads, D = cfg.headDim, Lt = inputs.textTokens, eps = cfg.eps;
  const linear = (x: Float64Array, rows: number, l: { weight: Float32Array; bias: Float32Array }, K: number) =>
    gemmRef(x, f64(l.weight), f64(l.bias), rows, l.bias.length, K);
  const add = (a: Float64Array, b: Float64Array) => a.map((v, i) => v + b[i]);

  // Conditioning.
  const temb = linear(siluRef(linear(timestepEmbeddingRef(inputs.timestep, cfg.freqDim), 1, w.timeEmbedder.linear1, cfg.freqDim)), 1, w.timeEmbedder.linear2, d);
  const proj = linear(siluRef(temb), 1, w.timeProj, d); // [6, d]
  const ctx = linear(geluTanhRef(linear(f64(inputs.text), Lt, w.textEmbedder.linear1, cfg.textDim)), Lt, w.textEmbedder.linear2, d);

  // Patch embedding.
  let h = linear(patchifyRef(f64(inputs.latent), 0, L, { C, F, H, W }), L, w.patchEmbedding, C * 4);

  let h0 = h;
  let reuse = cache?.reuse;
  let blocks = w.blocks;
  if (cache?.firstBlock) {
    h = block(blocks[0], h);
    reuse = cache.firstBlock(h.map((v, i) => v - h0[i])) ?? undefined;
    h0 = h;
    blocks = blocks.slice(1);
  }
  if (reuse) h = add(h, reuse);
  for (const b of reuse ? [] : blocks) h = block(b, h);
  if (cache?.store && !reuse) cache.store(h.map((v, i) => v - h0[i]));

  // Output.
  const outMod = f64(w.scaleShiftTable).map((v, i) => v + temb[i % d]);
  const y = linear(layerNormModulatedRef(h, outMod, 0, 1, L, d, eps), L, w.projOut, d);
  return unpatchifyRef(y, 0, L, { C: cfg.outChannels, F, H, W }, new Float64Array(cfg.outChannels * F * H * W));

  function block(b: WanWeights["blocks"][number], h: Float64Array): Float64Array {
    const mod = add(f64(b.scaleShiftTable), proj);
    // a. self-attention
    let n = layerNormModulatedRef(h, mod, 0, 1, L, d, eps);
    const q = ropeRef(rmsNormRef(linear(n, L, b.attn1.q, d), f64(b.attn1.normQ), L, d, eps), L, N, D, grid, 0);
    const k = ropeRef(rmsNormRef(linear(n, L, b.attn1.k, d), f64(b.attn1.normK), L, d, eps), L, N, D, grid, 0);
    const v = linear(n, L, b.attn1.v, d);
    let o = attentionRef(q, k, v, L, L, N, D);
    h = gemmRef(o, f64(b.attn1.o.weight), f64(b.attn1.o.bias), L, d, d, "residual_gate", h, mod.subarray(2 * d, 3 * d));
    // b. cross-attention
    n = b.norm2 ? layerNormAffineRef(h, f64(b.norm2.weight), f64(b.norm2.bias), L, d, eps) : h;
    const qc = rmsNormRef(linear(n, L, b.attn2.q, d), f64(b.attn2.normQ), L, d, eps);
    const kc = rmsNormRef(linear(ctx, Lt, b.attn2.k, d), f64(b.attn2.normK), Lt, d, eps);
    const vc = linear(ctx, Lt, b.attn2.v, d);
    o = attentionRef(qc, kc, vc, L, Lt, N, D);
    h = gemmRef(o, f64(b.attn2.o.weight), f64(b.attn2.o.bias), L, d, d, "residual", h);
    // c. feed-forward
    n = layerNormModulatedRef(h, mod, 3, 4, L, d, eps);
    const hidden = gemmRef(n, f64(b.ffn.up.weight), f64(b.ffn.up.bias), L, cfg.ffnDim, d, "gelu_tanh");
    return gemmRef(hidden, f64(b.ffn.down.weight), f64(b.ffn.down.bias), L, d, cfg.ffnDim, "residual_gate", h, mod.subarray(5 * d, 6 * d));
  }
}
