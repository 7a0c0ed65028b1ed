// gemm_wx_tile: the tile of the weight-only linear layers, shared word for word by gemm_w16.wgsl and
// gemm_w8.wgsl (they differ only in how a weight is read into ws, and gemm_w8's scale at the store). Not a
// shader: its sections are pasted by `// @include gemm_wx_tile:<section>` lines (src/gpu/shaders.ts). The
// scheme (16 x 16 invocations, a 64 x 64 tile of Y, K in steps of BK = 16 through workgroup memory, 4 x 4
// outputs per invocation at rows ty + 16 i and columns tx + 16 j) is gemm_w16.wgsl's header.
//
// The includer defines Params p with p.K, and in main: wg (workgroup_id) and lid (local_invocation_id); it
// fills xs and ws between `ids` and `product`, inside its loop `for (var k0 = 0u; k0 < p.K; k0 += BK)`.
//   smem     module scope: TILE, BK and the tiles xs, ws ([BK][TILE] f32: xs[k * TILE + m], ws[k * TILE + n])
//   ids      main's first lines: tx, ty, t (the flat invocation id), m0, c0 (the tile's first row and column),
//            acc (the 16 sums, zero)
//   product  the loop body after the tiles are filled: barrier, acc += the 4 x 4 products over BK, barrier

// @section smem
const TILE: u32 = 64u;
const BK: u32 = 16u;
var<workgroup> xs: array<f32, 1024>; // [BK][TILE]: xs[k * TILE + m]
var<workgroup> ws: array<f32, 1024>; // [BK][TILE]: ws[k * TILE + n], the weights as f32

// @section ids
  let tx = lid.x;
  let ty = lid.y;
  let t = ty * 16u + tx;
  let m0 = wg.y * TILE;
  let c0 = wg.x * TILE;
  var acc: array<f32, 16>;
  for (var i = 0u; i < 16u; i++) { acc[i] = 0.0; }

// @section product
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a[i] = xs[kk * TILE + ty + 16u * i];
        b[i] = ws[kk * TILE + tx + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] += a[i] * b[j]; }
      }
    }
    workgroupBarrier();
