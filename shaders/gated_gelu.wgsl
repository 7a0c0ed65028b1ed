// gated_gelu: T5's gated-GELU feed-forward gate, in place: g[i] <- gelu_tanh(g[i]) * u[i], math in f32.
//   gelu_tanh(x) = 0.5 x (1 + tanh(s)), s = sqrt(2/pi) (x + 0.044715 x^3)  (transformers' gelu_new, PyTorch
//   approximate="tanh"), computed as x * sigmoid(2s): activation_common.wgsl's geluViaSigmoid, as activation.wgsl.
// Bindings (T = f16 or f32 by ${f16}; lengths in elements):
//   0 uniform Params { n }
//   1 g read_write array<T> [n]   wi_0 x (the gate), overwritten with the product
//   2 u read       array<T> [n]   wi_1 x
// One invocation owns one element; a workgroup owns 256 consecutive elements.
// Dispatch: ceil(n / 256) workgroups spread over x and y by the host (workgroup = x + y * 65535).

// @prelude

struct Params {
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> g: array<T>;
@group(0) @binding(2) var<storage, read> u: array<T>;

const WG: u32 = 256u;

// @include activation_common:sigmoid
// @include activation_common:gelu

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_index(wg) * WG + lid;
  if (i >= p.n) { return; }
  g[i] = T(geluViaSigmoid(f32(g[i])) * f32(u[i]));
}
