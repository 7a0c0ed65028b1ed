// add: out[r, c] = a[r, c] + scale_b * b[r % rows_b, c]   (b broadcast over rows when rows_b = 1)
// Wan: scale_shift_table [6, d] + proj [6, d] per block, and the output table [2, d] + temb [1, d];
// scale_b = -1 gives the step caches' residual (blocks' output - their input, src/pipeline/step_cache.ts).
// Bindings (T = f16 or f32 by ${f16}; lengths in elements):
//   0 uniform Params { n, cols, rows_b, scale_b }   (n = rows * cols; scale_b f32, 1 for a plain add)
//   1 a   read       array<T> [rows, cols]
//   2 b   read       array<T> [rows_b, cols]
//   3 dst read_write array<T> [rows, cols]   (must not overlap a or b; "out" in the host API)
// One invocation owns one element; a workgroup owns 256 consecutive elements.
// Dispatch: ceil(n / 256) workgroups spread over x and y by the host (workgroup = x + y * 65535).

// @prelude

struct Params {
  n: u32,
  cols: u32,
  rows_b: u32,
  scale_b: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read_write> dst: array<T>;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_index(wg) * WG + lid;
  if (i >= p.n) { return; }
  let r = i / p.cols;
  let c = i - r * p.cols;
  dst[i] = T(f32(a[i]) + p.scale_b * f32(b[(r % p.rows_b) * p.cols + c]));
}
