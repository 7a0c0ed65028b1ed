// gemm_matrix: Y[M, N] = epilogue(X[M, K] · W[N, K]^T + b[N]) on the matrix units (subgroup matrices,
// chromium_experimental_subgroup_matrix): f16 operands, f32 accumulation, f16 results. Same contract,
// bindings and epilogues as gemm.wgsl (the Params, x / w bindings and epilogue math are gemm_common.wgsl's,
// by `// @include` lines); one dispatch handles one row chunk of W (output columns [n0, n0 + n_i) of Y).
//
// Defines (compile time):
//   vec            K % 4 == 0: X and W are read as vec4<f16> (else scalar reads with per-element checks)
//   SG             the subgroup size (all subgroups of the adapter have it; 32 on NVIDIA)
//   SGR SGC        subgroups per workgroup along m and n (THREADS = SGR * SGC * SG)
//   tc4            each subgroup owns 2 x 4 result tiles of 16 x 16 (else 2 x 2)
//   BM BN BK PAD   workgroup tile BM = SGR * 32, BN = SGC * 16 * (2 or 4); K step BK (16 or 32: bk32);
//                  staged rows are padded by PAD halves (fewer bank conflicts of the matrix loads)
//   la2 la4 lb2 lb4  each invocation loads 1, 2 or 4 vec4s of X (la*) and of W (lb*) per K step
//   hasBias epiGelu epiResidual epiGate biasBinding gateBinding: as in gemm.wgsl
// Bindings:
//   0 uniform Params
//   1 x    read       [M, K] f16      (a view: the host binds the row range)
//   2 w    read       [n_i, K] f16    this chunk of the weight
//   3 y    read_write [M, ldo] f16    output; this dispatch writes columns n0 .. n0 + n_i
//   gate   read       [...] f16       element gateOffset + n0 + j multiplies column j of this chunk
//   bias   read       [N] f16         the whole bias; element n0 + j
// Dispatch: (ceil(n_i / BN), ceil(M / BM), 1), workgroup THREADS = SGR * SGC * SG invocations.
//
// Scheme: the X and W tiles [BM][BK] and [BN][BK] (k fastest, rows padded to S = BK + PAD halves) go
// through registers into workgroup memory, double buffered: while step t is multiplied from buffer t % 2,
// the loads of step t + 1 are in flight into registers and are stored into the other buffer afterwards,
// so each K step needs one barrier. Subgroup (r, c) owns rows [32 r, 32 r + 32) and columns
// [16 TC c, 16 TC (c + 1)) of the workgroup tile: 2 x TC result matrices of 16 x 16 f32, named variables
// (an array of result matrices ran at 70 instead of 109 TFLOP/s in the probe). X's tile is the left
// matrix (row-major, M x K), W's tile read column-major is the right matrix (K x N). Result matrices
// cannot be indexed, so the epilogue stores each through a 16 x 16 f32 scratch of the subgroup in
// workgroup memory, from where its invocations apply bias / GELU / gate / residual with edge checks.

enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);

#if ${vec}
alias LT = vec4<f16>;
#else
alias LT = f16;
#endif

// @include gemm_common:params
@group(0) @binding(3) var<storage, read_write> y: array<f16>;
#if ${epiGate}
@group(0) @binding(${gateBinding}) var<storage, read> gate: array<f16>;
#endif
#if ${hasBias}
@group(0) @binding(${biasBinding}) var<storage, read> bias: array<f16>;
#endif

const SG: u32 = ${SG}u;
const SGC: u32 = ${SGC}u;
const THREADS: u32 = ${THREADS}u;
const BM: u32 = ${BM}u;
const BN: u32 = ${BN}u;
const BK: u32 = ${BK}u;
const S: u32 = ${BK}u + ${PAD}u;   // staged row stride in halves
const KV: u32 = BK / 4u;           // vec4s per staged row
const TCOLS: u32 = ${TCOLS}u;      // columns a subgroup owns: 16 * (2 or 4)

var<workgroup> As: array<f16, ${A_SMEM}>;   // [2][BM][S]
var<workgroup> Bs: array<f16, ${B_SMEM}>;   // [2][BN][S]
var<workgroup> Cs: array<f32, ${C_SMEM}>;   // [subgroups][16][16], the epilogue's scratch

// Four consecutive K values (k0 .. k0 + 3) of X row `row`, zeros past the edges.
fn loadX(row: u32, k0: u32) -> vec4<f16> {
  if (row >= p.M || k0 >= p.K) { return vec4<f16>(0.0); }
#if ${vec}
  return x[row * (p.K / 4u) + k0 / 4u];
#else
  let base = row * p.K + k0;
  var v = vec4<f16>(x[base], 0.0, 0.0, 0.0);
  if (k0 + 1u < p.K) { v.y = x[base + 1u]; }
  if (k0 + 2u < p.K) { v.z = x[base + 2u]; }
  if (k0 + 3u < p.K) { v.w = x[base + 3u]; }
  return v;
#endif
}

fn loadW(row: u32, k0: u32) -> vec4<f16> {
  if (row >= p.N || k0 >= p.K) { return vec4<f16>(0.0); }
#if ${vec}
  return w[row * (p.K / 4u) + k0 / 4u];
#else
  let base = row * p.K + k0;
  var v = vec4<f16>(w[base], 0.0, 0.0, 0.0);
  if (k0 + 1u < p.K) { v.y = w[base + 1u]; }
  if (k0 + 2u < p.K) { v.z = w[base + 2u]; }
  if (k0 + 3u < p.K) { v.w = w[base + 3u]; }
  return v;
#endif
}

// Load l of an invocation covers vec4 q = tid + l * THREADS of the tile: row q / KV, k offset (q % KV) * 4.
fn tileX(m0: u32, q: u32, k0: u32) -> vec4<f16> { return loadX(m0 + q / KV, k0 + (q % KV) * 4u); }
fn tileW(n0: u32, q: u32, k0: u32) -> vec4<f16> { return loadW(n0 + q / KV, k0 + (q % KV) * 4u); }

fn stageA(buf: u32, q: u32, v: vec4<f16>) {
  let o = buf * BM * S + (q / KV) * S + (q % KV) * 4u;
  As[o] = v.x; As[o + 1u] = v.y; As[o + 2u] = v.z; As[o + 3u] = v.w;
}

fn stageB(buf: u32, q: u32, v: vec4<f16>) {
  let o = buf * BN * S + (q / KV) * S + (q % KV) * 4u;
  Bs[o] = v.x; Bs[o + 1u] = v.y; Bs[o + 2u] = v.z; Bs[o + 3u] = v.w;
}

// @include gemm_common:gelu

// Column j of this chunk, row m: the epilogue on the f32 dot product, rounded to f16 on store.
fn store(m: u32, j: u32, acc: f32) {
  // @include gemm_common:epilogue
  y[idx] = f16(r);
}

// The 16 x 16 result tile at rows m .. m + 15, chunk columns j .. j + 15, from this subgroup's scratch at
// `base` (row-major, stride 16): each invocation stores every SG-th element (edge checks per element).
fn storeTile(base: u32, m: u32, j: u32, lane: u32, sgSize: u32) {
  for (var e = lane; e < 256u; e += sgSize) {
    let r = e / 16u;
    let c = e % 16u;
    if (m + r < p.M && j + c < p.N) { store(m + r, j + c, Cs[base + e]); }
  }
}

alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32,
        @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sgSize: u32) {
  let n0 = wg.x * BN;
  let m0 = wg.y * BM;
  let sr = (sg / SGC) * 32u;       // this subgroup's first row within the tile
  let sc = (sg % SGC) * TCOLS;     // ... and first column

  var c00: Acc;
  var c01: Acc;
  var c10: Acc;
  var c11: Acc;
#if ${tc4}
  var c02: Acc;
  var c03: Acc;
  var c12: Acc;
  var c13: Acc;
#endif

  // Registers of the next tile: up to 4 vec4s of X and of W per invocation.
  var ra0 = tileX(m0, tid, 0u);
#if ${la2}
  var ra1 = tileX(m0, tid + THREADS, 0u);
#endif
#if ${la4}
  var ra2 = tileX(m0, tid + 2u * THREADS, 0u);
  var ra3 = tileX(m0, tid + 3u * THREADS, 0u);
#endif
  var rb0 = tileW(n0, tid, 0u);
#if ${lb2}
  var rb1 = tileW(n0, tid + THREADS, 0u);
#endif
#if ${lb4}
  var rb2 = tileW(n0, tid + 2u * THREADS, 0u);
  var rb3 = tileW(n0, tid + 3u * THREADS, 0u);
#endif
  stageA(0u, tid, ra0);
#if ${la2}
  stageA(0u, tid + THREADS, ra1);
#endif
#if ${la4}
  stageA(0u, tid + 2u * THREADS, ra2);
  stageA(0u, tid + 3u * THREADS, ra3);
#endif
  stageB(0u, tid, rb0);
#if ${lb2}
  stageB(0u, tid + THREADS, rb1);
#endif
#if ${lb4}
  stageB(0u, tid + 2u * THREADS, rb2);
  stageB(0u, tid + 3u * THREADS, rb3);
#endif
  workgroupBarrier();

  let nt = (p.K + BK - 1u) / BK;
  for (var t = 0u; t < nt; t++) {
    let cur = t % 2u;
    let more = t + 1u < nt;
    if (more) {
      let k0 = (t + 1u) * BK;
      ra0 = tileX(m0, tid, k0);
#if ${la2}
      ra1 = tileX(m0, tid + THREADS, k0);
#endif
#if ${la4}
      ra2 = tileX(m0, tid + 2u * THREADS, k0);
      ra3 = tileX(m0, tid + 3u * THREADS, k0);
#endif
      rb0 = tileW(n0, tid, k0);
#if ${lb2}
      rb1 = tileW(n0, tid + THREADS, k0);
#endif
#if ${lb4}
      rb2 = tileW(n0, tid + 2u * THREADS, k0);
      rb3 = tileW(n0, tid + 3u * THREADS, k0);
#endif
    }

    let aBase = cur * BM * S + sr * S;
    let bBase = cur * BN * S + sc * S;
    // The K step in 16-wide slices, unrolled in the source (as in the probe that reached 109 TFLOP/s).
    {
      let a0 = subgroupMatrixLoad<Left, row_major>(&As, aBase + 0u, S);
      let a1 = subgroupMatrixLoad<Left, row_major>(&As, aBase + 16u * S + 0u, S);
      let b0 = subgroupMatrixLoad<Right, col_major>(&Bs, bBase + 0u, S);
      let b1 = subgroupMatrixLoad<Right, col_major>(&Bs, bBase + 16u * S + 0u, S);
      c00 = subgroupMatrixMultiplyAccumulate(a0, b0, c00);
      c01 = subgroupMatrixMultiplyAccumulate(a0, b1, c01);
      c10 = subgroupMatrixMultiplyAccumulate(a1, b0, c10);
      c11 = subgroupMatrixMultiplyAccumulate(a1, b1, c11);
#if ${tc4}
      let b2 = subgroupMatrixLoad<Right, col_major>(&Bs, bBase + 32u * S + 0u, S);
      let b3 = subgroupMatrixLoad<Right, col_major>(&Bs, bBase + 48u * S + 0u, S);
      c02 = subgroupMatrixMultiplyAccumulate(a0, b2, c02);
      c03 = subgroupMatrixMultiplyAccumulate(a0, b3, c03);
      c12 = subgroupMatrixMultiplyAccumulate(a1, b2, c12);
      c13 = subgroupMatrixMultiplyAccumulate(a1, b3, c13);
#endif
    }
#if ${bk32}
    {
      let a0 = subgroupMatrixLoad<Left, row_major>(&As, aBase + 16u, S);
      let a1 = subgroupMatrixLoad<Left, row_major>(&As, aBase + 16u * S + 16u, S);
      let b0 = subgroupMatrixLoad<Right, col_major>(&Bs, bBase + 16u, S);
      let b1 = subgroupMatrixLoad<Right, col_major>(&Bs, bBase + 16u * S + 16u, S);
      c00 = subgroupMatrixMultiplyAccumulate(a0, b0, c00);
      c01 = subgroupMatrixMultiplyAccumulate(a0, b1, c01);
      c10 = subgroupMatrixMultiplyAccumulate(a1, b0, c10);
      c11 = subgroupMatrixMultiplyAccumulate(a1, b1, c11);
#if ${tc4}
      let b2 = subgroupMatrixLoad<Right, col_major>(&Bs, bBase + 32u * S + 16u, S);
      let b3 = subgroupMatrixLoad<Right, col_major>(&Bs, bBase + 48u * S + 16u, S);
      c02 = subgroupMatrixMultiplyAccumulate(a0, b2, c02);
      c03 = subgroupMatrixMultiplyAccumulate(a0, b3, c03);
      c12 = subgroupMatrixMultiplyAccumulate(a1, b2, c12);
      c13 = subgroupMatrixMultiplyAccumulate(a1, b3, c13);
#endif
    }
#endif
    if (more) {
      let nxt = 1u - cur;
      stageA(nxt, tid, ra0);
#if ${la2}
      stageA(nxt, tid + THREADS, ra1);
#endif
#if ${la4}
      stageA(nxt, tid + 2u * THREADS, ra2);
      stageA(nxt, tid + 3u * THREADS, ra3);
#endif
      stageB(nxt, tid, rb0);
#if ${lb2}
      stageB(nxt, tid + THREADS, rb1);
#endif
#if ${lb4}
      stageB(nxt, tid + 2u * THREADS, rb2);
      stageB(nxt, tid + 3u * THREADS, rb3);
#endif
    }
    workgroupBarrier();
  }

  // Epilogue, one result tile at a time through the subgroup's scratch (a barrier each side, since
  // the scratch is reused; every subgroup runs the same sequence, so the barriers are uniform).
  let base = sg * 256u;
  let mr = m0 + sr;
  let nc = n0 + sc;
  subgroupMatrixStore<row_major>(&Cs, base, c00, 16u);
  workgroupBarrier();
  storeTile(base, mr, nc, lane, sgSize);
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c01, 16u);
  workgroupBarrier();
  storeTile(base, mr, nc + 16u, lane, sgSize);
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c10, 16u);
  workgroupBarrier();
  storeTile(base, mr + 16u, nc, lane, sgSize);
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c11, 16u);
  workgroupBarrier();
  storeTile(base, mr + 16u, nc + 16u, lane, sgSize);
#if ${tc4}
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c02, 16u);
  workgroupBarrier();
  storeTile(base, mr, nc + 32u, lane, sgSize);
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c03, 16u);
  workgroupBarrier();
  storeTile(base, mr, nc + 48u, lane, sgSize);
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c12, 16u);
  workgroupBarrier();
  storeTile(base, mr + 16u, nc + 32u, lane, sgSize);
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c13, 16u);
  workgroupBarrier();
  storeTile(base, mr + 16u, nc + 48u, lane, sgSize);
#endif
}
