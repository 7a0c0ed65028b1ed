// vae_conv3d: the Wan VAE's convolutions as one implicit GEMM over channels-last activations.
//   out[t, h, w, n] = bias[n] (+ res[t, h, w, n]) + sum_k X[m, k] W[n, k],   m = (t, h, w),
//   X[m, (tap, ci)] = in(t + kt, h + kh - padTop, w + kw - KW/2, ci),  tap = (kt * KH + kh) * KW + kw
// where in(tv, ...) is frame tv of [cache frames (nCache = KT - 1 of them) ++ x frames]: a causal time conv
// reads its first KT - 1 frames from the feature cache, never padding behind; the first zeroFrames of
// those read zero (the causal padding: the cache holds fewer frames before the first chunks). Rows
// outside [0, Hin) and columns outside [0, W) read zero (conv padding; with padTop = 0 and
// Hin = Hout + KH - 1 the rows come from a halo exchange instead). M = T * Hout * W, N = Cout,
// K = KT * KH * KW * Cin. The output may split its channels into G = Cout / splitC frame groups (the time
// upsampler: channels [g splitC, (g + 1) splitC) of frame t go to output frame t G + g).
// Defines: f16; KT KH KW (1 or 3); vec (Cin % 4 == 0: X, cache and W read as vec4, 4 channels of one tap);
// residual; and gemm.wgsl's tile defines (BM BN BK TM TN WGX WGY THREADS tm8 tn8 la2 lb2 ahalf bhalf
// A_SMEM B_SMEM, from gemmDefines).
// Bindings (shapes in elements):
//   0 uniform Params
//   1 x     read       [T, Hin, W, Cin]
//   2 cache read       [KT - 1, Hin, W, Cin]  (frames < zeroFrames never read; x again when nothing is read)
//   3 w     read       [Cout, K]  (PyTorch's [Cout, Cin, KT, KH, KW] reordered to tap-major, channel fastest)
//   4 bias  read       [Cout]
//   5 out   read_write [T * G, Hout, W, splitC]
//   6 res   read       same shape as out (only with ${residual}: the residual block's skip path)
// Scheme: gemm.wgsl's (see there): X and W tiles through registers into transposed, padded, double-buffered
// workgroup tiles; invocation (tx, ty) owns (TM/4) x (TN/4) blocks of 4x4 (mat4x4 accumulators, named
// variables: arrays indexed in loops spill on NVIDIA). The only change is loadX, which gathers X from the
// taps; each invocation's X rows are fixed over K, so their (t, h, w) are decoded once. What is gemm's word
// for word comes from gemm_tile.wgsl, the Params and bias / out / res bindings from vae_conv3d_io.wgsl
// (with vae_conv3d_narrow.wgsl), by `// @include` lines.
// Dispatch: (ceil(Cout / BN), ceil(M / BM) spread over y and z by the host: tile row = y + z * 65535).

// @prelude

#if ${vec}
alias LT = vec4<T>;
#else
alias LT = T;
#endif

// @include vae_conv3d_io:params
@group(0) @binding(1) var<storage, read> x: array<LT>;
@group(0) @binding(2) var<storage, read> cache: array<LT>;
@group(0) @binding(3) var<storage, read> w: array<LT>;
// @include vae_conv3d_io:outputs

const KH: u32 = ${KH}u;
const KW: u32 = ${KW}u;
const BM: u32 = ${BM}u;
const BN: u32 = ${BN}u;
const BK: u32 = ${BK}u;
// @include gemm_tile:smem

// An output pixel decoded once: frame t, input row h - padTop, column w - KW/2 (the tap offsets add on).
struct Pix {
  t: u32,
  h: i32,
  w: i32,
  ok: bool,
}

fn pixel(m: u32) -> Pix {
  let HWo = p.Hout * p.W;
  let hw = m % HWo;
  return Pix(m / HWo, i32(hw / p.W) - i32(p.padTop), i32(hw % p.W) - i32(KW / 2u), m < p.M);
}

// Element offset of channel ci at tap `tap` of pixel q, in x (frame >= nCache) or cache; -1: zero.
// Returns the frame-relative offset in .x and 1 in .y when it is in the cache.
fn tapOffset(q: Pix, tap: u32, ci: u32) -> vec2<i32> {
  let r = q.h + i32((tap / KW) % KH);
  let c = q.w + i32(tap % KW);
  let tv = q.t + tap / (KW * KH);
  if (r < 0 || r >= i32(p.Hin) || c < 0 || c >= i32(p.W) || tv < p.zeroFrames) { return vec2<i32>(-1, 0); }
  let pix = u32(r) * p.W + u32(c);
  if (tv < p.nCache) { return vec2<i32>(i32((tv * p.Hin * p.W + pix) * p.Cin + ci), 1); }
  return vec2<i32>(i32(((tv - p.nCache) * p.Hin * p.W + pix) * p.Cin + ci), 0);
}

#if ${vec}
// Four consecutive K values (4 channels of one tap, Cin % 4 == 0) of pixel q.
fn loadX(q: Pix, kq: u32) -> vec4<f32> {
  let k = kq * 4u;
  if (!q.ok || k >= p.K) { return vec4<f32>(0.0); }
  let o = tapOffset(q, k / p.Cin, k % p.Cin);
  if (o.x < 0) { return vec4<f32>(0.0); }
  if (o.y == 1) { return vec4<f32>(cache[u32(o.x) / 4u]); }
  return vec4<f32>(x[u32(o.x) / 4u]);
}
#else
fn loadX1(q: Pix, k: u32) -> f32 {
  if (k >= p.K) { return 0.0; }
  let o = tapOffset(q, k / p.Cin, k % p.Cin);
  if (o.x < 0) { return 0.0; }
  if (o.y == 1) { return f32(cache[u32(o.x)]); }
  return f32(x[u32(o.x)]);
}

fn loadX(q: Pix, kq: u32) -> vec4<f32> {
  let k = kq * 4u;
  if (!q.ok || k >= p.K) { return vec4<f32>(0.0); }
  return vec4<f32>(loadX1(q, k), loadX1(q, k + 1u), loadX1(q, k + 2u), loadX1(q, k + 3u));
}
#endif

fn loadW(row: u32, kq: u32) -> vec4<f32> {
  let k = kq * 4u;
  if (row >= p.Cout || k >= p.K) { return vec4<f32>(0.0); }
  // @include gemm_tile:loadW
}

fn store(m: u32, n: u32, acc: f32) {
  let HWo = p.Hout * p.W;
  let G = p.Cout / p.splitC;
  let o = ((m / HWo * G + n / p.splitC) * HWo + m % HWo) * p.splitC + n % p.splitC;
  var r = acc + f32(bias[n]);
#if ${residual}
  r += f32(res[o]);
#endif
  out[o] = T(r);
}

// @include gemm_tile:tile_ops

fn storeBlock(m: u32, j: u32, acc: mat4x4<f32>) {
  for (var i = 0u; i < 4u; i++) {
    if (m + i >= p.M) { return; }
    let v = acc[i];
    if (j < p.Cout) { store(m + i, j, v.x); }
    if (j + 1u < p.Cout) { store(m + i, j + 1u, v.y); }
    if (j + 2u < p.Cout) { store(m + i, j + 2u, v.z); }
    if (j + 3u < p.Cout) { store(m + i, j + 3u, v.w); }
  }
}

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let n0 = wg.x * BN;
  let m0 = (wg.y + wg.z * 65535u) * BM;
  // @include gemm_tile:ids
  let q0 = pixel(m0 + ar0);
#if ${la2}
  let q1 = pixel(m0 + ar1);
#endif

  // @include gemm_tile:acc

  var xa0 = vec4<f32>(0.0);
  if (useA) { xa0 = loadX(q0, aq0); }
#if ${la2}
  var xa1 = loadX(q1, aq1);
#endif
  var wb0 = vec4<f32>(0.0);
  if (useB) { wb0 = loadW(n0 + ar0, aq0); }
#if ${lb2}
  var wb1 = loadW(n0 + ar1, aq1);
#endif
  // @include gemm_tile:stage0

  for (var t = 0u; t < nt; t++) {
    let cur = t % 2u;
    let more = t + 1u < nt;
    if (more) {
      let kq0 = (t + 1u) * KV;
      if (useA) { xa0 = loadX(q0, kq0 + aq0); }
#if ${la2}
      xa1 = loadX(q1, kq0 + aq1);
#endif
      if (useB) { wb0 = loadW(n0 + ar0, kq0 + aq0); }
#if ${lb2}
      wb1 = loadW(n0 + ar1, kq0 + aq1);
#endif
    }

    // @include gemm_tile:step
    workgroupBarrier();
  }

  // @include gemm_tile:epilogue
}
