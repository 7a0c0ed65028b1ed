// gemm_common: what gemm.wgsl and gemm_matrix.wgsl share word for word: the Params and the x / w bindings
// (the host's dispatchChunks fills both kernels' uniforms alike) and the epilogue's math. Not a shader: its
// sections are pasted by `// @include gemm_common:<section>` lines (src/gpu/shaders.ts).
//
// The includer defines: LT (the element of x and w: vec4 or scalar of its storage type, by ${vec}); y, and
// gate / bias where ${epiGate} / ${hasBias} (bindings 3, gateBinding, biasBinding: gemm.wgsl's header).
//   params    module scope: struct Params, p (binding 0), x (binding 1) and w (binding 2) as array<LT>
//   gelu      module scope: geluTanh(f32) -> f32
//   epilogue  the body of store(m, j, acc) up to the store itself: defines r (f32, the epilogue applied to
//             acc: + bias, GELU, * gate, + the residual y[idx]) and idx, the element of y; the includer
//             then writes y[idx], rounded to its type

// @section params
struct Params {
  M: u32,
  N: u32,          // rows of this weight chunk (output columns it writes)
  K: u32,
  n0: u32,         // first output column of this chunk
  ldo: u32,        // row stride of y in elements (the layer's full N)
  gateOffset: u32, // element offset of the gate row (residual_gate only; 0 otherwise)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<LT>;
@group(0) @binding(2) var<storage, read> w: array<LT>;

// @section gelu
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), with tanh(u) = 1 - 2 / (exp(2u) + 1): exp overflowing
// to +inf gives 1 and underflowing to 0 gives -1, so no NaN for any finite x.
fn geluTanh(v: f32) -> f32 {
  let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  let t = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
  return 0.5 * v * (1.0 + t);
}

// @section epilogue
  var r = acc;
#if ${hasBias}
  r += f32(bias[p.n0 + j]);
#endif
#if ${epiGelu}
  r = geluTanh(r);
#endif
#if ${epiGate}
  r *= f32(gate[p.gateOffset + p.n0 + j]);
#endif
  let idx = m * p.ldo + p.n0 + j;
#if ${epiResidual}
  r += f32(y[idx]);
#endif
