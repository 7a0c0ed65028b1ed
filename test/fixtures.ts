// Golden fixture access is the selftest's (src/selftest/fixtures.ts); the files are in test/fixtures.
export * from "../src/selftest/fixtures.ts";
