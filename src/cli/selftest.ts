// `shardit selftest`: one line naming the adapter and the WebGPU implementation, then one line per kernel
// check (src/selftest/kernels: each kernel against its Float64 reference) and one summary line; --verbose
// adds the adapter's features and granted limits as JSON first.
import { describeGpu, selftest as runSelftest } from "../deno.ts";
import { currentWebGpu } from "../platform/webgpu_deno.ts";
import { type CommandSpec, parseCommand } from "./args.ts";

export const SPEC: CommandSpec = {
  name: "selftest",
  summary: "runs every kernel on this adapter against its Float64 reference, one line per check",
  flags: [{ name: "filter", value: "TEXT", help: "only the checks whose name contains TEXT" }],
  examples: ["npx shardit selftest", "npx shardit selftest --filter rms_norm --webgpu deno"],
};

/**
 * The runner's line for a check, "ok   deno name (12 ms)": its host field says where the runner runs (Deno or
 * a browser), not which WebGPU implementation, so the CLI drops it and names the implementation once above.
 */
export function checkLine(line: string): string {
  return line.replace(/^(ok  |skip|FAIL) (deno|browser) /, "$1 ");
}

export async function selftestCommand(argv: string[]): Promise<number> {
  const p = parseCommand(SPEC, argv);
  const filter = typeof p.flags.get("filter") === "string" ? p.flags.get("filter") as string : "";
  const d = await describeGpu({ label: "selftest" });
  const implementation = currentWebGpu()?.implementation ?? "deno";
  const adapter = (d.adapter ?? d.name ?? "") as unknown;
  console.log(`selftest on ${implementation === "dawn" ? "Dawn (the webgpu package)" : "Deno's WebGPU (wgpu)"}: ${typeof adapter === "string" ? adapter : JSON.stringify(adapter)}`);
  if (Deno.env.get("SHARDIT_VERBOSE") === "1") console.log(JSON.stringify(d, null, 2));
  const s = await runSelftest(filter, (line) => console.log(checkLine(line)));
  const failed = s.results.filter((r) => r.status === "failed").map((r) => r.name);
  console.log(`selftest: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped on ${implementation}${failed.length ? ` (failed: ${failed.slice(0, 5).join(", ")}${failed.length > 5 ? ", ..." : ""})` : ""}`);
  return s.failed ? 1 : 0;
}
