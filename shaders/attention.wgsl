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
// Dispatch: (ceil(Lq / BQ), N, 1). A workgroup owns BQ queries of one head, like a GEMM block:
//   threads (ty, tx), ty < BQ/4 (row group: TM = 4 query rows), tx < TX = BK/4.
//   S = Q K^T tile [BQ x BK]: thread owns rows ty*TM.. x keys 4tx..4tx+3 (registers), accumulated over D
//     in chunks of DC: Q^T and K^T chunks staged in workgroup memory (region sa).
//   row max: partial maxima of the TX threads of a row meet in sred; row sums stay per thread (every thread
//     of a row rescales by the same factor) and are reduced once at the end.
//   P [BQ x BK] goes to sp; O [BQ x DV] += P V with V staged VK keys at a time in sa (reused);
//     thread owns rows ty*TM.. x vec4 columns tx + j*TX (j < TD4) of O in registers.
// Registers are named variables, not arrays (dynamically indexed private arrays go to local memory):
//   s0..s3 (S rows), a{i}{j} (O rows i < 4, vec4 columns j < TD4 <= 4; unused ones fold away).
// Defines: D (head dim), BQ, BK, DC (D chunk), DV (D rounded up to 4*TX, DV/(4 TX) <= 4),
//   VK (keys per V chunk), SA4 (vec4 size of sa). Chosen on the host (src/ops/attention.ts).

#if ${f16}
enable f16;
alias T = f16;
#else
alias T = f32;
#endif

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

const D: u32 = ${D}u;
const D4: u32 = D / 4u;
const BQ: u32 = ${BQ}u;
const BK: u32 = ${BK}u;
const TM: u32 = 4u;          // query rows per thread (fixed: the register tiles below are spelled out)
const TX: u32 = BK / 4u;
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
const PS: u32 = BK / 4u + 1u;  // vec4 stride of a query row of P (padded: the row groups of a warp hit other banks)
const NEG: f32 = -1.0e30;      // "minus infinity" that keeps exp2(NEG - m) = 0 without inf - inf

var<workgroup> sa: array<vec4<f32>, ${SA4}>;
var<workgroup> sp: array<vec4<f32>, ${SP4}>;
var<workgroup> sred: array<f32, ${SRED}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let q0 = wg.x * BQ;
  let head = wg.y;
  let ty = lid / TX;
  let tx = lid % TX;
  let rs4 = p.N * D4;        // vec4 stride of a token row
  let hoff = head * D4;
  let nvalid = min(p.validKeys, p.Lk);
  let r0 = ty * TM;          // first of this thread's rows in the block

  var a00 = vec4<f32>(0.0);
  var a01 = vec4<f32>(0.0);
  var a02 = vec4<f32>(0.0);
  var a03 = vec4<f32>(0.0);
  var a10 = vec4<f32>(0.0);
  var a11 = vec4<f32>(0.0);
  var a12 = vec4<f32>(0.0);
  var a13 = vec4<f32>(0.0);
  var a20 = vec4<f32>(0.0);
  var a21 = vec4<f32>(0.0);
  var a22 = vec4<f32>(0.0);
  var a23 = vec4<f32>(0.0);
  var a30 = vec4<f32>(0.0);
  var a31 = vec4<f32>(0.0);
  var a32 = vec4<f32>(0.0);
  var a33 = vec4<f32>(0.0);
  var m = vec4<f32>(NEG);    // running row maxima of rows r0..r0+3 (log2 units)
  var l = vec4<f32>(0.0);    // this thread's partial row sums

  let ntiles = (nvalid + BK - 1u) / BK;
  for (var t = 0u; t < ntiles; t++) {
    let kt0 = t * BK;
    // ---- S = (Q * qscale) K^T over D chunks; s{i} = row r0+i, keys kt0 + 4tx .. +3
    var s0 = vec4<f32>(0.0);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    var s3 = vec4<f32>(0.0);
    for (var dc = 0u; dc < D; dc += DC) {
      workgroupBarrier();
      // Q^T chunk: sa[d * QS + row/4][row%4]; consecutive threads take consecutive rows (conflict-free stores)
      for (var idx = lid; idx < BQ * DC4; idx += WG) {
        let row = idx % BQ;
        let d4 = idx / BQ;
        var val = vec4<f32>(0.0);
        if (q0 + row < p.Lq && dc + d4 * 4u < D) {
          val = vec4<f32>(q[(q0 + row) * rs4 + hoff + dc / 4u + d4]) * p.qscale;
        }
        let base = d4 * 4u * QS + row / 4u;
        let c = row % 4u;
        sa[base][c] = val.x;
        sa[base + QS][c] = val.y;
        sa[base + 2u * QS][c] = val.z;
        sa[base + 3u * QS][c] = val.w;
      }
      // K^T chunk: sa[KOFF + d * KS + key/4][key%4]
      for (var idx = lid; idx < BK * DC4; idx += WG) {
        let key = idx % BK;
        let d4 = idx / BK;
        var val = vec4<f32>(0.0);
        if (kt0 + key < nvalid && dc + d4 * 4u < D) {
          val = vec4<f32>(k[(kt0 + key) * rs4 + hoff + dc / 4u + d4]);
        }
        let base = KOFF + d4 * 4u * KS + key / 4u;
        let c = key % 4u;
        sa[base][c] = val.x;
        sa[base + KS][c] = val.y;
        sa[base + 2u * KS][c] = val.z;
        sa[base + 3u * KS][c] = val.w;
      }
      workgroupBarrier();
      for (var d = 0u; d < DC; d++) {
        let kv = sa[KOFF + d * KS + tx];
        let qv = sa[d * QS + ty];
        s0 += qv.x * kv;
        s1 += qv.y * kv;
        s2 += qv.z * kv;
        s3 += qv.w * kv;
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
    }
    // ---- row maxima across the TX threads of each row (sred[row * TX + tx])
    sred[(r0 + 0u) * TX + tx] = max(max(s0.x, s0.y), max(s0.z, s0.w));
    sred[(r0 + 1u) * TX + tx] = max(max(s1.x, s1.y), max(s1.z, s1.w));
    sred[(r0 + 2u) * TX + tx] = max(max(s2.x, s2.y), max(s2.z, s2.w));
    sred[(r0 + 3u) * TX + tx] = max(max(s3.x, s3.y), max(s3.z, s3.w));
    workgroupBarrier();
    var mx = m;
    for (var u = 0u; u < TX; u++) {
      mx = max(mx, vec4<f32>(sred[r0 * TX + u], sred[(r0 + 1u) * TX + u], sred[(r0 + 2u) * TX + u], sred[(r0 + 3u) * TX + u]));
    }
    let alpha4 = exp2(m - mx);
    m = mx;
    let p0 = exp2(s0 - vec4<f32>(mx.x));
    let p1 = exp2(s1 - vec4<f32>(mx.y));
    let p2 = exp2(s2 - vec4<f32>(mx.z));
    let p3 = exp2(s3 - vec4<f32>(mx.w));
    l = l * alpha4 + vec4<f32>(dot(p0, vec4<f32>(1.0)), dot(p1, vec4<f32>(1.0)), dot(p2, vec4<f32>(1.0)), dot(p3, vec4<f32>(1.0)));
    {
      var alpha = alpha4.x;
      a00 *= alpha;
      if (TD4 > 1u) { a01 *= alpha; }
      if (TD4 > 2u) { a02 *= alpha; }
      if (TD4 > 3u) { a03 *= alpha; }
      alpha = alpha4.y;
      a10 *= alpha;
      if (TD4 > 1u) { a11 *= alpha; }
      if (TD4 > 2u) { a12 *= alpha; }
      if (TD4 > 3u) { a13 *= alpha; }
      alpha = alpha4.z;
      a20 *= alpha;
      if (TD4 > 1u) { a21 *= alpha; }
      if (TD4 > 2u) { a22 *= alpha; }
      if (TD4 > 3u) { a23 *= alpha; }
      alpha = alpha4.w;
      a30 *= alpha;
      if (TD4 > 1u) { a31 *= alpha; }
      if (TD4 > 2u) { a32 *= alpha; }
      if (TD4 > 3u) { a33 *= alpha; }
    }
    sp[(r0 + 0u) * PS + tx] = p0;
    sp[(r0 + 1u) * PS + tx] = p1;
    sp[(r0 + 2u) * PS + tx] = p2;
    sp[(r0 + 3u) * PS + tx] = p3;
    // ---- O += P V, V staged VK keys at a time in sa
    for (var kc = 0u; kc < BK; kc += VK) {
      workgroupBarrier();
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
        // P of rows r0..r0+3 at keys kc + 4 k4 .. +3
        let p0 = sp[(r0 + 0u) * PS + kc / 4u + k4];
        let p1 = sp[(r0 + 1u) * PS + kc / 4u + k4];
        let p2 = sp[(r0 + 2u) * PS + kc / 4u + k4];
        let p3 = sp[(r0 + 3u) * PS + kc / 4u + k4];
        {
          let v0 = sa[(k4 * 4u + 0u) * DV4 + tx + 0u * TX];
          a00 += p0.x * v0;
          a10 += p1.x * v0;
          a20 += p2.x * v0;
          a30 += p3.x * v0;
          if (TD4 > 1u) {
            let v1 = sa[(k4 * 4u + 0u) * DV4 + tx + 1u * TX];
            a01 += p0.x * v1;
            a11 += p1.x * v1;
            a21 += p2.x * v1;
            a31 += p3.x * v1;
          }
          if (TD4 > 2u) {
            let v2 = sa[(k4 * 4u + 0u) * DV4 + tx + 2u * TX];
            a02 += p0.x * v2;
            a12 += p1.x * v2;
            a22 += p2.x * v2;
            a32 += p3.x * v2;
          }
          if (TD4 > 3u) {
            let v3 = sa[(k4 * 4u + 0u) * DV4 + tx + 3u * TX];
            a03 += p0.x * v3;
            a13 += p1.x * v3;
            a23 += p2.x * v3;
            a33 += p3.x * v3;
          }
        }
        {
          let v0 = sa[(k4 * 4u + 1u) * DV4 + tx + 0u * TX];
          a00 += p0.y * v0;
          a10 += p1.y * v0;
          a20 += p2.y * v0;
          a30 += p3.y * v0;
          if (TD4 > 1u) {
            let v1 = sa[(k4 * 4u + 1u) * DV4 + tx + 1u * TX];
            a01 += p0.y * v1;
            a11 += p1.y * v1;
            a21 += p2.y * v1;
            a31 += p3.y * v1;
          }
          if (TD4 > 2u) {
            let v2 = sa[(k4 * 4u + 1u) * DV4 + tx + 2u * TX];
            a02 += p0.y * v2;
            a12 += p1.y * v2;
            a22 += p2.y * v2;
            a32 += p3.y * v2;
          }
          if (TD4 > 3u) {
            let v3 = sa[(k4 * 4u + 1u) * DV4 + tx + 3u * TX];
            a03 += p0.y * v3;
            a13 += p1.y * v3;
            a23 += p2.y * v3;
            a33 += p3.y * v3;
          }
        }
        {
          let v0 = sa[(k4 * 4u + 2u) * DV4 + tx + 0u * TX];
          a00 += p0.z * v0;
          a10 += p1.z * v0;
          a20 += p2.z * v0;
          a30 += p3.z * v0;
          if (TD4 > 1u) {
            let v1 = sa[(k4 * 4u + 2u) * DV4 + tx + 1u * TX];
            a01 += p0.z * v1;
            a11 += p1.z * v1;
            a21 += p2.z * v1;
            a31 += p3.z * v1;
          }
          if (TD4 > 2u) {
            let v2 = sa[(k4 * 4u + 2u) * DV4 + tx + 2u * TX];
            a02 += p0.z * v2;
            a12 += p1.z * v2;
            a22 += p2.z * v2;
            a32 += p3.z * v2;
          }
          if (TD4 > 3u) {
            let v3 = sa[(k4 * 4u + 2u) * DV4 + tx + 3u * TX];
            a03 += p0.z * v3;
            a13 += p1.z * v3;
            a23 += p2.z * v3;
            a33 += p3.z * v3;
          }
        }
        {
          let v0 = sa[(k4 * 4u + 3u) * DV4 + tx + 0u * TX];
          a00 += p0.w * v0;
          a10 += p1.w * v0;
          a20 += p2.w * v0;
          a30 += p3.w * v0;
          if (TD4 > 1u) {
            let v1 = sa[(k4 * 4u + 3u) * DV4 + tx + 1u * TX];
            a01 += p0.w * v1;
            a11 += p1.w * v1;
            a21 += p2.w * v1;
            a31 += p3.w * v1;
          }
          if (TD4 > 2u) {
            let v2 = sa[(k4 * 4u + 3u) * DV4 + tx + 2u * TX];
            a02 += p0.w * v2;
            a12 += p1.w * v2;
            a22 += p2.w * v2;
            a32 += p3.w * v2;
          }
          if (TD4 > 3u) {
            let v3 = sa[(k4 * 4u + 3u) * DV4 + tx + 3u * TX];
            a03 += p0.w * v3;
            a13 += p1.w * v3;
            a23 += p2.w * v3;
            a33 += p3.w * v3;
          }
        }
      }
    }
  }

  // ---- row sums across the TX threads, then O = acc / l
  workgroupBarrier();
  sred[(r0 + 0u) * TX + tx] = l.x;
  sred[(r0 + 1u) * TX + tx] = l.y;
  sred[(r0 + 2u) * TX + tx] = l.z;
  sred[(r0 + 3u) * TX + tx] = l.w;
  workgroupBarrier();
  var sum = vec4<f32>(0.0);
  for (var u = 0u; u < TX; u++) {
    sum += vec4<f32>(sred[r0 * TX + u], sred[(r0 + 1u) * TX + u], sred[(r0 + 2u) * TX + u], sred[(r0 + 3u) * TX + u]);
  }
  let inv4 = select(vec4<f32>(0.0), 1.0 / sum, sum > vec4<f32>(0.0));
  let c4 = tx;
  if (q0 + r0 + 0u < p.Lq) {
    let base = (q0 + r0 + 0u) * rs4 + hoff + c4;
    let inv = inv4.x;
      if (c4 + 0u * TX < D4) { o[base + 0u * TX] = vec4<T>(a00 * inv); }
      if (TD4 > 1u) { if (c4 + 1u * TX < D4) { o[base + 1u * TX] = vec4<T>(a01 * inv); } }
      if (TD4 > 2u) { if (c4 + 2u * TX < D4) { o[base + 2u * TX] = vec4<T>(a02 * inv); } }
      if (TD4 > 3u) { if (c4 + 3u * TX < D4) { o[base + 3u * TX] = vec4<T>(a03 * inv); } }
  }
  if (q0 + r0 + 1u < p.Lq) {
    let base = (q0 + r0 + 1u) * rs4 + hoff + c4;
    let inv = inv4.y;
      if (c4 + 0u * TX < D4) { o[base + 0u * TX] = vec4<T>(a10 * inv); }
      if (TD4 > 1u) { if (c4 + 1u * TX < D4) { o[base + 1u * TX] = vec4<T>(a11 * inv); } }
      if (TD4 > 2u) { if (c4 + 2u * TX < D4) { o[base + 2u * TX] = vec4<T>(a12 * inv); } }
      if (TD4 > 3u) { if (c4 + 3u * TX < D4) { o[base + 3u * TX] = vec4<T>(a13 * inv); } }
  }
  if (q0 + r0 + 2u < p.Lq) {
    let base = (q0 + r0 + 2u) * rs4 + hoff + c4;
    let inv = inv4.z;
      if (c4 + 0u * TX < D4) { o[base + 0u * TX] = vec4<T>(a20 * inv); }
      if (TD4 > 1u) { if (c4 + 1u * TX < D4) { o[base + 1u * TX] = vec4<T>(a21 * inv); } }
      if (TD4 > 2u) { if (c4 + 2u * TX < D4) { o[base + 2u * TX] = vec4<T>(a22 * inv); } }
      if (TD4 > 3u) { if (c4 + 3u * TX < D4) { o[base + 3u * TX] = vec4<T>(a23 * inv); } }
  }
  if (q0 + r0 + 3u < p.Lq) {
    let base = (q0 + r0 + 3u) * rs4 + hoff + c4;
    let inv = inv4.w;
      if (c4 + 0u * TX < D4) { o[base + 0u * TX] = vec4<T>(a30 * inv); }
      if (TD4 > 1u) { if (c4 + 1u * TX < D4) { o[base + 1u * TX] = vec4<T>(a31 * inv); } }
      if (TD4 > 2u) { if (c4 + 2u * TX < D4) { o[base + 2u * TX] = vec4<T>(a32 * inv); } }
      if (TD4 > 3u) { if (c4 + 3u * TX < D4) { o[base + 3u * TX] = vec4<T>(a33 * inv); } }
  }
}
