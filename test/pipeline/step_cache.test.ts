// The step caches' plans (src/pipeline/step_cache.ts) against their published decision loops: MagCache's
// against a transcription of MagCache4Wan2.1's (test/reference/magcache_plan.py, its printed output here),
// TeaCache's on a modulation whose relative L1 change is 2% per step, worked by hand below; FBCache's decision
// rule on hand-worked sums; the --cache parser.
import { fbCachePlan, magCachePlan, nearestInterp, parseCacheSpec, teaCachePlan } from "../../src/pipeline/step_cache.ts";
import { decideTogether, decisionBuffer, firstBlockDecision, publishSums } from "../../src/parallel/first_block_cache.ts";
import { abortRun, controlBuffer, RunAborted, runFailure } from "../../src/parallel/barrier.ts";
import { expectThrows, test } from "../../src/selftest/harness.ts";

const steps = (compute: boolean[]) => compute.flatMap((c, i) => (c ? [i] : [])).join(",");

function expectEqual(what: string, got: string, want: string): void {
  if (got !== want) throw new Error(`${what}: expected ${want}, found ${got}`);
}

test("MagCache plan == MagCache4Wan2.1's loop (Wan2.1 T2V 1.3B, threshold 0.12, K 2, retention 0.2) at 50 and 10 steps", () => {
  // python3 test/reference/magcache_plan.py: both branches compute the same steps.
  const at50 = "0,1,2,3,4,5,6,7,8,9,12,15,18,21,24,27,30,33,36,39,42,44,46,48,49";
  expectEqual("50 steps, guided (cond and uncond together)", steps(magCachePlan(50, 1536, 2).compute), at50);
  expectEqual("50 steps, guidance 1", steps(magCachePlan(50, 1536, 1).compute), at50);
  expectEqual("10 steps (nearest-interpolated ratios)", steps(magCachePlan(10, 1536, 2).compute), "0,1,4,7,9");
  const p = magCachePlan(10, 96, 2);
  if (!/no published calibration for d = 96/.test(p.calibration)) throw new Error(`calibration of a d = 96 model: ${p.calibration}`);
  // numpy.round is half to even: 4 entries onto 3 sample at 0, 1.5, 3, and 1.5 rounds to 2.
  expectEqual("nearestInterp", nearestInterp([10, 11, 12, 13], 3).join(","), "10,12,13");
});

test("TeaCache plan (Wan2.1 1.3B, ret form): 5 steps computed, then a 2% change per step accumulates 0.0782 per step", () => {
  // poly(0.02) = -5.21862437e4 * 0.02^4 + 9.23041404e3 * 0.02^3 - 5.28275948e2 * 0.02^2 + 1.36987616e1 * 0.02 - 4.99875664e-2
  //            = -0.00835 + 0.07384 - 0.21131 + 0.27398 - 0.04999 = 0.07817: step 5 stays under 0.08 (skipped),
  // step 6 reaches 0.156 (computed, reset), step 7 skipped, step 8 computed.
  const d = 1536;
  const e: Float32Array[] = [];
  for (let i = 0; i < 9; i++) e.push(new Float32Array(6 * d).fill(i === 0 ? 0.5 : 0).map((v, k) => (i === 0 ? v + (k % 7) * 0.01 : e[i - 1][k] * 1.02)));
  const plan = teaCachePlan(9, d, (i) => e[i]);
  expectEqual("computed steps", steps(plan.compute), "0,1,2,3,4,6,8");
  expectEqual("threshold", String(plan.threshold), "0.08");
  // A higher threshold: 0.07817 * 2 = 0.156 < 0.2, so steps 5 and 6 skip, step 7 (0.2345) computes, step 8 skips.
  expectEqual("computed steps at 0.2", steps(teaCachePlan(9, d, (i) => e[i], 0.2).compute), "0,1,2,3,4,7");
});

test("--cache parses teacache[:T], magcache[:T] and fbcache[:T]; anything else is one clear error", async () => {
  expectEqual("teacache", JSON.stringify(parseCacheSpec("teacache")), `{"kind":"teacache"}`);
  expectEqual("teacache:0.05", JSON.stringify(parseCacheSpec("teacache:0.05")), `{"kind":"teacache","threshold":0.05}`);
  expectEqual("magcache:0.1", JSON.stringify(parseCacheSpec("magcache:0.1")), `{"kind":"magcache","threshold":0.1}`);
  expectEqual("fbcache", JSON.stringify(parseCacheSpec("fbcache")), `{"kind":"fbcache"}`);
  expectEqual("fbcache:0", JSON.stringify(parseCacheSpec("fbcache:0")), `{"kind":"fbcache","threshold":0}`);
  expectEqual("fbcache's default (diffusers FirstBlockCacheConfig)", String(fbCachePlan().threshold), "0.05");
  await expectThrows("a misspelt kind", () => parseCacheSpec("teacash"), /--cache must be teacache\[:THRESHOLD\] or magcache\[:THRESHOLD\] or fbcache\[:THRESHOLD\]/);
  await expectThrows("a negative threshold", () => parseCacheSpec("teacache:-1"), /--cache teacache: the threshold must be a number >= 0, got "-1"/);
  await expectThrows("an empty threshold", () => parseCacheSpec("magcache:"), /threshold must be a number >= 0/);
  await expectThrows("a word", () => parseCacheSpec("fbcache:low"), /--cache fbcache: the threshold must be a number >= 0, got "low"/);
});

test("FBCache's decision (diffusers' rule over every device's and branch's sums), worked by hand", () => {
  // Two devices x two branches: sum |r0 - r0_prev| = 1 + 2 + 0.5 + 0.5 = 4, sum |r0_prev| = 20 + 30 + 25 + 5 = 80:
  // distance 0.05, which is not above 0.05 (diffusers computes when diff > threshold): reuse; above 0.04: compute.
  const parts = [{ diff: 1, base: 20, hasPrev: true }, { diff: 2, base: 30, hasPrev: true }, { diff: 0.5, base: 25, hasPrev: true }, { diff: 0.5, base: 5, hasPrev: true }];
  expectEqual("at 0.05", JSON.stringify(firstBlockDecision(parts, 0.05)), `{"compute":false,"distance":0.05}`);
  expectEqual("at 0.04", JSON.stringify(firstBlockDecision(parts, 0.04)), `{"compute":true,"distance":0.05}`);
  // One device alone would say 1/20 = 0.05 or 2/30 = 0.067: the decision is the pooled one, never per shard.
  expectEqual("the first step (no previous residual anywhere)", String(firstBlockDecision(parts.map((p) => ({ ...p, hasPrev: false })), 0.05).compute), "true");
  expectEqual("one device without a previous residual", String(firstBlockDecision([...parts.slice(1), { ...parts[0], hasPrev: false }], 0.05).compute), "true");
  expectEqual("an all-zero previous residual", String(firstBlockDecision([{ diff: 0, base: 0, hasPrev: true }], 0.05).compute), "true");
  expectEqual("threshold 0 and an unchanged residual", String(firstBlockDecision([{ diff: 0, base: 3, hasPrev: true }], 0).compute), "false");
});

test("FBCache's meeting: every device gets the pooled decision; an aborted run or a missing device ends the wait with one clear error", async () => {
  // Device 1 of 2 (played here) has written its sums; device 0 then decides over both: (1 + 3) / (10 + 10) = 0.2.
  const buf = decisionBuffer(2);
  publishSums(buf, 1, 2, { diff: 3, base: 10, hasPrev: true });
  const d = decideTogether(buf, 0, 2, { diff: 1, base: 10, hasPrev: true }, 0.25, controlBuffer(1), 0, 1000);
  expectEqual("pooled decision", JSON.stringify(d), `{"compute":false,"distance":0.2}`);
  // Another device failed (the pool aborts every group's control words): the wait ends at once with its cause.
  const failed = controlBuffer(1);
  abortRun(failed, 3, "device 3: simulated failure");
  await expectThrows("an aborted run", () => decideTogether(decisionBuffer(2), 0, 2, { diff: 1, base: 1, hasPrev: true }, 0.05, failed, 0, 60_000), /run aborted: device 3: simulated failure/);
  let e: unknown = null;
  try {
    decideTogether(decisionBuffer(2), 0, 2, { diff: 1, base: 1, hasPrev: true }, 0.05, failed, 0, 60_000);
  } catch (err) {
    e = err;
  }
  if (!(e instanceof RunAborted)) throw new Error(`expected RunAborted, got ${e}`);
  // Nobody else comes: past the timeout the run fails naming the wait, and its control words say so.
  const alone = controlBuffer(1);
  await expectThrows("a device that never arrives", () => decideTogether(decisionBuffer(2), 0, 2, { diff: 1, base: 1, hasPrev: true }, 0.05, alone, 0, 50), /1 of 2 devices did not reach the first-block cache's decision within 50 ms/);
  if (!runFailure(alone)?.cause.includes("first-block cache")) throw new Error(`the timeout left no cause in the control words: ${JSON.stringify(runFailure(alone))}`);
}, { hosts: ["deno"] });
