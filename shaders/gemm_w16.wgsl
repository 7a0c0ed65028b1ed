// gemm_w16: weight-only half precision linear layer, Y[M, n0 + j] (+)= sum_k X[M, k] W[j, k]  (nn.Linear layout)
// X and Y are f32 (an f32 activation and residual stream, as umT5-XXL needs: its activations overflow f16),
// W is f16 (half the memory of the weights), every product and sum in f32. With ${residual} Y is read and
// added to (the residual stream, in place); otherwise Y is written.
// Bindings (row-major, lengths in elements):
//   0 uniform Params { M, N, K, ldo, n0 }   N: rows of this weight chunk; ldo: Y's row length; n0: its first column
//   1 x read       array<f32> [M, K]
//   2 w read       array<f16> [N, K]      one row chunk of W (the host splits W that exceeds a storage binding)
//   3 y read_write array<f32> [M, ldo]    this dispatch writes columns n0 .. n0 + N
// Dispatch (ceil(N / 64), ceil(M / 64)): a workgroup of 16 x 16 invocations owns a 64 x 64 tile of Y; invocation
// (tx, ty) owns rows ty + 16 i and columns tx + 16 j (i, j < 4), so neighbouring invocations read neighbouring
// values. K advances 16 at a time through X and W tiles in workgroup memory (each invocation loads 4 values of
// each, zero past the edges: any M, N, K).
// The tile (workgroup memory, ids, the staging of X and W through loadW, the 4 x 4 product) is pasted from
// gemm_wx_tile.wgsl, shared with gemm_w8.

enable f16;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  ldo: u32,
  n0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f16>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

// The tile's weight load: W[n, k] as f32 (in bounds; the tile's stage section checks the edges).
fn loadW(n: u32, k: u32) -> f32 { return f32(w[n * p.K + k]); }

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
#if ${residual}
      y[at] = y[at] + acc[i * 4u + j];
#else
      y[at] = acc[i * 4u + j];
#endif
    }
  }
}
