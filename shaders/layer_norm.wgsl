// layer_norm: LayerNorm over the last dimension, statistics in f32, exact two-pass
// (mean, then the mean of (x - mean)^2), then one of two epilogues chosen at compile time:
//   modulated (affine = false): dst[r, c] = n[r, c] * (1 + modulation[scale_off + c]) + modulation[shift_off + c]
//   affine    (affine = true):  dst[r, c] = n[r, c] * weight[c] + bias[c]
// where n = (x - mean) / sqrt(var + eps). Wan: the adaLN norms of each block and the output
// (modulated, mod = scale_shift_table + proj rows), and norm2 (affine).
// Bindings (T = f16 or f32 by ${f16}; all offsets and lengths in elements):
//   0 uniform Params { rows, cols, eps, shift_off, scale_off }   (the offsets are unused when affine)
//   1 x      read       array<T>  [rows, cols]
//   2 dst    read_write array<T>  [rows, cols]   (must not overlap x; "out" in the host API)
//   modulated: 3 modulation read array<T>  [R, cols]  (shift row at shift_off, scale row at scale_off)
//   affine:    3 weight read array<T>  [cols], 4 bias read array<T> [cols]
// One workgroup of 256 invocations owns one row; invocation i strides over columns i, i + 256, ...
// and the two sums are tree-reduced in workgroup memory.
// Dispatch: (rows, 1, 1) workgroups; rows > 65535 are split over y by the host (row = x + y * 65535).

#if ${f16}
enable f16;
alias T = f16;
#else
alias T = f32;
#endif

struct Params {
  rows: u32,
  cols: u32,
  eps: f32,
  shift_off: u32,
  scale_off: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> dst: array<T>;
#if ${affine}
@group(0) @binding(3) var<storage, read> weight: array<T>;
@group(0) @binding(4) var<storage, read> bias: array<T>;
#else
@group(0) @binding(3) var<storage, read> modulation: array<T>;
#endif

const WG: u32 = 256u;
var<workgroup> partial: array<f32, WG>;

// Sum of `v` over the workgroup; every invocation gets the total. Call in uniform control flow.
fn workgroup_sum(i: u32, v: f32) -> f32 {
  partial[i] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (i < s) { partial[i] += partial[i + s]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();  // partial is reused by the next call
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) i: u32) {
  let row = wg.x + wg.y * 65535u;
  if (row >= p.rows) { return; }  // uniform per workgroup, so the barriers stay in uniform control flow
  let base = row * p.cols;
  let n = f32(p.cols);

  var s = 0.0;
  for (var c = i; c < p.cols; c += WG) { s += f32(x[base + c]); }
  let mean = workgroup_sum(i, s) / n;

  var q = 0.0;
  for (var c = i; c < p.cols; c += WG) {
    let d = f32(x[base + c]) - mean;
    q += d * d;
  }
  let inv = inverseSqrt(workgroup_sum(i, q) / n + p.eps);

  for (var c = i; c < p.cols; c += WG) {
    let v = (f32(x[base + c]) - mean) * inv;
#if ${affine}
    dst[base + c] = T(v * f32(weight[c]) + f32(bias[c]));
#else
    dst[base + c] = T(v * (1.0 + f32(modulation[p.scale_off + c])) + f32(modulation[p.shift_off + c]));
#endif
  }
}
