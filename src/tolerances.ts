// Accepted errors, named once: the test harness (src/selftest/harness.ts re-exports TOL), the demo's one-device
// comparison and anything else that judges a result use these. Unless a name says otherwise, a bound is on
// the relative L2 error ||got - ref|| / ||ref|| (DESIGN.md (shared/docs, not in this repo) "Numbers that count"). Each loosening says why.
export const TOL = {
  /** Element-wise kernels vs Float64: one or two roundings per element plus f32 transcendental error;
   * f16: the 11-bit storage of inputs and outputs dominates (~5e-4 per value, more through exp/tanh). */
  elementwise: { f32: 1e-5, f16: 1e-2 },
  /** GEMM and attention vs Float64: sums of K products accumulate ~sqrt(K) ulp of rounding. */
  matmul: { f32: 1e-4, f16: 1e-2 },
  /** The whole forward vs diffusers' float64 output or the composed Float64 reference (DESIGN.md). */
  model: { f32: 1e-4, f16: 1e-2 },
  /** Sharded vs single device where the two reduce in different orders (the overlapped exchange merges two
   * partial softmaxes; frame mode's padded keys change the attention's key blocks): the model bound. */
  sharded: { f32: 1e-4, f16: 1e-2 },
  /** The sampler driven in f32 vs its Float64 twin: f32 latents between steps (~6e-8 relative per rounding). */
  sampler: { f32: 1e-5 },
  /** Attention's log-sum-exp (O(1..10)), by absolute error scaled by max(1, |lse|): f32 exp/log rounding; f16 inputs. */
  lse: { f32: 1e-5, f16: 1e-3 },
  /** Float64 on both sides (our references vs diffusers' float64 goldens): only the order of operations differs.
   * model: the whole forward composed (wan-tiny 2.1e-7, wan-small 1.0e-6 measured); tables: RoPE's cos/sin
   * (one pow and one cos per entry); identity: two Float64 routes to the same sum (the LSE merge). */
  float64: { model: 1e-6, tables: 1e-7, identity: 1e-12 },
} as const;
