// Sequential test loop shared by the Deno and browser hosts: per-test timeout, skip handling, summary.
import { type AdapterFeatures, type Host, registeredCleanups, SkipError, type TestCase } from "./harness.ts";

export interface TestResult {
  name: string;
  status: "passed" | "failed" | "skipped";
  ms: number;
  message?: string;
}
export interface Summary {
  host: Host;
  passed: number;
  failed: number;
  skipped: number;
  results: TestResult[];
}

/** Why `c` cannot run on `adapter` (a need it lacks), or null. */
export function unmetNeed(c: TestCase, adapter: AdapterFeatures | undefined): string | null {
  const missing = adapter ? (c.needs ?? []).filter((n) => !adapter.features[n]) : [];
  if (!missing.length) return null;
  const where = missing.includes("subgroupMatrix") ? " (GPU tier: npm run test:gpu on a GPU host)" : "";
  return `needs ${missing.join(", ")}, which ${adapter!.name} lacks${where}`;
}

/**
 * Runs `cases` one after the other. With `adapter`, a case whose `needs` the adapter lacks is counted
 * skipped with the reason, without running.
 */
export async function runTests(cases: readonly TestCase[], host: Host, filter: string, log: (line: string) => void, adapter?: AdapterFeatures): Promise<Summary> {
  const results: TestResult[] = [];
  for (const c of cases) {
    if (filter && !c.name.includes(filter)) continue;
    if (c.hosts && !c.hosts.includes(host)) continue;
    const unmet = unmetNeed(c, adapter);
    if (unmet) {
      results.push({ name: c.name, status: "skipped", ms: 0, message: unmet });
      log(`skip ${host} ${c.name} (0 ms): ${unmet}`);
      continue;
    }
    const t0 = performance.now();
    let timer = 0;
    const timeoutMs = c.timeoutMs ?? 120_000;
    try {
      await Promise.race([
        Promise.resolve().then(c.fn),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs) as unknown as number;
        }),
      ]);
      results.push({ name: c.name, status: "passed", ms: performance.now() - t0 });
    } catch (e) {
      const skipped = e instanceof SkipError;
      results.push({ name: c.name, status: skipped ? "skipped" : "failed", ms: performance.now() - t0, message: (e as Error)?.message ?? String(e) });
    } finally {
      clearTimeout(timer);
    }
    const r = results[results.length - 1];
    log(`${r.status === "passed" ? "ok  " : r.status === "skipped" ? "skip" : "FAIL"} ${host} ${r.name} (${r.ms.toFixed(0)} ms)${r.message ? ": " + r.message : ""}`);
  }
  // Shared state (pools kept across tests) is released once, after the last test; a failure there fails the run.
  for (const cleanup of registeredCleanups()) {
    const t0 = performance.now();
    try {
      await cleanup();
    } catch (e) {
      results.push({ name: "cleanup after the last test", status: "failed", ms: performance.now() - t0, message: (e as Error)?.message ?? String(e) });
      log(`FAIL ${host} cleanup after the last test: ${(e as Error)?.message ?? String(e)}`);
    }
  }
  const count = (s: TestResult["status"]) => results.filter((r) => r.status === s).length;
  return { host, passed: count("passed"), failed: count("failed"), skipped: count("skipped"), results };
}
