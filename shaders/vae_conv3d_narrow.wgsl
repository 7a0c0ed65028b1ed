// vae_conv3d_narrow: vae_conv3d (see there: the same math; Params and bindings from vae_conv3d_io.wgsl)
// for at most 4 output channels, e.g. the decoder's conv_out to RGB, where a GEMM tile 64 outputs wide
// would mostly compute padding: one invocation owns one output pixel and all its (<= 4) channels, summing
// over taps and channels with vec4 reads (Cin % 4 == 0); the weights are padded to 4 rows [4, K] on upload.
// Bindings: 1 x [T, Hin, W, Cin] and 2 cache [KT - 1, Hin, W, Cin] as vec4<T>; 3 w [4, K] as vec4<T>;
// 4 bias [Cout]; 5 out [T, Hout, W, Cout] (no channel split); 6 res (with ${residual}) same as out.
// Dispatch: ceil(M / 64) workgroups of 64 spread over x and y by the host (workgroup = x + y * 65535).

// @prelude

// @include vae_conv3d_io:params
@group(0) @binding(1) var<storage, read> x: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> cache: array<vec4<T>>;
@group(0) @binding(3) var<storage, read> w: array<vec4<T>>;
// @include vae_conv3d_io:outputs

const KT: u32 = ${KT}u;
const KH: u32 = ${KH}u;
const KW: u32 = ${KW}u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m = workgroup_index(wg) * 64u + lid;
  if (m >= p.M) { return; }
  let HWo = p.Hout * p.W;
  let t = m / HWo;
  let hw = m % HWo;
  let h = i32(hw / p.W) - i32(p.padTop);
  let wc = i32(hw % p.W) - i32(KW / 2u);
  let C4 = p.Cin / 4u;
  let K4 = p.K / 4u;
  var acc = vec4<f32>(0.0);
  for (var tap = 0u; tap < KT * KH * KW; tap++) {
    let r = h + i32((tap / KW) % KH);
    let c = wc + i32(tap % KW);
    let tv = t + tap / (KW * KH);
    if (r < 0 || r >= i32(p.Hin) || c < 0 || c >= i32(p.W) || tv < p.zeroFrames) { continue; }
    let pix = u32(r) * p.W + u32(c);
    let inCache = tv < p.nCache;
    let base = select((tv - p.nCache) * p.Hin * p.W + pix, tv * p.Hin * p.W + pix, inCache) * C4;
    let wb = tap * C4;
    for (var c4 = 0u; c4 < C4; c4++) {
      var v: vec4<f32>;
      if (inCache) { v = vec4<f32>(cache[base + c4]); } else { v = vec4<f32>(x[base + c4]); }
      acc.x += dot(v, vec4<f32>(w[wb + c4]));
      acc.y += dot(v, vec4<f32>(w[K4 + wb + c4]));
      acc.z += dot(v, vec4<f32>(w[2u * K4 + wb + c4]));
      acc.w += dot(v, vec4<f32>(w[3u * K4 + wb + c4]));
    }
  }
  for (var n = 0u; n < p.Cout; n++) {
    var r = acc[n] + f32(bias[n]);
#if ${residual}
    r += f32(res[m * p.Cout + n]);
#endif
    out[m * p.Cout + n] = T(r);
  }
}
