// The test harness is the selftest's (src/selftest/harness.ts: `npx shardit selftest` runs the kernel
// checks with it); test files import it from here.
export * from "../src/selftest/harness.ts";
