// attention_flash_wide: flash attention on the matrix units for head dims D = 128 DQ over 128 (256, 384, 512): the
// VAE mid block's single head (D = 384 in Wan2.1). Same bindings, masking and LSE contract as attention_flash.wgsl:
//   O[q, h, :] = softmax_k(Q[q, h, :] . K[k, h, :] / sqrt(D)) V[k, h, :] over keys k < validKeys.
// f16 operands, f32 results (16x16x16 subgroup matrices).
// Bindings (token-major, row-major, as attention.wgsl):
//   0 uniform Params { Lq, Lk, N, validKeys, qscale }   qscale = log2(e) / sqrt(D) (scores in log2 units)
//   1 q   read       array<vec4<f16>>  [Lq, N, D]
//   2 k   read       array<vec4<f16>>  [Lk, N, D]
//   3 v   read       array<vec4<f16>>  [Lk, N, D]
//   4 o   read_write array<vec4<f16>>  [Lq, N, D]
//   5 lse read_write array<f32>        [Lq, N]   only with ${lse} (written by the z = 0 workgroups): natural-log
//     LSE of the scores, -1e30 with no valid key (attention.wgsl's contract).
// Dispatch: (ceil(Lq / BQ), N, DQ). Workgroup (x, h, z) owns BQ = 16 NSG queries of head h and output columns
// 128 z .. 128 z + 127: O of 16 rows x 128 columns is 8 f32 result matrices per subgroup (64 registers), and Q of
// 16 rows x D is 8 DQ left matrices (an array; 96 registers at D = 384), which would not fit beside O for all D
// columns. So each workgroup computes S = Q K^T over the whole head dim and the z workgroups of a query block repeat
// it (S is half the work at one chunk: 2x the arithmetic at D = 384, against the scalar kernel's FMA units).
// Per tile of BK keys (as attention_flash.wgsl, staged, one V buffer, no register prefetch): S into this subgroup's
// S slice; barrier; softmax of row lane / 2, key half lane % 2 (max, lazy rescale decision, P as f16 and its
// sum); the next K tile copied; workgroupUniformLoad of the rescale flag; O rescaled through the S slice when a row
// moved its max by more than TH; O += P V (V columns of this chunk only); barrier; the next V tile.
// The last tile starts at nvalid - BK (every row read is a valid key) and masks the keys it repeats (< t BK).
// Defines: lse, NSG, BK (32), WG = 32 NSG, DQ, QROWS (Q rows staged per pass through kv: a multiple of 16 dividing
// BQ), KVN (vec4 size of kv). Chosen by src/ops/attention_matrix.ts (widePlan). Subgroup size 32 is required.

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

const DQ: u32 = ${DQ}u;          // 128-column chunks of the head dim
const D4: u32 = 32u * DQ;        // vec4s of a head row
const NQ: u32 = 8u * DQ;         // Q (and K^T) matrices along the head dim
const DS4: u32 = D4 + 2u;        // vec4 row stride of the Q and K tiles (16-byte aligned rows, 8 rows hit 32 banks)
const VS4: u32 = 34u;            // ... of the V tile (128 columns)
const NSG: u32 = ${NSG}u;
const WG: u32 = ${WG}u;          // 32 NSG invocations
const BQ: u32 = 16u * NSG;
const BK: u32 = ${BK}u;
const QROWS: u32 = ${QROWS}u;    // Q rows staged per pass
const KVN: u32 = ${KVN}u;        // vec4 size of kv
const KT: u32 = BK * DS4;        // vec4s of the K tile; the V tile follows it
const SS4: u32 = BK / 4u + 1u;   // vec4<f32> row stride of an S slice
const PS4: u32 = BK / 4u + 2u;   // vec4<f16> row stride of a P slice
const HK4: u32 = BK / 8u;        // vec4s of a row half (BK / 2 keys) per invocation in the softmax
const TH: f32 = 8.0;             // lazy-rescale threshold, log2 units: P <= 2^8
const NEG: f32 = -1.0e30;        // "minus infinity" that keeps exp2(NEG - m) = 0 without inf - inf

var<workgroup> kv: array<vec4<f16>, KVN>;              // K tile [BK, DS4] at 0, V tile [BK, VS4] at KT; Q staging first
var<workgroup> ss: array<vec4<f32>, NSG * 16u * SS4>;  // S slice per subgroup [16, BK] f32; O pairs at the end
var<workgroup> ps: array<vec4<f16>, NSG * 16u * PS4>;  // P slice per subgroup [16, BK] f16
var<workgroup> flag: vec4<u32>;                        // .x = t + 1: some row moved its max in tile t

// First key row of tile t: t BK, except the last tile of a run of nvalid >= BK keys, which ends at nvalid.
fn tileBase(t: u32, nvalid: u32) -> u32 {
  if (nvalid < BK) { return 0u; }
  return min(t * BK, nvalid - BK);
}

// Copies K rows [base, base + BK) of the head (all D columns) into the K tile (rows >= nvalid as zeros).
fn copyK(base: u32, nvalid: u32, hoff: u32, rs4: u32, lid: u32) {
  for (var idx = lid; idx < BK * D4; idx += WG) {
    let key = base + idx / D4;
    var x = vec4<f16>(0.0);
    if (key < nvalid) { x = k[key * rs4 + hoff + idx % D4]; }
    kv[(idx / D4) * DS4 + idx % D4] = x;
  }
}

// Copies V rows [base, base + BK), columns of chunk z (32 vec4s from voff), into the V tile.
fn copyV(base: u32, nvalid: u32, voff: u32, rs4: u32, lid: u32) {
  for (var idx = lid; idx < BK * 32u; idx += WG) {
    let key = base + idx / 32u;
    var x = vec4<f16>(0.0);
    if (key < nvalid) { x = v[key * rs4 + voff + idx % 32u]; }
    kv[KT + (idx / 32u) * VS4 + idx % 32u] = x;
  }
}

// Stages Q rows [t0, t0 + QROWS) of the head into kv [QROWS, DS4]; rows at or past Lq are zeros.
fn stageQ(t0: u32, hoff: u32, rs4: u32, lid: u32) {
  for (var idx = lid; idx < QROWS * D4; idx += WG) {
    let r = idx / D4;
    var x = vec4<f16>(0.0);
    if (t0 + r < p.Lq) { x = q[(t0 + r) * rs4 + hoff + idx % D4]; }
    kv[r * DS4 + idx % D4] = x;
  }
}

// Multiplies this invocation's part of a stored O pair (row r, 16 columns from 16 hf) by f in place.
fn scalePair(sb: u32, r: u32, hf: u32, f: f32) {
  let at = sb + r * SS4 + hf * 4u;
  for (var j = 0u; j < 4u; j++) { ss[at + j] *= f; }
}

// Writes this invocation's part of a stored O pair (chunk columns 32 c + 16 hf .. + 15) to o, times inv.
fn storePair(sb: u32, r: u32, hf: u32, c: u32, row: u32, rs4: u32, voff: u32, inv: f32) {
  if (row >= p.Lq) { return; }
  let at = sb + r * SS4 + hf * 4u;
  let g = row * rs4 + voff + c * 8u + hf * 4u;
  for (var j = 0u; j < 4u; j++) { o[g + j] = vec4<f16>(ss[at + j] * inv); }
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
  let q0 = wg.x * BQ;
  let head = wg.y;
  let r = lane / 2u;               // softmax row of this invocation within the subgroup's 16
  let hf = lane % 2u;              // its key half
  let rs4 = p.N * D4;              // vec4 stride of a token row
  let hoff = head * D4;
  let voff = hoff + wg.z * 32u;    // this workgroup's 128 output columns
  let nvalid = min(p.validKeys, p.Lk);
  let nt = (nvalid + BK - 1u) / BK;
  let sb = sg * 16u * SS4;         // this subgroup's S slice in ss
  let pb = sg * 16u * PS4;         // ... P slice in ps

  // ---- Q rows of this subgroup -> qm[0 .. NQ), staged through kv QROWS rows at a time (zeros past Lq)
  var qm: array<Left, NQ>;
  for (var c = 0u; c < BQ / QROWS; c++) {
    workgroupBarrier();
    stageQ(q0 + c * QROWS, hoff, rs4, lid);
    workgroupBarrier();
    if (sg / (QROWS / 16u) == c) {
      let qa = (sg % (QROWS / 16u)) * 16u * DS4;
      for (var i = 0u; i < NQ; i++) { qm[i] = subgroupMatrixLoad<Left, row_major>(&kv, qa + 4u * i, DS4); }
    }
  }

  // Explicit zeros: this Dawn does not re-zero a result variable declared without an initialiser.
  var o0 = Result(0.0); var o1 = Result(0.0); var o2 = Result(0.0); var o3 = Result(0.0);
  var o4 = Result(0.0); var o5 = Result(0.0); var o6 = Result(0.0); var o7 = Result(0.0);
  var mrow = NEG;                  // running max of row r (log2 units; both invocations of a row agree)
  var lrow = 0.0;                  // this invocation's partial row sum of P (its key half)

  // ---- prologue: tile 0 into kv
  workgroupBarrier();              // every subgroup has its Q out of kv
  if (nt > 0u) {
    copyK(tileBase(0u, nvalid), nvalid, hoff, rs4, lid);
    copyV(tileBase(0u, nvalid), nvalid, voff, rs4, lid);
  }
  workgroupBarrier();

  for (var t = 0u; t < nt; t++) {
    let base = tileBase(t, nvalid);
    let lo = t * BK;               // keys below lo were counted by earlier tiles
    // ---- S = Q K^T over the whole head dim, 16 keys at a time, into this subgroup's S slice
    for (var j = 0u; j < BK / 16u; j++) {
      let kb = j * 16u * DS4;
      var s = Result(0.0);
      for (var i = 0u; i < NQ; i++) {
        s = subgroupMatrixMultiplyAccumulate(qm[i], subgroupMatrixLoad<Right, col_major>(&kv, kb + 4u * i, DS4), s);
      }
      subgroupMatrixStore<row_major>(&ss, (sb + j * 4u), s, SS4);
    }
    workgroupBarrier();            // S visible to the softmax lanes; every subgroup is past its K reads

    // ---- softmax of row r, keys base + BK/2 hf ..: max, lazy rescale decision, P (f16) and its sum
    let sa = sb + r * SS4 + hf * HK4;
    let pa = pb + r * PS4 + hf * HK4;
    let key0 = base + hf * (BK / 2u);
    var tmax = NEG;
    for (var i = 0u; i < HK4; i++) {
      let key = vec4<u32>(key0 + 4u * i) + vec4<u32>(0u, 1u, 2u, 3u);
      let ok = (key >= vec4<u32>(lo)) & (key < vec4<u32>(nvalid));
      let x = select(vec4<f32>(NEG), ss[sa + i] * p.qscale, ok);
      tmax = max(tmax, max(max(x.x, x.y), max(x.z, x.w)));
    }
    tmax = max(tmax, subgroupShuffleXor(tmax, 1u));
    var alpha = 1.0;
    if (tmax > mrow + TH) {
      alpha = exp2(mrow - tmax);
      mrow = tmax;
      flag.x = t + 1u;
    }
    var psum = vec4<f32>(0.0);
    for (var i = 0u; i < HK4; i++) {
      let key = vec4<u32>(key0 + 4u * i) + vec4<u32>(0u, 1u, 2u, 3u);
      let ok = (key >= vec4<u32>(lo)) & (key < vec4<u32>(nvalid));
      let pj = vec4<f16>(exp2(select(vec4<f32>(NEG), ss[sa + i] * p.qscale, ok) - vec4<f32>(mrow)));
      ps[pa + i] = pj;
      psum += vec4<f32>(pj);       // the sum of the P that multiplies V (rounded to f16 as it is)
    }
    lrow = lrow * alpha + (psum.x + psum.y) + (psum.z + psum.w);

    // ---- next tile's K (every subgroup is past S(t))
    if (t + 1u < nt) { copyK(tileBase(t + 1u, nvalid), nvalid, hoff, rs4, lid); }

    // ---- O *= alpha per row, when some row of the workgroup moved its max (never on the first tile: O = 0).
    // The uniform load is the barrier that makes P (and the next K) visible.
    if (workgroupUniformLoad(&flag).x == t + 1u && t > 0u) {
      subgroupMatrixStore<row_major>(&ss, sb, o0, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), o1, SS4);
      workgroupBarrier(); scalePair(sb, r, hf, alpha); workgroupBarrier();
      o0 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS4); o1 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + 4u), SS4);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&ss, sb, o2, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), o3, SS4);
      workgroupBarrier(); scalePair(sb, r, hf, alpha); workgroupBarrier();
      o2 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS4); o3 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + 4u), SS4);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&ss, sb, o4, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), o5, SS4);
      workgroupBarrier(); scalePair(sb, r, hf, alpha); workgroupBarrier();
      o4 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS4); o5 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + 4u), SS4);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&ss, sb, o6, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), o7, SS4);
      workgroupBarrier(); scalePair(sb, r, hf, alpha); workgroupBarrier();
      o6 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS4); o7 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + 4u), SS4);
      workgroupBarrier();
    }

    // ---- O += P V, 16 keys at a time: P as left matrices, V as right matrices (16 keys x 16 columns)
    for (var j = 0u; j < BK / 16u; j++) {
      let pm = subgroupMatrixLoad<Left, row_major>(&ps, (pb + j * 4u), PS4);
      let vb = KT + j * 16u * VS4;
      o0 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, vb, VS4), o0);
      o1 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, (vb + 4u), VS4), o1);
      o2 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, (vb + 8u), VS4), o2);
      o3 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, (vb + 12u), VS4), o3);
      o4 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, (vb + 16u), VS4), o4);
      o5 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, (vb + 20u), VS4), o5);
      o6 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, (vb + 24u), VS4), o6);
      o7 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, (vb + 28u), VS4), o7);
    }

    // ---- every subgroup is past P V(t) before V(t + 1) goes in
    if (t + 1u < nt) {
      workgroupBarrier();
      copyV(tileBase(t + 1u, nvalid), nvalid, voff, rs4, lid);
    }
  }

  // ---- O / l, two matrices (32 columns) at a time through the S slice; l of a row = the two halves' sums
  let l = lrow + subgroupShuffleXor(lrow, 1u);
  let inv = select(0.0, 1.0 / l, l > 0.0);
  let row = q0 + sg * 16u + r;
#if ${lse}
  if (hf == 0u && wg.z == 0u) { storeLse(row, head, mrow, l); }
#endif
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&ss, sb, o0, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), o1, SS4);
  workgroupBarrier(); storePair(sb, r, hf, 0u, row, rs4, voff, inv); workgroupBarrier();
  subgroupMatrixStore<row_major>(&ss, sb, o2, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), o3, SS4);
  workgroupBarrier(); storePair(sb, r, hf, 1u, row, rs4, voff, inv); workgroupBarrier();
  subgroupMatrixStore<row_major>(&ss, sb, o4, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), o5, SS4);
  workgroupBarrier(); storePair(sb, r, hf, 2u, row, rs4, voff, inv); workgroupBarrier();
  subgroupMatrixStore<row_major>(&ss, sb, o6, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), o7, SS4);
  workgroupBarrier(); storePair(sb, r, hf, 3u, row, rs4, voff, inv);
}
