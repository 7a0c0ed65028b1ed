// gemm_wx_split: f32 activations -> f16 operands for the matrix units, without losing f32 accuracy or range.
// Per row m: s[m] = 2^e, the power of two with max_k |X[m, k]| < 2^e (1 for a zero row), v = X[m, k] / s[m]
// (exact: a power-of-two scale), hi = f16(v) (v rounded to f16's grid in f32 arithmetic), lo = f16(v - hi).
// hi + lo carries v to ~2^-22 of s[m] (hi's 11 bits, then lo's 11 more; lo reaches f16's subnormals only for
// values under ~2^-14 s[m]), and |v| < 1 keeps f16 far from overflow (umT5-XXL's feed-forward activations exceed
// f16's 65504). gemm_wx_matrix.wgsl then runs
// Y = s[m] (hi . W + lo . W) on the matrix units with f32 accumulation: two f16 products per weight, f32's
// accuracy of X kept. With parts = 1 only hi is written (one product: f16 accuracy of X, for the comparison).
// Bindings (row-major, lengths in elements):
//   0 uniform Params { M, K, Kp, parts }   Kp: K rounded up to a multiple of 32 (the matrix kernel's K step)
//   1 x  read       array<f32> [M, K]
//   2 xp read_write array<f16> [M, parts * Kp]   hi at [m, k], lo at [m, Kp + k]; zero at k in [K, Kp)
//   3 s  read_write array<f32> [M]               the row scales
// One workgroup of 256 invocations owns one row (a max reduction, then the split, invocation i striding over
// k = i, i + 256, ...). Dispatch: (M, 1, 1) workgroups; M > 65535 split over y by the host (workgroups1d).
// Non-finite rows: s = 1 and hi = f16(x), so an inf or NaN reaches the output as it would in f32.

// @prelude

struct Params {
  M: u32,
  K: u32,
  Kp: u32,
  parts: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> xp: array<f16>;
@group(0) @binding(3) var<storage, read_write> s: array<f32>;

const WG: u32 = 256u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) i: u32) {
  let row = workgroup_index(wg);
  if (row >= p.M) { return; }  // uniform per workgroup: the barriers below stay in uniform control flow
  let base = row * p.K;
  var mx = 0.0;
  for (var k = i; k < p.K; k += WG) { mx = max(mx, abs(x[base + k])); }
  partial[i] = mx;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (i < h) { partial[i] = max(partial[i], partial[i + h]); }
    workgroupBarrier();
  }
  let top = partial[0];
  // frexp: top = f 2^e with f in [0.5, 1), so top < 2^e <= 2 top; a zero or non-finite row keeps scale 1
  var e = 0;
  if (top > 0.0 && top <= 3.4028234e38) { e = frexp(top).exp; }
  let scale = ldexp(1.0, e);
  let inv = ldexp(1.0, -e);
  if (i == 0u) { s[row] = scale; }
  let out = row * p.parts * p.Kp;
  for (var k = i; k < p.Kp; k += WG) {
    var hi = f16(0.0);
    var lo = f16(0.0);
    if (k < p.K) {
      let v = x[base + k] * inv;
      // v on f16's grid, computed in f32: f16's step at v is 2^(e - 11) for |v| in [2^(e-1), 2^e), 2^-24 below
      // f16's normals; round() is to nearest even like the f32 -> f16 conversion, and every operation is exact.
      // Not lo = f16(v - f32(f16(v))): Mesa 25's lavapipe folds f32(f16(v)) to v (lo came out 0 on Dawn and on
      // wgpu with that driver; Mesa 22's did not), and any driver may do the same.
      let sh = max(frexp(v).exp - 11, -24);
      let h = ldexp(round(ldexp(v, -sh)), sh);
      hi = f16(h);
      lo = f16(v - h);
    }
    xp[out + k] = hi;
    if (p.parts == 2u) { xp[out + p.Kp + k] = lo; }
  }
}
