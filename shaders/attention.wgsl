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
//   threads (ty, tx), ty < BQ/TM (row group: TM query rows), tx < TX = BK/4.
//   S = Q K^T tile [BQ x BK]: thread owns rows ty*TM.. x keys 4tx..4tx+3 (registers), accumulated over D
//     in chunks of DC: Q^T and K^T chunks staged in workgroup memory (region sa).
//   row max: partial maxima of the TX threads of a row meet in sred; row sums stay per thread (every thread
//     of a row rescales by the same factor) and are reduced once at the end.
//   P [BQ x BK] goes to sp; O [BQ x DV] += P V with V staged VK keys at a time in sa (reused);
//     thread owns rows ty*TM.. x vec4 columns tx + j*TX (j < TD4) of O in registers.
// Defines: D (head dim), BQ, BK, TM (multiple of 4), DC (D chunk), DV (D rounded up to 4*TX),
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
const TM: u32 = ${TM}u;
const TM4: u32 = TM / 4u;
const TX: u32 = BK / 4u;
const RG: u32 = BQ / TM;
const WG: u32 = RG * TX;
const DC: u32 = ${DC}u;
const DC4: u32 = DC / 4u;
const DV: u32 = ${DV}u;
const DV4: u32 = DV / 4u;
const TD4: u32 = DV4 / TX;
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

  var acc: array<vec4<f32>, TM * TD4>;
  var m: array<f32, TM>;
  var l: array<f32, TM>;
  for (var i = 0u; i < TM; i++) { m[i] = NEG; l[i] = 0.0; }
  for (var i = 0u; i < TM * TD4; i++) { acc[i] = vec4<f32>(0.0); }

  let ntiles = (nvalid + BK - 1u) / BK;
  for (var t = 0u; t < ntiles; t++) {
    let kt0 = t * BK;
    // ---- S = (Q * qscale) K^T over D chunks
    var s: array<vec4<f32>, TM>;
    for (var i = 0u; i < TM; i++) { s[i] = vec4<f32>(0.0); }
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
        for (var m4 = 0u; m4 < TM4; m4++) {
          let qv = sa[d * QS + ty * TM4 + m4];
          s[m4 * 4u + 0u] += qv.x * kv;
          s[m4 * 4u + 1u] += qv.y * kv;
          s[m4 * 4u + 2u] += qv.z * kv;
          s[m4 * 4u + 3u] += qv.w * kv;
        }
      }
    }
    // ---- mask keys >= validKeys (only the last tile can hold any)
    if (kt0 + BK > nvalid) {
      for (var j = 0u; j < 4u; j++) {
        if (kt0 + tx * 4u + j >= nvalid) {
          for (var i = 0u; i < TM; i++) { s[i][j] = NEG; }
        }
      }
    }
    // ---- row maxima across the TX threads of each row
    for (var i = 0u; i < TM; i++) {
      let sv = s[i];
      sred[(ty * TM + i) * TX + tx] = max(max(sv.x, sv.y), max(sv.z, sv.w));
    }
    workgroupBarrier();
    for (var i = 0u; i < TM; i++) {
      var mx = m[i];
      for (var u = 0u; u < TX; u++) { mx = max(mx, sred[(ty * TM + i) * TX + u]); }
      let alpha = exp2(m[i] - mx);
      m[i] = mx;
      let pv = exp2(s[i] - vec4<f32>(mx));
      l[i] = l[i] * alpha + (pv.x + pv.y) + (pv.z + pv.w);
      for (var j = 0u; j < TD4; j++) { acc[i * TD4 + j] *= alpha; }
      sp[(ty * TM + i) * PS + tx] = pv;
    }
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
        var pr: array<vec4<f32>, TM>;
        for (var i = 0u; i < TM; i++) { pr[i] = sp[(ty * TM + i) * PS + kc / 4u + k4]; }
        for (var kk = 0u; kk < 4u; kk++) {
          for (var j = 0u; j < TD4; j++) {
            let vv = sa[(k4 * 4u + kk) * DV4 + tx + j * TX];
            for (var i = 0u; i < TM; i++) {
              acc[i * TD4 + j] += pr[i][kk] * vv;
            }
          }
        }
      }
    }
  }

  // ---- row sums across the TX threads, then O = acc / l
  workgroupBarrier();
  for (var i = 0u; i < TM; i++) { sred[(ty * TM + i) * TX + tx] = l[i]; }
  workgroupBarrier();
  for (var i = 0u; i < TM; i++) {
    let row = q0 + ty * TM + i;
    var sum = 0.0;
    for (var u = 0u; u < TX; u++) { sum += sred[(ty * TM + i) * TX + u]; }
    let inv = select(0.0, 1.0 / sum, sum > 0.0);
    if (row < p.Lq) {
      for (var j = 0u; j < TD4; j++) {
        let c4 = tx + j * TX;
        if (c4 < D4) { o[row * rs4 + hoff + c4] = vec4<T>(acc[i * TD4 + j] * inv); }
      }
    }
  }
}
