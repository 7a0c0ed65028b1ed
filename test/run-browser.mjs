// Runs the shared test list in headless Chromium (WebGPU through SwiftShader) via Playwright.
// Usage: node test/run-browser.mjs [--filter substring] [--json out.json]
import { writeFileSync } from "node:fs";
import { launchChromium, startVite } from "./chromium.mjs";

const args = process.argv.slice(2);
const filter = args.includes("--filter") ? args[args.indexOf("--filter") + 1] : "";
const jsonPath = args.includes("--json") ? args[args.indexOf("--json") + 1] : "";
const TIMEOUT_MS = Number(process.env.BROWSER_SUITE_TIMEOUT_MS ?? 80 * 60_000);

const server = await startVite();
const browser = await launchChromium();
let summary;
try {
  const page = await browser.newPage();
  let printed = 0;
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") console.error(`console: ${m.text()}`); });
  await page.goto(`${server.url}test/browser/index.html?filter=${encodeURIComponent(filter)}`);
  const t0 = Date.now();
  for (;;) {
    // A dev-server reload (dependency optimisation) destroys the context: retry on the next tick.
    const state = await page.evaluate(() => ({ log: window.__shardit_log ?? [], done: window.__shardit_tests ?? null }))
      .catch((e) => { if (/context was destroyed|navigat/i.test(e.message)) return { log: [], done: null, reloaded: true }; throw e; });
    if (state.reloaded) { printed = 0; await new Promise((r) => setTimeout(r, 500)); continue; }
    for (; printed < state.log.length; printed++) console.log(state.log[printed]);
    if (state.done) { summary = state.done; break; }
    if (Date.now() - t0 > TIMEOUT_MS) throw new Error(`browser suite did not finish within ${TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
} catch (e) {
  summary = { host: "browser", passed: 0, failed: 1, skipped: 0, results: [{ name: "browser suite", status: "failed", ms: 0, message: e.message }] };
  console.error(`FAIL browser suite: ${e.message}`);
} finally {
  await browser.close();
  await server.close();
}
if (jsonPath) writeFileSync(jsonPath, JSON.stringify(summary));
console.log(`browser: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
process.exit(summary.failed ? 1 : 0);
