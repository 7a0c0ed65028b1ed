// The Float64 reference lives with the kernel checks (src/selftest/reference/attention_merge.ts).
export * from "../../src/selftest/reference/attention_merge.ts";
