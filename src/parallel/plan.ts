// Shard plans: which device computes which tokens of the flattened video sequence.
// Pure functions (no GPU, no Deno, no DOM), so workers, the browser and the CLI share them.
//
// Tokens are ordered f slowest, w fastest: g = f*H'*W' + h*W' + w over the token grid F' x H' x W'
// (H' = H/2, W' = W/2 of the latent). Two modes:
// - "sequence": contiguous ranges of the real tokens [0, L), no padding. Sizes differ by at most one
//   (the first L % N shards get one more), or follow per-device weights by largest remainder.
//   Every device gets at least one token: N > L, or weights that round a device to 0, is an error
//   (a device with nothing to compute would still have to join every all-gather; ask for fewer devices).
// - "frame": the older SGLang mode, kept for comparison. F' is padded up to F_pad = ceil(F'/N)*N and
//   each device gets F_pad/N whole frames; the padding frames sit at the tail, so the computed index
//   space is [0, F_pad*H'*W') and indices >= L are padding. N > F' is allowed (the last devices then
//   compute only padding). Weights are not supported in this mode.

import { type Grid3, gridSize } from "../shape.ts";

export type ShardMode = "sequence" | "frame";
export const SHARD_MODES: readonly ShardMode[] = ["sequence", "frame"];

/**
 * One device's range in the COMPUTED token index space: [start, end), `count` = end - start tokens
 * computed, padTokens of them beyond L (frame mode). (`planJson` prints count as the shard's `tokens`: the
 * plan JSON's key, see PlanJson.)
 */
export interface Shard {
  device: number;
  start: number;
  end: number;
  count: number;
  padTokens: number;
}

export interface ShardPlan {
  mode: ShardMode;
  devices: number;
  /** The token grid F', H', W'. */
  grid: Grid3;
  /** Real tokens of the whole run, L = F'*H'*W' (a shard's own size is Shard.count). */
  tokens: number;
  /** Tokens actually computed: L in sequence mode, F_pad*H'*W' in frame mode. */
  computedTokens: number;
  /** computedTokens - tokens. */
  padTokens: number;
  shards: Shard[];
}

function checkDim(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${what} must be an integer >= 1, got ${v}`);
}

/** Latent F x H x W (after the VAE) -> token grid F' = F, H' = H/2, W' = W/2 (2x2 spatial patches). */
export function tokenGridFromLatent(latent: Grid3): Grid3 {
  checkDim("latent F", latent.F);
  checkDim("latent H", latent.H);
  checkDim("latent W", latent.W);
  if (latent.H % 2 || latent.W % 2) {
    throw new Error(`latent H and W must be even (2x2 patches), got ${latent.F},${latent.H},${latent.W}`);
  }
  return { F: latent.F, H: latent.H / 2, W: latent.W / 2 };
}

/**
 * Splits `total` into weights.length integer parts >= 0 proportional to the weights, summing to total
 * exactly: floors of the quotas, then one more to the largest fractional parts (ties: lower index).
 */
export function largestRemainder(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  const quotas = weights.map((w) => (total * w) / sum);
  const sizes = quotas.map((q) => Math.floor(q));
  let left = total - sizes.reduce((a, b) => a + b, 0);
  const order = quotas
    .map((q, i) => ({ i, frac: q - Math.floor(q) }))
    .sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let k = 0; left > 0; k = (k + 1) % order.length, left--) sizes[order[k].i]++;
  return sizes;
}

/**
 * Sizes of `devices` contiguous parts of `total` (the sequence plan's tokens, the band plan's latent rows):
 * equal (they differ by at most one, the first total % devices get one more), or proportional to `weights`
 * by largest remainder; a weight that leaves a device none throws `noneError(device)`.
 */
export function partSizes(total: number, devices: number, weights: readonly number[] | undefined, noneError: (device: number) => string): number[] {
  if (weights === undefined) {
    const base = Math.floor(total / devices), extra = total % devices;
    return Array.from({ length: devices }, (_, d) => base + (d < extra ? 1 : 0));
  }
  if (weights.length !== devices) throw new Error(`weights: expected ${devices} (one per device), got ${weights.length}`);
  weights.forEach((w, d) => {
    if (!(Number.isFinite(w) && w > 0)) throw new Error(`weights: weight of device ${d} must be a positive number, got ${w}`);
  });
  const sizes = largestRemainder(total, weights);
  const empty = sizes.indexOf(0);
  if (empty >= 0) throw new Error(noneError(empty));
  return sizes;
}

/** The shard plan of a token grid over `devices` devices. Throws a one-line Error on bad input. */
export function planShards(grid: Grid3, devices: number, mode: ShardMode, weights?: readonly number[]): ShardPlan {
  checkDim("grid F", grid.F);
  checkDim("grid H", grid.H);
  checkDim("grid W", grid.W);
  if (!Number.isInteger(devices) || devices < 1) throw new Error(`devices must be an integer >= 1, got ${devices}`);
  if (!SHARD_MODES.includes(mode)) throw new Error(`shard mode must be one of ${SHARD_MODES.join("|")}, got ${mode}`);
  const frame = grid.H * grid.W;
  const L = gridSize(grid);
  const shards: Shard[] = [];

  if (mode === "sequence") {
    if (devices > L) throw new Error(`${devices} devices for ${L} tokens: sequence sharding needs at least one token per device`);
    const sizes = partSizes(L, devices, weights, (d) => `weights ${weights!.join(",")} give device ${d} no tokens of ${L}: every device needs at least one (raise its weight or use fewer devices)`);
    let start = 0;
    for (let d = 0; d < devices; d++) {
      shards.push({ device: d, start, end: start + sizes[d], count: sizes[d], padTokens: 0 });
      start += sizes[d];
    }
    return { mode, devices, grid: { ...grid }, tokens: L, computedTokens: L, padTokens: 0, shards };
  }

  // frame mode
  if (weights !== undefined) throw new Error("weights are not supported with --shard frame (whole frames per device); use --shard sequence");
  const perDevice = Math.ceil(grid.F / devices); // frames per device
  const fPad = perDevice * devices;
  const computed = fPad * frame;
  for (let d = 0; d < devices; d++) {
    const start = d * perDevice * frame, end = start + perDevice * frame;
    shards.push({ device: d, start, end, count: end - start, padTokens: end - Math.max(start, Math.min(end, L)) });
  }
  return { mode, devices, grid: { ...grid }, tokens: L, computedTokens: computed, padTokens: computed - L, shards };
}

/**
 * The plan JSON that `shardit plan` prints (the design notes' contract; tests and tools read these keys).
 * Its `tokens` means two things: at the top, the whole run's real tokens L (ShardPlan.tokens); in a shard,
 * the tokens that one device computes (Shard.count, pad tokens included).
 */
export interface PlanJson {
  mode: ShardMode;
  devices: number;
  /** The run's real tokens L (ShardPlan.tokens). */
  tokens: number;
  computedTokens: number;
  padTokens: number;
  shards: {
    device: number;
    start: number;
    end: number;
    /** This shard's computed tokens, end - start (Shard.count), not the run's. */
    tokens: number;
    padTokens: number;
  }[];
}

/** The plan as the `plan` command prints it (no grid): ShardPlan -> PlanJson, Shard.count -> the shard's `tokens`. */
export function planJson(plan: ShardPlan): PlanJson {
  const { mode, devices, tokens, computedTokens, padTokens, shards } = plan;
  return { mode, devices, tokens, computedTokens, padTokens, shards: shards.map(({ device, start, end, count, padTokens }) => ({ device, start, end, tokens: count, padTokens })) };
}
