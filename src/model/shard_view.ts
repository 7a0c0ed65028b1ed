// ShardView: which computed tokens a device owns. wan.ts and the SelfAttention providers both read it.
import type { Grid3 } from "../shape.ts";

/** The token range one device computes, in the computed index space (frame mode pads whole frames). */
export interface ShardView {
  /** First computed token of this shard and how many it computes (pad tokens included). */
  start: number;
  count: number;
  /** Real tokens of the whole run, L (as ShardPlan.tokens; this shard's own size is `count`); computed tokens at
   * index >= L are padding (masked as keys, dropped from output). */
  tokens: number;
  /** Computed tokens of the whole run (L, or F_pad * H' * W' in frame mode). */
  computedTokens: number;
  /** The computed token grid (F_pad x H' x W' in frame mode): RoPE positions of pad tokens. */
  grid: Grid3;
}

/** How many of a shard's computed tokens are real (not frame-mode padding, which sits past L). */
export function realTokens(shard: ShardView): number {
  return Math.max(0, Math.min(shard.start + shard.count, shard.tokens) - shard.start);
}
