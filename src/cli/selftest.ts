// `shardit selftest`: prints the adapter (name, backend, features, granted limits), then runs every
// kernel check (src/selftest/kernels: each kernel against its Float64 reference) on it, ending in a table.
import { Gpu } from "../gpu/device.ts";
import "../selftest/kernels/index.ts";
import { registeredTests } from "../selftest/harness.ts";
import { runTests } from "../selftest/runner.ts";

export async function selftest(filter: string): Promise<number> {
  const gpu = await Gpu.create({ label: "selftest" });
  const info = gpu.describe();
  gpu.destroy();
  console.log("adapter:", JSON.stringify(info, null, 2));
  const s = await runTests(registeredTests(), "deno", filter, (line) => console.log(line));
  const width = Math.max(...s.results.map((r) => r.name.length), 4);
  console.log(`\n${"test".padEnd(width)}  result   ms`);
  for (const r of s.results) console.log(`${r.name.padEnd(width)}  ${r.status.padEnd(7)}  ${r.ms.toFixed(0)}`);
  console.log(`\nselftest: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`);
  return s.failed ? 1 : 0;
}
