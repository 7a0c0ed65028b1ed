// gemm_wx_tile: the tile of the weight-only linear layers, shared word for word by gemm_w16.wgsl and
// gemm_w8.wgsl (they differ only in how a weight is read into ws, and gemm_w8's scale at the store). Not a
// shader: its sections are pasted by `// @include gemm_wx_tile:<section>` lines (src/gpu/shaders.ts). The
// scheme (16 x 16 invocations, a 64 x 64 tile of Y, K in steps of BK = 16 through workgroup memory, 4 x 4
// outputs per invocation at rows ty + 16 i and columns tx + 16 j) is gemm_w16.wgsl's header.
//
// The includer defines Params p with p.M, p.N, p.K, the binding x (array<f32>, [M, K]) and, before `smem`,
//   fn loadW(n: u32, k: u32) -> f32   the weight W[n, k] as f32 (called only for n < p.N, k < p.K)
// and in main: wg (workgroup_id) and lid (local_invocation_id); main is `ids`, then
// `for (var k0 = 0u; k0 < p.K; k0 += BK) { stage; product }`, then its own store of acc.
//   smem     module scope: TILE, BK and the tiles xs, ws ([BK][TILE] f32: xs[k * TILE + m], ws[k * TILE + n])
//   ids      main's first lines: tx, ty, t (the flat invocation id), m0, c0 (the tile's first row and column),
//            acc (the 16 sums, zero)
//   stage    the loop body's first part: xs and ws of K step k0 filled, 4 values of each per invocation, zero
//            past the edges (X from x, W through loadW)
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

// @section stage
    // 1024 values of each tile, 4 per invocation: element e = t + 256 r -> row e / BK, k e % BK
    for (var r = 0u; r < 4u; r++) {
      let e = t + 256u * r;
      let row = e / BK;
      let kk = e % BK;
      let k = k0 + kk;
      let m = m0 + row;
      let n = c0 + row;
      xs[kk * TILE + row] = select(0.0, x[m * p.K + k], m < p.M && k < p.K);
      var wv = 0.0;
      if (n < p.N && k < p.K) { wv = loadW(n, k); }
      ws[kk * TILE + row] = wv;
    }

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
