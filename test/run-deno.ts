// Runs the registered tests under Deno (WebGPU through the local Vulkan adapter: lavapipe in CI).
// Usage: deno run -A test/run-deno.ts [--fast] [--tag T] [--needs N] [--filter substring[|substring...]]
//                                     [--list] [--json out.json]
//   --fast       leave out the tests tagged "slow" (`npm run test:fast`: the edit loop's tier)
//   --tag T      only the tests tagged T (e.g. slow)
//   --needs N    only the tests that need adapter feature N (subgroupMatrix | f16 | subgroups)
//   --filter S   only the tests whose name contains one of the |-separated substrings
//   --tier dawn  the Dawn pass of npm test: the kernel checks (src/selftest/kernels, test/kernels), the tests
//                that need subgroups or subgroupMatrix and the tests tagged "dawn"; the rest is backend-neutral
//                code that the deno pass (wgpu) already runs
//   --list       print the selected tests with their tags and needs, run nothing
// A test that needs a feature this adapter lacks is counted skipped with the reason (never left out).
import "./suites.ts";
import { NEEDS, type Need, probeAdapter, registeredTests, type Tag, type TestCase } from "../src/selftest/harness.ts";
import { runTests } from "../src/selftest/runner.ts";
import { useWebGpu } from "../src/platform/webgpu_deno.ts";

const args = Deno.args;
const FLAGS_WITH_VALUE = ["--tag", "--needs", "--filter", "--json", "--tier"], SWITCHES = ["--fast", "--list", "--help", "-h"];
const unknown = args.filter((a, i) => !(FLAGS_WITH_VALUE.includes(a) || SWITCHES.includes(a) || FLAGS_WITH_VALUE.includes(args[i - 1])));
if (args.includes("--help") || args.includes("-h") || unknown.length) {
  // The usage at the top of this file, without running anything (a bare run is the whole suite: minutes on 2 cores).
  const lines = Deno.readTextFileSync(new URL(import.meta.url)).split("\n");
  const header = lines.slice(1, lines.findIndex((l) => !l.startsWith("//"))).map((l) => l.slice(3));
  if (unknown.length) console.error(`run-deno: unknown argument ${unknown.join(" ")}`);
  console.log(header.join("\n"));
  Deno.exit(unknown.length ? 2 : 0);
}
const value = (flag: string) => args.includes(flag) ? args[args.indexOf(flag) + 1] ?? "" : "";
const filter = value("--filter");
const jsonPath = value("--json");
const fast = args.includes("--fast");
const tag = value("--tag") as Tag | "";
const need = value("--needs") as Need | "";
if (need && !NEEDS.includes(need)) {
  console.error(`run-deno: --needs ${need}: expected one of ${NEEDS.join(", ")}`);
  Deno.exit(2);
}
const tier = value("--tier");
if (tier && tier !== "dawn") {
  console.error(`run-deno: --tier ${tier}: the only tier is dawn`);
  Deno.exit(2);
}
/** The Dawn pass: what can differ on Dawn (see --tier above). */
const inDawnTier = (c: TestCase) =>
  /\/(src\/selftest|test)\/kernels\//.test(c.file ?? "") || (c.tags ?? []).includes("dawn") ||
  (c.needs ?? []).some((n) => n === "subgroups" || n === "subgroupMatrix");
const wanted = filter.split("|").filter(Boolean);
const describe = (c: TestCase) => [...(c.tags ?? []), ...(c.needs ?? []).map((n) => `needs ${n}`)].join(", ");
const all = registeredTests().filter((c) => !c.hosts || c.hosts.includes("deno"));
const cases = all.filter((c) =>
  (wanted.length === 0 || wanted.some((w) => c.name.includes(w))) &&
  (!fast || !c.tags?.includes("slow")) &&
  (!tag || (c.tags ?? []).includes(tag)) &&
  (!need || (c.needs ?? []).includes(need)) &&
  (!tier || inDawnTier(c))
);
if (args.includes("--list")) {
  for (const c of cases) console.log(`${c.name}${describe(c) ? `  [${describe(c)}]` : ""}`);
  console.log(`${cases.length} of ${all.length} tests selected`);
  Deno.exit(0);
}
// The WebGPU implementation: $SHARDIT_WEBGPU (auto|dawn|deno), default auto (Dawn where it finds an adapter).
const backend = await useWebGpu();
console.log(`webgpu: ${backend.implementation}${backend.note ? ` (auto: ${backend.note})` : ""}`);
const adapter = await probeAdapter();
const has = Object.entries(adapter.features).filter(([, v]) => v).map(([k]) => k);
console.log(`adapter: ${adapter.name}; features for needs: ${has.join(", ") || "none"}`);
if (tier) {
  const inTier = all.filter(inDawnTier).length;
  console.log(`tier ${tier}: ${inTier} of ${all.length} tests (the other ${all.length - inTier} are backend-neutral: the deno pass runs them)`);
}
if (fast) console.log(`test:fast: ${all.filter((c) => c.tags?.includes("slow")).length} slow tests left out (npm run test:deno runs them)`);
const summary = await runTests(cases, "deno", "", (line) => console.log(line), adapter);
if (jsonPath) Deno.writeTextFileSync(jsonPath, JSON.stringify(summary));
console.log(`deno: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
Deno.exit(summary.failed ? 1 : 0);
