// gemm: Y[M, N] = epilogue(X[M, K] · W[N, K]^T + b[N])   (nn.Linear layout: W rows are output features)
// One dispatch handles one row chunk of W (n_i rows, the output columns [n0, n0 + n_i) of Y).
// Accumulation is always f32; with ${f16} the buffers hold f16 and results are rounded to f16 on store.
//
// Defines (compile time):
//   f16            storage type T = f16 (else f32)
//   vec            K % 4 == 0: X and W are read as vec4<T> (else scalar reads with per-element checks)
//   BM BN BK TM TN block tile BM x BN, K step BK, per-invocation micro-tile TM x TN (TM, TN, BK multiples of 4);
//                  (BM/TM) * (BN/TN) invocations, each loads (BM + BN) * BK / 4 / invocations vec4s per step
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
// owns rows {g * 4 * (BM/TM) + 4 * ty + i} and columns {g * 4 * (BN/TN) + 4 * tx + j}, so its inner loop
// reads TM/4 + TN/4 vec4s per k and does TM * TN FMAs; neighbours read neighbouring vec4s.

#if ${f16}
enable f16;
alias T = f16;
#else
alias T = f32;
#endif

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
const LOADS_A: u32 = ${LOADS_A}u;    // BM * KV / THREADS
const LOADS_B: u32 = ${LOADS_B}u;    // BN * KV / THREADS
const LDA: u32 = BM + 4u;            // padded row of the transposed tiles, in f32
const LDB: u32 = BN + 4u;
const AV: u32 = LDA / 4u;            // ... in vec4s
const BV: u32 = LDB / 4u;

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

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let n0 = wg.x * BN;
  let m0 = wg.y * BM;
  let tx = tid % WGX;
  let ty = tid / WGX;

  var acc: array<vec4<f32>, ${ACC}>;  // TM * TN / 4: acc[i * (TN / 4) + g] = row i, column group g
  var ra: array<vec4<f32>, LOADS_A>;
  var rb: array<vec4<f32>, LOADS_B>;
  let nt = (p.K + BK - 1u) / BK;

  // Tile 0 into buffer 0.
  for (var l = 0u; l < LOADS_A; l++) {
    let f = tid + l * THREADS;
    ra[l] = loadX(m0 + f / KV, f % KV);
  }
  for (var l = 0u; l < LOADS_B; l++) {
    let f = tid + l * THREADS;
    rb[l] = loadW(n0 + f / KV, f % KV);
  }
  for (var l = 0u; l < LOADS_A; l++) {
    let f = tid + l * THREADS;
    let r = f / KV;
    let k = (f % KV) * 4u;
    for (var c = 0u; c < 4u; c++) { As[((k + c) * LDA + r) / 4u][r % 4u] = ra[l][c]; }
  }
  for (var l = 0u; l < LOADS_B; l++) {
    let f = tid + l * THREADS;
    let r = f / KV;
    let k = (f % KV) * 4u;
    for (var c = 0u; c < 4u; c++) { Bs[((k + c) * LDB + r) / 4u][r % 4u] = rb[l][c]; }
  }
  workgroupBarrier();

  for (var t = 0u; t < nt; t++) {
    let cur = t % 2u;
    let more = t + 1u < nt;
    if (more) {
      let kq0 = (t + 1u) * KV;
      for (var l = 0u; l < LOADS_A; l++) {
        let f = tid + l * THREADS;
        ra[l] = loadX(m0 + f / KV, kq0 + f % KV);
      }
      for (var l = 0u; l < LOADS_B; l++) {
        let f = tid + l * THREADS;
        rb[l] = loadW(n0 + f / KV, kq0 + f % KV);
      }
    }

    let abuf = cur * BK * AV + ty;
    let bbuf = cur * BK * BV + tx;
    for (var k = 0u; k < BK; k++) {
      var a: array<vec4<f32>, ${TM4}>;
      var b: array<vec4<f32>, ${TN4}>;
      for (var g = 0u; g < TM / 4u; g++) { a[g] = As[abuf + k * AV + g * WGY]; }
      for (var g = 0u; g < TN / 4u; g++) { b[g] = Bs[bbuf + k * BV + g * WGX]; }
      for (var i = 0u; i < TM; i++) {
        let av = a[i / 4u][i % 4u];
        for (var g = 0u; g < TN / 4u; g++) {
          acc[i * (TN / 4u) + g] = fma(vec4<f32>(av), b[g], acc[i * (TN / 4u) + g]);
        }
      }
    }

    if (more) {
      let nxt = 1u - cur;
      for (var l = 0u; l < LOADS_A; l++) {
        let f = tid + l * THREADS;
        let r = f / KV;
        let k = nxt * BK + (f % KV) * 4u;
        for (var c = 0u; c < 4u; c++) { As[((k + c) * LDA + r) / 4u][r % 4u] = ra[l][c]; }
      }
      for (var l = 0u; l < LOADS_B; l++) {
        let f = tid + l * THREADS;
        let r = f / KV;
        let k = nxt * BK + (f % KV) * 4u;
        for (var c = 0u; c < 4u; c++) { Bs[((k + c) * LDB + r) / 4u][r % 4u] = rb[l][c]; }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < TM; i++) {
    let m = m0 + (i / 4u) * 4u * WGY + ty * 4u + i % 4u;
    if (m >= p.M) { continue; }
    for (var g = 0u; g < TN / 4u; g++) {
      let j = n0 + g * 4u * WGX + tx * 4u;
      let v = acc[i * (TN / 4u) + g];
      if (j < p.N) { store(m, j, v.x); }
      if (j + 1u < p.N) { store(m, j + 1u, v.y); }
      if (j + 2u < p.N) { store(m, j + 2u, v.z); }
      if (j + 3u < p.N) { store(m, j + 3u, v.w); }
    }
  }
}
