// attention: fused flash attention, O[q, h, :] = softmax_k(Q[q, h, :] . K[k, h, :] * scale) V[k, h, :]
// over keys k < validKeys (later keys are masked out). Never materializes an Lq x Lk matrix: an online
// softmax runs over key tiles held in workgroup memory. Scores, softmax statistics and O accumulate in f32;
// storage is T (f16 or f32 by ${f16}).
// Bindings (all token-major, row-major; D a multiple of 4, so rows are read as vec4):
//   0 uniform Params { Lq, Lk, N, validKeys, qscale }   qscale = log2(e) / sqrt(D) (scores in log2 units)
//   1 q   read       array<vec4<T>>  [Lq, N, D]
//   2 k   read       array<vec4<T>>  [Lk, N, D]
//   3 v   read       array<vec4<T>>  [Lk, N, D]
//   4 o   read_write array<vec4<T>>  [Lq, N, D]
//   5 lse read_write array<f32>      [Lq, N]   only with ${lse}: per (query, head) log-sum-exp of the scores
//     (natural log: LSE = max + log(sum exp(s - max)), s = q.k / sqrt(D)); -1e30 when no key is valid.
//     Lets attention over disjoint key sets be merged exactly (shaders/attention_merge.wgsl).
// Dispatch: (ceil(Lq / BQ), N, 1). A workgroup owns BQ queries of one head, like a GEMM block:
//   threads (ty, tx), ty < BQ/TM (row group), tx < TX = BK/4. A thread owns TM = 4 or 8 query rows:
//   rows 4ty..4ty+3 ("A") and, with TM = 8, rows BQ/2 + 4ty..+3 ("B").
//   S = Q K^T tile [BQ x BK]: thread owns its rows x keys 4tx..4tx+3 (registers), accumulated over D
//     in chunks of DC: Q^T and K^T chunks staged in workgroup memory (region sa) through registers, the next
//     chunk's global loads issued before the current chunk is computed.
//   row max: partial maxima of the TX threads of a row meet in sp (before P is written there); row sums
//     stay per thread (every thread of a row rescales by the same factor) and are reduced once at the end.
//   P [BQ x BK] goes to sp; O [BQ x DV] += P V with V staged VK keys at a time in sa (reused);
//     thread owns its rows x vec4 columns tx + j*TX (j < TD4) of O in registers.
// Registers are named variables, not arrays (dynamically indexed private arrays go to local memory):
//   s0..s7 (S rows), a{i}{j} (O rows i < TM, vec4 columns j < TD4 <= 4; unused ones fold away).
// Defines: lse (write binding 5), D (head dim), BQ, BK, TM, tm8 (TM == 8), DC (D chunk), DV (D rounded up to 4*TX, DV/(4 TX) <= 4),
//   VK (keys per V chunk), PS (vec4 stride of a P row), SA4 / SP4 (vec4 sizes of sa / sp).
//   Chosen on the host (src/ops/attention.ts).

// @prelude

struct Params {
  Lq: u32,
  Lk: u32,
  N: u32,
  validKeys: u32,
  qscale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<T>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<T>>;
@group(0) @binding(4) var<storage, read_write> o: array<vec4<T>>;
#if ${lse}
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
#endif

const D: u32 = ${D}u;
const D4: u32 = D / 4u;
const BQ: u32 = ${BQ}u;
const BK: u32 = ${BK}u;
const TM: u32 = ${TM}u;        // query rows per thread: 4 or 8
const TM8: bool = ${tm8};
const TX: u32 = BK / 4u;
const TX4: u32 = TX / 4u;      // vec4s of one row's partial maxima / sums
const RG: u32 = BQ / TM;
const WG: u32 = RG * TX;
const DC: u32 = ${DC}u;
const DC4: u32 = DC / 4u;
const DV: u32 = ${DV}u;
const DV4: u32 = DV / 4u;
const TD4: u32 = DV4 / TX;     // 1..4
const VK: u32 = ${VK}u;
const QS: u32 = BQ / 4u;       // vec4 stride of a d row of Q^T in sa
const KS: u32 = BK / 4u;       // vec4 stride of a d row of K^T in sa
const KOFF: u32 = DC * QS;     // K^T chunk after the Q^T chunk
const QB: u32 = BQ / 8u;       // vec4 offset of the "B" rows (BQ/2) in a d row of Q^T
const NQ: u32 = ${NQ}u;        // Q chunk vec4s staged per thread: ceil(BQ * DC4 / WG) <= 4
const NK: u32 = ${NK}u;        // K chunk vec4s staged per thread: ceil(BK * DC4 / WG) <= 4
const PS: u32 = ${PS}u;        // vec4 stride of a query row of P
const NEG: f32 = -1.0e30;      // "minus infinity" that keeps exp2(NEG - m) = 0 without inf - inf

var<workgroup> sa: array<vec4<f32>, ${SA4}>;
var<workgroup> sp: array<vec4<f32>, ${SP4}>;

// Element idx of the Q chunk at d = dc..dc+DC-1 (row = idx % BQ, vec4 d4 = idx / BQ; consecutive threads
// take consecutive rows, so the transposed stores are conflict-free), scaled by qscale; 0 past the edges.
fn loadQ(idx: u32, q0: u32, dc: u32, hoff: u32, rs4: u32) -> vec4<f32> {
  let row = idx % BQ;
  let d4 = idx / BQ;
  if (idx >= BQ * DC4 || q0 + row >= p.Lq || dc + d4 * 4u >= D) { return vec4<f32>(0.0); }
  return vec4<f32>(q[(q0 + row) * rs4 + hoff + dc / 4u + d4]) * p.qscale;
}

// Q^T chunk: sa[d * QS + row/4][row%4]
fn storeQ(idx: u32, val: vec4<f32>) {
  if (idx >= BQ * DC4) { return; }
  let base = (idx / BQ) * 4u * QS + (idx % BQ) / 4u;
  let c = idx % 4u;
  sa[base][c] = val.x;
  sa[base + QS][c] = val.y;
  sa[base + 2u * QS][c] = val.z;
  sa[base + 3u * QS][c] = val.w;
}

fn loadK(idx: u32, kt0: u32, dc: u32, nvalid: u32, hoff: u32, rs4: u32) -> vec4<f32> {
  let key = idx % BK;
  let d4 = idx / BK;
  if (idx >= BK * DC4 || kt0 + key >= nvalid || dc + d4 * 4u >= D) { return vec4<f32>(0.0); }
  return vec4<f32>(k[(kt0 + key) * rs4 + hoff + dc / 4u + d4]);
}

// K^T chunk: sa[KOFF + d * KS + key/4][key%4]
fn storeK(idx: u32, val: vec4<f32>) {
  if (idx >= BK * DC4) { return; }
  let base = KOFF + (idx / BK) * 4u * KS + (idx % BK) / 4u;
  let c = idx % 4u;
  sa[base][c] = val.x;
  sa[base + KS][c] = val.y;
  sa[base + 2u * KS][c] = val.z;
  sa[base + 3u * KS][c] = val.w;
}

// acc + P row piece (4 keys) times the 4 V rows of those keys, as explicit FMAs.
fn pv(acc: vec4<f32>, pk: vec4<f32>, w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>, w3: vec4<f32>) -> vec4<f32> {
  return fma(w3, vec4<f32>(pk.w), fma(w2, vec4<f32>(pk.z), fma(w1, vec4<f32>(pk.y), fma(w0, vec4<f32>(pk.x), acc))));
}

fn hmax(s: vec4<f32>) -> f32 {
  return max(max(s.x, s.y), max(s.z, s.w));
}

// Partial per-row values (max or sum) of the TX threads of a row live in sp as scalars [row * TX + tx].
fn putPartial(row: u32, tx: u32, x: f32) {
  let i = row * TX + tx;
  sp[i / 4u][i % 4u] = x;
}

fn rowMax(row: u32) -> f32 {
  var m = sp[row * TX4];
  for (var u = 1u; u < TX4; u++) { m = max(m, sp[row * TX4 + u]); }
  return hmax(m);
}

fn rowSum(row: u32) -> f32 {
  var s = sp[row * TX4];
  for (var u = 1u; u < TX4; u++) { s += sp[row * TX4 + u]; }
  return dot(s, vec4<f32>(1.0));
}

// One query row of O scaled by inv: vec4 columns c4 + j*TX (j < TD4) of the head at vec4 offset hoff.
fn storeRow(row: u32, rs4: u32, hoff: u32, c4: u32, inv: f32, c0: vec4<f32>, c1: vec4<f32>, c2: vec4<f32>, c3: vec4<f32>) {
  if (row >= p.Lq) { return; }
  let base = row * rs4 + hoff + c4;
  if (c4 < D4) { o[base] = vec4<T>(c0 * inv); }
  if (TD4 > 1u) { if (c4 + TX < D4) { o[base + TX] = vec4<T>(c1 * inv); } }
  if (TD4 > 2u) { if (c4 + 2u * TX < D4) { o[base + 2u * TX] = vec4<T>(c2 * inv); } }
  if (TD4 > 3u) { if (c4 + 3u * TX < D4) { o[base + 3u * TX] = vec4<T>(c3 * inv); } }
}

#if ${lse}
fn storeLse(row: u32, head: u32, m: f32, l: f32) {
  if (row >= p.Lq) { return; }
  lse[row * p.N + head] = select(NEG, (m + log2(l)) * 0.69314718055994531, l > 0.0);
}
#endif

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let q0 = wg.x * BQ;
  let head = wg.y;
  let ty = lid / TX;
  let tx = lid % TX;
  let rs4 = p.N * D4;        // vec4 stride of a token row
  let hoff = head * D4;
  let nvalid = min(p.validKeys, p.Lk);
  let rA = ty * 4u;          // rows rA..rA+3 of the block
  let rB = rA + BQ / 2u;     // rows rB..rB+3 (TM = 8 only)

  var a00 = vec4<f32>(0.0); var a01 = vec4<f32>(0.0); var a02 = vec4<f32>(0.0); var a03 = vec4<f32>(0.0);
  var a10 = vec4<f32>(0.0); var a11 = vec4<f32>(0.0); var a12 = vec4<f32>(0.0); var a13 = vec4<f32>(0.0);
  var a20 = vec4<f32>(0.0); var a21 = vec4<f32>(0.0); var a22 = vec4<f32>(0.0); var a23 = vec4<f32>(0.0);
  var a30 = vec4<f32>(0.0); var a31 = vec4<f32>(0.0); var a32 = vec4<f32>(0.0); var a33 = vec4<f32>(0.0);
  var a40 = vec4<f32>(0.0); var a41 = vec4<f32>(0.0); var a42 = vec4<f32>(0.0); var a43 = vec4<f32>(0.0);
  var a50 = vec4<f32>(0.0); var a51 = vec4<f32>(0.0); var a52 = vec4<f32>(0.0); var a53 = vec4<f32>(0.0);
  var a60 = vec4<f32>(0.0); var a61 = vec4<f32>(0.0); var a62 = vec4<f32>(0.0); var a63 = vec4<f32>(0.0);
  var a70 = vec4<f32>(0.0); var a71 = vec4<f32>(0.0); var a72 = vec4<f32>(0.0); var a73 = vec4<f32>(0.0);
  var mA = vec4<f32>(NEG);   // running row maxima of rows rA..rA+3 (log2 units)
  var mB = vec4<f32>(NEG);   // ... of rows rB..rB+3
  var lA = vec4<f32>(0.0);   // this thread's partial row sums
  var lB = vec4<f32>(0.0);
  // staging registers: flat chunk elements lid + i*WG of Q^T (qr{i}, i < NQ) and K^T (kr{i}, i < NK)
  var qr0 = vec4<f32>(0.0); var qr1 = vec4<f32>(0.0); var qr2 = vec4<f32>(0.0); var qr3 = vec4<f32>(0.0);
  var kr0 = vec4<f32>(0.0); var kr1 = vec4<f32>(0.0); var kr2 = vec4<f32>(0.0); var kr3 = vec4<f32>(0.0);

  let ntiles = (nvalid + BK - 1u) / BK;
  for (var t = 0u; t < ntiles; t++) {
    let kt0 = t * BK;
    // ---- S = (Q * qscale) K^T over D chunks; s{i} = row i of this thread, keys kt0 + 4tx .. +3
    var s0 = vec4<f32>(0.0);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    var s3 = vec4<f32>(0.0);
    var s4 = vec4<f32>(0.0);
    var s5 = vec4<f32>(0.0);
    var s6 = vec4<f32>(0.0);
    var s7 = vec4<f32>(0.0);
    // chunk 0 of this tile into registers (later chunks are loaded while the previous one is computed)
    qr0 = loadQ(lid, q0, 0u, hoff, rs4);
    if (NQ > 1u) { qr1 = loadQ(lid + WG, q0, 0u, hoff, rs4); }
    if (NQ > 2u) { qr2 = loadQ(lid + 2u * WG, q0, 0u, hoff, rs4); }
    if (NQ > 3u) { qr3 = loadQ(lid + 3u * WG, q0, 0u, hoff, rs4); }
    kr0 = loadK(lid, kt0, 0u, nvalid, hoff, rs4);
    if (NK > 1u) { kr1 = loadK(lid + WG, kt0, 0u, nvalid, hoff, rs4); }
    if (NK > 2u) { kr2 = loadK(lid + 2u * WG, kt0, 0u, nvalid, hoff, rs4); }
    if (NK > 3u) { kr3 = loadK(lid + 3u * WG, kt0, 0u, nvalid, hoff, rs4); }
    for (var dc = 0u; dc < D; dc += DC) {
      workgroupBarrier();
      storeQ(lid, qr0);
      if (NQ > 1u) { storeQ(lid + WG, qr1); }
      if (NQ > 2u) { storeQ(lid + 2u * WG, qr2); }
      if (NQ > 3u) { storeQ(lid + 3u * WG, qr3); }
      storeK(lid, kr0);
      if (NK > 1u) { storeK(lid + WG, kr1); }
      if (NK > 2u) { storeK(lid + 2u * WG, kr2); }
      if (NK > 3u) { storeK(lid + 3u * WG, kr3); }
      workgroupBarrier();
      let dn = dc + DC;
      if (dn < D) {
        qr0 = loadQ(lid, q0, dn, hoff, rs4);
        if (NQ > 1u) { qr1 = loadQ(lid + WG, q0, dn, hoff, rs4); }
        if (NQ > 2u) { qr2 = loadQ(lid + 2u * WG, q0, dn, hoff, rs4); }
        if (NQ > 3u) { qr3 = loadQ(lid + 3u * WG, q0, dn, hoff, rs4); }
        kr0 = loadK(lid, kt0, dn, nvalid, hoff, rs4);
        if (NK > 1u) { kr1 = loadK(lid + WG, kt0, dn, nvalid, hoff, rs4); }
        if (NK > 2u) { kr2 = loadK(lid + 2u * WG, kt0, dn, nvalid, hoff, rs4); }
        if (NK > 3u) { kr3 = loadK(lid + 3u * WG, kt0, dn, nvalid, hoff, rs4); }
      }
      for (var d = 0u; d < DC; d++) {
        let kv = sa[KOFF + d * KS + tx];
        let qa = sa[d * QS + ty];
        s0 = fma(vec4<f32>(qa.x), kv, s0);
        s1 = fma(vec4<f32>(qa.y), kv, s1);
        s2 = fma(vec4<f32>(qa.z), kv, s2);
        s3 = fma(vec4<f32>(qa.w), kv, s3);
        if (TM8) {
          let qb = sa[d * QS + QB + ty];
          s4 = fma(vec4<f32>(qb.x), kv, s4);
          s5 = fma(vec4<f32>(qb.y), kv, s5);
          s6 = fma(vec4<f32>(qb.z), kv, s6);
          s7 = fma(vec4<f32>(qb.w), kv, s7);
        }
      }
    }
    // ---- mask keys >= validKeys (only the last tile can hold any)
    if (kt0 + BK > nvalid) {
      let kb = kt0 + tx * 4u;
      let keep = vec4<bool>(kb < nvalid, kb + 1u < nvalid, kb + 2u < nvalid, kb + 3u < nvalid);
      let neg = vec4<f32>(NEG);
      s0 = select(neg, s0, keep);
      s1 = select(neg, s1, keep);
      s2 = select(neg, s2, keep);
      s3 = select(neg, s3, keep);
      s4 = select(neg, s4, keep);
      s5 = select(neg, s5, keep);
      s6 = select(neg, s6, keep);
      s7 = select(neg, s7, keep);
    }
    // ---- row maxima across the TX threads of each row (partials in sp: P of the previous tile has been
    // read, since the D-chunk barriers above)
    putPartial(rA, tx, hmax(s0));
    putPartial(rA + 1u, tx, hmax(s1));
    putPartial(rA + 2u, tx, hmax(s2));
    putPartial(rA + 3u, tx, hmax(s3));
    if (TM8) {
      putPartial(rB, tx, hmax(s4));
      putPartial(rB + 1u, tx, hmax(s5));
      putPartial(rB + 2u, tx, hmax(s6));
      putPartial(rB + 3u, tx, hmax(s7));
    }
    workgroupBarrier();
    let mxA = max(mA, vec4<f32>(rowMax(rA), rowMax(rA + 1u), rowMax(rA + 2u), rowMax(rA + 3u)));
    var mxB = mB;
    if (TM8) { mxB = max(mB, vec4<f32>(rowMax(rB), rowMax(rB + 1u), rowMax(rB + 2u), rowMax(rB + 3u))); }
    workgroupBarrier();  // every thread has its maxima before P overwrites them
    let alphaA = exp2(mA - mxA);
    let alphaB = exp2(mB - mxB);
    mA = mxA;
    mB = mxB;
    let p0 = exp2(s0 - vec4<f32>(mxA.x));
    let p1 = exp2(s1 - vec4<f32>(mxA.y));
    let p2 = exp2(s2 - vec4<f32>(mxA.z));
    let p3 = exp2(s3 - vec4<f32>(mxA.w));
    let one = vec4<f32>(1.0);
    lA = lA * alphaA + vec4<f32>(dot(p0, one), dot(p1, one), dot(p2, one), dot(p3, one));
    sp[(rA + 0u) * PS + tx] = p0;
    sp[(rA + 1u) * PS + tx] = p1;
    sp[(rA + 2u) * PS + tx] = p2;
    sp[(rA + 3u) * PS + tx] = p3;
    if (TM8) {
      let p4 = exp2(s4 - vec4<f32>(mxB.x));
      let p5 = exp2(s5 - vec4<f32>(mxB.y));
      let p6 = exp2(s6 - vec4<f32>(mxB.z));
      let p7 = exp2(s7 - vec4<f32>(mxB.w));
      lB = lB * alphaB + vec4<f32>(dot(p4, one), dot(p5, one), dot(p6, one), dot(p7, one));
      sp[(rB + 0u) * PS + tx] = p4;
      sp[(rB + 1u) * PS + tx] = p5;
      sp[(rB + 2u) * PS + tx] = p6;
      sp[(rB + 3u) * PS + tx] = p7;
    }
    a00 *= alphaA.x; if (TD4 > 1u) { a01 *= alphaA.x; } if (TD4 > 2u) { a02 *= alphaA.x; } if (TD4 > 3u) { a03 *= alphaA.x; }
    a10 *= alphaA.y; if (TD4 > 1u) { a11 *= alphaA.y; } if (TD4 > 2u) { a12 *= alphaA.y; } if (TD4 > 3u) { a13 *= alphaA.y; }
    a20 *= alphaA.z; if (TD4 > 1u) { a21 *= alphaA.z; } if (TD4 > 2u) { a22 *= alphaA.z; } if (TD4 > 3u) { a23 *= alphaA.z; }
    a30 *= alphaA.w; if (TD4 > 1u) { a31 *= alphaA.w; } if (TD4 > 2u) { a32 *= alphaA.w; } if (TD4 > 3u) { a33 *= alphaA.w; }
    if (TM8) { a40 *= alphaB.x; if (TD4 > 1u) { a41 *= alphaB.x; } if (TD4 > 2u) { a42 *= alphaB.x; } if (TD4 > 3u) { a43 *= alphaB.x; } }
    if (TM8) { a50 *= alphaB.y; if (TD4 > 1u) { a51 *= alphaB.y; } if (TD4 > 2u) { a52 *= alphaB.y; } if (TD4 > 3u) { a53 *= alphaB.y; } }
    if (TM8) { a60 *= alphaB.z; if (TD4 > 1u) { a61 *= alphaB.z; } if (TD4 > 2u) { a62 *= alphaB.z; } if (TD4 > 3u) { a63 *= alphaB.z; } }
    if (TM8) { a70 *= alphaB.w; if (TD4 > 1u) { a71 *= alphaB.w; } if (TD4 > 2u) { a72 *= alphaB.w; } if (TD4 > 3u) { a73 *= alphaB.w; } }
    // ---- O += P V, V staged VK keys at a time in sa ([key][DV4] vec4; the maxima barrier above already
    // follows the last reads of the Q/K chunk, so the first V chunk needs no barrier before it)
    for (var kc = 0u; kc < BK; kc += VK) {
      if (kc > 0u) { workgroupBarrier(); }
      for (var idx = lid; idx < VK * DV4; idx += WG) {
        let kk = idx / DV4;
        let c4 = idx % DV4;
        let key = kt0 + kc + kk;
        var val = vec4<f32>(0.0);
        if (key < nvalid && c4 < D4) {
          val = vec4<f32>(v[key * rs4 + hoff + c4]);
        }
        sa[idx] = val;
      }
      workgroupBarrier();
      for (var k4 = 0u; k4 < VK / 4u; k4++) {
        // P of this thread's rows at keys kc + 4 k4 .. +3; V rows of those keys at vb, vb + DV4, ...
        let pc = kc / 4u + k4;
        let p0 = sp[(rA + 0u) * PS + pc];
        let p1 = sp[(rA + 1u) * PS + pc];
        let p2 = sp[(rA + 2u) * PS + pc];
        let p3 = sp[(rA + 3u) * PS + pc];
        var p4 = vec4<f32>(0.0);
        var p5 = vec4<f32>(0.0);
        var p6 = vec4<f32>(0.0);
        var p7 = vec4<f32>(0.0);
        if (TM8) {
          p4 = sp[(rB + 0u) * PS + pc];
          p5 = sp[(rB + 1u) * PS + pc];
          p6 = sp[(rB + 2u) * PS + pc];
          p7 = sp[(rB + 3u) * PS + pc];
        }
        let vb = k4 * 4u * DV4 + tx;
        if (TD4 > 0u) {
          let w0 = sa[vb + 0u * TX];
          let w1 = sa[vb + DV4 + 0u * TX];
          let w2 = sa[vb + 2u * DV4 + 0u * TX];
          let w3 = sa[vb + 3u * DV4 + 0u * TX];
          a00 = pv(a00, p0, w0, w1, w2, w3); a10 = pv(a10, p1, w0, w1, w2, w3); a20 = pv(a20, p2, w0, w1, w2, w3); a30 = pv(a30, p3, w0, w1, w2, w3);
          if (TM8) { a40 = pv(a40, p4, w0, w1, w2, w3); a50 = pv(a50, p5, w0, w1, w2, w3); a60 = pv(a60, p6, w0, w1, w2, w3); a70 = pv(a70, p7, w0, w1, w2, w3); }
        }
        if (TD4 > 1u) {
          let w0 = sa[vb + 1u * TX];
          let w1 = sa[vb + DV4 + 1u * TX];
          let w2 = sa[vb + 2u * DV4 + 1u * TX];
          let w3 = sa[vb + 3u * DV4 + 1u * TX];
          a01 = pv(a01, p0, w0, w1, w2, w3); a11 = pv(a11, p1, w0, w1, w2, w3); a21 = pv(a21, p2, w0, w1, w2, w3); a31 = pv(a31, p3, w0, w1, w2, w3);
          if (TM8) { a41 = pv(a41, p4, w0, w1, w2, w3); a51 = pv(a51, p5, w0, w1, w2, w3); a61 = pv(a61, p6, w0, w1, w2, w3); a71 = pv(a71, p7, w0, w1, w2, w3); }
        }
        if (TD4 > 2u) {
          let w0 = sa[vb + 2u * TX];
          let w1 = sa[vb + DV4 + 2u * TX];
          let w2 = sa[vb + 2u * DV4 + 2u * TX];
          let w3 = sa[vb + 3u * DV4 + 2u * TX];
          a02 = pv(a02, p0, w0, w1, w2, w3); a12 = pv(a12, p1, w0, w1, w2, w3); a22 = pv(a22, p2, w0, w1, w2, w3); a32 = pv(a32, p3, w0, w1, w2, w3);
          if (TM8) { a42 = pv(a42, p4, w0, w1, w2, w3); a52 = pv(a52, p5, w0, w1, w2, w3); a62 = pv(a62, p6, w0, w1, w2, w3); a72 = pv(a72, p7, w0, w1, w2, w3); }
        }
        if (TD4 > 3u) {
          let w0 = sa[vb + 3u * TX];
          let w1 = sa[vb + DV4 + 3u * TX];
          let w2 = sa[vb + 2u * DV4 + 3u * TX];
          let w3 = sa[vb + 3u * DV4 + 3u * TX];
          a03 = pv(a03, p0, w0, w1, w2, w3); a13 = pv(a13, p1, w0, w1, w2, w3); a23 = pv(a23, p2, w0, w1, w2, w3); a33 = pv(a33, p3, w0, w1, w2, w3);
          if (TM8) { a43 = pv(a43, p4, w0, w1, w2, w3); a53 = pv(a53, p5, w0, w1, w2, w3); a63 = pv(a63, p6, w0, w1, w2, w3); a73 = pv(a73, p7, w0, w1, w2, w3); }
        }
      }
    }
  }

  // ---- row sums across the TX threads, then O = acc / l
  workgroupBarrier();
  putPartial(rA, tx, lA.x);
  putPartial(rA + 1u, tx, lA.y);
  putPartial(rA + 2u, tx, lA.z);
  putPartial(rA + 3u, tx, lA.w);
  if (TM8) {
    putPartial(rB, tx, lB.x);
    putPartial(rB + 1u, tx, lB.y);
    putPartial(rB + 2u, tx, lB.z);
    putPartial(rB + 3u, tx, lB.w);
  }
  workgroupBarrier();
  let sumA = vec4<f32>(rowSum(rA), rowSum(rA + 1u), rowSum(rA + 2u), rowSum(rA + 3u));
  var sumB = vec4<f32>(0.0);
  if (TM8) { sumB = vec4<f32>(rowSum(rB), rowSum(rB + 1u), rowSum(rB + 2u), rowSum(rB + 3u)); }
  let invA = select(vec4<f32>(0.0), 1.0 / sumA, sumA > vec4<f32>(0.0));
  let invB = select(vec4<f32>(0.0), 1.0 / sumB, sumB > vec4<f32>(0.0));
#if ${lse}
  // LSE in natural-log units (m is in log2 units, the scores having been scaled by log2(e) / sqrt(D)).
  if (tx == 0u) {
    storeLse(q0 + rA + 0u, head, mA.x, sumA.x);
    storeLse(q0 + rA + 1u, head, mA.y, sumA.y);
    storeLse(q0 + rA + 2u, head, mA.z, sumA.z);
    storeLse(q0 + rA + 3u, head, mA.w, sumA.w);
    if (TM8) {
      storeLse(q0 + rB + 0u, head, mB.x, sumB.x);
      storeLse(q0 + rB + 1u, head, mB.y, sumB.y);
      storeLse(q0 + rB + 2u, head, mB.z, sumB.z);
      storeLse(q0 + rB + 3u, head, mB.w, sumB.w);
    }
  }
#endif
  storeRow(q0 + rA + 0u, rs4, hoff, tx, invA.x, a00, a01, a02, a03);
  storeRow(q0 + rA + 1u, rs4, hoff, tx, invA.y, a10, a11, a12, a13);
  storeRow(q0 + rA + 2u, rs4, hoff, tx, invA.z, a20, a21, a22, a23);
  storeRow(q0 + rA + 3u, rs4, hoff, tx, invA.w, a30, a31, a32, a33);
  if (TM8) { storeRow(q0 + rB + 0u, rs4, hoff, tx, invB.x, a40, a41, a42, a43); }
  if (TM8) { storeRow(q0 + rB + 1u, rs4, hoff, tx, invB.y, a50, a51, a52, a53); }
  if (TM8) { storeRow(q0 + rB + 2u, rs4, hoff, tx, invB.z, a60, a61, a62, a63); }
  if (TM8) { storeRow(q0 + rB + 3u, rs4, hoff, tx, invB.w, a70, a71, a72, a73); }
}
