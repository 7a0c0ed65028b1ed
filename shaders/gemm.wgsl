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

// @prelude

#if ${vec}
alias LT = vec4<T>;
#else
alias LT = T;
#endif

struct Params {
  M: u32,
  N: u32,          // rows of this weight chunk (output columns it writes)
  K: u32,
  n0: u32,         // first output column of this chunk
  ldo: u32,        // row stride of y in elements (the layer's full N)
  gateOffset: u32, // element offset of the gate row (residual_gate only; 0 otherwise)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<LT>;
@group(0) @binding(2) var<storage, read> w: array<LT>;
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
const WGX: u32 = ${WGX}u;            // BN / TN invocations along n
const WGY: u32 = ${WGY}u;            // BM / TM invocations along m
const THREADS: u32 = ${THREADS}u;    // WGX * WGY
const KV: u32 = BK / 4u;             // vec4s per tile row
const LDA: u32 = BM + 4u;            // padded row of the transposed tiles, in f32
const LDB: u32 = BN + 4u;
const AV: u32 = LDA / 4u;            // ... in vec4s
const BV: u32 = LDB / 4u;
const A_HALF: bool = ${ahalf};       // only half the invocations load X (BM * BK / 4 == THREADS / 2)
const B_HALF: bool = ${bhalf};

var<workgroup> As: array<vec4<f32>, ${A_SMEM}>;  // 2 * BK * LDA / 4
var<workgroup> Bs: array<vec4<f32>, ${B_SMEM}>;  // 2 * BK * LDB / 4

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
#if ${vec}
  return vec4<f32>(w[row * (p.K / 4u) + kq]);
#else
  let base = row * p.K + k;
  var v = vec4<f32>(f32(w[base]), 0.0, 0.0, 0.0);
  if (k + 1u < p.K) { v.y = f32(w[base + 1u]); }
  if (k + 2u < p.K) { v.z = f32(w[base + 2u]); }
  if (k + 3u < p.K) { v.w = f32(w[base + 3u]); }
  return v;
#endif
}

// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), with tanh(u) = 1 - 2 / (exp(2u) + 1): exp overflowing
// to +inf gives 1 and underflowing to 0 gives -1, so no NaN for any finite x.
fn geluTanh(v: f32) -> f32 {
  let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  let t = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
  return 0.5 * v * (1.0 + t);
}

// Column j of this chunk, row m: apply the epilogue to the accumulated dot product and store.
fn store(m: u32, j: u32, acc: f32) {
  var r = acc;
#if ${hasBias}
  r += f32(bias[p.n0 + j]);
#endif
#if ${epiGelu}
  r = geluTanh(r);
#endif
#if ${epiGate}
  r *= f32(gate[p.gateOffset + p.n0 + j]);
#endif
  let idx = m * p.ldo + p.n0 + j;
#if ${epiResidual}
  r += f32(y[idx]);
#endif
  y[idx] = T(r);
}

// Adds the outer product of a column piece (4 rows of X) and a row piece (4 columns of W): column i of
// the accumulator is row i of the 4x4 block.
// acc + outer(a, b) with explicit fma, so each element is one FFMA whatever the compiler's contraction rules.
fn outer(acc: mat4x4<f32>, a: vec4<f32>, b: vec4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(fma(b, vec4<f32>(a.x), acc[0]), fma(b, vec4<f32>(a.y), acc[1]), fma(b, vec4<f32>(a.z), acc[2]), fma(b, vec4<f32>(a.w), acc[3]));
}

// Stores one register into the transposed tile: value v = element (row r, k) of the tile.
fn storeA(buf: u32, r: u32, kq: u32, v: vec4<f32>) {
  let k = buf * BK + kq * 4u;
  let c = r % 4u;
  let i = (k * LDA + r) / 4u;
  As[i][c] = v.x;
  As[i + AV][c] = v.y;
  As[i + 2u * AV][c] = v.z;
  As[i + 3u * AV][c] = v.w;
}

fn storeB(buf: u32, r: u32, kq: u32, v: vec4<f32>) {
  let k = buf * BK + kq * 4u;
  let c = r % 4u;
  let i = (k * LDB + r) / 4u;
  Bs[i][c] = v.x;
  Bs[i + BV][c] = v.y;
  Bs[i + 2u * BV][c] = v.z;
  Bs[i + 3u * BV][c] = v.w;
}

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
  let tx = tid % WGX;
  let ty = tid / WGX;

  // The (row, vec4-of-K) each invocation loads: load l covers flat index tid + l * THREADS.
  let ar0 = tid / KV;
  let aq0 = tid % KV;
  let ar1 = (tid + THREADS) / KV;
  let aq1 = (tid + THREADS) % KV;
  let useA = !A_HALF || ar0 < BM;  // constant true unless half
  let useB = !B_HALF || ar0 < BN;

  var m00 = mat4x4<f32>();
#if ${tn8}
  var m01 = mat4x4<f32>();
#endif
#if ${tm8}
  var m10 = mat4x4<f32>();
#if ${tn8}
  var m11 = mat4x4<f32>();
#endif
#endif

  let nt = (p.K + BK - 1u) / BK;

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
  if (useA) { storeA(0u, ar0, aq0, xa0); }
#if ${la2}
  storeA(0u, ar1, aq1, xa1);
#endif
  if (useB) { storeB(0u, ar0, aq0, wb0); }
#if ${lb2}
  storeB(0u, ar1, aq1, wb1);
#endif
  workgroupBarrier();

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

    var ai = cur * BK * AV + ty;
    var bi = cur * BK * BV + tx;
    for (var k = 0u; k < BK; k++) {
      let a0 = As[ai];
      let b0 = Bs[bi];
      m00 = outer(m00, a0, b0);
#if ${tn8}
      let b1 = Bs[bi + WGX];
      m01 = outer(m01, a0, b1);
#endif
#if ${tm8}
      let a1 = As[ai + WGY];
      m10 = outer(m10, a1, b0);
#if ${tn8}
      m11 = outer(m11, a1, b1);
#endif
#endif
      ai += AV;
      bi += BV;
    }

    if (more) {
      let nxt = 1u - cur;
      if (useA) { storeA(nxt, ar0, aq0, xa0); }
#if ${la2}
      storeA(nxt, ar1, aq1, xa1);
#endif
      if (useB) { storeB(nxt, ar0, aq0, wb0); }
#if ${lb2}
      storeB(nxt, ar1, aq1, wb1);
#endif
    }
    workgroupBarrier();
  }

  // Row block g starts at g * 4 * WGY + 4 * ty, column block at g * 4 * WGX + 4 * tx.
  let mr = m0 + ty * 4u;
  let nc = n0 + tx * 4u;
  storeBlock(mr, nc, m00);
#if ${tn8}
  storeBlock(mr, nc + 4u * WGX, m01);
#endif
#if ${tm8}
  storeBlock(mr + 4u * WGY, nc, m10);
#if ${tn8}
  storeBlock(mr + 4u * WGY, nc + 4u * WGX, m11);
#endif
#endif
}
