// The sequential test loop is the selftest's (src/selftest/runner.ts).
export * from "../src/selftest/runner.ts";
