// The Deno entry point of `npx shardit <command>` (bin/shardit.cjs runs it with the local deno).
// Any error prints one line naming what is wrong and exits non-zero; --verbose adds the stack.
import { parseArgs, UsageError } from "./args.ts";
import { takeWebGpuFlag, useWebGpu, warnIfSlowAdapter, webGpuChoice } from "../deno.ts";

const USAGE = `usage: shardit <command> [flags]
  selftest [--filter S]                run every kernel against its Float64 reference on this adapter
  plan --latent F,H,W --devices N --shard sequence|frame [--weights w1,...]
  forward --model DIR|URL|HUB_ID --input FILE --out FILE [--devices N] [--shard sequence|frame] [--weights w1,...]
          [--gpus auto|ID,...] [--precision f32|f16] [--report FILE] [--overlap[=off]]
  generate [--prompt "a red circle moving left"] [--frames DIR] [--scale N]   the embedded model: DIR/video.gif|png|safetensors
  generate [--model DIR|URL|HUB_ID] [--text FILE] [--negative-text FILE] [--steps N] [--guidance G] [--shift S]
           [--seed N] [--solver unipc|euler] [--devices N] [--shard sequence|frame] [--weights w1,...]
           [--precision f32|f16] [--latent F,H,W] [--gpus auto|ID,...] [--overlap[=off]] [--out DIR]
           [--vae DIR|URL|HUB_ID]    also decode: DIR/video.safetensors and DIR/video.gif
  decode --vae DIR|URL|HUB_ID --latents FILE --out FILE.gif|.apng|.png|.safetensors [--devices N]
         [--weights w1,...] [--gpus auto|ID,...] [--precision f32|f16] [--frames DIR] [--report FILE] [--fps N]
  --webgpu auto|dawn|deno on any GPU command (default $SHARDIT_WEBGPU, else auto): Dawn (Chrome's
          WebGPU, the webgpu npm package: subgroups and matrix units) or Deno's own (wgpu); auto takes Dawn
          when its addon loads and finds an adapter
  (--verbose on any command prints stack traces)`;

/** Each command lives in its own module, loaded on use; it returns the exit status. */
type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, Command> = {
  selftest: async (argv) => {
    const p = parseArgs(argv, ["verbose"]);
    const { selftest } = await import("./selftest.ts");
    return await selftest(typeof p.flags.get("filter") === "string" ? p.flags.get("filter") as string : "");
  },
  plan: async (argv) => (await import("./plan.ts")).plan(argv),
  forward: async (argv) => (await import("./forward.ts")).forwardCommand(argv),
  generate: async (argv) => (await import("./generate.ts")).generateCommand(argv),
  decode: async (argv) => (await import("./decode.ts")).decodeCommand(argv),
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    console.log(USAGE);
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command "${name}" (commands: ${Object.keys(commands).join(", ")}; shardit --help for usage)`);
  let flags: string[], choice;
  try {
    const taken = takeWebGpuFlag(rest);
    flags = taken.rest;
    choice = webGpuChoice(taken.webgpu);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  // Every command but plan touches a GPU: pick the implementation once; workers get it from the pool.
  if (name !== "plan") {
    const backend = await useWebGpu(choice);
    if (backend.note) console.error(`shardit: --webgpu auto uses Deno's WebGPU (${backend.note})`);
    // wgpu's OpenGL fallback (no Vulkan driver) spends minutes compiling shaders on a first run: say so once.
    if (backend.implementation === "deno") await warnIfSlowAdapter(backend.gpu);
  }
  return await command(flags);
}

if (import.meta.main) {
  const verbose = Deno.args.includes("--verbose");
  try {
    Deno.exit(await main(Deno.args.filter((a) => a !== "--verbose")));
  } catch (e) {
    const err = e as Error;
    console.error(`shardit: ${err?.message ?? String(e)}`);
    if (verbose && err?.stack) console.error(err.stack);
    Deno.exit(e instanceof UsageError ? 2 : 1);
  }
}
