// gated_gelu: T5's gated-GELU feed-forward gate, in place: g[i] <- gelu_tanh(g[i]) * u[i], math in f32.
//   gelu_tanh(x) = 0.5 x (1 + tanh(s)), s = sqrt(2/pi) (x + 0.044715 x^3)  (transformers' gelu_new, PyTorch
//   approximate="tanh"), computed as x * sigmoid(2s) with activation.wgsl's overflow-free sigmoid.
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

fn sigmoid(z: f32) -> f32 {
  let e = exp(-abs(z));
  let r = 1.0 / (1.0 + e);
  return select(e * r, r, z >= 0.0);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_index(wg) * WG + lid;
  if (i >= p.n) { return; }
  let x = f32(g[i]);
  let xc = clamp(x, -100.0, 100.0);
  let s = 0.7978845608028654 * (xc + 0.044715 * xc * xc * xc);
  g[i] = T(x * sigmoid(2.0 * s) * f32(u[i]));
}
