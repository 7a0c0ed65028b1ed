// attention_merge: exact merge of two attention results of the same queries over disjoint key sets A and B,
// each with its log-sum-exp (written by shaders/attention.wgsl with its lse define):
//   m = max(lse1, lse2), w_i = exp(lse_i - m), O = (O1 w1 + O2 w2) / (w1 + w2), LSE = m + log(w1 + w2)
// which is softmax attention over A u B. A part with no valid key has lse <= -1e30 (weight 0); with no
// valid key in either part, O = 0 and LSE = -1e30 (as attention writes them).
// Bindings (T = f16 or f32 by ${f16}; token-major, D a multiple of 4, so rows are read as vec4):
//   0 uniform Params { n4, D4, N }   n4 = Lq * N * D / 4
//   1 o1   read       array<vec4<T>> [Lq, N, D]
//   2 lse1 read       array<f32>     [Lq, N]
//   3 o2   read       array<vec4<T>> [Lq, N, D]
//   4 lse2 read       array<f32>     [Lq, N]
//   5 o    read_write array<vec4<T>> [Lq, N, D]   (must not overlap the inputs; "out" in the host API)
//   6 lse  read_write array<f32>     [Lq, N]      only with ${lse_out}: the merged log-sum-exp
// One invocation owns one vec4 of O; a workgroup owns 256 consecutive vec4s.
// Dispatch: ceil(n4 / 256) workgroups spread over x and y by the host (workgroup = x + y * 65535).

// @prelude

struct Params {
  n4: u32,
  D4: u32,
  N: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> o1: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> lse1: array<f32>;
@group(0) @binding(3) var<storage, read> o2: array<vec4<T>>;
@group(0) @binding(4) var<storage, read> lse2: array<f32>;
@group(0) @binding(5) var<storage, read_write> o: array<vec4<T>>;
#if ${lse_out}
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
#endif

const WG: u32 = 256u;
const EMPTY: f32 = -1.0e29;    // lse at or below this: the part had no valid key (attention writes -1e30)
const NEG: f32 = -1.0e30;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_index(wg) * WG + lid;
  if (i >= p.n4) { return; }
  let rh = i / p.D4;             // (query row, head) = row * N + head
  let l1 = lse1[rh];
  let l2 = lse2[rh];
  let m = max(l1, l2);
  let w1 = select(0.0, exp(l1 - m), l1 > EMPTY);
  let w2 = select(0.0, exp(l2 - m), l2 > EMPTY);
  let sum = w1 + w2;
  let inv = select(0.0, 1.0 / sum, sum > 0.0);
  o[i] = vec4<T>((vec4<f32>(o1[i]) * w1 + vec4<f32>(o2[i]) * w2) * inv);
#if ${lse_out}
  if (i % p.D4 == 0u) { lse[rh] = select(NEG, m + log(sum), sum > 0.0); }
#endif
}
