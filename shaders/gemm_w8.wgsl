// gemm_w8: int8 weight-only linear layer, Y[M, n0 + j] (+)= sum_k X[M, k] (scale[j] q[j, k])   (nn.Linear layout)
// W is stored as int8 q with one f32 scale per output channel (row), dequantized in the kernel; X and Y are f32
// (umT5's activations and residual stream), every product and sum f32. With ${residual} Y is read and added to.
// Bindings (row-major, lengths in elements):
//   0 uniform Params { M, N, K, K4, ldo, n0 }   N: rows of this chunk; K4 = ceil(K / 4): u32 words per row
//   1 x     read       array<f32> [M, K]
//   2 q     read       array<u32> [N, K4]   4 int8 per word, k = 4 w + b in byte b (little end first); the pad is 0
//   3 scale read       array<f32> [N]
//   4 y     read_write array<f32> [M, ldo]  this dispatch writes columns n0 .. n0 + N
// Dispatch (ceil(N / 64), ceil(M / 64)): as gemm_w16.wgsl (16 x 16 invocations, a 64 x 64 tile of Y, K in steps of
// 16 through workgroup memory, 4 x 4 outputs per invocation); the scale multiplies each sum once at the end.
// The tile is pasted from gemm_wx_tile.wgsl (loadW below: ws holds the int8 values as f32, unscaled).

struct Params {
  M: u32,
  N: u32,
  K: u32,
  K4: u32,
  ldo: u32,
  n0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<u32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// The tile's weight load: q[n, k] as f32, unscaled (in bounds; the tile's stage section checks the edges):
// byte k % 4 of word k / 4, sign-extended by shifting it to the top, then an arithmetic shift down.
fn loadW(n: u32, k: u32) -> f32 {
  let word = q[n * p.K4 + k / 4u];
  return f32(bitcast<i32>(word << (24u - 8u * (k % 4u))) >> 24u);
}

// @include gemm_wx_tile:smem

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  // @include gemm_wx_tile:ids
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    // @include gemm_wx_tile:stage
    // @include gemm_wx_tile:product
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + ty + 16u * i;
    if (m >= p.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let n = c0 + tx + 16u * j;
      if (n >= p.N) { continue; }
      let at = m * p.ldo + p.n0 + n;
      let v = acc[i * 4u + j] * scale[n];
#if ${residual}
      y[at] = y[at] + v;
#else
      y[at] = v;
#endif
    }
  }
}
