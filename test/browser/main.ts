// Browser host of the shared test list: runs every test in this page (Chromium, SwiftShader in CI) and
// publishes the summary on window.__shardit_tests for test/run-browser.mjs. ?filter=substring narrows.
import "../suites.ts";
import { registeredTests } from "../harness.ts";
import { runTests, type Summary } from "../runner.ts";

declare global {
  interface Window { __shardit_tests?: Summary; __shardit_log?: string[] }
}

const logEl = document.getElementById("log")!;
window.__shardit_log = [];
const filter = new URLSearchParams(location.search).get("filter") ?? "";
const summary = await runTests(registeredTests(), "browser", filter, (line) => {
  window.__shardit_log!.push(line);
  logEl.textContent += line + "\n";
  console.log(line);
});
window.__shardit_tests = summary;
