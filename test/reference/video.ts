// The Float64 reference lives with the kernel checks (src/selftest/reference/video.ts).
export * from "../../src/selftest/reference/video.ts";
