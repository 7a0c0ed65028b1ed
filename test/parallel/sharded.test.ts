// The product's promise: sharded output == single-device output (and == diffusers' golden output)
// within the f32 tolerance, for any device count, token count, shard mode and weights; and a device
// that dies fails the run with an error naming it, never a hang, leaving the pool usable.
//
// Deno (lavapipe) runs the whole matrix. Chromium (SwiftShader, several seconds per pipeline per device)
// runs a smoke set of the parallel paths: wan-tiny on 3 devices in both modes and both exchanges, the
// crash, the cancel and the non-finite output; its kernels are checked one by one by test/kernels.
// Pools are shared per device count (pools.ts): a test loads its weights into a pool that stays up.
import { planShards, type ShardMode, tokenGridFromLatent } from "../../src/parallel/plan.ts";
import { WorkerPool } from "../../src/parallel/pool.ts";
import { expectBitwiseEqual, expectClose, expectThrows, type Host, skip, test, TOL, withGpu } from "../../src/selftest/harness.ts";
import { forwardOnDevice } from "../../src/model/forward.ts";
import { WanModel } from "../../src/model/wan.ts";
import { uploadWanWeights } from "../../src/model/weights_gpu.ts";
import type { FixtureName } from "../../src/selftest/fixtures.ts";
import { loadGolden } from "../model/util.ts";
import { ODD_CASES, oddCaseData } from "../model/configs.ts";
import { wanForwardRef } from "../reference/wan.ts";
import { cancelInFlight, expectOwnCrash, SHARDED_TIMEOUT_MS, withSharedPool } from "./pools.ts";

const DENO_ONLY: Host[] = ["deno"];
const BOTH: Host[] = ["deno", "browser"];

/** The single-device result of the same model, in this thread (no workers); computed once per fixture. */
const singleResults = new Map<FixtureName, Promise<Float32Array>>();
function singleDevice(name: FixtureName, g: Awaited<ReturnType<typeof loadGolden>>): Promise<Float32Array> {
  let r = singleResults.get(name);
  if (!r) {
    r = withGpu((gpu) => forwardOnDevice(new WanModel(gpu, g.cfg, uploadWanWeights(gpu, g.cfg, g.weights, "f32"), "f32"), g.inputs));
    singleResults.set(name, r);
  }
  return r;
}

/**
 * Each mode with the baseline exchange, and (on more than one device) with the overlapped one, in one pool.
 * With the plain all-gather every device runs the single-device computation in the same order: its own rows
 * through the same kernels, all keys projected from the gathered n, the attention over keys [0, L) in the
 * same blocks (frame mode's padding keys sit past L, masked: they add exact zeros). So the output must be
 * bitwise equal, not merely close (it is, on lavapipe and SwiftShader). The overlapped exchange cannot be:
 * it splits each softmax into two partial ones (own keys, then the others') merged through their
 * log-sum-exp, a different order of sums; its bound is TOL.sharded.
 */
async function shardedVsSingle(name: FixtureName, devices: number, modes: ShardMode[], weights?: number[]) {
  const g = await loadGolden(name);
  const single = await singleDevice(name, g);
  await withSharedPool(devices, async (pool) => {
    await pool.load(g.cfg, g.weights);
    await pool.setText("text", g.inputs.text, g.inputs.textTokens);
    for (const mode of modes) {
      for (const overlap of devices > 1 ? [false, true] : [false]) {
        const plan = planShards(tokenGridFromLatent(g.inputs.latentGrid), devices, mode, mode === "sequence" ? weights : undefined);
        const what = `${name} ${mode} on ${devices} devices${weights ? ` weights ${weights}` : ""}${overlap ? " overlapped" : ""}`;
        const r = await pool.forward({ ...g.inputs, textKey: "text", plan, overlap });
        if (!overlap) expectBitwiseEqual(`${what} vs single device`, r.out, single);
        else expectClose(`${what} vs single device`, r.out, single, TOL.sharded.f32);
        expectClose(`${what} vs diffusers`, r.out, g.expected, TOL.model.f32);
      }
    }
  });
}

for (const name of ["wan-tiny", "wan-small"] as const) {
  for (let n = 1; n <= 5; n++) {
    const overlap = n > 1 ? " (exchange baseline and overlapped)" : "";
    const hosts = name === "wan-tiny" && n === 3 ? BOTH : DENO_ONLY; // the browser's smoke case
    test(`sharded ${name} on ${n} device(s), sequence and frame, == single device == golden${overlap}`, () => shardedVsSingle(name, n, ["sequence", "frame"]), { timeoutMs: SHARDED_TIMEOUT_MS, hosts, tags: name === "wan-tiny" && n === 2 ? ["slow", "dawn"] : ["slow"] });
  }
}
test("sharded wan-tiny (45 tokens) on 3 devices with weights 1,2,3 == single device == golden (baseline and overlapped)", () => shardedVsSingle("wan-tiny", 3, ["sequence"], [1, 2, 3]), { tags: ["slow"], timeoutMs: SHARDED_TIMEOUT_MS, hosts: DENO_ONLY });
test("sharded wan-small on 2 devices with weights 5,1 == single device == golden (baseline and overlapped)", () => shardedVsSingle("wan-small", 2, ["sequence"], [5, 1]), { tags: ["slow"], timeoutMs: SHARDED_TIMEOUT_MS, hosts: DENO_ONLY });

// f16 (where the adapter has shader-f16; SwiftShader has none): the exchange moves f16 rows; sharded ==
// single device (f16) == golden within the f16 bound, both modes, both exchanges.
// 2 devices: the GPU host's check (test/run-gpu.ts), where the f16 gemm runs on the matrix units.
for (const devices of [2, 3]) {
test(`sharded wan-small f16 on ${devices} devices, sequence and frame, baseline and overlapped, == single device f16 == golden`, async () => {
  const g = await loadGolden("wan-small");
  const single = await withGpu(async (gpu) => {
    if (!gpu.features.f16) skip("adapter has no shader-f16");
    return await forwardOnDevice(new WanModel(gpu, g.cfg, uploadWanWeights(gpu, g.cfg, g.weights, "f16"), "f16"), g.inputs);
  });
  await withSharedPool(devices, async (pool) => {
    await pool.load(g.cfg, g.weights);
    await pool.setText("text", g.inputs.text, g.inputs.textTokens);
    for (const mode of ["sequence", "frame"] as const) {
      for (const overlap of [false, true]) {
        const plan = planShards(tokenGridFromLatent(g.inputs.latentGrid), devices, mode);
        const what = `wan-small f16 ${mode} on ${devices} devices${overlap ? " overlapped" : ""}`;
        const r = await pool.forward({ ...g.inputs, textKey: "text", plan, overlap });
        expectClose(`${what} vs single device f16`, r.out, single, TOL.sharded.f16);
        expectClose(`${what} vs diffusers`, r.out, g.expected, TOL.model.f16);
      }
    }
  }, "f16");
}, { tags: ["slow"], needs: ["f16"], timeoutMs: SHARDED_TIMEOUT_MS, hosts: DENO_ONLY });
}

// Odd configs: sharded over 3 devices (frame mode: 7 frames over 3 devices pads 2 frames) vs Float64.
for (const c of ODD_CASES) {
  test(`sharded ${c.name} on 3 devices, both modes, baseline and overlapped exchange, vs Float64 reference`, async () => {
    const { weights, inputs } = oddCaseData(c);
    const ref = wanForwardRef(c.cfg, weights, inputs);
    await withSharedPool(3, async (pool) => {
      await pool.load(c.cfg, weights);
      await pool.setText("t", inputs.text, inputs.textTokens);
      for (const mode of ["sequence", "frame"] as const) {
        for (const overlap of [false, true]) {
          const plan = planShards(tokenGridFromLatent(inputs.latentGrid), 3, mode);
          expectClose(`${c.name} ${mode} x3${overlap ? " overlapped" : ""}`, (await pool.forward({ ...inputs, textKey: "t", plan, overlap })).out, ref, TOL.model.f32);
        }
      }
    });
  }, { tags: ["slow"], timeoutMs: SHARDED_TIMEOUT_MS, hosts: DENO_ONLY });
}

/** wan-small loaded on a pool of 3, its text set; `forward()` runs the golden input over 3 devices in sequence mode. */
async function withWanSmallOn3(fn: (pool: WorkerPool, forward: () => ReturnType<WorkerPool["forward"]>, expected: Float32Array) => Promise<void>) {
  const g = await loadGolden("wan-small");
  await withSharedPool(3, async (pool) => {
    await pool.load(g.cfg, g.weights);
    await pool.setText("text", g.inputs.text, g.inputs.textTokens);
    const plan = planShards(tokenGridFromLatent(g.inputs.latentGrid), 3, "sequence");
    await fn(pool, () => pool.forward({ ...g.inputs, textKey: "text", plan }), g.expected);
  });
}

// A worker that crashes mid-run fails the run within seconds, naming its device; the pool recovers.
test("sharded: a worker crashing mid-run fails the run naming its device, and the pool recovers", () =>
  withWanSmallOn3(async (pool, forward, expected) => {
    // Device 1's own error, not another device's "run aborted" (the cause travels in the run's control words).
    const ms = await expectOwnCrash(pool, 1, forward());
    if (ms > 15_000) throw new Error(`the failure took ${ms.toFixed(0)} ms to surface`);
    // The pool restarts the dead worker and gives the right answer again.
    expectClose("after recovery", (await forward()).out, expected, TOL.model.f32);
  }), { tags: ["slow"], timeoutMs: SHARDED_TIMEOUT_MS, hosts: BOTH });

// Regression: a crash during a pool's first forward made that forward's failure give back rope3d's cached
// tables (created in it) with its scratch; the recovery forward was right, every later one read overwritten
// tables (relative L2 1.4e-2). A pool of its own: the crash must hit the devices' first forward.
test("sharded: after a crash in the first forward, every later forward is right (cached tables survive the failed run)", async () => {
  const g = await loadGolden("wan-tiny");
  const pool = await WorkerPool.create({ devices: 3, precision: "f32", barrierTimeoutMs: SHARDED_TIMEOUT_MS });
  try {
    await pool.load(g.cfg, g.weights);
    await pool.setText("text", g.inputs.text, g.inputs.textTokens);
    const plan = planShards(tokenGridFromLatent(g.inputs.latentGrid), 3, "sequence");
    const forward = () => pool.forward({ ...g.inputs, textKey: "text", plan });
    const first = forward();
    setTimeout(() => pool.crash(1, "simulated device failure"), 20); // the first forward compiles for seconds
    await expectThrows("the crashed forward", () => first, /^device 1\b.*simulated device failure/);
    for (const what of ["the recovery forward", "the forward after it", "a third forward"]) {
      expectClose(what, (await forward()).out, g.expected, TOL.model.f32);
    }
  } finally {
    await pool.close();
  }
}, { tags: ["slow"], timeoutMs: SHARDED_TIMEOUT_MS, hosts: DENO_ONLY });

// Cancelling a forward (the demo's Cancel button): the call rejects at once, every device stops at its
// next barrier and gives back the run's scratch buffers, and the pool's next forward is right.
test("sharded: a cancelled forward rejects at once, its devices free their scratch, and the pool goes on", () =>
  withWanSmallOn3(async (pool, forward, expected) => {
    const before = await forward();
    expectClose("before the cancel", before.out, expected, TOL.model.f32);
    const after = await cancelInFlight(pool, forward, before);
    expectClose("after the cancel", after.out, expected, TOL.model.f32);
  }), { tags: ["slow"], timeoutMs: SHARDED_TIMEOUT_MS, hosts: BOTH });

// A weight that makes the output infinite: the run fails naming a device, the tokens and the first bad
// value (never silent NaN in the latents), and the pool runs the right weights again afterwards.
test("sharded: a non-finite output fails the run naming the device and token; the pool goes on", async () => {
  const g = await loadGolden("wan-tiny");
  const bias = g.weights.projOut.bias.slice();
  bias[3] = Infinity;
  const broken = { ...g.weights, projOut: { ...g.weights.projOut, bias } };
  await withSharedPool(3, async (pool) => {
    const plan = planShards(tokenGridFromLatent(g.inputs.latentGrid), 3, "sequence");
    await pool.load(g.cfg, broken);
    await pool.setText("text", g.inputs.text, g.inputs.textTokens);
    let message = "";
    try {
      await pool.forward({ ...g.inputs, textKey: "text", plan });
    } catch (e) {
      message = (e as Error).message;
    }
    if (!/^device [012]\b.*: the output of its tokens \[\d+, \d+\) has \d+ non-finite values \(first Infinity at token \d+, column 3\)/.test(message)) {
      throw new Error(`expected a non-finite output error, got "${message || "success"}"`);
    }
    await pool.load(g.cfg, g.weights);
    await pool.setText("text", g.inputs.text, g.inputs.textTokens);
    expectClose("after the good weights", (await pool.forward({ ...g.inputs, textKey: "text", plan })).out, g.expected, TOL.model.f32);
  });
}, { tags: ["slow"], timeoutMs: SHARDED_TIMEOUT_MS, hosts: DENO_ONLY }); // Chromium runs the smoke set only (3 devices both modes, crash, cancel)
