// gemm_wx: the weight-only linear layers on the shader cores, Y[M, n0 + j] (+)= sum_k X[M, k] W[j, k]  (nn.Linear
// layout). X and Y are f32 (umT5-XXL's activations and residual stream overflow f16), every product and sum f32;
// W is f16 (w16: half the memory) or int8 with one f32 scale per output channel (${w8}: a quarter; the scale
// multiplies each sum once at the end). With ${residual} Y is read and added to (the residual stream, in place).
// The tile is gemm's (gemm_tile.wgsl: transposed, double-buffered workgroup tiles, (TM/4) x (TN/4) mat4x4
// accumulators per invocation; gemm.wgsl's header has the scheme), only the loads and the store differ.
//
// Defines (compile time):
//   w8             int8 weights with scales (else f16; the f16 feature is needed only then)
//   vec            K % 4 == 0: X (and f16 W) read as vec4 (else scalar reads with per-element checks)
//   residual       Y += the product, else Y = the product
//   gemm_tile's:   BM BN BK TM TN WGX WGY THREADS tm8 tn8 la2 lb2 ahalf bhalf A_SMEM B_SMEM (src/ops/gemm.ts gemmDefines)
// Bindings (row-major, lengths in elements):
//   0 uniform Params { M, N, K, K4, ldo, n0 }   N: rows of this weight chunk; K4 = ceil(K / 4); ldo: Y's row length
//   1 x     read       array<f32> [M, K]
//   2 w     read       w16: array<f16> [N, K];  w8: array<u32> [N, K4], 4 int8 per word, k = 4 w + b in byte b
//                      (little end first), the row's pad bytes 0
//   3 y     read_write array<f32> [M, ldo]   this dispatch writes columns n0 .. n0 + N
//   4 scale read       array<f32> [N]        w8 only: this chunk's per-channel scales
// Dispatch: (ceil(N / BN), ceil(M / BM), 1), workgroup THREADS invocations.

#if ${w8}
#else
enable f16;
#endif

struct Params {
  M: u32,
  N: u32,
  K: u32,
  K4: u32,
  ldo: u32,
  n0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
#if ${vec}
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;
#endif
#if ${w8}
@group(0) @binding(2) var<storage, read> w: array<u32>;
#else
#if ${vec}
@group(0) @binding(2) var<storage, read> w: array<vec4<f16>>;
#else
@group(0) @binding(2) var<storage, read> w: array<f16>;
#endif
#endif
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
#if ${w8}
@group(0) @binding(4) var<storage, read> scale: array<f32>;
#endif

const BM: u32 = ${BM}u;
const BN: u32 = ${BN}u;
const BK: u32 = ${BK}u;
const TM: u32 = ${TM}u;
const TN: u32 = ${TN}u;
// @include gemm_tile:smem

// Four consecutive K values of X row `row` (zeros past the edges). kq counts vec4s along K.
fn loadX(row: u32, kq: u32) -> vec4<f32> {
  let k = kq * 4u;
  if (row >= p.M || k >= p.K) { return vec4<f32>(0.0); }
#if ${vec}
  return x[row * (p.K / 4u) + kq];
#else
  let base = row * p.K + k;
  var v = vec4<f32>(x[base], 0.0, 0.0, 0.0);
  if (k + 1u < p.K) { v.y = x[base + 1u]; }
  if (k + 2u < p.K) { v.z = x[base + 2u]; }
  if (k + 3u < p.K) { v.w = x[base + 3u]; }
  return v;
#endif
}

// Four consecutive K values of W row `row` as f32 (int8: unscaled), zeros past the edges.
fn loadW(row: u32, kq: u32) -> vec4<f32> {
  let k = kq * 4u;
  if (row >= p.N || k >= p.K) { return vec4<f32>(0.0); }
#if ${w8}
  // word kq holds k .. k + 3; each byte sign-extended by shifting it to the top, then an arithmetic shift down
  let word = w[row * p.K4 + kq];
  return vec4<f32>(vec4<i32>(bitcast<i32>(word << 24u), bitcast<i32>(word << 16u), bitcast<i32>(word << 8u), bitcast<i32>(word)) >> vec4<u32>(24u));
#else
  // @include gemm_tile:loadW
#endif
}

// Row m, column j of this chunk: the f32 sum (times the channel's scale), written or added.
fn store(m: u32, j: u32, acc: f32) {
  let at = m * p.ldo + p.n0 + j;
#if ${w8}
  let v = acc * scale[j];
#else
  let v = acc;
#endif
#if ${residual}
  y[at] = y[at] + v;
#else
  y[at] = v;
#endif
}

// @include gemm_tile:tile_ops

// Epilogue of one 4x4 block: rows m .. m + 3, chunk columns j .. j + 3.
fn storeBlock(m: u32, j: u32, acc: mat4x4<f32>) {
  for (var i = 0u; i < 4u; i++) {
    if (m + i >= p.M) { return; }
    let v = acc[i];
    if (j < p.N) { store(m + i, j, v.x); }
    if (j + 1u < p.N) { store(m + i, j + 1u, v.y); }
    if (j + 2u < p.N) { store(m + i, j + 2u, v.z); }
    if (j + 3u < p.N) { store(m + i, j + 3u, v.w); }
  }
}

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let n0 = wg.x * BN;
  let m0 = wg.y * BM;
  // @include gemm_tile:ids

  // @include gemm_tile:acc

  // Tile 0 into buffer 0.
  var xa0 = vec4<f32>(0.0);
  if (useA) { xa0 = loadX(m0 + ar0, aq0); }
#if ${la2}
  var xa1 = loadX(m0 + ar1, aq1);
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
      if (useA) { xa0 = loadX(m0 + ar0, kq0 + aq0); }
#if ${la2}
      xa1 = loadX(m0 + ar1, kq0 + aq1);
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
