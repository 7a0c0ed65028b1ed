// gemm_matrix: Y[M, N] = epilogue(X[M, K] · W[N, K]^T + b[N]) on the matrix units (subgroup matrices,
// chromium_experimental_subgroup_matrix): f16 operands, f32 accumulation, f16 results. Same contract,
// bindings and epilogues as gemm.wgsl (the Params, x / w bindings and epilogue math are gemm_common.wgsl's);
// one dispatch handles one row chunk of W (output columns [n0, n0 + n_i) of Y). The tile machinery (staging,
// K loop, epilogue scratch) is gemm_matrix_tile.wgsl's, shared with vae_conv3d_matrix.wgsl: see there.
//
// Defines (compile time):
//   vec            K % 4 == 0: X and W are read as vec4<f16> (else scalar reads with per-element checks)
//   gemm_matrix_tile's: SG SGR SGC TR TC (tr4 tc4) BK (bk32) PAD vstage la2 la4 la8 lb2 lb4 lb8 THREADS BM BN
//                  A_SMEM B_SMEM C_SMEM (src/ops/gemm_matrix.ts matrixGemmDefines)
//   hasBias epiGelu epiResidual epiGate biasBinding gateBinding: as in gemm.wgsl
// Bindings:
//   0 uniform Params
//   1 x    read       [M, K] f16      (a view: the host binds the row range)
//   2 w    read       [n_i, K] f16    this chunk of the weight (with ${bpack}: the chunk packed in 16 x 16
//                                     tiles, gemm_pack.wgsl's layout, src/ops/gemm_pack.ts packLinear)
//   3 y    read_write [M, ldo] f16    output; this dispatch writes columns n0 .. n0 + n_i
//   gate   read       [...] f16       element gateOffset + n0 + j multiplies column j of this chunk
//   bias   read       [N] f16         the whole bias; element n0 + j
// Dispatch: (ceil(n_i / BN), ceil(M / BM), 1), workgroup THREADS = SGR * SGC * SG invocations.

enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);

#if ${vec}
alias LT = vec4<f16>;
#else
alias LT = f16;
#endif

// @include gemm_common:params
@group(0) @binding(3) var<storage, read_write> y: array<f16>;
#if ${epiGate}
@group(0) @binding(${gateBinding}) var<storage, read> gate: array<f16>;
#endif
#if ${hasBias}
@group(0) @binding(${biasBinding}) var<storage, read> bias: array<f16>;
#endif

fn outRows() -> u32 { return p.M; }
fn outCols() -> u32 { return p.N; }
fn kSize() -> u32 { return p.K; }

alias XRow = u32;
fn xRow(m: u32) -> u32 { return m; }
alias XK = u32;
fn xK(k0: u32) -> u32 { return k0; }

// Four consecutive K values (k0 .. k0 + 3) of X row `row`, zeros past the edges.
fn loadX(row: u32, k0: u32) -> vec4<f16> {
  if (row >= p.M || k0 >= p.K) { return vec4<f16>(0.0); }
#if ${vec}
  return x[row * (p.K / 4u) + k0 / 4u];
#else
  let base = row * p.K + k0;
  var v = vec4<f16>(x[base], 0.0, 0.0, 0.0);
  if (k0 + 1u < p.K) { v.y = x[base + 1u]; }
  if (k0 + 2u < p.K) { v.z = x[base + 2u]; }
  if (k0 + 3u < p.K) { v.w = x[base + 3u]; }
  return v;
#endif
}

fn loadW(row: u32, k0: u32) -> vec4<f16> {
  if (row >= p.N || k0 >= p.K) { return vec4<f16>(0.0); }
#if ${vec}
  return w[row * (p.K / 4u) + k0 / 4u];
#else
  let base = row * p.K + k0;
  var v = vec4<f16>(w[base], 0.0, 0.0, 0.0);
  if (k0 + 1u < p.K) { v.y = w[base + 1u]; }
  if (k0 + 2u < p.K) { v.z = w[base + 2u]; }
  if (k0 + 3u < p.K) { v.w = w[base + 3u]; }
  return v;
#endif
}

// @include gemm_common:gelu

// Column j of this chunk, row m: the epilogue on the f32 dot product, rounded to f16 on store.
fn store(m: u32, j: u32, acc: f32) {
  // @include gemm_common:epilogue
  y[idx] = f16(r);
}

// @include gemm_matrix_tile:smem

// @include gemm_matrix_tile:main
