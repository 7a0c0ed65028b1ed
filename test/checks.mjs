// The named checks of the scripted suites (test/e2e/run-e2e.mjs, test/package/run-package.mjs): each check is one
// test case with a status and a time, printed as the Deno and browser runners print theirs, and the suite's
// summary is the JSON that npm test (run-all.mjs) counts.
import { writeFileSync } from "node:fs";

/**
 * One suite's checks; `host` names it in the lines and the summary (e2e, package). `oneLine`: a failure's message is
 * its first line (Playwright's errors carry pages of call log), else all of it (a command's output).
 */
export function checkRunner(host, { oneLine = false } = {}) {
  const results = [];
  let skipping = "";
  return {
    results,
    /**
     * Runs one named check; with `fatal`, its failure skips every later check (they need what it made) until
     * `resume()`.
     */
    async check(name, fn, { fatal = false } = {}) {
      const t0 = Date.now();
      if (skipping) {
        results.push({ name, status: "skipped", ms: 0, message: skipping });
        console.log(`skip ${host} ${name}: ${skipping}`);
        return;
      }
      try {
        await fn();
        results.push({ name, status: "passed", ms: Date.now() - t0 });
        console.log(`ok   ${host} ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (e) {
        const text = String(e?.message ?? e);
        const message = oneLine ? text.split("\n")[0] : text.trim();
        results.push({ name, status: "failed", ms: Date.now() - t0, message });
        console.log(`FAIL ${host} ${name}: ${message}`);
        if (fatal) skipping = `after "${name}" failed`;
      }
    },
    /** The checks after this one run again whatever failed before (they do not depend on it). */
    resume() {
      skipping = "";
    },
    /** Writes the summary to `jsonPath` (when given), prints its line and exits 1 on any failure. */
    finish(jsonPath) {
      const count = (st) => results.filter((r) => r.status === st).length;
      const summary = { host, passed: count("passed"), failed: count("failed"), skipped: count("skipped"), results };
      if (jsonPath) writeFileSync(jsonPath, JSON.stringify(summary));
      console.log(`${host}: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
      process.exit(summary.failed ? 1 : 0);
    },
  };
}
