// generate's flags for fewer and cheaper forwards per video (issue 17): --cfg-parallel, --batch, --cache,
// --seeds and a repeated --prompt, and what they add to the step lines (summary.json's fields: src/pipeline/summary.ts).
import { type FlagSpec, type Parsed, UsageError } from "./args.ts";
import { CACHE_KINDS, parseCacheSpec, type StepCacheOptions } from "../pipeline/step_cache.ts";
import type { GenerateResult, StepReport } from "../pipeline/generate.ts";

export const FEWER_FORWARDS_FLAGS: readonly FlagSpec[] = [
  { name: "cfg-parallel", help: "split the devices into two groups (the first half and the rest): the conditional forward on one, the unconditional on the other, at the same time, each sharded over its group; one combine per step" },
  { name: "batch", value: "auto|on|off|N", default: "auto", help: "the model calls of a step (both guidance branches, every prompt and seed) as one forward over a batch, each weight read once: auto when the batch's rows fit one storage binding, N at most N calls per forward" },
  { name: "cache", value: `${CACHE_KINDS.map((k) => `${k}[:T]`).join("|")}|off`, default: "off", help: "step caching: reuse the blocks' residual of the last computed step while the published distance stays under T (TeaCache Wan2.1 1.3B 0.08, 14B 0.20; MagCache 0.12, K 2; FBCache, diffusers' FirstBlockCache: block 0's residual changed by at most T relative L1, 0.05, every step's model calls in one forward)" },
  { name: "seeds", value: "N,N,...", help: "one video per seed (with each --prompt; --prompt repeats), batched; item k > 0 goes to DIR/item<k>/" },
];

/** --cfg-parallel, --batch and --cache as GenerateOptions fields. */
export function fewerForwardsOptions(p: Parsed, devices: number, guidance: number): { cfgParallel: boolean; batch: "auto" | boolean | number; cache?: StepCacheOptions } {
  const cfgParallel = switchFlag(p, "cfg-parallel");
  if (cfgParallel && devices < 2) throw new UsageError(`--cfg-parallel needs --devices 2 or more (one group per guidance branch), got ${devices}`);
  if (cfgParallel && guidance === 1) throw new UsageError("--cfg-parallel needs --guidance other than 1 (guidance 1 runs no unconditional branch)");
  const b = p.flags.get("batch");
  let batch: "auto" | boolean | number = "auto";
  if (b === "on") batch = true;
  else if (b === "off") batch = false;
  else if (typeof b === "string" && b !== "auto") {
    batch = Number(b);
    if (!Number.isInteger(batch) || batch < 1) throw new UsageError(`--batch must be auto, on, off or a whole number >= 1, got "${b}"`);
  } else if (b === true) throw new UsageError("--batch needs a value: auto, on, off or N");
  const c = p.flags.get("cache");
  let cache: StepCacheOptions | undefined;
  if (typeof c === "string" && c !== "off") {
    try {
      cache = parseCacheSpec(c);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  } else if (c === true) throw new UsageError("--cache needs a value: teacache[:T], magcache[:T], fbcache[:T] or off");
  return { cfgParallel, batch, cache };
}

function switchFlag(p: Parsed, name: string): boolean {
  const v = p.flags.get(name);
  if (v === undefined || v === "off" || v === "false") return false;
  if (v === true || v === "on" || v === "true") return true;
  throw new UsageError(`--${name} is a switch: --${name} or --${name}=on|off, got "${v}"`);
}

/** Every --prompt value in order (the flag repeats; the parser keeps only the last). */
export function promptArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--prompt" && i + 1 < argv.length) out.push(argv[++i]);
    else if (argv[i].startsWith("--prompt=")) out.push(argv[i].slice("--prompt=".length));
  }
  return out;
}

/** --seeds N,N,... (or [--seed]). */
export function seedsFlag(p: Parsed, seed: number): number[] {
  const raw = p.flags.get("seeds");
  if (raw === undefined) return [seed];
  if (p.flags.has("seed")) throw new UsageError("give --seed or --seeds, not both");
  const seeds = String(raw).split(",").map(Number);
  if (!seeds.length || seeds.some((s) => !Number.isSafeInteger(s) || s < 0)) throw new UsageError(`--seeds must be whole numbers >= 0 separated by commas, got "${raw}"`);
  return seeds;
}

/** What a step line adds: "(cached)" for a step that reused the residual. */
export function stepMark(r: StepReport): string {
  return r.computed ? "" : " (cached)";
}

/** One device's part in a step line: d<N>, with its CFG group ("d2/uncond") when there are groups. */
export function deviceLabel(d: StepReport["perDevice"][number]): string {
  return d.group === undefined ? `d${d.device}` : `d${d.device}/${d.group === 0 ? "cond" : "uncond"}`;
}

/** The line after "done:": groups, batch and the cache's computed/skipped steps (empty when none apply). */
export function fewerForwardsLine(result: GenerateResult): string {
  const parts: string[] = [];
  if (result.groups) parts.push(`cfg-parallel: ${result.groups.map((g) => `${g.branch} on [${g.devices.join(",")}]`).join(", ")}`);
  if (result.batch > 1) parts.push(`batch of ${result.batch} calls per forward`);
  if (result.latents.length > 1) parts.push(`${result.latents.length} videos`);
  if (result.cache) parts.push(`${result.cache.kind} ${result.cache.threshold}: ${result.cache.computed} steps computed, ${result.cache.skipped} from the cache (${result.cache.calibration})`);
  return parts.join("; ");
}
