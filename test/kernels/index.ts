// The kernel checks live in src/selftest/kernels (`npx shardit selftest` runs them too); new kernel checks
// go there. Both test hosts run them through this file.
import "../../src/selftest/kernels/index.ts";
// Deno only: every matrix-attention variant compiled on Dawn's null backend (no GPU needed).
import "./matrix_compile.test.ts";
// Deno only: every gemm_matrix and vae_conv3d_matrix variant compiled on Dawn's null backend.
import "./matrix_null_compile.test.ts";
// Deno only: every gemm_wx_matrix (umT5's weight-only linears on the matrix units) variant on Dawn's null backend.
import "./gemm_wx_matrix_compile.test.ts";
