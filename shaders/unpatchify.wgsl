// unpatchify: token rows of the output projection back to latent pixels, for one token range (a shard).
//   dst[c, f, 2h + a, 2w + b] = y[t, (a*2 + b)*C + c],  g = start + t = f*Hp*Wp + h*Wp + w,  Hp = H/2, Wp = W/2
// Only the pixels of tokens [start, start + count) are written: shards write disjoint parts of one dst.
// Bindings (T = f16 or f32 by ${f16}; lengths in elements):
//   0 uniform Params { C, F, H, W, start, n }   (output latent dims, first token, n = count * 4 * C)
//   1 y   read       array<T>   [count, 4*C]
//   2 dst read_write array<f32> [C, F, H, W]   (always f32)
// One invocation owns one element of y (reads are contiguous); a workgroup owns 256 of them.
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
@group(0) @binding(1) var<storage, read> y: array<T>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_index(wg) * WG + lid;
  if (i >= p.n) { return; }
  let row = 4u * p.C;
  let t = i / row;
  let e = i - t * row;          // (a*2 + b)*C + c
  let ab = e / p.C;
  let c = e - ab * p.C;
  let a = ab >> 1u;
  let b = ab & 1u;
  let wp = p.W / 2u;
  let hwp = (p.H / 2u) * wp;
  let g = p.start + t;
  let f = g / hwp;
  let hw = g - f * hwp;
  let h = hw / wp;
  let w = hw - h * wp;
  dst[((c * p.F + f) * p.H + 2u * h + a) * p.W + 2u * w + b] = f32(y[i]);
}
