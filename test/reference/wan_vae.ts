// Float64 reference of the whole Wan VAE decode, transcribing diffusers' AutoencoderKLWan._decode and its
// modules (autoencoder_kl_wan.py) literally, in PyTorch's channels-first layout [C, T, H, W]: the feature
// cache is diffusers' list (None / "Rep" / the last CACHE_T frames of each causal conv's input), indexed
// in call order; causal convs pad (2 pt, 0) in time after the cached frames; the upsample3d "Rep" rule;
// attention per frame; F.normalize-based RMS norm. Independent of the GPU decoder's channels-last layout,
// chunk plumbing and cache bookkeeping; tests check it against the diffusers fixtures, then use it for
// shapes the fixtures do not cover.
import type { WanVaeConfig } from "../../src/vae/config.ts";
import type { VaeConv, VaeResBlockWeights, WanVaeWeights } from "../../src/vae/weights.ts";

/** [C, T, H, W] in float64. */
export interface V5 {
  C: number;
  T: number;
  H: number;
  W: number;
  d: Float64Array;
}

const CACHE_T = 2;
type Feat = V5 | "Rep" | null;

function v5(C: number, T: number, H: number, W: number): V5 {
  return { C, T, H, W, d: new Float64Array(C * T * H * W) };
}
const idx = (x: V5, c: number, t: number, h: number, w: number) => ((c * x.T + t) * x.H + h) * x.W + w;

/** x[:, t0:t1] */
function frames(x: V5, t0: number, t1: number): V5 {
  t0 = Math.max(0, t0);
  const o = v5(x.C, t1 - t0, x.H, x.W), hw = x.H * x.W;
  for (let c = 0; c < x.C; c++) o.d.set(x.d.subarray((c * x.T + t0) * hw, (c * x.T + t1) * hw), c * o.T * hw);
  return o;
}

/** torch.cat([a, b], dim=time) */
function catT(a: V5, b: V5): V5 {
  const o = v5(a.C, a.T + b.T, a.H, a.W), hw = a.H * a.W;
  for (let c = 0; c < a.C; c++) {
    o.d.set(a.d.subarray(c * a.T * hw, (c + 1) * a.T * hw), c * o.T * hw);
    o.d.set(b.d.subarray(c * b.T * hw, (c + 1) * b.T * hw), (c * o.T + a.T) * hw);
  }
  return o;
}

function zerosLike(x: V5): V5 {
  return v5(x.C, x.T, x.H, x.W);
}

/** nn.Conv3d with zero padding (pt front only, ph, pw both sides) and no stride; weight [Cout, Cin, kt, kh, kw]. */
function conv3d(x: V5, cv: VaeConv, k: [number, number, number], ptFront: number, ph: number, pw: number): V5 {
  const [kt, kh, kw] = k, Cout = cv.shape[0];
  const T = x.T + ptFront - kt + 1, H = x.H + 2 * ph - kh + 1, W = x.W + 2 * pw - kw + 1;
  const o = v5(Cout, T, H, W);
  for (let n = 0; n < Cout; n++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        for (let w = 0; w < W; w++) {
          let s = cv.bias[n];
          for (let ci = 0; ci < x.C; ci++) {
            for (let a = 0; a < kt; a++) {
              const ts = t + a - ptFront;
              if (ts < 0 || ts >= x.T) continue;
              for (let b = 0; b < kh; b++) {
                const hs = h + b - ph;
                if (hs < 0 || hs >= x.H) continue;
                for (let e = 0; e < kw; e++) {
                  const ws = w + e - pw;
                  if (ws < 0 || ws >= x.W) continue;
                  s += x.d[idx(x, ci, ts, hs, ws)] * cv.weight[(((n * x.C + ci) * kt + a) * kh + b) * kw + e];
                }
              }
            }
          }
          o.d[idx(o, n, t, h, w)] = s;
        }
      }
    }
  }
  return o;
}

/** WanCausalConv3d.forward(x, cache_x): padding (p, p, p, p, 2 pt, 0), cached frames replacing front padding. */
function causalConv(x: V5, cv: VaeConv, cache: V5 | null): V5 {
  const k = cv.shape.slice(2) as [number, number, number];
  const pad = k.map((s) => (s - 1) / 2);
  let front = 2 * pad[0];
  if (cache && front > 0) {
    x = catT(cache, x);
    front -= cache.T;
  }
  return conv3d(x, cv, k, front, pad[1], pad[2]);
}

function rmsNorm(x: V5, gamma: Float32Array): V5 {
  const o = zerosLike(x), n = x.T * x.H * x.W, s = Math.sqrt(x.C);
  for (let p = 0; p < n; p++) {
    let ss = 0;
    for (let c = 0; c < x.C; c++) ss += x.d[c * n + p] ** 2;
    const inv = 1 / Math.max(Math.sqrt(ss), 1e-12);
    for (let c = 0; c < x.C; c++) o.d[c * n + p] = x.d[c * n + p] * inv * s * gamma[c];
  }
  return o;
}

function silu(x: V5): V5 {
  return { ...x, d: x.d.map((v) => v / (1 + Math.exp(-v))) };
}

function add(a: V5, b: V5): V5 {
  return { ...a, d: a.d.map((v, i) => v + b.d[i]) };
}

interface FeatState {
  cache: Feat[];
  i: number;
}

/** The cached-conv pattern repeated across diffusers' modules. */
function cachedConv(x: V5, cv: VaeConv, st: FeatState): V5 {
  const i = st.i;
  let cacheX = frames(x, x.T - CACHE_T, x.T);
  const prev = st.cache[i] ?? null; // clear_cache: [None] * (number of causal convs)
  if (cacheX.T < 2 && prev !== null && prev !== "Rep") cacheX = catT(frames(prev, prev.T - 1, prev.T), cacheX);
  const out = causalConv(x, cv, prev === null || prev === "Rep" ? null : prev);
  st.cache[i] = cacheX;
  st.i++;
  return out;
}

function resBlock(x: V5, r: VaeResBlockWeights, st: FeatState): V5 {
  const h = r.shortcut ? causalConv(x, r.shortcut, null) : x;
  let y = silu(rmsNorm(x, r.norm1));
  y = cachedConv(y, r.conv1, st);
  y = silu(rmsNorm(y, r.norm2));
  y = cachedConv(y, r.conv2, st);
  return add(y, h);
}

function attentionBlock(x: V5, a: WanVaeWeights["mid"]["attention"]): V5 {
  const C = x.C, L = x.H * x.W;
  const out = zerosLike(x);
  for (let t = 0; t < x.T; t++) {
    const f = rmsNorm(frames(x, t, t + 1), a.norm);
    // to_qkv (1x1): [3C, L], then q, k, v = chunk(3) of the channel dim.
    const qkv = new Float64Array(3 * C * L);
    for (let n = 0; n < 3 * C; n++) {
      for (let p = 0; p < L; p++) {
        let s = a.toQkv.bias[n];
        for (let c = 0; c < C; c++) s += a.toQkv.weight[n * C + c] * f.d[c * L + p];
        qkv[n * L + p] = s;
      }
    }
    const att = new Float64Array(C * L), sc = new Float64Array(L);
    for (let p = 0; p < L; p++) {
      let m = -Infinity;
      for (let q = 0; q < L; q++) {
        let s = 0;
        for (let c = 0; c < C; c++) s += qkv[c * L + p] * qkv[(C + c) * L + q];
        sc[q] = s / Math.sqrt(C);
        m = Math.max(m, sc[q]);
      }
      let z = 0;
      for (let q = 0; q < L; q++) z += sc[q] = Math.exp(sc[q] - m);
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let q = 0; q < L; q++) s += sc[q] * qkv[(2 * C + c) * L + q];
        att[c * L + p] = s / z;
      }
    }
    for (let n = 0; n < C; n++) {
      for (let p = 0; p < L; p++) {
        let s = a.proj.bias[n];
        for (let c = 0; c < C; c++) s += a.proj.weight[n * C + c] * att[c * L + p];
        out.d[(n * x.T + t) * L + p] = s + x.d[(n * x.T + t) * L + p];
      }
    }
  }
  return out;
}

/** nn.Upsample(scale 2, nearest-exact) per frame: source index floor((i + 0.5) / 2). */
function upsampleNearestExact(x: V5): V5 {
  const o = v5(x.C, x.T, 2 * x.H, 2 * x.W);
  for (let c = 0; c < x.C; c++) {
    for (let t = 0; t < x.T; t++) {
      for (let h = 0; h < o.H; h++) {
        for (let w = 0; w < o.W; w++) o.d[idx(o, c, t, h, w)] = x.d[idx(x, c, t, Math.min(Math.floor((h + 0.5) / 2), x.H - 1), Math.min(Math.floor((w + 0.5) / 2), x.W - 1))];
      }
    }
  }
  return o;
}

/** WanResample.forward for upsample2d / upsample3d. */
function resample(x: V5, u: NonNullable<WanVaeWeights["upBlocks"][number]["upsampler"]>, st: FeatState): V5 {
  if (u.timeConv) {
    const i = st.i;
    if ((st.cache[i] ?? null) === null) {
      st.cache[i] = "Rep";
      st.i++;
    } else {
      let cacheX = frames(x, x.T - CACHE_T, x.T);
      const prev = st.cache[i]!;
      if (cacheX.T < 2 && prev !== "Rep") cacheX = catT(frames(prev, prev.T - 1, prev.T), cacheX);
      if (cacheX.T < 2 && prev === "Rep") cacheX = catT(zerosLike(cacheX), cacheX);
      const y = prev === "Rep" ? causalConv(x, u.timeConv, null) : causalConv(x, u.timeConv, prev);
      st.cache[i] = cacheX;
      st.i++;
      // reshape(b, 2, c, t, h, w) then stack on dim 3: frame 2t + g = channels [g C, (g + 1) C) at t.
      const C = x.C, hw = x.H * x.W;
      const o = v5(C, 2 * x.T, x.H, x.W);
      for (let g = 0; g < 2; g++) {
        for (let c = 0; c < C; c++) {
          for (let t = 0; t < x.T; t++) o.d.set(y.d.subarray(((g * C + c) * x.T + t) * hw, ((g * C + c) * x.T + t + 1) * hw), (c * o.T + 2 * t + g) * hw);
        }
      }
      x = o;
    }
  }
  // resample: Upsample then Conv2d(dim, dim / 2, 3, padding=1), frame by frame.
  const up = upsampleNearestExact(x);
  const [Cout, Cin, kh, kw] = u.resample.shape;
  return conv3d(up, { ...u.resample, shape: [Cout, Cin, 1, kh, kw] }, [1, kh, kw], 0, 1, 1);
}

export interface VaeRefStages {
  post_quant_conv: V5[];
  "decoder.conv_in": V5[];
  "decoder.mid_block": V5[];
  [upBlock: string]: V5[];
}

/**
 * AutoencoderKLWan._decode(z): z [z_dim, T, h, w] -> decoded [3, 1 + 4 (T - 1), 8h, 8w] before the clamp
 * (clamp it for `.sample`), and each stage's per-chunk outputs.
 */
export function wanVaeDecodeRef(cfg: WanVaeConfig, w: WanVaeWeights, z: Float64Array, T: number, h: number, wd: number): { decoded: V5; stages: Record<string, V5[]> } {
  const stages: Record<string, V5[]> = {};
  const emit = (name: string, x: V5) => (stages[name] ??= []).push(x);
  const x0 = causalConv({ C: cfg.zDim, T, H: h, W: wd, d: z }, w.postQuantConv, null);
  const st: FeatState = { cache: [], i: 0 };
  let out: V5 | null = null;
  for (let i = 0; i < T; i++) {
    st.i = 0;
    let x = frames(x0, i, i + 1);
    emit("post_quant_conv", x);
    x = cachedConv(x, w.convIn, st);
    emit("decoder.conv_in", x);
    x = resBlock(x, w.mid.resnets[0], st);
    x = attentionBlock(x, w.mid.attention);
    x = resBlock(x, w.mid.resnets[1], st);
    emit("decoder.mid_block", x);
    w.upBlocks.forEach((b, j) => {
      for (const r of b.resnets) x = resBlock(x, r, st);
      if (b.upsampler) x = resample(x, b.upsampler, st);
      emit(`decoder.up_blocks.${j}`, x);
    });
    x = silu(rmsNorm(x, w.normOut));
    x = cachedConv(x, w.convOut, st);
    out = out ? catT(out, x) : x;
  }
  return { decoded: out!, stages };
}

/** Per-chunk stage outputs concatenated over time (the fixtures' intermediate layout). */
export function catFrames(xs: V5[]): V5 {
  return xs.reduce((a, b) => catT(a, b));
}
