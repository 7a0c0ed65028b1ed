// gemm: Y[M, N] = epilogue(X[M, K] · W[N, K]^T + b[N])   (nn.Linear layout: W rows are output features)
// One dispatch handles one row chunk of W (n_i rows, the output columns [n0, n0 + n_i) of Y).
// Accumulation is always f32; with ${f16} the buffers hold f16 and results are rounded to f16 on store.
//
// Defines (compile time):
//   f16            storage type T = f16 (else f32)
//   vec            K % 4 == 0: X and W are read as vec4<T> (else scalar reads with per-element checks)
//   BM BN BK TM TN block tile BM x BN, K step BK, per-invocation micro-tile TM x TN (TM, TN in {4, 8});
//                  (BM/TM) * (BN/TN) invocations, each loads 1 or 2 vec4s of X and of W per K step (or
//                  half of them load 1)
//   tm8 tn8        TM == 8, TN == 8;  la2 lb2: two vec4 loads of X / W per invocation per step;
//   ahalf bhalf    only invocations tid < THREADS / 2 load X / W
//   hasBias        bias binding present (absent: no binding at all, b = 0)
//   epiGelu        Y = gelu_tanh(acc + b)
//   epiResidual    Y += ...   (Y is read back: in place on the residual stream)
//   epiGate        ... * gate[gateOffset + n]   (only with epiResidual)
//   biasBinding, gateBinding: binding numbers of those optional buffers (bindings stay contiguous)
// Bindings:
//   0 uniform Params
//   1 x    read       [M, K]       (a view: the host binds the row range)
//   2 w    read       [n_i, K]     this chunk of the weight
//   3 y    read_write [M, ldo]     output; this dispatch writes columns n0 .. n0 + n_i
//   gate   read       [...]        element gateOffset + n0 + j multiplies column j of this chunk
//   bias   read       [N]          the whole bias; element n0 + j
// Dispatch: (ceil(n_i / BN), ceil(M / BM), 1).
//
// Scheme: X and W tiles go through registers into workgroup memory transposed, [BK][BM + 4] and
// [BK][BN + 4] f32 (the +4 pad halves bank conflicts of the transposed stores and keeps vec4 alignment),
// double buffered so each K step needs one barrier: while step t is computed from buffer t % 2, step t + 1
// is already loaded into registers and is stored into the other buffer afterwards. Invocation (tx, ty)
// owns rows {g * 4 * (BM/TM) + 4 * ty + i} and columns {g * 4 * (BN/TN) + 4 * tx + j}, i.e. (TM/4) x (TN/4)
// blocks of 4x4 kept as mat4x4 accumulators, so its inner loop reads TM/4 + TN/4 vec4s per k and does
// TM * TN FMAs; neighbouring invocations read neighbouring vec4s.
//
// `// @include` lines paste what other kernels share word for word: the tile machinery from gemm_tile.wgsl
// (with vae_conv3d.wgsl), the Params, x / w bindings and epilogue math from gemm_common.wgsl (with
// gemm_matrix.wgsl).

// @prelude

#if ${vec}
alias LT = vec4<T>;
#else
alias LT = T;
#endif

// @include gemm_common:params
@group(0) @binding(3) var<storage, read_write> y: array<T>;
#if ${epiGate}
@group(0) @binding(${gateBinding}) var<storage, read> gate: array<T>;
#endif
#if ${hasBias}
@group(0) @binding(${biasBinding}) var<storage, read> bias: array<T>;
#endif

const BM: u32 = ${BM}u;
const BN: u32 = ${BN}u;
const BK: u32 = ${BK}u;
const TM: u32 = ${TM}u;
const TN: u32 = ${TN}u;
// @include gemm_tile:smem

// Four consecutive K values of row `row` (zeros past the edges). kq counts vec4s along K.
fn loadX(row: u32, kq: u32) -> vec4<f32> {
  let k = kq * 4u;
  if (row >= p.M || k >= p.K) { return vec4<f32>(0.0); }
#if ${vec}
  return vec4<f32>(x[row * (p.K / 4u) + kq]);
#else
  let base = row * p.K + k;
  var v = vec4<f32>(f32(x[base]), 0.0, 0.0, 0.0);
  if (k + 1u < p.K) { v.y = f32(x[base + 1u]); }
  if (k + 2u < p.K) { v.z = f32(x[base + 2u]); }
  if (k + 3u < p.K) { v.w = f32(x[base + 3u]); }
  return v;
#endif
}

fn loadW(row: u32, kq: u32) -> vec4<f32> {
  let k = kq * 4u;
  if (row >= p.N || k >= p.K) { return vec4<f32>(0.0); }
  // @include gemm_tile:loadW
}

// @include gemm_common:gelu

// Column j of this chunk, row m: apply the epilogue to the accumulated dot product and store.
fn store(m: u32, j: u32, acc: f32) {
  // @include gemm_common:epilogue
  y[idx] = T(r);
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

// Registers and accumulators are named variables, not arrays: arrays indexed in loops ended up in
// local memory on NVIDIA (every tile ran at ~1.7 TFLOP/s on an H100, whatever its size).
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
