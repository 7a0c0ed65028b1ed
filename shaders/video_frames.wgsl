// video_frames: the decoder's last step, channels-last RGB frames to the planar video diffusers returns,
// clamped (torch.clamp(out, -1, 1)); with ${rgba8}, 8-bit RGBA pixels as a video encoder or canvas takes
// them instead: u8 = round(clamp(x / 2 + 0.5, 0, 1) * 255) (diffusers' VideoProcessor: (x/2+0.5).clamp(0,1),
// * 255, numpy round half to even, as WGSL's round), alpha 255, packed r | g << 8 | b << 16 | a << 24.
// Bindings (T = f16 or f32 by ${f16}; shapes in elements):
//   0 uniform Params { P = T * H * W pixels }
//   1 x   read       [P, 3]  (channels-last)
//   2 out read_write f32 [3, P] (planar: channel, then frame, row, column), or u32 [P] with ${rgba8}
// One invocation owns one pixel; a workgroup owns 256 consecutive pixels.
// Dispatch: ceil(P / 256) workgroups spread over x and y by the host (workgroup = x + y * 65535).

// @prelude

struct Params {
  P: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
#if ${rgba8}
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
#else
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) i: u32) {
  let px = workgroup_index(wg) * 256u + i;
  if (px >= p.P) { return; }
#if ${rgba8}
  var packed = 255u << 24u;
  for (var c = 0u; c < 3u; c++) {
    let v = round(clamp(f32(x[px * 3u + c]) * 0.5 + 0.5, 0.0, 1.0) * 255.0);
    packed |= u32(v) << (8u * c);
  }
  out[px] = packed;
#else
  for (var c = 0u; c < 3u; c++) {
    out[c * p.P + px] = clamp(f32(x[px * 3u + c]), -1.0, 1.0);
  }
#endif
}
