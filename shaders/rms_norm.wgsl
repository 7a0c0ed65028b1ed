// rms_norm: x[r, :] <- x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight[:]     (in place)
// Wan's QK norm (torch.nn.RMSNorm over all of d = heads * D, with weight), statistics in f32.
// Bindings:
//   0 uniform Params { rows, cols, eps }
//   1 x      read_write array<T>  [rows, cols]  (T = f16 or f32 by ${f16})
//   2 weight read       array<T>  [cols]
// One workgroup of 256 invocations owns one row; invocation i strides over columns i, i + 256, ...
// Dispatch: (rows, 1, 1) workgroups; rows > 65535 are split over y by the host (row = x + y * 65535).

// @prelude

struct Params {
  rows: u32,
  cols: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<T>;
@group(0) @binding(2) var<storage, read> weight: array<T>;

const WG: u32 = 256u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) i: u32) {
  let row = workgroup_index(wg);
  if (row >= p.rows) { return; }  // uniform per workgroup, so barriers below stay in uniform control flow
  let base = row * p.cols;
  var sum = 0.0;
  for (var c = i; c < p.cols; c += WG) {
    let v = f32(x[base + c]);
    sum += v * v;
  }
  partial[i] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (i < s) { partial[i] += partial[i + s]; }
    workgroupBarrier();
  }
  let inv = inverseSqrt(partial[0] / f32(p.cols) + p.eps);
  for (var c = i; c < p.cols; c += WG) {
    x[base + c] = T(f32(x[base + c]) * inv * f32(weight[c]));
  }
}
