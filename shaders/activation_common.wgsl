// activation_common: the overflow-free sigmoid and GELU-tanh that activation.wgsl and gated_gelu.wgsl share
// word for word (the math and why it cannot overflow: activation.wgsl's header). Not a shader: its sections
// are pasted by `// @include activation_common:<section>` lines (src/gpu/shaders.ts), module scope, in this
// order; the includer defines nothing for them.
//   sigmoid  fn sigmoid(z: f32) -> f32, with e = exp(-|z|): 1/(1+e) for z >= 0, e/(1+e) for z < 0
//   gelu     fn geluViaSigmoid(x: f32) -> f32: GELU-tanh as x * sigmoid(2u), u = sqrt(2/pi) (xc + 0.044715 xc^3),
//            xc = x clamped to [-100, 100] (the sigmoid saturates far earlier; xc^3 cannot overflow);
//            gemm_common.wgsl's geluTanh is the same function in the tanh form

// @section sigmoid
fn sigmoid(z: f32) -> f32 {
  let e = exp(-abs(z));
  let r = 1.0 / (1.0 + e);
  return select(e * r, r, z >= 0.0);
}

// @section gelu
fn geluViaSigmoid(x: f32) -> f32 {
  let xc = clamp(x, -100.0, 100.0);
  let u = 0.7978845608028654 * (xc + 0.044715 * xc * xc * xc);
  return x * sigmoid(2.0 * u);
}
