// channel_rms_norm: the Wan VAE's RMS norm over the channels of each pixel, optionally followed by SiLU:
//   out[p, c] = act(x[p, c] / max(||x[p, :]||_2, 1e-12) * sqrt(C) * gamma[c])
// (diffusers' WanRMS_norm: F.normalize over channels * sqrt(C) * gamma; act = SiLU when ${silu}, else
// identity). Statistics and math in f32; the SiLU is activation.wgsl's overflow-free form.
// Bindings (T = f16 or f32 by ${f16}; shapes in elements):
//   0 uniform Params { P, C, scale = sqrt(C) }
//   1 x     read       [P, C]  (channels-last pixels)
//   2 gamma read       [C]
//   3 out   read_write [P, C]
// A workgroup of 256 invocations owns 32 pixels; 8 invocations per pixel stride over its channels
// (c = lane, lane + 8, ...) and reduce the sum of squares through workgroup memory.
// Dispatch: ceil(P / 32) workgroups spread over x and y by the host (workgroup = x + y * 65535).

// @prelude

struct Params {
  P: u32,
  C: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> gamma: array<T>;
@group(0) @binding(3) var<storage, read_write> out: array<T>;

const LANES: u32 = 8u;
const PIX: u32 = 32u;
var<workgroup> partial: array<f32, 256>;

fn sigmoid(z: f32) -> f32 {
  let e = exp(-abs(z));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), z >= 0.0);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) i: u32) {
  let pix = workgroup_index(wg) * PIX + i / LANES;
  let lane = i % LANES;
  let ok = pix < p.P;
  let base = pix * p.C;
  var s = 0.0;
  if (ok) {
    for (var c = lane; c < p.C; c += LANES) {
      let v = f32(x[base + c]);
      s += v * v;
    }
  }
  partial[i] = s;
  workgroupBarrier();
  var total = 0.0;
  let first = i - lane;
  for (var l = 0u; l < LANES; l++) { total += partial[first + l]; }
  if (!ok) { return; }
  let inv = p.scale / max(sqrt(total), 1e-12);
  for (var c = lane; c < p.C; c += LANES) {
    var v = f32(x[base + c]) * inv * f32(gamma[c]);
#if ${silu}
    v = v * sigmoid(v);
#endif
    out[base + c] = T(v);
  }
}
