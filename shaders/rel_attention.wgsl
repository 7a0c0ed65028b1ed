// rel_attention: T5 / umT5 self-attention with a relative position bias and no 1/sqrt(D) scaling:
//   O[i, h, :] = sum_j P[j] V[j, h, :],  P = softmax_j(S),  S[j] = Q[i, h, :] . K[j, h, :] + bias[h, j - i + L - 1]
// over all L keys (the encoder runs only the prompt's seq_len tokens: WanPipeline's mask keeps exactly those).
// Scores, the softmax and O accumulate in f32; storage T (f16 or f32 by ${f16}); the bias is f32.
// Bindings (row-major, lengths in elements):
//   0 uniform Params { L, N, D }
//   1 q    read       array<T>   [L, N, D]   (the q projection's rows: [L, N * D])
//   2 k    read       array<T>   [L, N, D]
//   3 v    read       array<T>   [L, N, D]
//   4 bias read       array<f32> [N, 2L - 1] the layer's bias of head h at relative position r = j - i,
//                                             index r + L - 1 (buckets gathered on the host)
//   5 o    read_write array<T>   [L, N, D]
// Dispatch (L, N): one workgroup of WG invocations per (query i, head h). The scores of its L <= MAXL keys
// sit in workgroup memory; invocation t computes keys t, t + WG, ... (a dot product over D each), the max and
// the sum are tree-reduced, then invocation t owns output dims t, t + WG, ... (neighbouring invocations read
// neighbouring values of each V row). D <= MAXD. Fine for the encoder's L <= 512: no L x L matrix in memory.

// @prelude

struct Params {
  L: u32,
  N: u32,
  D: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<T>;
@group(0) @binding(2) var<storage, read> k: array<T>;
@group(0) @binding(3) var<storage, read> v: array<T>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> o: array<T>;

const WG: u32 = 64u;
const MAXL: u32 = 512u;
const MAXD: u32 = 256u;

var<workgroup> qs: array<f32, MAXD>;
var<workgroup> sc: array<f32, MAXL>;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let i = wg.x;
  let h = wg.y;
  let L = p.L;
  let N = p.N;
  let D = p.D;
  let row = N * D;
  let qb = i * row + h * D;
  for (var d = t; d < D; d += WG) { qs[d] = f32(q[qb + d]); }
  workgroupBarrier();

  // S and its max
  let bb = h * (2u * L - 1u) + L - 1u - i;
  var m = -3.0e38;
  for (var j = t; j < L; j += WG) {
    let kb = j * row + h * D;
    var s = 0.0;
    for (var d = 0u; d < D; d++) { s += qs[d] * f32(k[kb + d]); }
    s += bias[bb + j];
    sc[j] = s;
    m = max(m, s);
  }
  red[t] = m;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w >>= 1u) {
    if (t < w) { red[t] = max(red[t], red[t + w]); }
    workgroupBarrier();
  }
  let mx = red[0];
  workgroupBarrier();

  // P = exp(S - max) (unnormalized) and its sum
  var sum = 0.0;
  for (var j = t; j < L; j += WG) {
    let e = exp(sc[j] - mx);
    sc[j] = e;
    sum += e;
  }
  red[t] = sum;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w >>= 1u) {
    if (t < w) { red[t] = red[t] + red[t + w]; }
    workgroupBarrier();
  }
  let inv = 1.0 / red[0];

  // O = P V / sum
  for (var d = t; d < D; d += WG) {
    var acc = 0.0;
    for (var j = 0u; j < L; j++) { acc += sc[j] * f32(v[j * row + h * D + d]); }
    o[qb + d] = T(acc * inv);
  }
}
