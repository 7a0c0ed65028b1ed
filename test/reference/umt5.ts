// Float64 twin of src/model/umt5.ts (transformers' UMT5EncoderModel over the unpadded prompt), composed from
// the kernels' references: checked against transformers' float64 goldens, and usable for any config.
import { rmsNormRef } from "../../src/selftest/reference/rms_norm.ts";
import { relAttentionRef } from "../../src/selftest/reference/rel_attention.ts";
import { gatedGeluRef } from "../../src/selftest/reference/gated_gelu.ts";
import { bucketTable, layerBias, type Umt5Config, type Umt5LayerWeights } from "../../src/model/umt5.ts";

/** y [M, N] = x [M, K] W^T, W [N, K]. */
function linear(x: Float64Array, w: ArrayLike<number>, M: number, K: number, N: number): Float64Array {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      y[m * N + n] = s;
    }
  }
  return y;
}

export function umt5EncoderRef(cfg: Umt5Config, layers: Umt5LayerWeights[], finalNorm: Float32Array, emb: Float32Array): Float64Array {
  const d = cfg.dModel, N = cfg.heads, D = cfg.dKv, inner = N * D, L = emb.length / d;
  const x = Float64Array.from(emb);
  const buckets = bucketTable(L, cfg);
  const add = (y: Float64Array) => y.forEach((v, i) => (x[i] += v));
  for (const w of layers) {
    const n = rmsNormRef(x, Float64Array.from(w.attnNorm), L, d, cfg.eps);
    const q = linear(n, w.q, L, d, inner), k = linear(n, w.k, L, d, inner), v = linear(n, w.v, L, d, inner);
    const a = relAttentionRef(q, k, v, Float64Array.from(layerBias(w.relBias, buckets, N)), L, N, D);
    add(linear(a, w.o, L, inner, d));
    const n2 = rmsNormRef(x, Float64Array.from(w.ffnNorm), L, d, cfg.eps);
    const g = gatedGeluRef(linear(n2, w.wi0, L, d, cfg.dFf), linear(n2, w.wi1, L, d, cfg.dFf));
    add(linear(g, w.wo, L, cfg.dFf, d));
  }
  return rmsNormRef(x, Float64Array.from(finalNorm), L, d, cfg.eps);
}
