// The Float64 reference lives with the kernel checks (src/selftest/reference/gemm.ts).
export * from "../../src/selftest/reference/gemm.ts";
