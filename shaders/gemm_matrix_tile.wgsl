// gemm_matrix_tile: the subgroup-matrix GEMM machinery that gemm_matrix.wgsl and vae_conv3d_matrix.wgsl
// share word for word: workgroup staging, the K loop on the matrix units and the epilogue's scratch. Not a
// shader: its sections are pasted by `// @include gemm_matrix_tile:<section>` lines (src/gpu/shaders.ts).
//
// Result C[m, n] = sum_k A[m, k] B[n, k] over an (outRows() x outCols()) output, f16 operands, f32
// accumulation. The includer defines, before `smem`:
//   XRow                 the type of a decoded A row (u32 for a plain GEMM, a pixel for a conv)
//   xRow(m) -> XRow      decodes row m (called once per staged row per workgroup, not per K step)
//   XK, xK(k0) -> XK    decodes column k0 of A (once per K step per invocation: all its loads share it)
//   loadX(r, kx) -> vec4<f16>   A[r, k0 .. k0 + 3] for kx = xK(k0), zeros past the edges (k0 a multiple of 4)
//   loadW(n, k0) -> vec4<f16>   B[n, k0 .. k0 + 3], zeros past the edges
//   store(m, n, acc)     the epilogue of one output element (called only for m < outRows(), n < outCols())
//   outRows() outCols() kSize() -> u32   M, N, K of this dispatch
// Defines: SG (subgroup size), SGR SGC (subgroups along m and n), TR TC (16 x 16 result tiles per subgroup
// along m and n: tr4 / tc4 select 4, else 2), BK (16 or 32: bk32), PAD (halves of padding per staged row,
// a multiple of 4), vstage (stage vec4<f16> per store and load matrices through the vector-array overload of
// subgroupMatrixLoad, whose offset and stride count vec4s: checked on Dawn's null backend), la2 la4 la8 /
// lb2 lb4 lb8 (1, 2, 4 or 8 vec4 loads of A / B per invocation per K step), THREADS, BM BN, A_SMEM B_SMEM
// (array lengths in staged elements), C_SMEM; bdirect: the right matrices are loaded straight from the storage
// array w (the includer's [N, K] binding of vec4<f16>, K % BK == 0 and N % BN == 0: every read in bounds),
// no B staging at all (ONNX Runtime's NVIDIA path, with the operand unpacked); bpack: the right matrices
// straight from w holding the weight packed in 16 x 16 tiles (gemm_pack.wgsl's layout, vec4<f16>: each
// matrix one contiguous 512-byte read), a K step ahead in registers, tile rows clamped to the last one and
// K slices to the last (every read in bounds for any N, K); bstage = !bdirect && !bpack; gload (true
// except in a diagnostic: no global loads after step 0, wrong results, the time of staging, barriers and
// products alone).
//   smem   module scope: constants, workgroup arrays, the staging helpers and the epilogue's storeTile
//   main   module scope: the entry point. Dispatch (ceil(outCols / BN), mTiles spread over y and z:
//          m tile = wg.y + wg.z * 65535)
//
// Scheme (NVIDIA's shmem.comp / llama.cpp coopmat1 shapes, our code): subgroup (r, c) owns the TR x TC result
// tiles at rows 16 TR r.., columns 16 TC c.. of the workgroup tile, named accumulators (arrays of result
// matrices ran at 70 instead of 109 TFLOP/s in the probe); per 16-wide K slice it loads TR left and TC right
// matrices from workgroup memory and issues TR x TC multiply-accumulates (64x64 per subgroup: 8 loads per 16
// products). A and B tiles [BM][BK], [BN][BK] (k fastest, rows padded to S = BK + PAD halves, so rows
// start 16 bytes apart modulo the banks) are double buffered: step t's products read buffer t % 2 while
// step t + 1's global loads are in flight into registers (issued right after the barrier), stored into the
// other buffer after the products; one barrier per K step. The epilogue stores each result matrix into a
// 16 x 16 f32 scratch of its subgroup and applies store() per element with edge checks.
// Bounds: every workgroup index is below its array's length by construction (rows < BM / BN, k < BK + PAD,
// scratch < C_SMEM); global reads are guarded in loadX / loadW and writes by the outRows / outCols checks.

// @section smem
const SG: u32 = ${SG}u;
const SGC: u32 = ${SGC}u;
const THREADS: u32 = ${THREADS}u;
const BM: u32 = ${BM}u;
const BN: u32 = ${BN}u;
const BK: u32 = ${BK}u;
const S: u32 = ${BK}u + ${PAD}u;   // staged row stride in halves
const KV: u32 = BK / 4u;           // vec4s per staged row (of K)
const TRR: u32 = ${TR}u * 16u;     // rows a subgroup owns
const TCC: u32 = ${TC}u * 16u;     // columns a subgroup owns

#if ${vstage}
const DIV: u32 = 4u;               // matrix offsets and strides count vec4s
var<workgroup> As: array<vec4<f16>, ${A_SMEM}>;   // [2][BM][S / 4]
#if ${bstage}
var<workgroup> Bs: array<vec4<f16>, ${B_SMEM}>;   // [2][BN][S / 4]
#endif
#else
const DIV: u32 = 1u;
var<workgroup> As: array<f16, ${A_SMEM}>;         // [2][BM][S]
#if ${bstage}
var<workgroup> Bs: array<f16, ${B_SMEM}>;         // [2][BN][S]
#endif
#endif
var<workgroup> Cs: array<f32, ${C_SMEM}>;         // [subgroups][16][16], the epilogue's scratch

// Staged element offset (in halves) of vec4 q of a tile: row q / KV, k (q % KV) * 4.
fn stageOffset(buf: u32, rows: u32, q: u32) -> u32 { return buf * rows * S + (q / KV) * S + (q % KV) * 4u; }

fn stageA(buf: u32, q: u32, v: vec4<f16>) {
  let o = stageOffset(buf, BM, q);
#if ${vstage}
  As[o / 4u] = v;
#else
  As[o] = v.x; As[o + 1u] = v.y; As[o + 2u] = v.z; As[o + 3u] = v.w;
#endif
}

#if ${bstage}
fn stageB(buf: u32, q: u32, v: vec4<f16>) {
  let o = stageOffset(buf, BN, q);
#if ${vstage}
  Bs[o / 4u] = v;
#else
  Bs[o] = v.x; Bs[o + 1u] = v.y; Bs[o + 2u] = v.z; Bs[o + 3u] = v.w;
#endif
}
#endif

// The 16 x 16 result tile at rows m.., columns n.. from the subgroup's scratch at `base` (row-major,
// stride 16): invocation `lane` stores every sgSize-th element, edge-checked.
fn storeTile(base: u32, m: u32, n: u32, lane: u32, sgSize: u32) {
  let M = outRows();
  let N = outCols();
  for (var e = lane; e < 256u; e += sgSize) {
    let r = e / 16u;
    let c = e % 16u;
    if (m + r < M && n + c < N) { store(m + r, n + c, Cs[base + e]); }
  }
}

alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;

// @section main
@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32,
        @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sgSize: u32) {
  let n0 = wg.x * BN;
  let m0 = (wg.y + wg.z * 65535u) * BM;
  let sr = (sg / SGC) * TRR;       // this subgroup's first row within the tile
  let sc = (sg % SGC) * TCC;       // ... and first column
  let kq = (tid % KV) * 4u;        // this invocation's k offset within a K step (same for all its loads)
  let rA = tid / KV;               // its first staged row; load l adds l * THREADS / KV rows
  const RSTEP: u32 = THREADS / KV;

  var c00: Acc; var c01: Acc; var c10: Acc; var c11: Acc;
#if ${tc4}
  var c02: Acc; var c03: Acc; var c12: Acc; var c13: Acc;
#endif
#if ${tr4}
  var c20: Acc; var c21: Acc; var c30: Acc; var c31: Acc;
#if ${tc4}
  var c22: Acc; var c23: Acc; var c32: Acc; var c33: Acc;
#endif
#endif

  // The A rows this invocation stages, decoded once (fixed over K).
  let xr0 = xRow(m0 + rA);
#if ${la2}
  let xr1 = xRow(m0 + rA + RSTEP);
#endif
#if ${la4}
  let xr2 = xRow(m0 + rA + 2u * RSTEP);
  let xr3 = xRow(m0 + rA + 3u * RSTEP);
#endif
#if ${la8}
  let xr4 = xRow(m0 + rA + 4u * RSTEP);
  let xr5 = xRow(m0 + rA + 5u * RSTEP);
  let xr6 = xRow(m0 + rA + 6u * RSTEP);
  let xr7 = xRow(m0 + rA + 7u * RSTEP);
#endif
  let wn = n0 + rA;

  // Registers of the next K step: up to 8 vec4s of A and of B per invocation.
  let kx0 = xK(kq);
  var ra0 = loadX(xr0, kx0);
#if ${la2}
  var ra1 = loadX(xr1, kx0);
#endif
#if ${la4}
  var ra2 = loadX(xr2, kx0);
  var ra3 = loadX(xr3, kx0);
#endif
#if ${la8}
  var ra4 = loadX(xr4, kx0);
  var ra5 = loadX(xr5, kx0);
  var ra6 = loadX(xr6, kx0);
  var ra7 = loadX(xr7, kx0);
#endif
#if ${bstage}
  var rb0 = loadW(wn, kq);
#if ${lb2}
  var rb1 = loadW(wn + RSTEP, kq);
#endif
#if ${lb4}
  var rb2 = loadW(wn + 2u * RSTEP, kq);
  var rb3 = loadW(wn + 3u * RSTEP, kq);
#endif
#if ${lb8}
  var rb4 = loadW(wn + 4u * RSTEP, kq);
  var rb5 = loadW(wn + 5u * RSTEP, kq);
  var rb6 = loadW(wn + 6u * RSTEP, kq);
  var rb7 = loadW(wn + 7u * RSTEP, kq);
#endif
#elif ${bpack}
  // B from the packed weight (gemm_pack.wgsl's 16 x 16 tiles, vec4s): this subgroup's TC tile rows, clamped
  // to the chunk's last (columns past N are never stored), and step 0's right matrices.
  let KT = (kSize() + 15u) / 16u;
  let lastN = (outCols() + 15u) / 16u - 1u;
  let ct = (n0 + sc) / 16u;
  let bo0 = min(ct, lastN) * KT * 64u;
  let bo1 = min(ct + 1u, lastN) * KT * 64u;
  var pb0 = subgroupMatrixLoad<Right, col_major>(&w, bo0, 4u);
  var pb1 = subgroupMatrixLoad<Right, col_major>(&w, bo1, 4u);
#if ${tc4}
  let bo2 = min(ct + 2u, lastN) * KT * 64u;
  let bo3 = min(ct + 3u, lastN) * KT * 64u;
  var pb2 = subgroupMatrixLoad<Right, col_major>(&w, bo2, 4u);
  var pb3 = subgroupMatrixLoad<Right, col_major>(&w, bo3, 4u);
#endif
#if ${bk32}
  let s1 = min(1u, KT - 1u) * 64u;
  var pb4 = subgroupMatrixLoad<Right, col_major>(&w, bo0 + s1, 4u);
  var pb5 = subgroupMatrixLoad<Right, col_major>(&w, bo1 + s1, 4u);
#if ${tc4}
  var pb6 = subgroupMatrixLoad<Right, col_major>(&w, bo2 + s1, 4u);
  var pb7 = subgroupMatrixLoad<Right, col_major>(&w, bo3 + s1, 4u);
#endif
#endif
#else
  let KQ = kSize() / 4u;           // w's row stride in vec4s
#endif

  let nt = (kSize() + BK - 1u) / BK;
  for (var t = 0u; t < nt; t++) {
    // Per step: stage the registers (step t) into buffer t % 2, barrier, issue step t + 1's global loads
    // into the registers, then step t's products from buffer t % 2 (they hide the loads' latency). One
    // barrier per step: buffer t % 2 is next written in step t + 2, after the barrier of step t + 1, which
    // every subgroup reaches only after its products of step t.
    let cur = t % 2u;
    {
      stageA(cur, tid, ra0);
#if ${la2}
      stageA(cur, tid + THREADS, ra1);
#endif
#if ${la4}
      stageA(cur, tid + 2u * THREADS, ra2);
      stageA(cur, tid + 3u * THREADS, ra3);
#endif
#if ${la8}
      stageA(cur, tid + 4u * THREADS, ra4);
      stageA(cur, tid + 5u * THREADS, ra5);
      stageA(cur, tid + 6u * THREADS, ra6);
      stageA(cur, tid + 7u * THREADS, ra7);
#endif
#if ${bstage}
      stageB(cur, tid, rb0);
#if ${lb2}
      stageB(cur, tid + THREADS, rb1);
#endif
#if ${lb4}
      stageB(cur, tid + 2u * THREADS, rb2);
      stageB(cur, tid + 3u * THREADS, rb3);
#endif
#if ${lb8}
      stageB(cur, tid + 4u * THREADS, rb4);
      stageB(cur, tid + 5u * THREADS, rb5);
      stageB(cur, tid + 6u * THREADS, rb6);
      stageB(cur, tid + 7u * THREADS, rb7);
#endif
#endif
    }
    workgroupBarrier();
#if ${gload}
    if (t + 1u < nt) {
#else
    if (false) {   // diagnostic: no global loads after step 0 (wrong results; staging, barriers and products only)
#endif
      let k0 = (t + 1u) * BK + kq;
      let kx = xK(k0);
      ra0 = loadX(xr0, kx);
#if ${la2}
      ra1 = loadX(xr1, kx);
#endif
#if ${la4}
      ra2 = loadX(xr2, kx);
      ra3 = loadX(xr3, kx);
#endif
#if ${la8}
      ra4 = loadX(xr4, kx);
      ra5 = loadX(xr5, kx);
      ra6 = loadX(xr6, kx);
      ra7 = loadX(xr7, kx);
#endif
#if ${bstage}
      rb0 = loadW(wn, k0);
#if ${lb2}
      rb1 = loadW(wn + RSTEP, k0);
#endif
#if ${lb4}
      rb2 = loadW(wn + 2u * RSTEP, k0);
      rb3 = loadW(wn + 3u * RSTEP, k0);
#endif
#if ${lb8}
      rb4 = loadW(wn + 4u * RSTEP, k0);
      rb5 = loadW(wn + 5u * RSTEP, k0);
      rb6 = loadW(wn + 6u * RSTEP, k0);
      rb7 = loadW(wn + 7u * RSTEP, k0);
#endif
#endif
    }
    {
      let aBase = cur * BM * S + sr * S;
#if ${bstage}
      let bBase = cur * BN * S + sc * S;
#elif ${bpack}
      // This step's right matrices (prefetched a step ahead), then the next step's loads, in flight during
      // this step's products; the last step re-reads its own tiles (in bounds, unused).
      let cb0 = pb0; let cb1 = pb1;
#if ${tc4}
      let cb2 = pb2; let cb3 = pb3;
#endif
#if ${bk32}
      let cb4 = pb4; let cb5 = pb5;
#if ${tc4}
      let cb6 = pb6; let cb7 = pb7;
#endif
#endif
      {
        let kn = min(t + 1u, nt - 1u) * (BK / 16u);
        let k0 = min(kn, KT - 1u) * 64u;
        pb0 = subgroupMatrixLoad<Right, col_major>(&w, bo0 + k0, 4u);
        pb1 = subgroupMatrixLoad<Right, col_major>(&w, bo1 + k0, 4u);
#if ${tc4}
        pb2 = subgroupMatrixLoad<Right, col_major>(&w, bo2 + k0, 4u);
        pb3 = subgroupMatrixLoad<Right, col_major>(&w, bo3 + k0, 4u);
#endif
#if ${bk32}
        let k1 = min(kn + 1u, KT - 1u) * 64u;
        pb4 = subgroupMatrixLoad<Right, col_major>(&w, bo0 + k1, 4u);
        pb5 = subgroupMatrixLoad<Right, col_major>(&w, bo1 + k1, 4u);
#if ${tc4}
        pb6 = subgroupMatrixLoad<Right, col_major>(&w, bo2 + k1, 4u);
        pb7 = subgroupMatrixLoad<Right, col_major>(&w, bo3 + k1, 4u);
#endif
#endif
      }
#else
      let bW = ((n0 + sc) * kSize() + t * BK) / 4u;   // this subgroup's first column, this K step, in vec4s
#endif
      // The K step in 16-wide slices, written out (a loop over slices ran 25-35% slower on the H200).
      {
        let a0 = subgroupMatrixLoad<Left, row_major>(&As, aBase / DIV, S / DIV);
        let a1 = subgroupMatrixLoad<Left, row_major>(&As, (aBase + 16u * S) / DIV, S / DIV);
#if ${bstage}
        let b0 = subgroupMatrixLoad<Right, col_major>(&Bs, bBase / DIV, S / DIV);
#elif ${bpack}
        let b0 = cb0;
#else
        let b0 = subgroupMatrixLoad<Right, col_major>(&w, bW + 0u * KQ + 0u, KQ);
#endif
#if ${bstage}
        let b1 = subgroupMatrixLoad<Right, col_major>(&Bs, (bBase + 16u * S) / DIV, S / DIV);
#elif ${bpack}
        let b1 = cb1;
#else
        let b1 = subgroupMatrixLoad<Right, col_major>(&w, bW + 16u * KQ + 0u, KQ);
#endif
#if ${tc4}
#if ${bstage}
        let b2 = subgroupMatrixLoad<Right, col_major>(&Bs, (bBase + 32u * S) / DIV, S / DIV);
#elif ${bpack}
        let b2 = cb2;
#else
        let b2 = subgroupMatrixLoad<Right, col_major>(&w, bW + 32u * KQ + 0u, KQ);
#endif
#if ${bstage}
        let b3 = subgroupMatrixLoad<Right, col_major>(&Bs, (bBase + 48u * S) / DIV, S / DIV);
#elif ${bpack}
        let b3 = cb3;
#else
        let b3 = subgroupMatrixLoad<Right, col_major>(&w, bW + 48u * KQ + 0u, KQ);
#endif
#endif
        c00 = subgroupMatrixMultiplyAccumulate(a0, b0, c00);
        c01 = subgroupMatrixMultiplyAccumulate(a0, b1, c01);
        c10 = subgroupMatrixMultiplyAccumulate(a1, b0, c10);
        c11 = subgroupMatrixMultiplyAccumulate(a1, b1, c11);
#if ${tc4}
        c02 = subgroupMatrixMultiplyAccumulate(a0, b2, c02);
        c03 = subgroupMatrixMultiplyAccumulate(a0, b3, c03);
        c12 = subgroupMatrixMultiplyAccumulate(a1, b2, c12);
        c13 = subgroupMatrixMultiplyAccumulate(a1, b3, c13);
#endif
#if ${tr4}
        let a2 = subgroupMatrixLoad<Left, row_major>(&As, (aBase + 32u * S) / DIV, S / DIV);
        let a3 = subgroupMatrixLoad<Left, row_major>(&As, (aBase + 48u * S) / DIV, S / DIV);
        c20 = subgroupMatrixMultiplyAccumulate(a2, b0, c20);
        c21 = subgroupMatrixMultiplyAccumulate(a2, b1, c21);
        c30 = subgroupMatrixMultiplyAccumulate(a3, b0, c30);
        c31 = subgroupMatrixMultiplyAccumulate(a3, b1, c31);
#if ${tc4}
        c22 = subgroupMatrixMultiplyAccumulate(a2, b2, c22);
        c23 = subgroupMatrixMultiplyAccumulate(a2, b3, c23);
        c32 = subgroupMatrixMultiplyAccumulate(a3, b2, c32);
        c33 = subgroupMatrixMultiplyAccumulate(a3, b3, c33);
#endif
#endif
      }
#if ${bk32}
      {
        let a0 = subgroupMatrixLoad<Left, row_major>(&As, (aBase + 16u) / DIV, S / DIV);
        let a1 = subgroupMatrixLoad<Left, row_major>(&As, (aBase + 16u * S + 16u) / DIV, S / DIV);
#if ${bstage}
        let b0 = subgroupMatrixLoad<Right, col_major>(&Bs, (bBase + 16u) / DIV, S / DIV);
#elif ${bpack}
        let b0 = cb4;
#else
        let b0 = subgroupMatrixLoad<Right, col_major>(&w, bW + 0u * KQ + 4u, KQ);
#endif
#if ${bstage}
        let b1 = subgroupMatrixLoad<Right, col_major>(&Bs, (bBase + 16u * S + 16u) / DIV, S / DIV);
#elif ${bpack}
        let b1 = cb5;
#else
        let b1 = subgroupMatrixLoad<Right, col_major>(&w, bW + 16u * KQ + 4u, KQ);
#endif
#if ${tc4}
#if ${bstage}
        let b2 = subgroupMatrixLoad<Right, col_major>(&Bs, (bBase + 32u * S + 16u) / DIV, S / DIV);
#elif ${bpack}
        let b2 = cb6;
#else
        let b2 = subgroupMatrixLoad<Right, col_major>(&w, bW + 32u * KQ + 4u, KQ);
#endif
#if ${bstage}
        let b3 = subgroupMatrixLoad<Right, col_major>(&Bs, (bBase + 48u * S + 16u) / DIV, S / DIV);
#elif ${bpack}
        let b3 = cb7;
#else
        let b3 = subgroupMatrixLoad<Right, col_major>(&w, bW + 48u * KQ + 4u, KQ);
#endif
#endif
        c00 = subgroupMatrixMultiplyAccumulate(a0, b0, c00);
        c01 = subgroupMatrixMultiplyAccumulate(a0, b1, c01);
        c10 = subgroupMatrixMultiplyAccumulate(a1, b0, c10);
        c11 = subgroupMatrixMultiplyAccumulate(a1, b1, c11);
#if ${tc4}
        c02 = subgroupMatrixMultiplyAccumulate(a0, b2, c02);
        c03 = subgroupMatrixMultiplyAccumulate(a0, b3, c03);
        c12 = subgroupMatrixMultiplyAccumulate(a1, b2, c12);
        c13 = subgroupMatrixMultiplyAccumulate(a1, b3, c13);
#endif
#if ${tr4}
        let a2 = subgroupMatrixLoad<Left, row_major>(&As, (aBase + 32u * S + 16u) / DIV, S / DIV);
        let a3 = subgroupMatrixLoad<Left, row_major>(&As, (aBase + 48u * S + 16u) / DIV, S / DIV);
        c20 = subgroupMatrixMultiplyAccumulate(a2, b0, c20);
        c21 = subgroupMatrixMultiplyAccumulate(a2, b1, c21);
        c30 = subgroupMatrixMultiplyAccumulate(a3, b0, c30);
        c31 = subgroupMatrixMultiplyAccumulate(a3, b1, c31);
#if ${tc4}
        c22 = subgroupMatrixMultiplyAccumulate(a2, b2, c22);
        c23 = subgroupMatrixMultiplyAccumulate(a2, b3, c23);
        c32 = subgroupMatrixMultiplyAccumulate(a3, b2, c32);
        c33 = subgroupMatrixMultiplyAccumulate(a3, b3, c33);
#endif
#endif
      }
#endif
    }
  }

  // Epilogue, one result matrix at a time through the subgroup's scratch (a barrier each side, since the
  // scratch is reused; every subgroup runs the same sequence, so the barriers are uniform).
  let base = sg * 256u;
  let mr = m0 + sr;
  let nc = n0 + sc;
  subgroupMatrixStore<row_major>(&Cs, base, c00, 16u); workgroupBarrier(); storeTile(base, mr, nc, lane, sgSize); workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c01, 16u); workgroupBarrier(); storeTile(base, mr, nc + 16u, lane, sgSize); workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c10, 16u); workgroupBarrier(); storeTile(base, mr + 16u, nc, lane, sgSize); workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c11, 16u); workgroupBarrier(); storeTile(base, mr + 16u, nc + 16u, lane, sgSize); workgroupBarrier();
#if ${tc4}
  subgroupMatrixStore<row_major>(&Cs, base, c02, 16u); workgroupBarrier(); storeTile(base, mr, nc + 32u, lane, sgSize); workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c03, 16u); workgroupBarrier(); storeTile(base, mr, nc + 48u, lane, sgSize); workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c12, 16u); workgroupBarrier(); storeTile(base, mr + 16u, nc + 32u, lane, sgSize); workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c13, 16u); workgroupBarrier(); storeTile(base, mr + 16u, nc + 48u, lane, sgSize); workgroupBarrier();
#endif
#if ${tr4}
  subgroupMatrixStore<row_major>(&Cs, base, c20, 16u); workgroupBarrier(); storeTile(base, mr + 32u, nc, lane, sgSize); workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c21, 16u); workgroupBarrier(); storeTile(base, mr + 32u, nc + 16u, lane, sgSize); workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c30, 16u); workgroupBarrier(); storeTile(base, mr + 48u, nc, lane, sgSize); workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c31, 16u); workgroupBarrier(); storeTile(base, mr + 48u, nc + 16u, lane, sgSize); workgroupBarrier();
#if ${tc4}
  subgroupMatrixStore<row_major>(&Cs, base, c22, 16u); workgroupBarrier(); storeTile(base, mr + 32u, nc + 32u, lane, sgSize); workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c23, 16u); workgroupBarrier(); storeTile(base, mr + 32u, nc + 48u, lane, sgSize); workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c32, 16u); workgroupBarrier(); storeTile(base, mr + 48u, nc + 32u, lane, sgSize); workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, base, c33, 16u); workgroupBarrier(); storeTile(base, mr + 48u, nc + 48u, lane, sgSize); workgroupBarrier();
#endif
#endif
}
