// The run summary: what a finished generate() did, built once for the CLI's summary.json and the demo's
// summary panel (and its published state). Pure: no Deno or DOM APIs; each caller adds what only it knows
// (the CLI its model, prompt, sampler flags and decode; the demo its adapters), and the setup time.
import type { GenerateResult } from "./generate.ts";

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** The summary of one generate() run: tokens and padding, shards, step times, and the fewer-forwards fields. */
export function runSummary(result: GenerateResult) {
  const ms = result.steps.map((s) => s.ms);
  const msPerStep = mean(ms);
  return {
    /** Real tokens of the whole run (L = F'*H'*W'), as ShardPlan.tokens. */
    tokens: result.plan.tokens,
    computedTokens: result.plan.computedTokens,
    shard: result.plan.mode,
    padTokens: result.plan.padTokens,
    framePadTokens: result.framePlan.padTokens,
    paddingSavedVsFrameMode: result.framePlan.padTokens - result.plan.padTokens,
    shards: result.plan.shards,
    msPerStep,
    /** The mean without step 1 (which also waits for the kernels to compile); msPerStep for one step. */
    msPerStepAfterFirst: ms.length > 1 ? mean(ms.slice(1)) : msPerStep,
    totalMs: result.ms,
    perStep: result.steps,
    cfgParallel: result.groups
      ? result.groups.map((g) => ({ branch: g.branch, devices: g.devices, shards: g.plan.shards.map((s, rank) => ({ ...s, device: g.devices[rank] })) }))
      : undefined,
    batch: result.batch,
    items: result.latents.length,
    cache: result.cache
      ? { kind: result.cache.kind, threshold: result.cache.threshold, calibration: result.cache.calibration, computedSteps: result.cache.computed, skippedSteps: result.cache.skipped }
      : undefined,
    computedSteps: result.cache ? result.cache.computed : result.steps.length,
    skippedSteps: result.cache ? result.cache.skipped : 0,
  };
}

export type RunSummary = ReturnType<typeof runSummary>;
