// activation: x[i] <- act(x[i]) in place, element-wise, math in f32. act is compiled in by ${gelu}:
//   gelu = false: SiLU      x * sigmoid(x)
//   gelu = true:  GELU-tanh 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)  (PyTorch approximate="tanh")
// Both go through one overflow-free sigmoid: with e = exp(-|z|) in (0, 1], sigmoid(z) = 1/(1+e) for
// z >= 0 and e/(1+e) for z < 0, so no inf or NaN ever appears (backends may assume they don't). GELU uses
// 0.5 (1 + tanh(u)) = sigmoid(2u), which also avoids the cancellation of 1 + tanh(u) for u << 0; x is
// clamped to [-100, 100] inside u only (the sigmoid is saturated far earlier), so x^3 cannot overflow.
// sigmoid and geluViaSigmoid are pasted from activation_common.wgsl (gated_gelu.wgsl uses them too).
// Bindings (T = f16 or f32 by ${f16}; lengths in elements):
//   0 uniform Params { n }
//   1 x read_write array<T> [n]
// One invocation owns one element; a workgroup owns 256 consecutive elements.
// Dispatch: ceil(n / 256) workgroups spread over x and y by the host (workgroup = x + y * 65535).

// @prelude

struct Params {
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<T>;

const WG: u32 = 256u;

// @include activation_common:sigmoid
// @include activation_common:gelu

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_index(wg) * WG + lid;
  if (i >= p.n) { return; }
  let v = f32(x[i]);
#if ${gelu}
  x[i] = T(geluViaSigmoid(v));
#else
  x[i] = T(v * sigmoid(v));
#endif
}
