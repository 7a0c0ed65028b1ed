// abs_diff_sum: per workgroup, the partial sums of |a - b| and of |b| over n elements (FBCache's distance,
// src/pipeline/step_cache.ts: mean|r - r_prev| / mean|r_prev| = sum|r - r_prev| / sum|r_prev|, the counts
// cancel, so every shard sums its own tokens and the sums add up over shards and branches). Accumulates in
// f32; the host adds the workgroups' partials in Float64.
// Bindings (T = f16 or f32 by ${f16}; lengths in elements):
//   0 uniform Params { n }
//   1 a    read       array<T>   [n]   (this step's residual of block 0)
//   2 b    read       array<T>   [n]   (the last computed step's)
//   3 sums read_write array<f32> [groups, 2]   (per workgroup: sum |a - b|, sum |b|)
// A workgroup owns CHUNK = 256 x 16 consecutive elements: invocation lid sums elements lid, lid + 256, ...
// (coalesced), then a tree reduction over the 256 in workgroup memory.
// Dispatch: ceil(n / CHUNK) workgroups spread over x and y by the host (workgroup = x + y * 65535).

// @prelude

struct Params {
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read_write> sums: array<f32>;

const WG: u32 = 256u;
const PER: u32 = 16u;
const CHUNK: u32 = WG * PER;

var<workgroup> sd: array<f32, WG>;
var<workgroup> sb: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = workgroup_index(wg);
  let base = g * CHUNK;
  var d = 0.0;
  var s = 0.0;
  for (var k = 0u; k < PER; k++) {
    let i = base + k * WG + lid;
    if (i < p.n) {
      let bv = f32(b[i]);
      d += abs(f32(a[i]) - bv);
      s += abs(bv);
    }
  }
  sd[lid] = d;
  sb[lid] = s;
  for (var half = WG / 2u; half > 0u; half = half / 2u) {
    workgroupBarrier();
    if (lid < half) {
      sd[lid] += sd[lid + half];
      sb[lid] += sb[lid + half];
    }
  }
  if (lid == 0u) {
    sums[2u * g] = sd[0];
    sums[2u * g + 1u] = sb[0];
  }
}
