// The Deno entry point of `npx shardit <command>` (bin/shardit.cjs runs it with the local deno).
// Any error prints one line naming what is wrong and exits non-zero; --verbose adds the stack (and Dawn's
// own log lines, src/platform/dawn_quiet.ts). `shardit <command> --help` prints the command's flag table
// (args.ts CommandSpec: the same table its parser accepts), before any GPU is touched.
import { type CommandSpec, commandHelp, COMMON_FLAGS, HelpRequested, UsageError, wantsHelp } from "./args.ts";
import { errorLine } from "../errors.ts";
import { takeWebGpuFlag, useWebGpu, warnIfSlowAdapter, webGpuChoice } from "../deno.ts";

/** Each command lives in its own module, loaded on use: its flag table and its run (returns the exit status). */
interface Command {
  spec: CommandSpec;
  run(argv: string[]): Promise<number> | number;
  /** Touches no GPU (no --webgpu choice made). */
  noGpu?: boolean;
}

const commands: Record<string, () => Promise<Command>> = {
  generate: async () => {
    const m = await import("./generate.ts");
    return { spec: m.SPEC, run: m.generateCommand };
  },
  decode: async () => {
    const m = await import("./decode.ts");
    return { spec: m.SPEC, run: m.decodeCommand };
  },
  encode: async () => {
    const m = await import("./encode.ts");
    return { spec: m.SPEC, run: m.encodeCommand };
  },
  forward: async () => {
    const m = await import("./forward.ts");
    return { spec: m.SPEC, run: m.forwardCommand };
  },
  plan: async () => {
    const m = await import("./plan.ts");
    return { spec: m.SPEC, run: m.plan, noGpu: true };
  },
  selftest: async () => {
    const m = await import("./selftest.ts");
    return { spec: m.SPEC, run: m.selftestCommand };
  },
};

/** `shardit --help`: every command's summary and example, then where the rest is. */
async function usage(): Promise<string> {
  const out = ["usage: shardit <command> [flags]       (shardit <command> --help: its flags, defaults and examples)", ""];
  const specs = await Promise.all(Object.values(commands).map(async (c) => (await c()).spec));
  const width = Math.max(...specs.map((s) => s.name.length)) + 2;
  for (const s of specs) out.push(`  ${s.name.padEnd(width)}${s.summary}`);
  const generate = specs.find((s) => s.name === "generate")!;
  const def = (n: string) => generate.flags.find((f) => f.name === n)?.default;
  out.push("", `generate with no flags: the embedded model, --prompt ${def("prompt")}, ${def("steps")?.split(" ")[0]} steps, --out ${def("out")}, --devices ${def("devices")}.`);
  out.push(...(generate.notes ?? []).slice(0, 1));
  out.push("", "examples:");
  for (const s of specs) out.push(`  ${s.examples[0]}`);
  out.push("", "on every command:");
  for (const f of COMMON_FLAGS) out.push(`  --${f.name}${f.value ? ` ${f.value}` : ""}${f.name === "help" ? ", -h" : ""}: ${f.help}${f.default ? ` (default: ${f.default})` : ""}`);
  return out.join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    const text = await usage();
    if (name) console.log(text);
    else console.error(text);
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) throw new UsageError(`unknown command "${name}" (commands: ${Object.keys(commands).join(", ")}; shardit --help for usage)`);
  const command = await load();
  if (wantsHelp(rest)) {
    console.log(commandHelp(command.spec));
    return 0;
  }
  let flags: string[], choice;
  try {
    const taken = takeWebGpuFlag(rest);
    flags = taken.rest;
    choice = webGpuChoice(taken.webgpu);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (!command.noGpu) {
    // Pick the implementation once; workers get it from the pool.
    const backend = await useWebGpu(choice);
    if (backend.note) console.error(`shardit: --webgpu auto uses Deno's WebGPU (${backend.note})`);
    // wgpu's OpenGL fallback (no Vulkan driver) spends minutes compiling shaders on a first run: say so once.
    if (backend.implementation === "deno") await warnIfSlowAdapter(backend.gpu);
  }
  return await command.run(flags);
}

if (import.meta.main) {
  const verbose = Deno.args.includes("--verbose");
  // Workers read it too (they share the process environment): Dawn's log lines stay visible with --verbose.
  if (verbose) Deno.env.set("SHARDIT_VERBOSE", "1");
  try {
    Deno.exit(await main(Deno.args.filter((a) => a !== "--verbose")));
  } catch (e) {
    if (e instanceof HelpRequested) {
      console.log(e.text);
      Deno.exit(0);
    }
    const err = e as Error;
    // One line, capped, control characters escaped (src/errors.ts): inputs reach messages.
    console.error(`shardit: ${errorLine(err instanceof Error ? err : String(e))}`);
    if (verbose && err?.stack) console.error(err.stack);
    Deno.exit(e instanceof UsageError ? 2 : 1);
  }
}
