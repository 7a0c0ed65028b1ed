// attention_flash2: flash attention on the matrix units with 32 query rows per subgroup (two row blocks), so
// every K and V matrix loaded from workgroup memory feeds two multiplies (FlashAttention-2's warp layout:
// 32 rows per warp at head dim 128). Same bindings, masking and LSE contract as attention_flash.wgsl and
// attention_matrix.wgsl, so attention_merge.wgsl merges its output and the parallel layer sees no difference:
//   O[q, h, :] = softmax_k(Q[q, h, :] . K[k, h, :] / sqrt(D)) V[k, h, :] over keys k < validKeys.
// f16 operands, f32 results (16x16x16 subgroup matrices), head dim D = 128 only.
// Bindings (token-major, row-major, as attention.wgsl):
//   0 uniform Params { Lq, Lk, N, validKeys, qscale }   qscale = log2(e) / sqrt(D) (scores in log2 units)
//   1 q   read       array<KV>         [Lq, N, D]   KV = vec4<u32> (8 halves, ${kv16}) or vec4<f16>
//   2 k   read       array<KV>         [Lk, N, D]
//   3 v   read       array<KV>         [Lk, N, D]
//   4 o   read_write array<vec4<f16>>  [Lq, N, D]
//   5 lse read_write array<f32>        [Lq, N]   only with ${lse}: natural-log LSE of the scores, -1e30 with no
//     valid key (attention.wgsl's contract).
// Dispatch: (ceil(Lq / BQ), N, 1). A workgroup owns BQ = 32 NSG queries of one head; subgroup sg owns query rows
// 32 sg .. 32 sg + 31 as two row blocks a (16 rows) and b (16 rows): Q as 16 left matrices qa0..7, qb0..7 and O
// as 16 f32 result matrices oa0..7, ob0..7 for the whole run (named variables: arrays of matrices spill).
// Against attention_flash.wgsl (16 rows per subgroup): the K^T and V right matrices are loaded once per two
// multiplies instead of one (half the workgroup-memory matrix traffic per multiply); the softmax is one row per
// invocation (no shuffle: the row max and row sum stay in the invocation); the K/V tiles are copied as KV
// elements: with ${kv16}, 16-byte global loads and 16-byte workgroup stores (subgroupMatrixLoad reads an
// array<vec4<u32>> of f16 pairs: offsets and strides count vec4<u32>s, 8 halves).
// Per tile of BK keys: S = Q K^T (both row blocks) into this subgroup's S slice; barrier; softmax of row `lane`
// (max, lazy rescale decision, P as f16 and its row sum in one pass); the next tile's K (and with ${vdb} its V,
// into the other V buffer) copied; workgroupUniformLoad of the rescale flag (the barrier that makes P and the
// next K visible); O rescaled through the S slice only when some row moved its max by more than TH; O += P V;
// with one V buffer (${oneV}) one more barrier and the next V. With ${pf} the global loads of tile t + 2 are
// issued into registers once tile t + 1's are stored (they fly during tile t's matrix work); without, each copy
// loads and stores in one go (fewer registers: Q and O already hold 192 per invocation).
// The last tile starts at nvalid - BK (every row read is a valid key) and masks the keys it repeats (< t BK);
// only when nvalid < BK is anything zero-filled.
// Defines: lse, NSG, BK (16 or 32), WG = 32 NSG, kv16 / KVW (halves per KV element: 8 or 4), VDB (0 or 1) and
// vdb / oneV, pf, QROWS (Q rows staged per pass through kv: a multiple of 32 dividing BQ), KVN (KV size of kv),
// pairs (BK 32: O round trips two matrices per row block) / singles (BK 16); diagnostics for the sweep only (wrong
// results, to time what a part costs): diagCopy false (no K/V copy after tile 0's), diagNoSoftmax (tile 0's P
// reused), diagOneBar (a plain barrier instead of the flag's uniform load: no rescale); onepass (a full tile's S
// read once: P against the running max, the two passes only for a row whose max moves by more than TH). Chosen by
// src/ops/attention_matrix.ts (flash2Plan). Subgroup size 32 is required (the host checks).

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

#if ${kv16}
alias KV = vec4<u32>;            // 8 halves
#else
alias KV = vec4<f16>;            // 4 halves
#endif

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<KV>;
@group(0) @binding(2) var<storage, read> k: array<KV>;
@group(0) @binding(3) var<storage, read> v: array<KV>;
@group(0) @binding(4) var<storage, read_write> o: array<vec4<f16>>;
#if ${lse}
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
#endif

alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Result = subgroup_matrix_result<f32, 16, 16>;

const KVW: u32 = ${KVW}u;        // halves per KV element
const DE: u32 = 128u / KVW;      // KV elements of a head row (D = 128)
const DSE: u32 = 136u / KVW;     // row stride of the Q/K/V tiles: 272 bytes (16-byte aligned rows, 8 rows hit 32 banks)
const CH: u32 = 16u / KVW;       // KV elements of 16 head columns (one matrix)
const NSG: u32 = ${NSG}u;
const WG: u32 = ${WG}u;          // 32 NSG invocations
const BQ: u32 = 32u * NSG;
const BK: u32 = ${BK}u;
const QROWS: u32 = ${QROWS}u;    // Q rows staged per pass
const KVN: u32 = ${KVN}u;        // KV size of kv
const KT: u32 = BK * DSE;        // KV elements of one K or V tile
const VOFF: u32 = KT;            // the V tile(s) follow the K tile
const SS4: u32 = BK / 4u + 1u;   // vec4<f32> row stride of an S slice (rows of 144 or 80 bytes)
const PS4: u32 = BK / 4u + 2u;   // vec4<f16> row stride of a P slice (16-byte aligned rows)
const RS: u32 = 16u * SS4;       // row block b's offset in an S slice
const RP: u32 = 16u * PS4;       // ... in a P slice
const NPF: u32 = BK * DE / WG;   // KV elements of K (and of V) each invocation copies per tile
const TH: f32 = 8.0;             // lazy-rescale threshold, log2 units: P <= 2^8
const NEG: f32 = -1.0e30;        // "minus infinity" that keeps exp2(NEG - m) = 0 without inf - inf

// kv: K tile at 0, V tile(s) at VOFF (and VOFF + KT with ${vdb}); Q rows are staged through it first.
var<workgroup> kv: array<KV, KVN>;
var<workgroup> ss: array<vec4<f32>, NSG * 32u * SS4>;  // S slice per subgroup [32, BK] f32; O round trips
var<workgroup> ps: array<vec4<f16>, NSG * 32u * PS4>;  // P slice per subgroup [32, BK] f16
var<workgroup> flag: vec4<u32>;                        // .x = t + 1: some row moved its max in tile t

// First key row of tile t: t BK, except the last tile of a run of nvalid >= BK keys, which ends at nvalid.
fn tileBase(t: u32, nvalid: u32) -> u32 {
  if (nvalid < BK) { return 0u; }
  return min(t * BK, nvalid - BK);
}

#if ${pf}
var<private> pk: array<KV, NPF>;  // prefetched K of a coming tile
var<private> pv: array<KV, NPF>;  // ... V

// Issues the global loads of tile rows [base, base + BK) of the head into pk/pv (rows >= nvalid as zeros).
fn fetchKV(base: u32, nvalid: u32, hoff: u32, rs: u32, lid: u32) {
  for (var i = 0u; i < NPF; i++) {
    let idx = lid + i * WG;
    let key = base + idx / DE;
    if (key < nvalid) {
      let g = key * rs + hoff + idx % DE;
      pk[i] = k[g];
      pv[i] = v[g];
    } else {
      pk[i] = KV();
      pv[i] = KV();
    }
  }
}

fn storeK(lid: u32) {
  for (var i = 0u; i < NPF; i++) {
    let idx = lid + i * WG;
    kv[(idx / DE) * DSE + idx % DE] = pk[i];
  }
}

fn storeV(at: u32, lid: u32) {
  for (var i = 0u; i < NPF; i++) {
    let idx = lid + i * WG;
    kv[at + (idx / DE) * DSE + idx % DE] = pv[i];
  }
}
#else
// Copies K rows [base, base + BK) of the head into the K tile (rows >= nvalid as zeros).
fn copyK(base: u32, nvalid: u32, hoff: u32, rs: u32, lid: u32) {
  for (var i = 0u; i < NPF; i++) {
    let idx = lid + i * WG;
    let key = base + idx / DE;
    var x = KV();
    if (key < nvalid) { x = k[key * rs + hoff + idx % DE]; }
    kv[(idx / DE) * DSE + idx % DE] = x;
  }
}

// ... V rows into the V tile at `at`.
fn copyV(at: u32, base: u32, nvalid: u32, hoff: u32, rs: u32, lid: u32) {
  for (var i = 0u; i < NPF; i++) {
    let idx = lid + i * WG;
    let key = base + idx / DE;
    var x = KV();
    if (key < nvalid) { x = v[key * rs + hoff + idx % DE]; }
    kv[at + (idx / DE) * DSE + idx % DE] = x;
  }
}
#endif

// Stages Q rows [t0, t0 + QROWS) of the head into kv [QROWS, DSE]; rows at or past Lq are zeros.
fn stageQ(t0: u32, hoff: u32, rs: u32, lid: u32) {
  for (var idx = lid; idx < QROWS * DE; idx += WG) {
    let r = idx / DE;
    var x = KV();
    if (t0 + r < p.Lq) { x = q[(t0 + r) * rs + hoff + idx % DE]; }
    kv[r * DSE + idx % DE] = x;
  }
}

// Scales this invocation's S-slice row (n4 vec4s from `at`) by f, between two barriers (the O round trip).
fn scaleRow(at: u32, n4: u32, f: f32) {
  workgroupBarrier();
  for (var j = 0u; j < n4; j++) { ss[at + j] *= f; }
  workgroupBarrier();
}

// Writes n4 vec4s of this invocation's S-slice row (head columns 16 c .. 16 c + 4 n4 - 1) to o, times inv,
// between two barriers (the final O round trip).
fn writeRow(at: u32, n4: u32, c: u32, row: u32, head: u32, inv: f32) {
  workgroupBarrier();
  if (row < p.Lq) {
    let g = (row * p.N + head) * 32u + c * 4u;
    for (var j = 0u; j < n4; j++) { o[g + j] = vec4<f16>(ss[at + j] * inv); }
  }
  workgroupBarrier();
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
  let rs = p.N * DE;               // KV stride of a token row
  let hoff = head * DE;
  let nvalid = min(p.validKeys, p.Lk);
  let nt = (nvalid + BK - 1u) / BK;
  let sb = sg * 32u * SS4;         // this subgroup's S slice in ss (row block b at sb + RS)
  let pb = sg * 32u * PS4;         // ... P slice in ps (row block b at pb + RP)
  let sr = sb + lane * SS4;        // this invocation's S row (softmax row `lane` of the subgroup's 32)
  let pr = pb + lane * PS4;        // ... P row

  // ---- Q rows of this subgroup -> qa0..7 (rows 0..15), qb0..7 (rows 16..31), staged QROWS rows at a time
  var qa0: Left; var qa1: Left; var qa2: Left; var qa3: Left; var qa4: Left; var qa5: Left; var qa6: Left; var qa7: Left;
  var qb0: Left; var qb1: Left; var qb2: Left; var qb3: Left; var qb4: Left; var qb5: Left; var qb6: Left; var qb7: Left;
  for (var c = 0u; c < BQ / QROWS; c++) {
    workgroupBarrier();
    stageQ(q0 + c * QROWS, hoff, rs, lid);
    workgroupBarrier();
    if (sg / (QROWS / 32u) == c) {
      let qa = (sg % (QROWS / 32u)) * 32u * DSE;
      let qb = qa + 16u * DSE;
      qa0 = subgroupMatrixLoad<Left, row_major>(&kv, qa, DSE);
      qa1 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + CH), DSE);
      qa2 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 2u * CH), DSE);
      qa3 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 3u * CH), DSE);
      qa4 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 4u * CH), DSE);
      qa5 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 5u * CH), DSE);
      qa6 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 6u * CH), DSE);
      qa7 = subgroupMatrixLoad<Left, row_major>(&kv, (qa + 7u * CH), DSE);
      qb0 = subgroupMatrixLoad<Left, row_major>(&kv, qb, DSE);
      qb1 = subgroupMatrixLoad<Left, row_major>(&kv, (qb + CH), DSE);
      qb2 = subgroupMatrixLoad<Left, row_major>(&kv, (qb + 2u * CH), DSE);
      qb3 = subgroupMatrixLoad<Left, row_major>(&kv, (qb + 3u * CH), DSE);
      qb4 = subgroupMatrixLoad<Left, row_major>(&kv, (qb + 4u * CH), DSE);
      qb5 = subgroupMatrixLoad<Left, row_major>(&kv, (qb + 5u * CH), DSE);
      qb6 = subgroupMatrixLoad<Left, row_major>(&kv, (qb + 6u * CH), DSE);
      qb7 = subgroupMatrixLoad<Left, row_major>(&kv, (qb + 7u * CH), DSE);
    }
  }

  // Explicit zeros: this Dawn does not re-zero a result variable declared without an initialiser.
  var oa0 = Result(0.0); var oa1 = Result(0.0); var oa2 = Result(0.0); var oa3 = Result(0.0);
  var oa4 = Result(0.0); var oa5 = Result(0.0); var oa6 = Result(0.0); var oa7 = Result(0.0);
  var ob0 = Result(0.0); var ob1 = Result(0.0); var ob2 = Result(0.0); var ob3 = Result(0.0);
  var ob4 = Result(0.0); var ob5 = Result(0.0); var ob6 = Result(0.0); var ob7 = Result(0.0);
  var mrow = NEG;                  // running max of row `lane` (log2 units)
  var lrow = 0.0;                  // its running sum of P

  // ---- prologue: tile 0 into kv (K at 0, V at VOFF), with ${pf} tile 1's loads in flight
  workgroupBarrier();              // every subgroup has its Q out of kv
  if (nt > 0u) {
#if ${pf}
    fetchKV(tileBase(0u, nvalid), nvalid, hoff, rs, lid);
    storeK(lid);
    storeV(VOFF, lid);
    if (nt > 1u) { fetchKV(tileBase(1u, nvalid), nvalid, hoff, rs, lid); }
#else
    copyK(tileBase(0u, nvalid), nvalid, hoff, rs, lid);
    copyV(VOFF, tileBase(0u, nvalid), nvalid, hoff, rs, lid);
#endif
  }
  workgroupBarrier();

  for (var t = 0u; t < nt; t++) {
    let base = tileBase(t, nvalid);
    let lo = t * BK;               // keys below lo were counted by earlier tiles
    let vcur = VOFF + (t % 2u) * KT * ${VDB}u;
    // ---- S = Q K^T, 16 keys at a time, both row blocks, into this subgroup's S slice
    for (var j = 0u; j < BK / 16u; j++) {
      let kb = j * 16u * DSE;
      let k0 = subgroupMatrixLoad<Right, col_major>(&kv, kb, DSE);
      var sa = subgroupMatrixMultiply<f32>(qa0, k0);
      var sc = subgroupMatrixMultiply<f32>(qb0, k0);
      let k1 = subgroupMatrixLoad<Right, col_major>(&kv, (kb + CH), DSE);
      sa = subgroupMatrixMultiplyAccumulate(qa1, k1, sa); sc = subgroupMatrixMultiplyAccumulate(qb1, k1, sc);
      let k2 = subgroupMatrixLoad<Right, col_major>(&kv, (kb + 2u * CH), DSE);
      sa = subgroupMatrixMultiplyAccumulate(qa2, k2, sa); sc = subgroupMatrixMultiplyAccumulate(qb2, k2, sc);
      let k3 = subgroupMatrixLoad<Right, col_major>(&kv, (kb + 3u * CH), DSE);
      sa = subgroupMatrixMultiplyAccumulate(qa3, k3, sa); sc = subgroupMatrixMultiplyAccumulate(qb3, k3, sc);
      let k4 = subgroupMatrixLoad<Right, col_major>(&kv, (kb + 4u * CH), DSE);
      sa = subgroupMatrixMultiplyAccumulate(qa4, k4, sa); sc = subgroupMatrixMultiplyAccumulate(qb4, k4, sc);
      let k5 = subgroupMatrixLoad<Right, col_major>(&kv, (kb + 5u * CH), DSE);
      sa = subgroupMatrixMultiplyAccumulate(qa5, k5, sa); sc = subgroupMatrixMultiplyAccumulate(qb5, k5, sc);
      let k6 = subgroupMatrixLoad<Right, col_major>(&kv, (kb + 6u * CH), DSE);
      sa = subgroupMatrixMultiplyAccumulate(qa6, k6, sa); sc = subgroupMatrixMultiplyAccumulate(qb6, k6, sc);
      let k7 = subgroupMatrixLoad<Right, col_major>(&kv, (kb + 7u * CH), DSE);
      sa = subgroupMatrixMultiplyAccumulate(qa7, k7, sa); sc = subgroupMatrixMultiplyAccumulate(qb7, k7, sc);
      subgroupMatrixStore<row_major>(&ss, (sb + j * 4u), sa, SS4);
      subgroupMatrixStore<row_major>(&ss, (sb + RS + j * 4u), sc, SS4);
    }
    workgroupBarrier();            // S visible to the softmax lanes; every subgroup is past its K reads

    // ---- softmax of row `lane`, keys base ..: max, lazy rescale decision, P (f16) and its sum in one pass
    let qs = p.qscale;
    var alpha = 1.0;               // O's factor for this row (a moved max)
#if ${diagNoSoftmax}
    if (t == 0u) {                 // diagnostic (wrong results): P of tile 0 reused, no softmax work after it
#endif
    let full = base == lo && base + BK <= nvalid;
#if ${onepass}
    // one pass over a full tile's S: P against the running max while the tile max is taken; a row whose max
    // moves by more than TH (every row in tile 0, rarely later) takes the two passes below instead
    var done = false;
    if (full && t > 0u) {
      var m = ss[sr];
      var psum1 = vec4<f32>(0.0);
      for (var i = 0u; i < BK / 4u; i++) {
        let sv = ss[sr + i];
        m = max(m, sv);
        let pj = vec4<f16>(exp2(sv * qs - vec4<f32>(mrow)));
        ps[pr + i] = pj;
        psum1 += vec4<f32>(pj);
      }
      if (max(max(m.x, m.y), max(m.z, m.w)) * qs <= mrow + TH) {
        lrow += (psum1.x + psum1.y) + (psum1.z + psum1.w);
        done = true;
      }
    }
    if (!done) {
#endif
    var tmax = NEG;
    if (full) {
      var m = ss[sr];
      for (var i = 1u; i < BK / 4u; i++) { m = max(m, ss[sr + i]); }
      tmax = max(max(m.x, m.y), max(m.z, m.w)) * qs;
    } else {
      // a tile that repeats keys (< lo) or runs past nvalid: those scores are NEG
      for (var i = 0u; i < BK / 4u; i++) {
        let key = vec4<u32>(base + 4u * i) + vec4<u32>(0u, 1u, 2u, 3u);
        let ok = (key >= vec4<u32>(lo)) & (key < vec4<u32>(nvalid));
        let x = select(vec4<f32>(NEG), ss[sr + i] * qs, ok);
        tmax = max(tmax, max(max(x.x, x.y), max(x.z, x.w)));
      }
    }
    if (tmax > mrow + TH) {
      alpha = exp2(mrow - tmax);
      mrow = tmax;
      flag.x = t + 1u;
    }
    var psum = vec4<f32>(0.0);
    if (full) {
      for (var i = 0u; i < BK / 4u; i++) {
        let pj = vec4<f16>(exp2(ss[sr + i] * qs - vec4<f32>(mrow)));
        ps[pr + i] = pj;
        psum += vec4<f32>(pj);     // the sum of the P that multiplies V (rounded to f16 as it is)
      }
    } else {
      for (var i = 0u; i < BK / 4u; i++) {
        let key = vec4<u32>(base + 4u * i) + vec4<u32>(0u, 1u, 2u, 3u);
        let ok = (key >= vec4<u32>(lo)) & (key < vec4<u32>(nvalid));
        let pj = vec4<f16>(exp2(select(vec4<f32>(NEG), ss[sr + i] * qs, ok) - vec4<f32>(mrow)));
        ps[pr + i] = pj;
        psum += vec4<f32>(pj);
      }
    }
    lrow = lrow * alpha + (psum.x + psum.y) + (psum.z + psum.w);
#if ${onepass}
    }
#endif
#if ${diagNoSoftmax}
    }
#endif

    // ---- next tile's K (every subgroup is past S(t)) and, with two V buffers, its V
    if (t + 1u < nt && ${diagCopy}) {
#if ${pf}
      storeK(lid);
#if ${vdb}
      storeV(VOFF + ((t + 1u) % 2u) * KT, lid);
      if (t + 2u < nt) { fetchKV(tileBase(t + 2u, nvalid), nvalid, hoff, rs, lid); }
#endif
#else
      copyK(tileBase(t + 1u, nvalid), nvalid, hoff, rs, lid);
#if ${vdb}
      copyV(VOFF + ((t + 1u) % 2u) * KT, tileBase(t + 1u, nvalid), nvalid, hoff, rs, lid);
#endif
#endif
    }

    // ---- O *= alpha per row, when some row of the workgroup moved its max (never on the first tile: O = 0).
    // The uniform load is the barrier that makes P (and the next K/V) visible.
#if ${diagOneBar}
    workgroupBarrier();            // diagnostic (wrong results where a max moves): no rescale check
    if (false) {
#else
    if (workgroupUniformLoad(&flag).x == t + 1u && t > 0u) {
#endif
#if ${pairs}
      subgroupMatrixStore<row_major>(&ss, sb, oa0, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), oa1, SS4);
      subgroupMatrixStore<row_major>(&ss, (sb + RS), ob0, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS + 4u), ob1, SS4);
      scaleRow(sr, 8u, alpha);
      oa0 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS4); oa1 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + 4u), SS4);
      ob0 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + RS), SS4); ob1 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + RS + 4u), SS4);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&ss, sb, oa2, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), oa3, SS4);
      subgroupMatrixStore<row_major>(&ss, (sb + RS), ob2, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS + 4u), ob3, SS4);
      scaleRow(sr, 8u, alpha);
      oa2 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS4); oa3 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + 4u), SS4);
      ob2 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + RS), SS4); ob3 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + RS + 4u), SS4);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&ss, sb, oa4, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), oa5, SS4);
      subgroupMatrixStore<row_major>(&ss, (sb + RS), ob4, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS + 4u), ob5, SS4);
      scaleRow(sr, 8u, alpha);
      oa4 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS4); oa5 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + 4u), SS4);
      ob4 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + RS), SS4); ob5 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + RS + 4u), SS4);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&ss, sb, oa6, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), oa7, SS4);
      subgroupMatrixStore<row_major>(&ss, (sb + RS), ob6, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS + 4u), ob7, SS4);
      scaleRow(sr, 8u, alpha);
      oa6 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS4); oa7 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + 4u), SS4);
      ob6 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + RS), SS4); ob7 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + RS + 4u), SS4);
      workgroupBarrier();
#else
      subgroupMatrixStore<row_major>(&ss, sb, oa0, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS), ob0, SS4);
      scaleRow(sr, 4u, alpha);
      oa0 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS4); ob0 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + RS), SS4);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&ss, sb, oa1, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS), ob1, SS4);
      scaleRow(sr, 4u, alpha);
      oa1 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS4); ob1 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + RS), SS4);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&ss, sb, oa2, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS), ob2, SS4);
      scaleRow(sr, 4u, alpha);
      oa2 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS4); ob2 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + RS), SS4);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&ss, sb, oa3, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS), ob3, SS4);
      scaleRow(sr, 4u, alpha);
      oa3 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS4); ob3 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + RS), SS4);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&ss, sb, oa4, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS), ob4, SS4);
      scaleRow(sr, 4u, alpha);
      oa4 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS4); ob4 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + RS), SS4);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&ss, sb, oa5, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS), ob5, SS4);
      scaleRow(sr, 4u, alpha);
      oa5 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS4); ob5 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + RS), SS4);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&ss, sb, oa6, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS), ob6, SS4);
      scaleRow(sr, 4u, alpha);
      oa6 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS4); ob6 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + RS), SS4);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&ss, sb, oa7, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS), ob7, SS4);
      scaleRow(sr, 4u, alpha);
      oa7 = subgroupMatrixLoad<Result, row_major>(&ss, sb, SS4); ob7 = subgroupMatrixLoad<Result, row_major>(&ss, (sb + RS), SS4);
      workgroupBarrier();
#endif
    }

    // ---- O += P V, 16 keys at a time: P of each row block as a left matrix, V as right matrices (16 x 16 d)
    for (var j = 0u; j < BK / 16u; j++) {
      let pa = subgroupMatrixLoad<Left, row_major>(&ps, (pb + j * 4u), PS4);
      let pc = subgroupMatrixLoad<Left, row_major>(&ps, (pb + RP + j * 4u), PS4);
      let vb = vcur + j * 16u * DSE;
      let v0 = subgroupMatrixLoad<Right, row_major>(&kv, vb, DSE);
      oa0 = subgroupMatrixMultiplyAccumulate(pa, v0, oa0); ob0 = subgroupMatrixMultiplyAccumulate(pc, v0, ob0);
      let v1 = subgroupMatrixLoad<Right, row_major>(&kv, (vb + CH), DSE);
      oa1 = subgroupMatrixMultiplyAccumulate(pa, v1, oa1); ob1 = subgroupMatrixMultiplyAccumulate(pc, v1, ob1);
      let v2 = subgroupMatrixLoad<Right, row_major>(&kv, (vb + 2u * CH), DSE);
      oa2 = subgroupMatrixMultiplyAccumulate(pa, v2, oa2); ob2 = subgroupMatrixMultiplyAccumulate(pc, v2, ob2);
      let v3 = subgroupMatrixLoad<Right, row_major>(&kv, (vb + 3u * CH), DSE);
      oa3 = subgroupMatrixMultiplyAccumulate(pa, v3, oa3); ob3 = subgroupMatrixMultiplyAccumulate(pc, v3, ob3);
      let v4 = subgroupMatrixLoad<Right, row_major>(&kv, (vb + 4u * CH), DSE);
      oa4 = subgroupMatrixMultiplyAccumulate(pa, v4, oa4); ob4 = subgroupMatrixMultiplyAccumulate(pc, v4, ob4);
      let v5 = subgroupMatrixLoad<Right, row_major>(&kv, (vb + 5u * CH), DSE);
      oa5 = subgroupMatrixMultiplyAccumulate(pa, v5, oa5); ob5 = subgroupMatrixMultiplyAccumulate(pc, v5, ob5);
      let v6 = subgroupMatrixLoad<Right, row_major>(&kv, (vb + 6u * CH), DSE);
      oa6 = subgroupMatrixMultiplyAccumulate(pa, v6, oa6); ob6 = subgroupMatrixMultiplyAccumulate(pc, v6, ob6);
      let v7 = subgroupMatrixLoad<Right, row_major>(&kv, (vb + 7u * CH), DSE);
      oa7 = subgroupMatrixMultiplyAccumulate(pa, v7, oa7); ob7 = subgroupMatrixMultiplyAccumulate(pc, v7, ob7);
    }

#if ${oneV}
    // ---- one V buffer: every subgroup is past P V(t) before V(t + 1) goes in; then tile t + 2's loads
    if (t + 1u < nt && ${diagCopy}) {
      workgroupBarrier();
#if ${pf}
      storeV(VOFF, lid);
      if (t + 2u < nt) { fetchKV(tileBase(t + 2u, nvalid), nvalid, hoff, rs, lid); }
#else
      copyV(VOFF, tileBase(t + 1u, nvalid), nvalid, hoff, rs, lid);
#endif
    }
#endif
  }

  // ---- O / l through the S slice (row `lane` of both row blocks per round trip)
  let inv = select(0.0, 1.0 / lrow, lrow > 0.0);
  let row = q0 + sg * 32u + lane;
#if ${lse}
  storeLse(row, head, mrow, lrow);
#endif
  workgroupBarrier();
#if ${pairs}
  subgroupMatrixStore<row_major>(&ss, sb, oa0, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), oa1, SS4);
  subgroupMatrixStore<row_major>(&ss, (sb + RS), ob0, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS + 4u), ob1, SS4);
  writeRow(sr, 8u, 0u, row, head, inv);
  subgroupMatrixStore<row_major>(&ss, sb, oa2, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), oa3, SS4);
  subgroupMatrixStore<row_major>(&ss, (sb + RS), ob2, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS + 4u), ob3, SS4);
  writeRow(sr, 8u, 2u, row, head, inv);
  subgroupMatrixStore<row_major>(&ss, sb, oa4, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), oa5, SS4);
  subgroupMatrixStore<row_major>(&ss, (sb + RS), ob4, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS + 4u), ob5, SS4);
  writeRow(sr, 8u, 4u, row, head, inv);
  subgroupMatrixStore<row_major>(&ss, sb, oa6, SS4); subgroupMatrixStore<row_major>(&ss, (sb + 4u), oa7, SS4);
  subgroupMatrixStore<row_major>(&ss, (sb + RS), ob6, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS + 4u), ob7, SS4);
  writeRow(sr, 8u, 6u, row, head, inv);
#else
  subgroupMatrixStore<row_major>(&ss, sb, oa0, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS), ob0, SS4);
  writeRow(sr, 4u, 0u, row, head, inv);
  subgroupMatrixStore<row_major>(&ss, sb, oa1, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS), ob1, SS4);
  writeRow(sr, 4u, 1u, row, head, inv);
  subgroupMatrixStore<row_major>(&ss, sb, oa2, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS), ob2, SS4);
  writeRow(sr, 4u, 2u, row, head, inv);
  subgroupMatrixStore<row_major>(&ss, sb, oa3, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS), ob3, SS4);
  writeRow(sr, 4u, 3u, row, head, inv);
  subgroupMatrixStore<row_major>(&ss, sb, oa4, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS), ob4, SS4);
  writeRow(sr, 4u, 4u, row, head, inv);
  subgroupMatrixStore<row_major>(&ss, sb, oa5, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS), ob5, SS4);
  writeRow(sr, 4u, 5u, row, head, inv);
  subgroupMatrixStore<row_major>(&ss, sb, oa6, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS), ob6, SS4);
  writeRow(sr, 4u, 6u, row, head, inv);
  subgroupMatrixStore<row_major>(&ss, sb, oa7, SS4); subgroupMatrixStore<row_major>(&ss, (sb + RS), ob7, SS4);
  writeRow(sr, 4u, 7u, row, head, inv);
#endif
}
