// gemm_pack: a row-major f16 matrix X[R, K] rewritten as 16 x 16 tiles, each 512 contiguous bytes, for the
// packed matrix GEMM (gemm_matrix_packed.wgsl), which loads its operands as subgroup matrices straight from
// storage: one tile is one coalesced 512-byte read instead of 16 rows of 32 bytes, K * 2 bytes apart.
//
// Layout: P[rt][kt][r][k] for tile row rt < RT = ceil(R / 16), tile column kt < KT = ceil(K / 16), with
// k fastest; element (row, col) of X at P[row / 16][col / 16][row % 16][col % 16]; rows >= R and columns
// >= K are zeros (so a packed tile is whole and every GEMM read in bounds). Read as a left matrix
// (row_major, stride 16 halves) a tile is X's 16 x 16 block; read as a right matrix (col_major, stride 16) a
// tile of W[N, K] is W^T's block, k down, n across: the same layout serves activations and weights.
// Defines: vec (K % 4 == 0: X read as vec4<f16>).
// Bindings: 0 uniform Params   1 x read [R, K] f16   2 out read_write [RT * KT * 64] vec4<f16>
// Dispatch: one invocation per output vec4, workgroups1d(ceil(RT * KT * 64 / 256)) over x and y.

enable f16;

#if ${vec}
alias LT = vec4<f16>;
#else
alias LT = f16;
#endif

struct Params {
  R: u32,
  K: u32,
  KT: u32,     // ceil(K / 16)
  total: u32,  // RT * KT * 64, the output's vec4s
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<LT>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f16>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let q = (wg.x + wg.y * 65535u) * 256u + lid;
  if (q >= p.total) { return; }
  let tile = q / 64u;
  let within = q % 64u;
  let row = (tile / p.KT) * 16u + within / 4u;
  let k0 = (tile % p.KT) * 16u + (within % 4u) * 4u;
  var v = vec4<f16>(0.0);
  if (row < p.R && k0 < p.K) {
#if ${vec}
    v = x[(row * p.K + k0) / 4u];
#else
    let base = row * p.K + k0;
    v.x = x[base];
    if (k0 + 1u < p.K) { v.y = x[base + 1u]; }
    if (k0 + 2u < p.K) { v.z = x[base + 2u]; }
    if (k0 + 3u < p.K) { v.w = x[base + 3u]; }
#endif
  }
  out[q] = v;
}
