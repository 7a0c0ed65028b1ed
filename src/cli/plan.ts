// `shardit plan --latent F,H,W --devices N --shard sequence|frame [--weights w1,...]`: prints the shard
// plan as JSON in DESIGN.md's form { mode, devices, tokens, computedTokens, padTokens, shards }.
// Any bad flag or impossible plan is a UsageError (one line, exit 2).
import { allowFlags, int, oneOf, parseArgs, str, UsageError } from "./args.ts";
import { planJson, planShards, SHARD_MODES, tokenGridFromLatent } from "../index.ts";

function numberList(flag: string, raw: string): number[] {
  const parts = raw.split(",");
  const values = parts.map((s) => (s.trim() === "" ? NaN : Number(s)));
  if (values.some((v) => !Number.isFinite(v))) throw new UsageError(`--${flag} must be comma-separated numbers, got ${raw}`);
  return values;
}

export function plan(argv: string[]): number {
  const p = parseArgs(argv);
  allowFlags(p, "plan", ["latent", "devices", "shard", "weights"]);
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
