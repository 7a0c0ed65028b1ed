// gemm_matrix_packed: Y[M, N] = epilogue(X[M, K] · W[N, K]^T + b[N]) on the matrix units with both operands
// packed in 16 x 16 tiles (gemm_pack.wgsl's layout: each tile 512 contiguous bytes, zeros past the edges),
// loaded as subgroup matrices straight from the storage buffers: no workgroup staging and no barrier in the
// K loop (ONNX Runtime's NVIDIA subgroup-matrix path loads its prepacked operand this way; here both are).
// The weights are packed once (src/ops/gemm_matrix_packed.ts packLinear); X is packed per call by
// gemm_pack (one read and one write of X, small beside the GEMM for K >= 1536). f16 operands, f32
// accumulation, f16 results; the epilogues and the Params of gemm.wgsl (gemm_common.wgsl).
//
// Scheme: SGR x SGC subgroups per workgroup (they share X's and W's tiles through L1), each owning TR x TC
// result matrices of 16 x 16 as named accumulators (4 x 4: 64 x 64 per subgroup, 8 matrix loads per 16
// products). Per 16-wide K slice a subgroup holds its TR left and TC right matrices in registers and
// issues the next slice's loads before this slice's products (register prefetch, one slice ahead).
// Bounds (why robustness has nothing to guard): tile rows past the packed operands' last (M or N not a
// multiple of the tile) are clamped to the last tile row, and the prefetch past the last K slice re-reads
// it: every load is of a whole tile inside its buffer; the results of clamped rows are never stored
// (store() runs only for m < M, n < N). The epilogue goes through a per-subgroup f32 scratch of TC
// matrices (one row of the subgroup's tiles, TC * 16 floats a row), two barriers per row.
//
// Defines: SG SGR SGC TR TC (tr4 tc4: 4, else 2) THREADS BM BN C_SMEM (SGR * SGC * TC * 256); samek: a
// diagnostic that reads K slice 0 on every step (wrong results: the time of the products and of loads
// that hit L1, without the stream of new tiles); hasBias epiGelu epiResidual epiGate gateBinding
// biasBinding as gemm.wgsl.
// Bindings: 0 uniform Params (gemm_common.wgsl)   1 x read: packed X, ceil(M/16) * ceil(K/16) tiles of 64
//   vec4<f16>   2 w read: this chunk of packed W, ceil(n_i/16) * ceil(K/16) tiles   3 y read_write [M, ldo]
//   f16   gate, bias: as gemm.wgsl.
// Dispatch: (ceil(n_i / BN), ceil(M / BM) spread over y and z: m tile = wg.y + wg.z * 65535), THREADS
// invocations (SGR * SGC subgroups of SG).

enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);

alias LT = vec4<f16>;

// @include gemm_common:params
@group(0) @binding(3) var<storage, read_write> y: array<f16>;
#if ${epiGate}
@group(0) @binding(${gateBinding}) var<storage, read> gate: array<f16>;
#endif
#if ${hasBias}
@group(0) @binding(${biasBinding}) var<storage, read> bias: array<f16>;
#endif

const SGC: u32 = ${SGC}u;
const THREADS: u32 = ${THREADS}u;
const BM: u32 = ${BM}u;
const BN: u32 = ${BN}u;
const TRR: u32 = ${TR}u * 16u;     // rows a subgroup owns
const TCC: u32 = ${TC}u * 16u;     // columns a subgroup owns
const TILE: u32 = 64u;             // vec4s per packed 16 x 16 tile

var<workgroup> Cs: array<f32, ${C_SMEM}>;   // [subgroups][16][TCC], the epilogue's scratch

// @include gemm_common:gelu

fn store(m: u32, j: u32, acc: f32) {
  // @include gemm_common:epilogue
  y[idx] = f16(r);
}

// One row of the subgroup's result tiles (16 x TCC at rows m.., columns n..) from its scratch at `base`:
// invocation `lane` stores every sgSize-th element, consecutive lanes consecutive columns, edge-checked.
fn storeRow(base: u32, m: u32, n: u32, lane: u32, sgSize: u32) {
  for (var e = lane; e < 16u * TCC; e += sgSize) {
    let r = e / TCC;
    let c = e % TCC;
    if (m + r < p.M && n + c < p.N) { store(m + r, n + c, Cs[base + e]); }
  }
}

alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_id) sg: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sgSize: u32) {
  let n0 = wg.x * BN;
  let m0 = (wg.y + wg.z * 65535u) * BM;
  let sr = (sg / SGC) * TRR;       // this subgroup's first row within the workgroup tile
  let sc = (sg % SGC) * TCC;       // ... and first column
  let KT = (p.K + 15u) / 16u;      // K slices (tiles along K)
  let lastM = (p.M + 15u) / 16u - 1u;
  let lastN = (p.N + 15u) / 16u - 1u;
  let rt = (m0 + sr) / 16u;
  let ct = (n0 + sc) / 16u;
  // Each tile row's first vec4 (K slice 0), clamped into the packed operand.
  let ao0 = min(rt, lastM) * KT * TILE;
  let ao1 = min(rt + 1u, lastM) * KT * TILE;
#if ${tr4}
  let ao2 = min(rt + 2u, lastM) * KT * TILE;
  let ao3 = min(rt + 3u, lastM) * KT * TILE;
#endif
  let bo0 = min(ct, lastN) * KT * TILE;
  let bo1 = min(ct + 1u, lastN) * KT * TILE;
#if ${tc4}
  let bo2 = min(ct + 2u, lastN) * KT * TILE;
  let bo3 = min(ct + 3u, lastN) * KT * TILE;
#endif

  var c00: Acc; var c01: Acc; var c10: Acc; var c11: Acc;
#if ${tc4}
  var c02: Acc; var c03: Acc; var c12: Acc; var c13: Acc;
#endif
#if ${tr4}
  var c20: Acc; var c21: Acc; var c30: Acc; var c31: Acc;
#if ${tc4}
  var c22: Acc; var c23: Acc; var c32: Acc; var c33: Acc;
#endif
#endif

  // K slice 0's matrices.
  var a0 = subgroupMatrixLoad<Left, row_major>(&x, ao0, 4u);
  var a1 = subgroupMatrixLoad<Left, row_major>(&x, ao1, 4u);
#if ${tr4}
  var a2 = subgroupMatrixLoad<Left, row_major>(&x, ao2, 4u);
  var a3 = subgroupMatrixLoad<Left, row_major>(&x, ao3, 4u);
#endif
  var b0 = subgroupMatrixLoad<Right, col_major>(&w, bo0, 4u);
  var b1 = subgroupMatrixLoad<Right, col_major>(&w, bo1, 4u);
#if ${tc4}
  var b2 = subgroupMatrixLoad<Right, col_major>(&w, bo2, 4u);
  var b3 = subgroupMatrixLoad<Right, col_major>(&w, bo3, 4u);
#endif

  for (var t = 0u; t < KT; t++) {
    // The next slice's loads first (the last step re-reads the last slice: in bounds, unused), then this
    // slice's products, which hide their latency.
#if ${samek}
    let kn = 0u;
#else
    let kn = min(t + 1u, KT - 1u) * TILE;
#endif
    let na0 = subgroupMatrixLoad<Left, row_major>(&x, ao0 + kn, 4u);
    let na1 = subgroupMatrixLoad<Left, row_major>(&x, ao1 + kn, 4u);
#if ${tr4}
    let na2 = subgroupMatrixLoad<Left, row_major>(&x, ao2 + kn, 4u);
    let na3 = subgroupMatrixLoad<Left, row_major>(&x, ao3 + kn, 4u);
#endif
    let nb0 = subgroupMatrixLoad<Right, col_major>(&w, bo0 + kn, 4u);
    let nb1 = subgroupMatrixLoad<Right, col_major>(&w, bo1 + kn, 4u);
#if ${tc4}
    let nb2 = subgroupMatrixLoad<Right, col_major>(&w, bo2 + kn, 4u);
    let nb3 = subgroupMatrixLoad<Right, col_major>(&w, bo3 + kn, 4u);
#endif
    c00 = subgroupMatrixMultiplyAccumulate(a0, b0, c00);
    c01 = subgroupMatrixMultiplyAccumulate(a0, b1, c01);
    c10 = subgroupMatrixMultiplyAccumulate(a1, b0, c10);
    c11 = subgroupMatrixMultiplyAccumulate(a1, b1, c11);
#if ${tc4}
    c02 = subgroupMatrixMultiplyAccumulate(a0, b2, c02);
    c03 = subgroupMatrixMultiplyAccumulate(a0, b3, c03);
    c12 = subgroupMatrixMultiplyAccumulate(a1, b2, c12);
    c13 = subgroupMatrixMultiplyAccumulate(a1, b3, c13);
#endif
#if ${tr4}
    c20 = subgroupMatrixMultiplyAccumulate(a2, b0, c20);
    c21 = subgroupMatrixMultiplyAccumulate(a2, b1, c21);
    c30 = subgroupMatrixMultiplyAccumulate(a3, b0, c30);
    c31 = subgroupMatrixMultiplyAccumulate(a3, b1, c31);
#if ${tc4}
    c22 = subgroupMatrixMultiplyAccumulate(a2, b2, c22);
    c23 = subgroupMatrixMultiplyAccumulate(a2, b3, c23);
    c32 = subgroupMatrixMultiplyAccumulate(a3, b2, c32);
    c33 = subgroupMatrixMultiplyAccumulate(a3, b3, c33);
#endif
#endif
    a0 = na0; a1 = na1;
#if ${tr4}
    a2 = na2; a3 = na3;
#endif
    b0 = nb0; b1 = nb1;
#if ${tc4}
    b2 = nb2; b3 = nb3;
#endif
  }

  // Epilogue: one row of the subgroup's tiles at a time through its scratch; the barriers are uniform
  // (every subgroup runs the same sequence) and keep the next row's stores from overtaking the reads.
  let base = sg * 16u * TCC;
  let mr = m0 + sr;
  let nc = n0 + sc;
  subgroupMatrixStore<row_major>(&Cs, base, c00, TCC);
  subgroupMatrixStore<row_major>(&Cs, base + 16u, c01, TCC);
#if ${tc4}
  subgroupMatrixStore<row_major>(&Cs, base + 32u, c02, TCC);
  subgroupMatrixStore<row_major>(&Cs, base + 48u, c03, TCC);
#endif
  workgroupBarrier(); storeRow(base, mr, nc, lane, sgSize); workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c10, TCC);
  subgroupMatrixStore<row_major>(&Cs, base + 16u, c11, TCC);
#if ${tc4}
  subgroupMatrixStore<row_major>(&Cs, base + 32u, c12, TCC);
  subgroupMatrixStore<row_major>(&Cs, base + 48u, c13, TCC);
#endif
  workgroupBarrier(); storeRow(base, mr + 16u, nc, lane, sgSize); workgroupBarrier();
#if ${tr4}
  subgroupMatrixStore<row_major>(&Cs, base, c20, TCC);
  subgroupMatrixStore<row_major>(&Cs, base + 16u, c21, TCC);
#if ${tc4}
  subgroupMatrixStore<row_major>(&Cs, base + 32u, c22, TCC);
  subgroupMatrixStore<row_major>(&Cs, base + 48u, c23, TCC);
#endif
  workgroupBarrier(); storeRow(base, mr + 32u, nc, lane, sgSize); workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c30, TCC);
  subgroupMatrixStore<row_major>(&Cs, base + 16u, c31, TCC);
#if ${tc4}
  subgroupMatrixStore<row_major>(&Cs, base + 32u, c32, TCC);
  subgroupMatrixStore<row_major>(&Cs, base + 48u, c33, TCC);
#endif
  workgroupBarrier(); storeRow(base, mr + 48u, nc, lane, sgSize); workgroupBarrier();
#endif
}
