// generate/forward's --lora (repeatable) and --preset readers (src/cli/lora_flags.ts; Deno only: it imports
// shardit/deno, so it is imported inside the test, never by the browser's bundle).
import { parseArgs, UsageError } from "../../src/cli/args.ts";
import { SAMPLER_PRESETS } from "../../src/sampler/presets.ts";
import { expectEqual, expectThrows, test } from "../../src/selftest/harness.ts";

test("cli: --lora repeats in order (both spellings); --preset sets the sampler and refuses the flags it sets", async () => {
  const { loraArgs, presetFlag } = await import("../../src/cli/lora_flags.ts");
  expectEqual("loras", loraArgs(["--model", "m", "--lora", "a.safetensors:0.5", "--steps", "4", "--lora=b.safetensors"]), ["a.safetensors:0.5", "b.safetensors"]);
  expectEqual("no preset", presetFlag(parseArgs(["--steps", "8"])), null);
  const { noiseSeed: _, ...want } = { ...SAMPLER_PRESETS["lightx2v-4step"].sampler, noiseSeed: 0 };
  expectEqual("fast4", presetFlag(parseArgs(["--preset", "fast4"])), want);
  await expectThrows("clash", () => presetFlag(parseArgs(["--preset", "fast4", "--guidance", "5", "--steps", "8"])), /^--preset fast4 sets --steps, --guidance: give one or the other$/);
  await expectThrows("unknown", () => presetFlag(parseArgs(["--preset", "fast8"])), /^--preset: unknown sampler preset "fast8" \(known: lightx2v-4step, lightx2v-4step-euler, fast4\)$/);
  let err: unknown = null;
  try {
    presetFlag(parseArgs(["--preset", "x"]));
  } catch (e) {
    err = e;
  }
  if (!(err instanceof UsageError)) throw new Error(`--preset errors are usage errors (the command's usage follows), got ${err}`);
}, { hosts: ["deno"] });
