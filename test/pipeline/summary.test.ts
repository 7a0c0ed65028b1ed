// runSummary (src/pipeline/summary.ts), the one builder of the CLI's summary.json and the demo's summary: on a
// hand-made GenerateResult whose numbers are worked out by hand below (no GPU, no run).
import type { GenerateResult, StepReport } from "../../src/pipeline/generate.ts";
import { runSummary } from "../../src/pipeline/summary.ts";
import { planShards } from "../../src/parallel/plan.ts";
import { expectEqual, test } from "../../src/selftest/harness.ts";

const GRID = { F: 3, H: 3, W: 5 }; // 45 tokens: 2 devices get 23 and 22; frame mode pads F' 3 -> 4, 60 computed, 15 pad

function step(step: number, ms: number, computed: boolean): StepReport {
  return { step, steps: 3, timestep: 1000 - step, ms, computed, perDevice: [] };
}

function result(extra: Partial<GenerateResult> = {}): GenerateResult {
  return {
    latent: new Float32Array(1),
    latents: [new Float32Array(1)],
    latentGrid: { F: 3, H: 6, W: 10 },
    plan: planShards(GRID, 2, "sequence"),
    framePlan: planShards(GRID, 2, "frame"),
    batch: 1,
    steps: [step(0, 30, true), step(1, 10, true), step(2, 20, true)],
    ms: 75,
    ...extra,
  };
}

test("runSummary: tokens, padding vs frame mode, shards and step times of a run", () => {
  const s = runSummary(result());
  expectEqual("tokens", [s.tokens, s.computedTokens, s.padTokens, s.shard], [45, 45, 0, "sequence"]);
  expectEqual("frame mode's padding and the saving", [s.framePadTokens, s.paddingSavedVsFrameMode], [15, 15]);
  expectEqual("shards", s.shards.map((sh) => [sh.device, sh.start, sh.end, sh.count]), [[0, 0, 23, 23], [1, 23, 45, 22]]);
  // (30 + 10 + 20) / 3 = 20 ms; without step 1: (10 + 20) / 2 = 15 ms.
  expectEqual("step times", [s.msPerStep, s.msPerStepAfterFirst, s.totalMs, s.perStep.length], [20, 15, 75, 3]);
  expectEqual("no cache, no groups, one item", [s.computedSteps, s.skippedSteps, s.items, s.batch, s.cache, s.cfgParallel], [3, 0, 1, 1, undefined, undefined]);
});

test("runSummary: one step (msPerStepAfterFirst is msPerStep), a step cache, CFG groups with their pool device ids", () => {
  const one = runSummary(result({ steps: [step(0, 12, true)] }));
  expectEqual("one step", [one.msPerStep, one.msPerStepAfterFirst], [12, 12]);
  const groupPlan = planShards(GRID, 2, "sequence");
  const s = runSummary(result({
    cache: { kind: "teacache", threshold: 0.08, calibration: "1.3B", compute: [true, false, true], computed: 2, skipped: 1 },
    groups: [{ branch: "cond", devices: [0, 1], plan: groupPlan }, { branch: "uncond", devices: [2, 3], plan: groupPlan }],
    latents: [new Float32Array(1), new Float32Array(1)],
  }));
  expectEqual("cache", s.cache, { kind: "teacache", threshold: 0.08, calibration: "1.3B", computedSteps: 2, skippedSteps: 1 });
  expectEqual("computed/skipped steps", [s.computedSteps, s.skippedSteps, s.items], [2, 1, 2]);
  // The uncond group's shard ranks 0 and 1 are pool devices 2 and 3.
  expectEqual("groups", s.cfgParallel!.map((g) => [g.branch, g.shards.map((sh) => sh.device)]), [["cond", [0, 1]], ["uncond", [2, 3]]]);
});
