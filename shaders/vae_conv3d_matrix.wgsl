// vae_conv3d_matrix: vae_conv3d.wgsl's implicit-GEMM convolution on the matrix units (subgroup matrices):
// f16 activations and weights, f32 accumulation, f16 output. The same contract as vae_conv3d.wgsl (see its
// header: the taps, the feature cache and zeroFrames, padTop / halo rows, splitC, the residual), the same
// Params and bias / out / res bindings (vae_conv3d_io.wgsl), the same host (src/ops/vae_conv3d.ts); the
// tile machinery is gemm_matrix_tile.wgsl's (shared with gemm_matrix.wgsl): A = the im2col rows gathered
// from the taps (each staged row's pixel decoded once per workgroup), B = w [Cout, K].
// Defines: KT KH KW (1 or 3); vec (Cin % 4 == 0: x, cache and w read as vec4<f16>, 4 channels of one tap);
// residual; gemm_matrix_tile's tile defines (src/ops/gemm_matrix.ts matrixTileDefines).
// Bindings (shapes in elements): as vae_conv3d.wgsl, f16:
//   0 uniform Params   1 x [T, Hin, W, Cin]   2 cache [KT - 1, Hin, W, Cin]   3 w [Cout, K] (with ${bpack}:
//   w packed in 16 x 16 tiles, gemm_pack.wgsl's layout, src/ops/vae_conv3d.ts packConv)
//   4 bias [Cout]      5 out [T * G, Hout, W, splitC]   6 res (with ${residual})
// Dispatch: (ceil(Cout / BN), ceil(M / BM) spread over y and z: tile row = y + z * 65535), THREADS invocations.

enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);

alias T = f16;
#if ${vec}
alias LT = vec4<f16>;
#else
alias LT = f16;
#endif

// @include vae_conv3d_io:params
@group(0) @binding(1) var<storage, read> x: array<LT>;
@group(0) @binding(2) var<storage, read> cache: array<LT>;
@group(0) @binding(3) var<storage, read> w: array<LT>;
// @include vae_conv3d_io:outputs

const KH: u32 = ${KH}u;
const KW: u32 = ${KW}u;

fn outRows() -> u32 { return p.M; }
fn outCols() -> u32 { return p.Cout; }
fn kSize() -> u32 { return p.K; }

// An output pixel decoded once: frame t, input row h - padTop, column w - KW/2 (the tap offsets add on).
struct XRow {
  t: u32,
  h: i32,
  w: i32,
  ok: bool,
}

fn xRow(m: u32) -> XRow {
  let HWo = p.Hout * p.W;
  let hw = m % HWo;
  return XRow(m / HWo, i32(hw / p.W) - i32(p.padTop), i32(hw % p.W) - i32(KW / 2u), m < p.M);
}

// Column k of A decoded: its tap's row, column and frame offsets and its channel (k = tap * Cin + ci).
// Computed once per K step per invocation (its loads of that step share k), so the divisions by Cin are
// not repeated per load.
struct XK {
  dr: i32,
  dc: i32,
  dt: u32,
  ci: u32,
  k: u32,
}

fn xK(k: u32) -> XK {
  let tap = k / p.Cin;
  return XK(i32((tap / KW) % KH), i32(tap % KW), tap / (KW * KH), k % p.Cin, k);
}

// Element offset of channel kx.ci at tap kx of pixel q in x (.y = 0) or the cache (.y = 1); .x = -1: zero.
fn tapOffset(q: XRow, kx: XK) -> vec2<i32> {
  let r = q.h + kx.dr;
  let c = q.w + kx.dc;
  let tv = q.t + kx.dt;
  if (r < 0 || r >= i32(p.Hin) || c < 0 || c >= i32(p.W) || tv < p.zeroFrames) { return vec2<i32>(-1, 0); }
  let pix = u32(r) * p.W + u32(c);
  if (tv < p.nCache) { return vec2<i32>(i32((tv * p.Hin * p.W + pix) * p.Cin + kx.ci), 1); }
  return vec2<i32>(i32(((tv - p.nCache) * p.Hin * p.W + pix) * p.Cin + kx.ci), 0);
}

#if ${vec}
// K values k .. k + 3 (4 channels of one tap, Cin % 4 == 0) of pixel q.
fn loadX(q: XRow, kx: XK) -> vec4<f16> {
  if (!q.ok || kx.k >= p.K) { return vec4<f16>(0.0); }
  let o = tapOffset(q, kx);
  if (o.x < 0) { return vec4<f16>(0.0); }
  if (o.y == 1) { return cache[u32(o.x) / 4u]; }
  return x[u32(o.x) / 4u];
}

fn loadW(row: u32, k0: u32) -> vec4<f16> {
  if (row >= p.Cout || k0 >= p.K) { return vec4<f16>(0.0); }
  return w[row * (p.K / 4u) + k0 / 4u];
}
#else
fn loadX1(q: XRow, k: u32) -> f16 {
  if (k >= p.K) { return 0.0; }
  let o = tapOffset(q, xK(k));
  if (o.x < 0) { return 0.0; }
  if (o.y == 1) { return cache[u32(o.x)]; }
  return x[u32(o.x)];
}

// Scalar reads (Cin % 4 != 0): the 4 K values may span two taps, each decoded on its own.
fn loadX(q: XRow, kx: XK) -> vec4<f16> {
  let k0 = kx.k;
  if (!q.ok || k0 >= p.K) { return vec4<f16>(0.0); }
  return vec4<f16>(loadX1(q, k0), loadX1(q, k0 + 1u), loadX1(q, k0 + 2u), loadX1(q, k0 + 3u));
}

fn loadW1(row: u32, k: u32) -> f16 {
  if (k >= p.K) { return 0.0; }
  return w[row * p.K + k];
}

fn loadW(row: u32, k0: u32) -> vec4<f16> {
  if (row >= p.Cout || k0 >= p.K) { return vec4<f16>(0.0); }
  return vec4<f16>(loadW1(row, k0), loadW1(row, k0 + 1u), loadW1(row, k0 + 2u), loadW1(row, k0 + 3u));
}
#endif

fn store(m: u32, n: u32, acc: f32) {
  let HWo = p.Hout * p.W;
  let G = p.Cout / p.splitC;
  let o = ((m / HWo * G + n / p.splitC) * HWo + m % HWo) * p.splitC + n % p.splitC;
  var r = acc + f32(bias[n]);
#if ${residual}
  r += f32(res[o]);
#endif
  out[o] = f16(r);
}

// @include gemm_matrix_tile:smem

// @include gemm_matrix_tile:main
