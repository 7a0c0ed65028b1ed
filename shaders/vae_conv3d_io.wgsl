// vae_conv3d_io: the Params and the bias / out / res bindings that vae_conv3d.wgsl and
// vae_conv3d_narrow.wgsl share (one host, src/ops/vae_conv3d.ts, fills both alike; shapes in
// vae_conv3d.wgsl's header). Not a shader: its sections are pasted by `// @include vae_conv3d_io:<section>`
// lines (src/gpu/shaders.ts). The includer binds x, cache and w (1, 2, 3) itself, as array<LT> or
// array<vec4<T>>, between the two sections.
//   params   module scope: struct Params and p (binding 0)
//   outputs  module scope: bias (4), out (5) and, with ${residual}, res (6), all array<T>

// @section params
struct Params {
  M: u32,
  Cin: u32,
  Cout: u32,
  K: u32,
  Hin: u32,
  Hout: u32,
  W: u32,
  padTop: u32,
  nCache: u32,
  zeroFrames: u32,
  splitC: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// @section outputs
@group(0) @binding(4) var<storage, read> bias: array<T>;
@group(0) @binding(5) var<storage, read_write> out: array<T>;
#if ${residual}
@group(0) @binding(6) var<storage, read> res: array<T>;
#endif
