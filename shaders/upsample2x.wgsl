// upsample2x: nearest-exact 2x spatial upsampling of channels-last frames (diffusers' WanUpsample with
// scale (2, 2), mode "nearest-exact": source index floor((i + 0.5) / 2) = i / 2 for an exact factor 2).
//   out[t, y, x, c] = in[t, y / 2, x / 2, c]
// Bindings (T = f16 or f32 by ${f16}; shapes in elements):
//   0 uniform Params { n = T * 2H * 2W * C (output elements), H, W, C }  (H, W: input)
//   1 x   read       [T, H, W, C]
//   2 out read_write [T, 2H, 2W, C]
// One invocation owns one output element; a workgroup owns 256 consecutive ones.
// Dispatch: ceil(n / 256) workgroups spread over x and y by the host (workgroup = x + y * 65535).

// @prelude

struct Params {
  n: u32,
  H: u32,
  W: u32,
  C: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> out: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) i: u32) {
  let o = workgroup_index(wg) * 256u + i;
  if (o >= p.n) { return; }
  let c = o % p.C;
  let px = o / p.C;
  let W2 = 2u * p.W;
  let xo = px % W2;
  let rest = px / W2;
  let yo = rest % (2u * p.H);
  let t = rest / (2u * p.H);
  out[o] = x[((t * p.H + yo / 2u) * p.W + xo / 2u) * p.C + c];
}
