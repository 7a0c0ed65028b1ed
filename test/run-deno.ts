// Runs the registered tests under Deno (WebGPU through the local Vulkan adapter: lavapipe in CI).
// Usage: deno run -A test/run-deno.ts [--filter substring[|substring...]] [--json out.json]
// (a test runs when its name contains any of the |-separated substrings)
import "./suites.ts";
import { registeredTests } from "./harness.ts";
import { runTests } from "./runner.ts";
import { useWebGpu } from "../src/platform/webgpu_deno.ts";

const args = Deno.args;
const filter = args.includes("--filter") ? args[args.indexOf("--filter") + 1] : "";
const jsonPath = args.includes("--json") ? args[args.indexOf("--json") + 1] : "";
// The WebGPU implementation: $SHARDIT_WEBGPU (auto|dawn|deno), default auto (Dawn where it finds an adapter).
const backend = await useWebGpu();
console.log(`webgpu: ${backend.implementation}${backend.note ? ` (auto: ${backend.note})` : ""}`);
const wanted = filter.split("|").filter(Boolean);
const cases = registeredTests().filter((c) => wanted.length === 0 || wanted.some((w) => c.name.includes(w)));
const summary = await runTests(cases, "deno", "", (line) => console.log(line));
if (jsonPath) Deno.writeTextFileSync(jsonPath, JSON.stringify(summary));
console.log(`deno: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
Deno.exit(summary.failed ? 1 : 0);
