// attention_flash: flash attention on the matrix units, rebuilt around what NVIDIA's cooperative matrices need
// (the successor of attention_matrix.wgsl; same bindings, masking and LSE contract, so attention_merge.wgsl
// merges its output and the parallel layer sees no difference):
//   O[q, h, :] = softmax_k(Q[q, h, :] . K[k, h, :] / sqrt(D)) V[k, h, :] over keys k < validKeys.
// f16 operands, f32 results (16x16x16 subgroup matrices), head dim D = 128 only.
// Bindings (token-major, row-major, as attention.wgsl):
//   0 uniform Params { Lq, Lk, N, validKeys, qscale }   qscale = log2(e) / sqrt(D) (scores in log2 units)
//   1 q   read       array<vec4<f16>>  [Lq, N, D]
//   2 k   read       array<vec4<f16>>  [Lk, N, D]
//   3 v   read       array<vec4<f16>>  [Lk, N, D]
//   4 o   read_write array<vec4<f16>>  [Lq, N, D]
//   5 lse read_write array<f32>        [Lq, N]   only with ${lse}: natural-log LSE of the scores, -1e30 with no
//     valid key (attention.wgsl's contract).
// Dispatch: (ceil(Lq / BQ), N, 1). A workgroup owns BQ = 16 NSG queries of one head; subgroup sg owns query
// rows 16 sg .. 16 sg + 15 and keeps its Q as 8 left matrices and its O as 8 f32 result matrices for the
// whole run (named variables: arrays of matrices spilled in the GEMM probes).
// What changed against attention_matrix.wgsl (whose K/V staging cost 196 ms at L = 32,760, bench/RESULTS.md):
//   - every workgroup array is vec4-typed and matrix loads/stores use the array-of-vectors overload of
//     subgroupMatrixLoad/Store: one 16-byte store per vector instead of four f16 stores. Offsets and strides
//     count array elements (Tint's robustness.cc: "Offset and stride are counted in array stride"; the null
//     backend also rejects constant offsets read as components: "pointer operand ... too small").
//   - staged mode (${direct} off): K and V tiles are copied with register prefetch: the vec4 loads of tile
//     t + 2 are issued right after tile t + 1 is stored, so they fly during tile t's matrix work; K(t + 1) is
//     stored during tile t's softmax (every subgroup is past S(t) then), V(t + 1) into a second V buffer
//     (${VDB}) or after one more barrier. Per tile: 1 barrier after S, workgroupUniformLoad after P (the
//     rescale decision), and with one V buffer 1 more.
//   - direct mode (${direct} on): K^T and V right matrices are loaded straight from the storage buffers
//     (rows of 256 bytes, 16-byte aligned at D = 128), no staging; the subgroups of a workgroup share them
//     through the L1 cache. Needs validKeys >= BK (the host falls back to staged mode below that).
//   - no zero-filled tail tile: the last tile starts at nvalid - BK (every row read is a valid key), and the
//     keys it repeats (< t BK) are masked out of P. Only when nvalid < BK is anything zero-filled.
//   - the row sum of P is taken in the exp pass; O is rescaled only when a row max moves by more than TH.
// S goes through workgroup memory (a result matrix cannot be indexed): each subgroup has its own S and P slice
// [16, BK]; invocation `lane` owns row lane / 2 and key half lane % 2.
// Defines: lse, NSG, BK (16, 32 or 64; pairs: the O round trips take 2 matrices at a time, BK >= 32, else
// singles), ld16 / ld8 (staged: 16- or 8-byte global loads, LDW = 2 or 1), WG = 32 NSG, direct / staged (one of them), VDB (0 or 1) and
// vdb / oneV (staged with two / one V buffers), QROWS (Q rows staged at once, a multiple of 16 dividing BQ) and
// qonce (QROWS = BQ), KVN (vec4 size of kv). Chosen by src/ops/attention_matrix.ts (matrixAttentionPlan).
// Subgroup size 32 is required (the host checks).

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
#if ${ld16}
// ld16: K and V read as 16-byte vectors (8 halves) when staged, each stored as two vec4<f16> (bitcast)
@group(0) @binding(2) var<storage, read> k: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<u32>>;
#else
@group(0) @binding(2) var<storage, read> k: array<vec4<f16>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f16>>;
#endif
@group(0) @binding(4) var<storage, read_write> o: array<vec4<f16>>;
#if ${lse}
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
#endif

alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Result = subgroup_matrix_result<f32, 16, 16>;

const D4: u32 = 32u;             // vec4s of a head row (D = 128)
const NSG: u32 = ${NSG}u;
const WG: u32 = ${WG}u;          // 32 NSG invocations
const BQ: u32 = 16u * NSG;
const BK: u32 = ${BK}u;
const QROWS: u32 = ${QROWS}u;    // Q rows staged per pass
const KVN: u32 = ${KVN}u;        // vec4<f16> size of kv
const DS4: u32 = D4 + 2u;        // vec4 row stride of the Q/K/V tiles: 272 bytes, 8 rows of 16 bytes hit 32 banks
const KT: u32 = BK * DS4;        // vec4s of one K or V tile
const SS4: u32 = BK / 4u + 1u;   // vec4<f32> row stride of an S slice
const PS4: u32 = BK / 4u + 2u;   // vec4<f16> row stride of a P slice
const HK4: u32 = BK / 8u;        // vec4s of a row half (BK / 2 keys) per invocation in the softmax
const LDW: u32 = ${LDW}u;        // vec4<f16>s per global load: 1, or 2 with ld16
const NPF: u32 = BK * D4 / (WG * LDW);  // loads of K (and of V) each invocation issues per tile (staged mode)
const TH: f32 = 8.0;             // lazy-rescale threshold, log2 units: P <= 2^8
const NEG: f32 = -1.0e30;        // "minus infinity" that keeps exp2(NEG - m) = 0 without inf - inf

// kv: staged mode: K tile at 0, V tile(s) at KT (and 2 KT with VDB); Q rows are staged through it first.
// direct mode: only the Q staging (and nothing after).
var<workgroup> kv: array<vec4<f16>, KVN>;
var<workgroup> ss: array<vec4<f32>, NSG * 16u * SS4>;  // S slice per subgroup [16, BK] f32; O pairs at the end
var<workgroup> ps: array<vec4<f16>, NSG * 16u * PS4>;  // P slice per subgroup [16, BK] f16
var<workgroup> flag: vec4<u32>;                        // .x = t + 1: some row moved its max in tile t

// First key row of tile t: t BK, except the last tile of a run of nvalid >= BK keys, which ends at nvalid.
fn tileBase(t: u32, nvalid: u32) -> u32 {
  if (nvalid < BK) { return 0u; }
  return min(t * BK, nvalid - BK);
}

#if ${ld16}
var<private> pk: array<vec4<u32>, NPF>;  // prefetched K of the next tile, 16 bytes per load
var<private> pv: array<vec4<u32>, NPF>;  // ... V

// Issues the global loads of tile rows [base, base + BK) of the head into pk/pv (rows >= nvalid as zeros).
fn fetchKV(base: u32, nvalid: u32, hoff: u32, rs4: u32, lid: u32) {
  for (var i = 0u; i < NPF; i++) {
    let idx = lid + i * WG;
    let key = base + idx / (D4 / 2u);
    if (key < nvalid) {
      let g = key * (rs4 / 2u) + hoff / 2u + idx % (D4 / 2u);
      pk[i] = k[g];
      pv[i] = v[g];
    } else {
      pk[i] = vec4<u32>(0u);
      pv[i] = vec4<u32>(0u);
    }
  }
}

fn storeK(lid: u32) {
  for (var i = 0u; i < NPF; i++) {
    let idx = lid + i * WG;
    let at = (idx / (D4 / 2u)) * DS4 + 2u * (idx % (D4 / 2u));
    kv[at] = bitcast<vec4<f16>>(pk[i].xy);
    kv[at + 1u] = bitcast<vec4<f16>>(pk[i].zw);
  }
}

fn storeV(at0: u32, lid: u32) {
  for (var i = 0u; i < NPF; i++) {
    let idx = lid + i * WG;
    let at = at0 + (idx / (D4 / 2u)) * DS4 + 2u * (idx % (D4 / 2u));
    kv[at] = bitcast<vec4<f16>>(pv[i].xy);
    kv[at + 1u] = bitcast<vec4<f16>>(pv[i].zw);
  }
}
#endif

#if ${ld8}
var<private> pk: array<vec4<f16>, NPF>;  // prefetched K vec4s of the next tile
var<private> pv: array<vec4<f16>, NPF>;  // ... V

// Issues the global loads of tile rows [base, base + BK) of the head into pk/pv (rows >= nvalid as zeros).
fn fetchKV(base: u32, nvalid: u32, hoff: u32, rs4: u32, lid: u32) {
  for (var i = 0u; i < NPF; i++) {
    let idx = lid + i * WG;
    let key = base + idx / D4;
    if (key < nvalid) {
      let g = key * rs4 + hoff + idx % D4;
      pk[i] = k[g];
      pv[i] = v[g];
    } else {
      pk[i] = vec4<f16>(0.0);
      pv[i] = vec4<f16>(0.0);
    }
  }
}

fn storeK(lid: u32) {
  for (var i = 0u; i < NPF; i++) {
    let idx = lid + i * WG;
    kv[(idx / D4) * DS4 + idx % D4] = pk[i];
  }
}

fn storeV(at: u32, lid: u32) {
  for (var i = 0u; i < NPF; i++) {
    let idx = lid + i * WG;
    kv[at + (idx / D4) * DS4 + idx % D4] = pv[i];
  }
}
#endif

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

// Writes this invocation's part of a stored O pair (head columns 32 c + 16 hf .. + 15) to o, times inv.
fn storePair(sb: u32, r: u32, hf: u32, c: u32, row: u32, rs4: u32, hoff: u32, inv: f32) {
  if (row >= p.Lq) { return; }
  let at = sb + r * SS4 + hf * 4u;
  let g = row * rs4 + hoff + c * 8u + hf * 4u;
  for (var j = 0u; j < 4u; j++) { o[g + j] = vec4<f16>(ss[at + j] * inv); }
}

#if ${singles}
// BK = 16: an S slice row holds one O matrix (16 columns), not a pair: the O round trips go one at a time.
// Returns m with this invocation's row r, columns 8 hf .. 8 hf + 7, times f (through the S slice).
fn scaleOne(m: Result, sb: u32, r: u32, hf: u32, f: f32) -> Result {
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&ss, sb, m, SS4);
  workgroupBarrier();
  let at = sb + r * SS4 + hf * 2u;
  ss[at] *= f; ss[at + 1u] *= f;
  workgroupBarrier();
  return subgroupMatrixLoad<Result, row_major>(&ss, sb, SS4);
}

// Writes this invocation's part of O matrix c (head columns 16 c + 8 hf .. + 7) of row `row` to o, times inv.
fn storeOne(m: Result, sb: u32, r: u32, hf: u32, c: u32, row: u32, rs4: u32, hoff: u32, inv: f32) {
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&ss, sb, m, SS4);
  workgroupBarrier();
  if (row >= p.Lq) { return; }
  let at = sb + r * SS4 + hf * 2u;
  let g = row * rs4 + hoff + c * 4u + hf * 2u;
  o[g] = vec4<f16>(ss[at] * inv);
  o[g + 1u] = vec4<f16>(ss[at + 1u] * inv);
}
#endif

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
  let nvalid = min(p.validKeys, p.Lk);
  let nt = (nvalid + BK - 1u) / BK;
  let sb = sg * 16u * SS4;         // this subgroup's S slice in ss
  let pb = sg * 16u * PS4;         // ... P slice in ps

  // ---- Q rows of this subgroup -> qm0..qm7, staged through kv QROWS rows at a time (zeros past Lq)
#if ${qonce}
  stageQ(q0, hoff, rs4, lid);
  workgroupBarrier();
  let qa = sg * 16u * DS4;
  let qm0 = subgroupMatrixLoad<Left, row_major>(&kv, qa, DS4);
  let qm1 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 4u), DS4);
  let qm2 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 8u), DS4);
  let qm3 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 12u), DS4);
  let qm4 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 16u), DS4);
  let qm5 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 20u), DS4);
  let qm6 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 24u), DS4);
  let qm7 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 28u), DS4);
#else
  var qm0: Left; var qm1: Left; var qm2: Left; var qm3: Left;
  var qm4: Left; var qm5: Left; var qm6: Left; var qm7: Left;
  for (var c = 0u; c < BQ / QROWS; c++) {
    workgroupBarrier();
    stageQ(q0 + c * QROWS, hoff, rs4, lid);
    workgroupBarrier();
    if (sg / (QROWS / 16u) == c) {
      let qa = (sg % (QROWS / 16u)) * 16u * DS4;
      qm0 = subgroupMatrixLoad<Left, row_major>(&kv, qa, DS4);
      qm1 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 4u), DS4);
      qm2 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 8u), DS4);
      qm3 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 12u), DS4);
      qm4 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 16u), DS4);
      qm5 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 20u), DS4);
      qm6 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 24u), DS4);
      qm7 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 28u), DS4);
    }
  }
#endif

  // Explicit zeros: this Dawn does not re-zero a result variable declared without an initialiser.
  var o0 = Result(0.0); var o1 = Result(0.0); var o2 = Result(0.0); var o3 = Result(0.0);
  var o4 = Result(0.0); var o5 = Result(0.0); var o6 = Result(0.0); var o7 = Result(0.0);
  var mrow = NEG;                  // running max of row r (log2 units; both invocations of a row agree)
  var lrow = 0.0;                  // this invocation's partial row sum of P (its key half)

#if ${staged}
  // ---- prologue: tile 0 into kv (K at 0, V at KT), tile 1's loads in flight
  workgroupBarrier();              // every subgroup has its Q out of kv
  if (nt > 0u) {
    fetchKV(tileBase(0u, nvalid), nvalid, hoff, rs4, lid);
    storeK(lid);
    storeV(KT, lid);
    if (nt > 1u) { fetchKV(tileBase(1u, nvalid), nvalid, hoff, rs4, lid); }
  }
  workgroupBarrier();
#endif

  for (var t = 0u; t < nt; t++) {
    let base = tileBase(t, nvalid);
    let lo = t * BK;               // keys below lo were counted by earlier tiles
    // ---- S = Q K^T, 16 keys at a time, into this subgroup's S slice
    for (var j = 0u; j < BK / 16u; j++) {
#if ${direct}
      let kb = (base + j * 16u) * rs4 + hoff;
      var s = subgroupMatrixMultiply<f32>(qm0, subgroupMatrixLoad<Right, col_major>(&k, kb, rs4));
      s = subgroupMatrixMultiplyAccumulate(qm1, subgroupMatrixLoad<Right, col_major>(&k, (kb + 4u), rs4), s);
      s = subgroupMatrixMultiplyAccumulate(qm2, subgroupMatrixLoad<Right, col_major>(&k, (kb + 8u), rs4), s);
      s = subgroupMatrixMultiplyAccumulate(qm3, subgroupMatrixLoad<Right, col_major>(&k, (kb + 12u), rs4), s);
      s = subgroupMatrixMultiplyAccumulate(qm4, subgroupMatrixLoad<Right, col_major>(&k, (kb + 16u), rs4), s);
      s = subgroupMatrixMultiplyAccumulate(qm5, subgroupMatrixLoad<Right, col_major>(&k, (kb + 20u), rs4), s);
      s = subgroupMatrixMultiplyAccumulate(qm6, subgroupMatrixLoad<Right, col_major>(&k, (kb + 24u), rs4), s);
      s = subgroupMatrixMultiplyAccumulate(qm7, subgroupMatrixLoad<Right, col_major>(&k, (kb + 28u), rs4), s);
#else
      let kb = j * 16u * DS4;
      var s = subgroupMatrixMultiply<f32>(qm0, subgroupMatrixLoad<Right, col_major>(&kv, kb, DS4));
      s = subgroupMatrixMultiplyAccumulate(qm1, subgroupMatrixLoad<Right, col_major>(&kv, (kb + 4u), DS4), s);
      s = subgroupMatrixMultiplyAccumulate(qm2, subgroupMatrixLoad<Right, col_major>(&kv, (kb + 8u), DS4), s);
      s = subgroupMatrixMultiplyAccumulate(qm3, subgroupMatrixLoad<Right, col_major>(&kv, (kb + 12u), DS4), s);
      s = subgroupMatrixMultiplyAccumulate(qm4, subgroupMatrixLoad<Right, col_major>(&kv, (kb + 16u), DS4), s);
      s = subgroupMatrixMultiplyAccumulate(qm5, subgroupMatrixLoad<Right, col_major>(&kv, (kb + 20u), DS4), s);
      s = subgroupMatrixMultiplyAccumulate(qm6, subgroupMatrixLoad<Right, col_major>(&kv, (kb + 24u), DS4), s);
      s = subgroupMatrixMultiplyAccumulate(qm7, subgroupMatrixLoad<Right, col_major>(&kv, (kb + 28u), DS4), s);
#endif
      subgroupMatrixStore<row_major>(&ss, (sb + j * 4u), s, SS4);
    }
    workgroupBarrier();            // S visible to the softmax lanes; every subgroup is past its K reads

    // ---- softmax of row r, keys base + BK/2 hf ..: max, lazy rescale decision, P (f16) and its sum
    let sa = sb + r * SS4 + hf * HK4;
    let pa = pb + r * PS4 + hf * HK4;
    var x: array<vec4<f32>, HK4>;
    var tmax = NEG;
    if (base == lo && base + BK <= nvalid) {
      for (var i = 0u; i < HK4; i++) {
        x[i] = ss[sa + i] * p.qscale;
        tmax = max(tmax, max(max(x[i].x, x[i].y), max(x[i].z, x[i].w)));
      }
    } else {
      // a tile that repeats keys (< lo) or runs past nvalid: those scores are NEG
      let key0 = base + hf * (BK / 2u);
      for (var i = 0u; i < HK4; i++) {
        let key = vec4<u32>(key0 + 4u * i) + vec4<u32>(0u, 1u, 2u, 3u);
        let ok = (key >= vec4<u32>(lo)) & (key < vec4<u32>(nvalid));
        x[i] = select(vec4<f32>(NEG), ss[sa + i] * p.qscale, ok);
        tmax = max(tmax, max(max(x[i].x, x[i].y), max(x[i].z, x[i].w)));
      }
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
      let pj = vec4<f16>(exp2(x[i] - vec4<f32>(mrow)));
      ps[pa + i] = pj;
      psum += vec4<f32>(pj);       // the sum of the P that multiplies V (rounded to f16 as it is)
    }
    lrow = lrow * alpha + (psum.x + psum.y) + (psum.z + psum.w);

#if ${staged}
    // ---- next tile's K (every subgroup is past S(t)) and, with two V buffers, its V; then tile t + 2's loads
    let vcur = KT + (t % 2u) * KT * ${VDB}u;
    if (t + 1u < nt) {
      storeK(lid);
#if ${vdb}
      storeV(KT + ((t + 1u) % 2u) * KT, lid);
      if (t + 2u < nt) { fetchKV(tileBase(t + 2u, nvalid), nvalid, hoff, rs4, lid); }
#endif
    }
#endif

    // ---- O *= alpha per row, when some row of the workgroup moved its max (never on the first tile: O = 0).
    // The uniform load is the barrier that makes P (and the next K/V) visible.
    if (workgroupUniformLoad(&flag).x == t + 1u && t > 0u) {
#if ${pairs}
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
#else
      o0 = scaleOne(o0, sb, r, hf, alpha); o1 = scaleOne(o1, sb, r, hf, alpha);
      o2 = scaleOne(o2, sb, r, hf, alpha); o3 = scaleOne(o3, sb, r, hf, alpha);
      o4 = scaleOne(o4, sb, r, hf, alpha); o5 = scaleOne(o5, sb, r, hf, alpha);
      o6 = scaleOne(o6, sb, r, hf, alpha); o7 = scaleOne(o7, sb, r, hf, alpha);
#endif
    }

    // ---- O += P V, 16 keys at a time: P as left matrices, V as right matrices (16 keys x 16 d)
    for (var j = 0u; j < BK / 16u; j++) {
      let pm = subgroupMatrixLoad<Left, row_major>(&ps, (pb + j * 4u), PS4);
#if ${direct}
      let vb = (base + j * 16u) * rs4 + hoff;
      o0 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&v, vb, rs4), o0);
      o1 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&v, (vb + 4u), rs4), o1);
      o2 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&v, (vb + 8u), rs4), o2);
      o3 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&v, (vb + 12u), rs4), o3);
      o4 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&v, (vb + 16u), rs4), o4);
      o5 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&v, (vb + 20u), rs4), o5);
      o6 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&v, (vb + 24u), rs4), o6);
      o7 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&v, (vb + 28u), rs4), o7);
#else
      let vb = vcur + j * 16u * DS4;
      o0 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, vb, DS4), o0);
      o1 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, (vb + 4u), DS4), o1);
      o2 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, (vb + 8u), DS4), o2);
      o3 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, (vb + 12u), DS4), o3);
      o4 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, (vb + 16u), DS4), o4);
      o5 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, (vb + 20u), DS4), o5);
      o6 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, (vb + 24u), DS4), o6);
      o7 = subgroupMatrixMultiplyAccumulate(pm, subgroupMatrixLoad<Right, row_major>(&kv, (vb + 28u), DS4), o7);
#endif
    }

#if ${oneV}
    // ---- one V buffer: every subgroup is past P V(t) before V(t + 1) goes in; then tile t + 2's loads
    if (t + 1u < nt) {
      workgroupBarrier();
      storeV(KT, lid);
      if (t + 2u < nt) { fetchKV(tileBase(t + 2u, nvalid), nvalid, hoff, rs4, lid); }
    }
#endif
  }

  // ---- O / l, two matrices (32 d columns) at a time through the S slice; l of a row = the two halves' sums
  let l = lrow + subgroupShuffleXor(lrow, 1u);
  let inv = select(0.0, 1.0 / l, l > 0.0);
  let row = q0 + sg * 16u + r;
#if ${lse}
  if (hf == 0u) { storeLse(row, head, mrow, l); }
#endif
#if ${pairs}
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&ss, sb, o0, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), o1, SS4);
  workgroupBarrier(); storePair(sb, r, hf, 0u, row, rs4, hoff, inv); workgroupBarrier();
  subgroupMatrixStore<row_major>(&ss, sb, o2, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), o3, SS4);
  workgroupBarrier(); storePair(sb, r, hf, 1u, row, rs4, hoff, inv); workgroupBarrier();
  subgroupMatrixStore<row_major>(&ss, sb, o4, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), o5, SS4);
  workgroupBarrier(); storePair(sb, r, hf, 2u, row, rs4, hoff, inv); workgroupBarrier();
  subgroupMatrixStore<row_major>(&ss, sb, o6, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), o7, SS4);
  workgroupBarrier(); storePair(sb, r, hf, 3u, row, rs4, hoff, inv);
#else
  storeOne(o0, sb, r, hf, 0u, row, rs4, hoff, inv); storeOne(o1, sb, r, hf, 1u, row, rs4, hoff, inv);
  storeOne(o2, sb, r, hf, 2u, row, rs4, hoff, inv); storeOne(o3, sb, r, hf, 3u, row, rs4, hoff, inv);
  storeOne(o4, sb, r, hf, 4u, row, rs4, hoff, inv); storeOne(o5, sb, r, hf, 5u, row, rs4, hoff, inv);
  storeOne(o6, sb, r, hf, 6u, row, rs4, hoff, inv); storeOne(o7, sb, r, hf, 7u, row, rs4, hoff, inv);
#endif
}
