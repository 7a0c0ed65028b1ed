// The Float64 reference lives with the kernel checks (src/selftest/reference/attention.ts).
export * from "../../src/selftest/reference/attention.ts";
