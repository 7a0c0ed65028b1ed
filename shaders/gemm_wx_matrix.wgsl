// gemm_wx_matrix: the weight-only linear layers (gemmW16 / gemmW8: gemm_wx.wgsl on the shader cores) on the matrix units (subgroup
// matrices, chromium_experimental_subgroup_matrix): Y[M, n0 + j] (+)= s[m] sum_k' XP[m, k'] W[j, k' mod Kp]
// (x scale[j] with ${w8}), f16 operands, f32 accumulation, f32 Y. XP is gemm_wx_split.wgsl's output: the f32
// X per row as s[m] (hi + lo), hi and lo f16 side by side along K' (parts = 2: K' = 2 Kp), so each weight
// meets both halves and the sum keeps f32's accuracy of X; with parts = 1 (K' = Kp) only hi: f16 accuracy.
// Weights: f16 [N, K] (w16), or int8 q [N, ceil(K / 4)] u32 words, 4 per word, little end first, with one f32
// scale per output channel (w8: the int8 values are exact in f16; the scale multiplies the f32 sum).
// The tile machinery (staging, the K loop, the epilogue's scratch) is gemm_matrix_tile.wgsl's (see there);
// always staged (no bdirect: the weights are not the [N, K'] vec4<f16> array it reads).
//
// Defines (compile time):
//   w8             int8 weights with scales (else f16)
//   vec            K % 4 == 0 (w16 only): W read as vec4<f16> (else scalar reads with per-element checks)
//   gemm_matrix_tile's: SG SGR SGC TR TC (tr4 tc4) BK (bk32) PAD vstage la2 la4 la8 lb2 lb4 lb8 THREADS BM BN
//                  A_SMEM B_SMEM C_SMEM bdirect (false) bstage (true) (src/ops/gemm_matrix.ts matrixTileDefines)
//   residual       Y += the product (the f32 residual stream, in place), else Y = the product
// Bindings (row-major, lengths in elements):
//   0 uniform Params { M, N, K, Kp, KX, K4, ldo, n0 }   N: rows of this weight chunk; Kp: K rounded up to a
//                  multiple of 32; KX = parts * Kp (K' of the product); K4 = ceil(K / 4); ldo: Y's row length
//   1 xp    read       array<vec4<f16>> [M, KX / 4]
//   2 w     read       w16: array<f16 or vec4<f16>> [N, K];  w8: array<u32> [N, K4]   (this chunk's rows)
//   3 s     read       array<f32> [M]       the row scales of xp
//   4 y     read_write array<f32> [M, ldo]  this dispatch writes columns n0 .. n0 + N
//   5 scale read       array<f32> [N]       w8 only: this chunk's per-channel scales
// Dispatch: (ceil(N / BN), ceil(M / BM), 1), workgroup THREADS = SGR * SGC * SG invocations.

enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);

struct Params {
  M: u32,
  N: u32,
  K: u32,
  Kp: u32,
  KX: u32,
  K4: u32,
  ldo: u32,
  n0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xp: array<vec4<f16>>;
#if ${w8}
@group(0) @binding(2) var<storage, read> w: array<u32>;
#else
#if ${vec}
@group(0) @binding(2) var<storage, read> w: array<vec4<f16>>;
#else
@group(0) @binding(2) var<storage, read> w: array<f16>;
#endif
#endif
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#if ${w8}
@group(0) @binding(5) var<storage, read> scale: array<f32>;
#endif

fn outRows() -> u32 { return p.M; }
fn outCols() -> u32 { return p.N; }
fn kSize() -> u32 { return p.KX; }

alias XRow = u32;
fn xRow(m: u32) -> u32 { return m; }
alias XK = u32;
fn xK(k0: u32) -> u32 { return k0; }

// XP[row, k0 .. k0 + 3]: KX is a multiple of BK, so every K step is inside the row; zeros past the last row.
fn loadX(row: u32, k0: u32) -> vec4<f16> {
  if (row >= p.M) { return vec4<f16>(0.0); }
  return xp[row * (p.KX / 4u) + k0 / 4u];
}

// W[row, k .. k + 3] for k = k0 mod Kp (hi and lo meet the same weights), zeros past the edges.
fn loadW(row: u32, k0: u32) -> vec4<f16> {
  let k = select(k0, k0 - p.Kp, k0 >= p.Kp);
  if (row >= p.N || k >= p.K) { return vec4<f16>(0.0); }
#if ${w8}
  // 4 int8 of one word (k is a multiple of 4; past K the word's bytes are 0), each sign-extended by shifting
  // its byte to the top, then an arithmetic shift down
  let word = w[row * p.K4 + k / 4u];
  let b = vec4<i32>(bitcast<i32>(word << 24u), bitcast<i32>(word << 16u), bitcast<i32>(word << 8u), bitcast<i32>(word)) >> vec4<u32>(24u);
  return vec4<f16>(b);
#else
#if ${vec}
  return w[row * (p.K / 4u) + k / 4u];
#else
  let base = row * p.K + k;
  var v = vec4<f16>(w[base], 0.0, 0.0, 0.0);
  if (k + 1u < p.K) { v.y = w[base + 1u]; }
  if (k + 2u < p.K) { v.z = w[base + 2u]; }
  if (k + 3u < p.K) { v.w = w[base + 3u]; }
  return v;
#endif
#endif
}

// Row m, column j of this chunk: the f32 sum scaled back by the row's power of two (and the channel's scale).
fn store(m: u32, j: u32, acc: f32) {
  let at = m * p.ldo + p.n0 + j;
#if ${w8}
  let v = acc * s[m] * scale[j];
#else
  let v = acc * s[m];
#endif
#if ${residual}
  y[at] = y[at] + v;
#else
  y[at] = v;
#endif
}

// @include gemm_matrix_tile:smem

// @include gemm_matrix_tile:main
