// patchify: the (1, 2, 2) patches of an f32 latent as token rows, for one token range (a shard).
//   dst[t, c*4 + a*2 + b] = x[c, f, 2h + a, 2w + b],  g = start + t = f*Hp*Wp + h*Wp + w,  Hp = H/2, Wp = W/2
// The patch-embedding Conv3d is then a GEMM of dst with its weight viewed as [d, C*4].
// Bindings (T = f16 or f32 by ${f16}; lengths in elements):
//   0 uniform Params { C, F, H, W, start, n }   (latent dims, first token, n = count * C * 4)
//   1 x   read       array<f32> [C, F, H, W]   (always f32: the latent)
//   2 dst read_write array<T>   [count, C*4]
// One invocation owns one output element (writes are contiguous); a workgroup owns 256 of them.
// Dispatch: ceil(n / 256) workgroups spread over x and y by the host (workgroup = x + y * 65535).

// @prelude

struct Params {
  C: u32,
  F: u32,
  H: u32,
  W: u32,
  start: u32,
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<T>;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_index(wg) * WG + lid;
  if (i >= p.n) { return; }
  let row = 4u * p.C;
  let t = i / row;
  let e = i - t * row;          // c*4 + a*2 + b
  let c = e >> 2u;
  let a = (e >> 1u) & 1u;
  let b = e & 1u;
  let wp = p.W / 2u;
  let hwp = (p.H / 2u) * wp;
  let g = p.start + t;
  let f = g / hwp;
  let hw = g - f * hwp;
  let h = hw / wp;
  let w = hw - h * wp;
  dst[i] = T(x[((c * p.F + f) * p.H + 2u * h + a) * p.W + 2u * w + b]);
}
