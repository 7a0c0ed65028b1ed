// `shardit selftest`: prints the adapter (name, backend, features, granted limits), then runs every
// kernel check (src/selftest/kernels: each kernel against its Float64 reference) on it, ending in a table.
import { describeGpu, selftest as runSelftest } from "../deno.ts";

export async function selftest(filter: string): Promise<number> {
  console.log("adapter:", JSON.stringify(await describeGpu({ label: "selftest" }), null, 2));
  const s = await runSelftest(filter, (line) => console.log(line));
  const width = Math.max(...s.results.map((r) => r.name.length), 4);
  console.log(`\n${"test".padEnd(width)}  result   ms`);
  for (const r of s.results) console.log(`${r.name.padEnd(width)}  ${r.status.padEnd(7)}  ${r.ms.toFixed(0)}`);
  console.log(`\nselftest: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`);
  return s.failed ? 1 : 0;
}
