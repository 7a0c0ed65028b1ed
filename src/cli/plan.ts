// `shardit plan --latent F,H,W --devices N --shard sequence|frame [--weights w1,...]`: prints the shard
// plan as JSON in DESIGN.md (shared/docs, not in this repo)'s form { mode, devices, tokens, computedTokens, padTokens, shards }.
// Any bad flag or impossible plan is a UsageError (one line, exit 2).
import { type CommandSpec, int, oneOf, parseCommand, str, UsageError } from "./args.ts";
import { planJson, planShards, SHARD_MODES, tokenGridFromLatent } from "../index.ts";

function numberList(flag: string, raw: string): number[] {
  const parts = raw.split(",");
  const values = parts.map((s) => (s.trim() === "" ? NaN : Number(s)));
  if (values.some((v) => !Number.isFinite(v))) throw new UsageError(`--${flag} must be comma-separated numbers, got ${raw}`);
  return values;
}

/** plan's flags: the parser accepts exactly these rows and --help prints them. */
export const SPEC: CommandSpec = {
  name: "plan",
  summary: "the shard plan (who computes which tokens) as JSON; touches no GPU",
  flags: [
    { name: "latent", value: "F,H,W", required: true, help: "latent grid" },
    { name: "devices", value: "N", required: true, help: "devices to split over" },
    { name: "shard", value: SHARD_MODES.join("|"), default: "sequence", help: "token split (sequence: no padding; frame: whole frames)" },
    { name: "weights", value: "w1,...", help: "relative speed of each device" },
  ],
  examples: ["npx shardit plan --latent 21,60,104 --devices 3"],
};

export function plan(argv: string[]): number {
  const p = parseCommand(SPEC, argv);
  const latent = numberList("latent", str(p, "latent"));
  if (latent.length !== 3 || latent.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new UsageError(`--latent must be three integers F,H,W >= 1, got ${str(p, "latent")}`);
  }
  if (!p.flags.has("devices")) throw new UsageError("--devices is required");
  const devices = int(p, "devices", 1);
  const mode = oneOf(p, "shard", SHARD_MODES, "sequence");
  const weights = p.flags.has("weights") ? numberList("weights", str(p, "weights")) : undefined;
  try {
    const grid = tokenGridFromLatent({ F: latent[0], H: latent[1], W: latent[2] });
    console.log(JSON.stringify(planJson(planShards(grid, devices, mode, weights)), null, 2));
  } catch (e) {
    throw new UsageError(`plan: ${(e as Error).message}`);
  }
  return 0;
}
