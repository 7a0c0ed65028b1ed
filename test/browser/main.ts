// Browser host of the shared test list: runs every test in this page (Chromium, SwiftShader in CI) and
// publishes the summary on window.__shardit_tests for test/run-browser.mjs. ?filter=substring narrows.
import "../suites.ts";
import { probeAdapter, registeredTests } from "../../src/selftest/harness.ts";
import { runTests, type Summary } from "../../src/selftest/runner.ts";

declare global {
  interface Window { __shardit_tests?: Summary; __shardit_log?: string[] }
}

const logEl = document.getElementById("log")!;
window.__shardit_log = [];
const filter = new URLSearchParams(location.search).get("filter") ?? "";
// The adapter's features: a test that needs one this adapter lacks is listed as skipped with the reason.
const adapter = await probeAdapter().catch(() => undefined);
const summary = await runTests(registeredTests(), "browser", filter, (line) => {
  window.__shardit_log!.push(line);
  logEl.textContent += line + "\n";
  console.log(line);
}, adapter);
window.__shardit_tests = summary;
