// The --lora and --preset flags of generate and forward: their table rows and their readers, kept here so
// the commands gain two rows and two calls.
import type { FlagSpec, Parsed } from "./args.ts";
import { UsageError } from "./args.ts";
import { applyLoras, denoLoraPlatform, openLoras, PRESET_NAMES, presetSampler, SAMPLER_PRESETS, type SamplerConfig, type WanConfig, type WanWeights } from "../deno.ts";

export const LORA_FLAG: FlagSpec = {
  name: "lora",
  value: "FILE[:SCALE]",
  help: "a LoRA merged into the weights at load (repeatable, applied in order; SCALE the strength, default 1): a .safetensors path, URL or Hub file owner/name[@rev]/path.safetensors, diffusers/PEFT or Wan/ComfyUI/LightX2V keys",
};

export const PRESET_FLAG: FlagSpec = {
  name: "preset",
  value: PRESET_NAMES.join("|"),
  help: `sampler settings of a step-distilled checkpoint or LoRA (sets --steps, --shift, --guidance and --solver): ${Object.values(SAMPLER_PRESETS).map((p) => `${p.name}: ${p.summary}`).join("; ")}; fast4 = lightx2v-4step`,
};

/** Every --lora value in order (the flag repeats; the parser keeps only the last). */
export function loraArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  argv.forEach((a, i) => {
    if (a === "--lora" && i + 1 < argv.length) out.push(argv[i + 1]);
    else if (a.startsWith("--lora=")) out.push(a.slice("--lora=".length));
  });
  return out;
}

/** Merges the --lora files into `weights` (in place) and prints what each changed; nothing without --lora. */
export async function applyLoraFlags(argv: readonly string[], config: WanConfig, weights: WanWeights): Promise<void> {
  const specs = loraArgs(argv);
  if (!specs.length) return;
  const files = await openLoras(specs, denoLoraPlatform());
  const report = await applyLoras(config, weights, files);
  for (const f of report.files) console.log(`lora: ${f.name} x${f.strength} (${f.layout} layout): ${f.lowRank} low-rank updates, ${f.deltas} deltas`);
  console.log(`lora: ${report.tensors} tensors merged in ${(report.ms / 1000).toFixed(1)} s`);
}

/** --preset NAME: the preset's sampler settings (without the noise seed), or null; refuses the flags it sets. */
export function presetFlag(p: Parsed): Omit<SamplerConfig, "noiseSeed"> | null {
  const name = p.flags.get("preset");
  if (name === undefined) return null;
  if (name === true) throw new UsageError(`--preset needs a name (${PRESET_NAMES.join("|")})`);
  const clash = ["steps", "shift", "guidance", "solver"].filter((f) => p.flags.has(f));
  if (clash.length) throw new UsageError(`--preset ${name} sets ${clash.map((f) => `--${f}`).join(", ")}: give one or the other`);
  try {
    const { noiseSeed: _, ...sampler } = presetSampler(name, 0);
    return sampler;
  } catch (e) {
    throw new UsageError(`--preset: ${(e as Error).message}`);
  }
}
