// attention_matrix: fused flash attention on the matrix units (subgroup matrices), the f16 twin of
// attention.wgsl: O[q, h, :] = softmax_k(Q[q, h, :] . K[k, h, :] / sqrt(D)) V[k, h, :] over keys k < validKeys.
// Q K^T and P V are 16x16x16 subgroup-matrix products (f16 operands, f32 results); the online softmax runs
// in f32 through workgroup memory, because a result matrix cannot be indexed. Head dim D = 128 only
// (the host falls back to attention.wgsl for other D, for f32 and where the adapter has no matrix units).
// Bindings (token-major, row-major, as attention.wgsl):
//   0 uniform Params { Lq, Lk, N, validKeys, qscale }   qscale = log2(e) / sqrt(D) (scores in log2 units)
//   1 q   read       array<vec4<f16>>  [Lq, N, D]
//   2 k   read       array<vec4<f16>>  [Lk, N, D]
//   3 v   read       array<vec4<f16>>  [Lk, N, D]
//   4 o   read_write array<vec4<f16>>  [Lq, N, D]
//   5 lse read_write array<f32>        [Lq, N]   only with ${lse}: natural-log LSE of the scores, -1e30 with no
//     valid key (the same contract as attention.wgsl, so attention_merge.wgsl merges either kernel's output).
// Dispatch: (ceil(Lq / BQ), N, 1). A workgroup owns BQ = 16 NSG queries of one head; subgroup sg (32
// invocations) owns query rows 16 sg .. 16 sg + 15 and keeps, for the whole run:
//   qm0..qm7  its Q rows as 8 left matrices (16 rows x 16 d each), loaded once;
//   o0..o7    its O rows as 8 result matrices (16 rows x 16 d columns each), f32.
// Named variables, not arrays: arrays of subgroup matrices ran 35% slower in the GEMM probes (spills).
// Per key tile of BK keys: K and V [BK, D] are staged in workgroup memory (keys >= validKeys as zeros);
//   S = Q K^T: BK/16 result matrices, each stored to the subgroup's S tile ss [16, BK] f32;
//   softmax: invocation `lane` owns row lane/2, key half lane%2 (BK/2 keys); the row maximum meets its
//     partner through subgroupShuffleXor; P = exp2(s - m) is written as f16 to ps [16, BK];
//   O += P V: BK/16 left matrices of P times 8 right matrices of V each.
// Lazy rescaling: the running max m of a row moves only when the tile's max exceeds it by more than TH
// (log2 units), so P <= 2^TH = 256 (f16-safe) and O needs rescaling (a round trip through ss, since a
// result matrix cannot be scaled per row) only then: on the first tile and rarely after. The decision is
// made for the whole workgroup (workgroupUniformLoad of a flag), so every barrier stays uniform.
// Defines: lse, NSG (subgroups), BK (keys per tile, multiple of 32, 2 BK >= BQ: Q is staged in kv), WG = 32 NSG.
// Subgroup size 32 is required (the host checks). Chosen in src/ops/attention_matrix.ts.

enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);

struct Params {
  Lq: u32,
  Lk: u32,
  N: u32,
  validKeys: u32,
  qscale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f16>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f16>>;
@group(0) @binding(4) var<storage, read_write> o: array<vec4<f16>>;
#if ${lse}
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
#endif

alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Result = subgroup_matrix_result<f32, 16, 16>;

const D: u32 = 128u;
const D4: u32 = D / 4u;
const NSG: u32 = ${NSG}u;
const WG: u32 = ${WG}u;          // 32 NSG invocations
const BQ: u32 = 16u * NSG;
const BK: u32 = ${BK}u;
const HK: u32 = BK / 2u;         // keys of a row per invocation in the softmax
const DS: u32 = D + 8u;          // f16 row stride of the Q/K/V tiles (padding spreads banks for the matrix loads)
const VOFF: u32 = BK * DS;       // V tile after the K tile in kv
const SS: u32 = BK + 4u;         // f32 row stride of an S tile
const PS: u32 = BK + 8u;         // f16 row stride of a P tile
const TH: f32 = 8.0;             // lazy-rescale threshold, log2 units: P <= 2^8
const NEG: f32 = -1.0e30;        // "minus infinity" that keeps exp2(NEG - m) = 0 without inf - inf

// Every workgroup variable is a multiple of 16 bytes, so each starts 16-byte aligned however the compiler packs
// them: the matrix loads want 16-byte aligned rows. (An earlier layout with a lone u32 flag computed P V as if V
// were read 2 halves early on the H200; misalignment of kv is the suspected cause, not yet confirmed.)
var<workgroup> kv: array<f16, 2u * BK * DS>;    // K tile [BK, DS] then V tile [BK, DS]; Q rows [BQ, DS] at start
var<workgroup> ss: array<f32, NSG * 16u * SS>;  // S tile per subgroup [16, SS]; O pairs when rescaling / storing
var<workgroup> ps: array<f16, NSG * 16u * PS>;  // P tile per subgroup [16, PS]
var<workgroup> rescale: vec4<u32>;              // .x: some row of the workgroup moved its max this tile

// Stages Q rows [t0, t0 + rows) of the head at vec4 offset `hoff` into kv [rows, DS]; rows at or past `valid`
// are zeros.
fn stageQ(t0: u32, rows: u32, valid: u32, hoff: u32, rs4: u32, lid: u32) {
  for (var idx = lid; idx < rows * D4; idx += WG) {
    let r = idx / D4;
    let c4 = idx % D4;
    var x = vec4<f16>(0.0);
    if (t0 + r < valid) { x = q[(t0 + r) * rs4 + hoff + c4]; }
    let at = r * DS + c4 * 4u;
    kv[at] = x.x; kv[at + 1u] = x.y; kv[at + 2u] = x.z; kv[at + 3u] = x.w;
  }
}

// Stages K and V rows [t0, t0 + BK) into kv ([BK, DS] each, V at VOFF); keys at or past `valid` are zeros.
fn stageKV(t0: u32, valid: u32, hoff: u32, rs4: u32, lid: u32) {
  for (var idx = lid; idx < BK * D4; idx += WG) {
    let r = idx / D4;
    let c4 = idx % D4;
    var xk = vec4<f16>(0.0);
    var xv = vec4<f16>(0.0);
    if (t0 + r < valid) {
      let g = (t0 + r) * rs4 + hoff + c4;
      xk = k[g];
      xv = v[g];
    }
    let at = r * DS + c4 * 4u;
    kv[at] = xk.x; kv[at + 1u] = xk.y; kv[at + 2u] = xk.z; kv[at + 3u] = xk.w;
    kv[VOFF + at] = xv.x; kv[VOFF + at + 1u] = xv.y; kv[VOFF + at + 2u] = xv.z; kv[VOFF + at + 3u] = xv.w;
  }
}

// Multiplies this invocation's part of a stored O pair (row r, columns 16 hf .. 16 hf + 15 of [16, 32] at sb)
// by `f` in place.
fn scalePair(sb: u32, r: u32, hf: u32, f: f32) {
  let at = sb + r * SS + hf * 16u;
  for (var j = 0u; j < 16u; j++) { ss[at + j] *= f; }
}

// Writes this invocation's part of a stored O pair (columns 32 c .. 32 c + 31 of the head) to o, times inv.
fn storePair(sb: u32, r: u32, hf: u32, c: u32, row: u32, rs4: u32, hoff: u32, inv: f32) {
  if (row >= p.Lq) { return; }
  let at = sb + r * SS + hf * 16u;
  let g = row * rs4 + hoff + c * 8u + hf * 4u;
  for (var j = 0u; j < 4u; j++) {
    let a = at + 4u * j;
    o[g + j] = vec4<f16>(vec4<f32>(ss[a], ss[a + 1u], ss[a + 2u], ss[a + 3u]) * inv);
  }
}

#if ${lse}
fn storeLse(row: u32, head: u32, m: f32, l: f32) {
  if (row >= p.Lq) { return; }
  lse[row * p.N + head] = select(NEG, (m + log2(l)) * 0.69314718055994531, l > 0.0);
}
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  // sg < NSG, lane < 32: the subgroup size is 32 (checked by the host)
  let q0 = wg.x * BQ;
  let head = wg.y;
  let r = lane / 2u;               // softmax row of this invocation within the subgroup's 16
  let hf = lane % 2u;              // its key half
  let rs4 = p.N * D4;              // vec4 stride of a token row
  let hoff = head * D4;
  let nvalid = min(p.validKeys, p.Lk);
  let sb = sg * 16u * SS;          // this subgroup's S tile in ss
  let pb = sg * 16u * PS;          // ... P tile in ps

  // ---- Q rows of this subgroup -> qm0..qm7: all BQ rows staged through kv at once (BQ <= 2 BK, checked by
  // the host), then loaded by every subgroup outside any loop or branch.
  stageQ(q0, BQ, p.Lq, hoff, rs4, lid);
  workgroupBarrier();
  let qa = sg * 16u * DS;
  let qm0 = subgroupMatrixLoad<Left, row_major>(&kv, qa, DS);
  let qm1 = subgroupMatrixLoad<Left, row_major>(&kv, qa + 16u, DS);
  let qm2 = subgroupMatrixLoad<Left, row_major>(&kv, qa + 32u, DS);
  let qm3 = subgroupMatrixLoad<Left, row_major>(&kv, qa + 48u, DS);
  let qm4 = subgroupMatrixLoad<Left, row_major>(&kv, qa + 64u, DS);
  let qm5 = subgroupMatrixLoad<Left, row_major>(&kv, qa + 80u, DS);
  let qm6 = subgroupMatrixLoad<Left, row_major>(&kv, qa + 96u, DS);
  let qm7 = subgroupMatrixLoad<Left, row_major>(&kv, qa + 112u, DS);

  // Explicit zeros: this Dawn does not re-zero a result variable declared without an initialiser (see below).
  var o0 = Result(0.0); var o1 = Result(0.0); var o2 = Result(0.0); var o3 = Result(0.0);
  var o4 = Result(0.0); var o5 = Result(0.0); var o6 = Result(0.0); var o7 = Result(0.0);
  var mrow = NEG;                  // running max of row r (log2 units; both invocations of a row agree)
  var lrow = 0.0;                  // this invocation's partial row sum of P (its key half)

  for (var kt0 = 0u; kt0 < nvalid; kt0 += BK) {
    workgroupBarrier();            // the previous tile's reads of kv, ps and `rescale` are done
    if (lid == 0u) { rescale.x = 0u; }
    stageKV(kt0, nvalid, hoff, rs4, lid);
    workgroupBarrier();
    // ---- S = Q K^T, 16 keys at a time: K^T as a right matrix is K's tile read column-major
    for (var j = 0u; j < BK / 16u; j++) {
      let kb = j * 16u * DS;
      // The first product initialises s: a `var s: Result;` here is not zeroed again on each iteration by this
      // Dawn (it accumulated across iterations on the H200; bench/variants/matrix_primitives.ts checks it).
      var s = subgroupMatrixMultiply<f32>(qm0, subgroupMatrixLoad<Right, col_major>(&kv, kb, DS));
      s = subgroupMatrixMultiplyAccumulate(qm1, subgroupMatrixLoad<Right, col_major>(&kv, kb + 16u, DS), s);
      s = subgroupMatrixMultiplyAccumulate(qm2, subgroupMatrixLoad<Right, col_major>(&kv, kb + 32u, DS), s);
      s = subgroupMatrixMultiplyAccumulate(qm3, subgroupMatrixLoad<Right, col_major>(&kv, kb + 48u, DS), s);
      s = subgroupMatrixMultiplyAccumulate(qm4, subgroupMatrixLoad<Right, col_major>(&kv, kb + 64u, DS), s);
      s = subgroupMatrixMultiplyAccumulate(qm5, subgroupMatrixLoad<Right, col_major>(&kv, kb + 80u, DS), s);
      s = subgroupMatrixMultiplyAccumulate(qm6, subgroupMatrixLoad<Right, col_major>(&kv, kb + 96u, DS), s);
      s = subgroupMatrixMultiplyAccumulate(qm7, subgroupMatrixLoad<Right, col_major>(&kv, kb + 112u, DS), s);
      subgroupMatrixStore<row_major>(&ss, sb + j * 16u, s, SS);
    }
    workgroupBarrier();
    // ---- softmax of row r, keys kt0 + HK hf .. + HK - 1: max, lazy rescale decision, P (f16) and its sum
    let sa = sb + r * SS + hf * HK;
    let key0 = kt0 + hf * HK;
    var tmax = NEG;
    for (var j = 0u; j < HK; j++) {
      if (key0 + j < nvalid) { tmax = max(tmax, ss[sa + j] * p.qscale); }
    }
    tmax = max(tmax, subgroupShuffleXor(tmax, 1u));
    var alpha = 1.0;
    if (tmax > mrow + TH) {
      alpha = exp2(mrow - tmax);
      mrow = tmax;
      rescale.x = 1u;
    }
    var psum = 0.0;
    let pa = pb + r * PS + hf * HK;
    for (var j = 0u; j < HK; j++) {
      var pj = f16(0.0);
      if (key0 + j < nvalid) { pj = f16(exp2(ss[sa + j] * p.qscale - mrow)); }
      ps[pa + j] = pj;
      psum += f32(pj);             // the sum of the P that multiplies V (rounded to f16 as it is)
    }
    lrow = lrow * alpha + psum;
    // ---- O *= alpha per row, when some row moved its max (not on the first tile: O is still 0 there).
    // O goes through ss two matrices at a time; the softmax reads of ss are behind the uniform load's barrier.
    if (workgroupUniformLoad(&rescale).x != 0u && kt0 > 0u) {
      subgroupMatrixStore<row_major>(&ss, sb, o0, SS); subgroupMatrixStore<row_major>(&ss, sb + 16u, o1, SS);
      workgroupBarrier(); scalePair(sb, r, hf, alpha); workgroupBarrier();
      o0 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS); o1 = subgroupMatrixLoad<Result, row_major>(&ss, sb + 16u, SS);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&ss, sb, o2, SS); subgroupMatrixStore<row_major>(&ss, sb + 16u, o3, SS);
      workgroupBarrier(); scalePair(sb, r, hf, alpha); workgroupBarrier();
      o2 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS); o3 = subgroupMatrixLoad<Result, row_major>(&ss, sb + 16u, SS);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&ss, sb, o4, SS); subgroupMatrixStore<row_major>(&ss, sb + 16u, o5, SS);
      workgroupBarrier(); scalePair(sb, r, hf, alpha); workgroupBarrier();
      o4 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS); o5 = subgroupMatrixLoad<Result, row_major>(&ss, sb + 16u, SS);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&ss, sb, o6, SS); subgroupMatrixStore<row_major>(&ss, sb + 16u, o7, SS);
      workgroupBarrier(); scalePair(sb, r, hf, alpha); workgroupBarrier();
      o6 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS); o7 = subgroupMatrixLoad<Result, row_major>(&ss, sb + 16u, SS);
    }
    // ---- O += P V: V's tile read row-major as right matrices (16 keys x 16 d)
    for (var j = 0u; j < BK / 16u; j++) {
      let pm = subgroupMatrixLoad<Left, row_major>(&ps, pb + j * 16u, PS);
      let vb = VOFF + j * 16u * DS;
      o0 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, vb, DS), o0);
      o1 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, vb + 16u, DS), o1);
      o2 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, vb + 32u, DS), o2);
      o3 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, vb + 48u, DS), o3);
      o4 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, vb + 64u, DS), o4);
      o5 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, vb + 80u, DS), o5);
      o6 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, vb + 96u, DS), o6);
      o7 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, vb + 112u, DS), o7);
    }
  }

  // ---- O / l, two matrices (32 d columns) at a time through ss; l of a row = the two halves' sums
  let l = lrow + subgroupShuffleXor(lrow, 1u);
  let inv = select(0.0, 1.0 / l, l > 0.0);
  let row = q0 + sg * 16u + r;
#if ${lse}
  if (hf == 0u) { storeLse(row, head, mrow, l); }
#endif
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&ss, sb, o0, SS); subgroupMatrixStore<row_major>(&ss, sb + 16u, o1, SS);
  workgroupBarrier(); storePair(sb, r, hf, 0u, row, rs4, hoff, inv); workgroupBarrier();
  subgroupMatrixStore<row_major>(&ss, sb, o2, SS); subgroupMatrixStore<row_major>(&ss, sb + 16u, o3, SS);
  workgroupBarrier(); storePair(sb, r, hf, 1u, row, rs4, hoff, inv); workgroupBarrier();
  subgroupMatrixStore<row_major>(&ss, sb, o4, SS); subgroupMatrixStore<row_major>(&ss, sb + 16u, o5, SS);
  workgroupBarrier(); storePair(sb, r, hf, 2u, row, rs4, hoff, inv); workgroupBarrier();
  subgroupMatrixStore<row_major>(&ss, sb, o6, SS); subgroupMatrixStore<row_major>(&ss, sb + 16u, o7, SS);
  workgroupBarrier(); storePair(sb, r, hf, 3u, row, rs4, hoff, inv);
}
