// vae_conv3d: the Wan VAE's convolutions as one implicit GEMM over channels-last activations.
//   out[t, h, w, n] = bias[n] (+ res[t, h, w, n]) + sum_{kt, kh, kw, ci} in(t + kt, h + kh - padTop, w + kw - KW/2, ci)
//                     * wk[((kt * KH + kh) * KW + kw) * Cin + ci, n]
// where in(tv, ...) is frame tv of [cache frames (nCache of them) ++ x frames]: a causal time conv reads its
// first KT - 1 frames from the feature cache, never padding behind; the first zeroFrames of those read zero
// (the causal padding: the cache holds fewer frames before the first chunks). Rows
// outside [0, Hin) and columns outside [0, W) read zero (conv padding; with padTop = 0 and Hin = Hout + KH - 1
// the rows come from a halo exchange instead). M = T * Hout * W output pixels, N = Cout, K = KT*KH*KW*Cin.
// Kernel sizes KT, KH, KW (1 or 3; KW/2 columns of zero padding) and tiles are compiled in.
// The output may split its channels into G = Cout / splitC frame groups (the time upsampler: channels
// [g*splitC, (g+1)*splitC) of frame t go to output frame t*G + g), so out is [T*G, Hout, W, splitC].
// Bindings (T = f16 or f32 by ${f16}; shapes in elements):
//   0 uniform Params
//   1 x     read       [T, Hin, W, Cin]
//   2 cache read       [nCache, Hin, W, Cin]  (frames < zeroFrames never read; x again when nothing is read)
//   3 wk    read       [K, Cout]
//   4 bias  read       [Cout]
//   5 out   read_write [T * G, Hout, W, splitC]
//   6 res   read       same shape as out (only with ${residual}: the residual block's skip path)
// A workgroup owns a BM x BN tile of (pixels, output channels); invocation (tx, ty) owns TM x TN of it,
// rows ty + i * (BM / TM) and columns tx + j * (BN / TN) (interleaved, so neighbours write neighbours).
// K advances in steps of BK through workgroup memory (f32): X gathered from the taps, W read as rows.
// Dispatch: (ceil(N / BN), ceil(M / BM) spread over y and z by the host: tile row = y + z * 65535).

// @prelude

struct Params {
  M: u32,
  Cin: u32,
  Cout: u32,
  K: u32,
  Hin: u32,
  Hout: u32,
  W: u32,
  padTop: u32,
  nCache: u32,
  zeroFrames: u32,
  splitC: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> cache: array<T>;
@group(0) @binding(3) var<storage, read> wk: array<T>;
@group(0) @binding(4) var<storage, read> bias: array<T>;
@group(0) @binding(5) var<storage, read_write> out: array<T>;
#if ${residual}
@group(0) @binding(6) var<storage, read> res: array<T>;
#endif

const KT: u32 = ${KT}u;
const KH: u32 = ${KH}u;
const KW: u32 = ${KW}u;
const BM: u32 = ${BM}u;
const BN: u32 = ${BN}u;
const BK: u32 = ${BK}u;
const TM: u32 = ${TM}u;
const TN: u32 = ${TN}u;
const RY: u32 = BM / TM; // invocation rows
const RX: u32 = BN / TN; // invocation columns
const THREADS: u32 = RX * RY;
const LA: u32 = BM * BK / THREADS; // X elements each invocation gathers per K step (THREADS % BK == 0)

var<workgroup> As: array<f32, BK * BM>; // [BK][BM]
var<workgroup> Bs: array<f32, BK * BN>; // [BK][BN]

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let n0 = wg.x * BN;
  let m0 = (wg.y + wg.z * 65535u) * BM;
  let HWo = p.Hout * p.W;
  let tx = tid % RX;
  let ty = tid / RX;

  // The pixels this invocation gathers for X: rows mm = tid / BK + j * (THREADS / BK), fixed over K.
  let kk = tid % BK;
  var pt: array<u32, LA>;
  var ph: array<i32, LA>;
  var pw: array<i32, LA>;
  var pok: array<bool, LA>;
  for (var j = 0u; j < LA; j++) {
    let m = m0 + tid / BK + j * (THREADS / BK);
    pok[j] = m < p.M;
    let t = m / HWo;
    let hw = m % HWo;
    pt[j] = t;
    ph[j] = i32(hw / p.W) - i32(p.padTop);
    pw[j] = i32(hw % p.W) - i32(KW / 2u);
  }

  var acc: array<array<f32, TN>, TM>;
  for (var i = 0u; i < TM; i++) {
    for (var j = 0u; j < TN; j++) { acc[i][j] = 0.0; }
  }

  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    // Gather X: tap and channel of column k0 + kk.
    let k = k0 + kk;
    let ci = k % p.Cin;
    let tap = k / p.Cin;
    let dw = i32(tap % KW);
    let dh = i32((tap / KW) % KH);
    let dt = tap / (KW * KH);
    for (var j = 0u; j < LA; j++) {
      var v = 0.0;
      let r = ph[j] + dh;
      let c = pw[j] + dw;
      if (pok[j] && k < p.K && r >= 0 && r < i32(p.Hin) && c >= 0 && c < i32(p.W)) {
        let tv = pt[j] + dt;
        let pix = u32(r) * p.W + u32(c);
        if (tv < p.zeroFrames) {
          v = 0.0;
        } else if (tv < p.nCache) {
          v = f32(cache[(tv * p.Hin * p.W + pix) * p.Cin + ci]);
        } else {
          v = f32(x[((tv - p.nCache) * p.Hin * p.W + pix) * p.Cin + ci]);
        }
      }
      As[kk * BM + tid / BK + j * (THREADS / BK)] = v;
    }
    // Load W rows k0 .. k0 + BK, columns n0 .. n0 + BN.
    for (var i = tid; i < BK * BN; i += THREADS) {
      let r = i / BN;
      let c = i % BN;
      var v = 0.0;
      if (k0 + r < p.K && n0 + c < p.Cout) { v = f32(wk[(k0 + r) * p.Cout + n0 + c]); }
      Bs[i] = v;
    }
    workgroupBarrier();
    for (var q = 0u; q < BK; q++) {
      var a: array<f32, TM>;
      var b: array<f32, TN>;
      for (var i = 0u; i < TM; i++) { a[i] = As[q * BM + ty + i * RY]; }
      for (var j = 0u; j < TN; j++) { b[j] = Bs[q * BN + tx + j * RX]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a[i], b[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }

  let G = p.Cout / p.splitC;
  for (var i = 0u; i < TM; i++) {
    let m = m0 + ty + i * RY;
    if (m >= p.M) { continue; }
    let t = m / HWo;
    let hw = m % HWo;
    for (var j = 0u; j < TN; j++) {
      let n = n0 + tx + j * RX;
      if (n >= p.Cout) { continue; }
      let g = n / p.splitC;
      let o = ((t * G + g) * HWo + hw) * p.splitC + n % p.splitC;
      var v = acc[i][j] + f32(bias[n]);
#if ${residual}
      v += f32(res[o]);
#endif
      out[o] = T(v);
    }
  }
}
