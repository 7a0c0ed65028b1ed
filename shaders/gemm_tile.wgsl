// gemm_tile: the tiled GEMM's tile machinery, shared word for word by gemm.wgsl, vae_conv3d.wgsl (an
// implicit GEMM whose only change is the X load, an im2col gather) and gemm_wx.wgsl (the weight-only linears:
// f16 or int8 weights). Not a shader: its sections are pasted by `// @include gemm_tile:<section>` lines
// (src/gpu/shaders.ts), in this order. The scheme (transposed, padded, double-buffered workgroup tiles;
// (TM/4) x (TN/4) mat4x4 accumulators) is gemm.wgsl's header.
//
// The includer defines: Params p with p.M and p.K; BM, BN, BK (u32 consts); the tile defines WGX WGY THREADS
// tm8 tn8 la2 lb2 ahalf bhalf A_SMEM B_SMEM (gemmDefines); storeBlock(m, j, mat4x4<f32>) (its epilogue);
// and in main: wg, tid, n0 and m0 (the tile's first column and row), loadX / loadW, and the K-step loop
// (`t`, `cur`, `more`) around `step`.
//   smem      module scope: WGX .. B_HALF consts and the double-buffered tiles As, Bs
//   tile_ops  module scope: outer (the 4x4 FMA block), storeA / storeB (a register into a transposed tile)
//   loadW     the body of loadW(row, kq) after its bounds check, with k = kq * 4u: W row `row` as vec4<f32>
//   ids       in main: tx, ty, the (row, vec4-of-K) ar0 aq0 ar1 aq1 each invocation loads, useA / useB
//   acc       in main: the accumulators m00 (m01 m10 m11) and nt, the number of K steps
//   stage0    in main: stores the registers xa0 (xa1), wb0 (wb1) of tile 0 into buffer 0, then a barrier
//   step      in the K loop: step t's MACs from buffer cur, then (if more) the next tile's registers into
//             the other buffer; the includer's barrier follows
//   epilogue  in main: storeBlock of each 4x4 accumulator

// @section smem
const WGX: u32 = ${WGX}u;            // BN / TN invocations along n
const WGY: u32 = ${WGY}u;            // BM / TM invocations along m
const THREADS: u32 = ${THREADS}u;    // WGX * WGY
const KV: u32 = BK / 4u;             // vec4s per tile row
const LDA: u32 = BM + 4u;            // padded row of the transposed tiles, in f32
const LDB: u32 = BN + 4u;
const AV: u32 = LDA / 4u;            // ... in vec4s
const BV: u32 = LDB / 4u;
const A_HALF: bool = ${ahalf};       // only half the invocations load X (BM * BK / 4 == THREADS / 2)
const B_HALF: bool = ${bhalf};

var<workgroup> As: array<vec4<f32>, ${A_SMEM}>;  // 2 * BK * LDA / 4
var<workgroup> Bs: array<vec4<f32>, ${B_SMEM}>;  // 2 * BK * LDB / 4

// @section tile_ops
// Adds the outer product of a column piece (4 rows of X) and a row piece (4 columns of W): column i of
// the accumulator is row i of the 4x4 block.
// acc + outer(a, b) with explicit fma, so each element is one FFMA whatever the compiler's contraction rules.
fn outer(acc: mat4x4<f32>, a: vec4<f32>, b: vec4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(fma(b, vec4<f32>(a.x), acc[0]), fma(b, vec4<f32>(a.y), acc[1]), fma(b, vec4<f32>(a.z), acc[2]), fma(b, vec4<f32>(a.w), acc[3]));
}

// Stores one register into the transposed tile: value v = element (row r, k) of the tile.
fn storeA(buf: u32, r: u32, kq: u32, v: vec4<f32>) {
  let k = buf * BK + kq * 4u;
  let c = r % 4u;
  let i = (k * LDA + r) / 4u;
  As[i][c] = v.x;
  As[i + AV][c] = v.y;
  As[i + 2u * AV][c] = v.z;
  As[i + 3u * AV][c] = v.w;
}

fn storeB(buf: u32, r: u32, kq: u32, v: vec4<f32>) {
  let k = buf * BK + kq * 4u;
  let c = r % 4u;
  let i = (k * LDB + r) / 4u;
  Bs[i][c] = v.x;
  Bs[i + BV][c] = v.y;
  Bs[i + 2u * BV][c] = v.z;
  Bs[i + 3u * BV][c] = v.w;
}

// @section loadW
#if ${vec}
  return vec4<f32>(w[row * (p.K / 4u) + kq]);
#else
  let base = row * p.K + k;
  var v = vec4<f32>(f32(w[base]), 0.0, 0.0, 0.0);
  if (k + 1u < p.K) { v.y = f32(w[base + 1u]); }
  if (k + 2u < p.K) { v.z = f32(w[base + 2u]); }
  if (k + 3u < p.K) { v.w = f32(w[base + 3u]); }
  return v;
#endif

// @section ids
  let tx = tid % WGX;
  let ty = tid / WGX;

  // The (row, vec4-of-K) each invocation loads: load l covers flat index tid + l * THREADS.
  let ar0 = tid / KV;
  let aq0 = tid % KV;
  let ar1 = (tid + THREADS) / KV;
  let aq1 = (tid + THREADS) % KV;
  let useA = !A_HALF || ar0 < BM;  // constant true unless half
  let useB = !B_HALF || ar0 < BN;

// @section acc
  var m00 = mat4x4<f32>();
#if ${tn8}
  var m01 = mat4x4<f32>();
#endif
#if ${tm8}
  var m10 = mat4x4<f32>();
#if ${tn8}
  var m11 = mat4x4<f32>();
#endif
#endif

  let nt = (p.K + BK - 1u) / BK;

// @section stage0
  if (useA) { storeA(0u, ar0, aq0, xa0); }
#if ${la2}
  storeA(0u, ar1, aq1, xa1);
#endif
  if (useB) { storeB(0u, ar0, aq0, wb0); }
#if ${lb2}
  storeB(0u, ar1, aq1, wb1);
#endif
  workgroupBarrier();

// @section step
    var ai = cur * BK * AV + ty;
    var bi = cur * BK * BV + tx;
    for (var k = 0u; k < BK; k++) {
      let a0 = As[ai];
      let b0 = Bs[bi];
      m00 = outer(m00, a0, b0);
#if ${tn8}
      let b1 = Bs[bi + WGX];
      m01 = outer(m01, a0, b1);
#endif
#if ${tm8}
      let a1 = As[ai + WGY];
      m10 = outer(m10, a1, b0);
#if ${tn8}
      m11 = outer(m11, a1, b1);
#endif
#endif
      ai += AV;
      bi += BV;
    }

    if (more) {
      let nxt = 1u - cur;
      if (useA) { storeA(nxt, ar0, aq0, xa0); }
#if ${la2}
      storeA(nxt, ar1, aq1, xa1);
#endif
      if (useB) { storeB(nxt, ar0, aq0, wb0); }
#if ${lb2}
      storeB(nxt, ar1, aq1, wb1);
#endif
    }

// @section epilogue
  // Row block g starts at g * 4 * WGY + 4 * ty, column block at g * 4 * WGX + 4 * tx.
  let mr = m0 + ty * 4u;
  let nc = n0 + tx * 4u;
  storeBlock(mr, nc, m00);
#if ${tn8}
  storeBlock(mr, nc + 4u * WGX, m01);
#endif
#if ${tm8}
  storeBlock(mr + 4u * WGY, nc, m10);
#if ${tn8}
  storeBlock(mr + 4u * WGY, nc + 4u * WGX, m11);
#endif
#endif
