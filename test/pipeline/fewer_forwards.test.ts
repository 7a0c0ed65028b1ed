// Fewer and cheaper forwards per video (issue 17) on the synthetic model (wan-small's dims, 45 tokens):
// - CFG parallel: 4 devices as 2 x 2 == sequential CFG on 2 devices, bit for bit, in both shard modes (each
//   group runs exactly the forward 2 devices run alone); 3 devices (2 + 1) == 1 device within TOL.sharded.
// - Batched forwards (both branches, several seeds as one batch) == one forward per call, and == the Float64
//   pipeline; sharded too (the exchange counts items).
// - Step caching: off is the plain loop of one pool.forward per model call, bit for bit; MagCache's skipping
//   plan equals a Float64 pipeline that follows the same plan (reusing the blocks' residual in Float64).
// - FBCache: at threshold 0 equal to no cache bit for bit; at 0.25 the steps it skips and its final latent equal
//   a Float64 pipeline with diffusers' FirstBlockCache rule transcribed (both branches deciding together), on 1
//   device batched, 2 devices and CFG parallel on 2.
import { syntheticModel } from "../../src/loaders/synthetic_model.ts";
import { generate, type GenerateOptions, setPrompts } from "../../src/pipeline/generate.ts";
import { gaussianNoise, sample, type SamplerConfig } from "../../src/sampler/flow_match.ts";
import { planShards, type ShardMode, tokenGridFromLatent } from "../../src/parallel/plan.ts";
import { expectBitwiseEqual, expectClose, test, TOL } from "../../src/selftest/harness.ts";
import { expectOwnCrash, withSharedPool } from "../parallel/pools.ts";
import { wanForwardRef } from "../reference/wan.ts";
import { sampleRef } from "../reference/sampler.ts";
import { PoolCancelled, type WorkerPool } from "../../src/parallel/pool.ts";

const LATENT = { F: 3, H: 6, W: 10 }; // 3 x 3 x 5 = 45 tokens
const SAMPLER: SamplerConfig = { steps: 2, shift: 5, guidance: 5, solver: "unipc" };
const SEED = 7;
const m = syntheticModel();

async function run(devices: number, opts: Partial<GenerateOptions>, prompts?: (pool: WorkerPool) => Promise<void>) {
  return await withSharedPool(devices, async (pool) => {
    await pool.load(m.config, m.weights);
    await setPrompts(pool, m.text, m.negativeText, m.textTokens);
    await prompts?.(pool);
    return await generate(pool, m.config, { latent: LATENT, sampler: SAMPLER, seed: SEED, mode: "sequence", batch: false, ...opts });
  });
}

/** The Float64 pipeline; with `compute` (a step-cache plan) skipped steps reuse each branch's last residual. */
function reference(sampler: SamplerConfig, seed = SEED, compute?: boolean[]): Float64Array {
  const residual = new Map<string, Float64Array>();
  const model = (x: Float64Array, timestep: number, step: number, text: Float32Array, branch: string) =>
    wanForwardRef(m.config, m.weights, { latent: Float32Array.from(x), latentGrid: LATENT, text, textTokens: m.textTokens, timestep }, compute && {
      reuse: compute[step] ? undefined : residual.get(branch),
      store: (r) => residual.set(branch, r),
    });
  const x0 = gaussianNoise([m.config.inChannels, LATENT.F, LATENT.H, LATENT.W], seed);
  return sampleRef(x0, sampler, (x, t, step) => ({ cond: model(x, t, step, m.text, "cond"), uncond: model(x, t, step, m.negativeText, "uncond") }));
}

for (const mode of ["sequence", "frame"] as ShardMode[]) {
  test(`CFG parallel: 4 devices as 2 + 2 == sequential CFG on 2 devices, bit for bit (${mode} mode)`, async () => {
    const parallel = await run(4, { mode, cfgParallel: true });
    const sequential = await run(2, { mode });
    expectBitwiseEqual(`cfg-parallel on 4 vs sequential on 2 (${mode})`, parallel.latent, sequential.latent);
    if (parallel.groups?.map((g) => `${g.branch}:${g.devices}`).join(" ") !== "cond:0,1 uncond:2,3") {
      throw new Error(`groups: expected cond:0,1 uncond:2,3, found ${parallel.groups?.map((g) => `${g.branch}:${g.devices}`).join(" ")}`);
    }
    const devices = parallel.steps[0].perDevice.map((d) => `${d.device}/g${d.group}`).join(" ");
    if (devices !== "0/g0 1/g0 2/g1 3/g1") throw new Error(`step report devices: expected 0/g0 1/g0 2/g1 3/g1, found ${devices}`);
  }, { hosts: ["deno"], timeoutMs: 300_000, tags: ["slow"] });
}

test("CFG parallel: 3 devices (2 + 1) == 1 device within the sharding tolerance, and == the Float64 pipeline", async () => {
  const parallel = await run(3, { cfgParallel: true });
  const one = await run(1, {});
  expectClose("cfg-parallel on 3 vs 1 device", parallel.latent, one.latent, TOL.sharded.f32);
  expectClose("cfg-parallel on 3 vs Float64 pipeline", parallel.latent, reference(SAMPLER), TOL.model.f32);
}, { hosts: ["deno"], timeoutMs: 300_000, tags: ["slow"] });

test("batched CFG: one forward over both branches == two forwards, and == the Float64 pipeline (1 and 2 devices)", async () => {
  const ref = reference(SAMPLER);
  const two = await run(1, { batch: false });
  const batched = await run(1, { batch: true });
  if (batched.batch !== 2 || two.batch !== 1) throw new Error(`batch sizes: expected 2 and 1, found ${batched.batch} and ${two.batch}`);
  expectClose("batched vs two forwards (1 device)", batched.latent, two.latent, TOL.model.f32);
  expectClose("batched vs Float64 pipeline (1 device)", batched.latent, ref, TOL.model.f32);
  const sharded = await run(2, { batch: true });
  expectClose("batched on 2 devices vs Float64 pipeline", sharded.latent, ref, TOL.model.f32);
}, { hosts: ["deno"], timeoutMs: 300_000, tags: ["slow"] });

test("several seeds and prompts: a batch of 4 calls (2 items x 2 branches) == each item alone == Float64", async () => {
  const items = [{ seed: SEED, textKey: "prompt" }, { seed: 11, textKey: "second", negativeKey: "negative" }];
  // The second prompt: the negative embedding reused as a prompt (any other text would do).
  const setSecond = (pool: WorkerPool) => pool.setText("second", m.negativeText, m.textTokens);
  const both = await run(2, { items, batch: true }, setSecond);
  if (both.batch !== 4 || both.latents.length !== 2) throw new Error(`expected batch 4 and 2 latents, found ${both.batch} and ${both.latents.length}`);
  const first = await run(2, { batch: false });
  expectClose("item 0 of the batch vs alone", both.latents[0], first.latent, TOL.model.f32);
  const x0 = gaussianNoise([m.config.inChannels, LATENT.F, LATENT.H, LATENT.W], 11);
  const model = (x: Float64Array, timestep: number, text: Float32Array) =>
    wanForwardRef(m.config, m.weights, { latent: Float32Array.from(x), latentGrid: LATENT, text, textTokens: m.textTokens, timestep });
  const ref1 = sampleRef(x0, SAMPLER, (x, t) => ({ cond: model(x, t, m.negativeText), uncond: model(x, t, m.negativeText) }));
  expectClose("item 1 (seed 11, second prompt) vs Float64 pipeline", both.latents[1], ref1, TOL.model.f32);
}, { hosts: ["deno"], timeoutMs: 300_000, tags: ["slow"] });

test("step cache off == the plain loop of one pool.forward per model call, bit for bit; an all-computing TeaCache too", async () => {
  const off = await run(2, {});
  const plain = await withSharedPool(2, async (pool) => {
    const plan = planShards(tokenGridFromLatent(LATENT), 2, "sequence");
    const x0 = gaussianNoise([m.config.outChannels, LATENT.F, LATENT.H, LATENT.W], SEED);
    const forward = async (x: Float32Array, timestep: number, textKey: string) => (await pool.forward({ latent: x, latentGrid: LATENT, timestep, textKey, plan })).out;
    return await sample(x0, SAMPLER, async (x, t) => ({ cond: await forward(x, t, "prompt"), uncond: await forward(x, t, "negative") }));
  });
  expectBitwiseEqual("generate without a cache vs the plain loop", off.latent, plain);
  // A threshold no distance stays under: every step computes (and stores its residual), nothing is reused.
  const all = await run(2, { cache: { kind: "teacache", threshold: 1e-30 } });
  if (all.cache?.skipped !== 0) throw new Error(`teacache at 1e-30 skipped ${all.cache?.skipped} steps, expected 0`);
  expectBitwiseEqual("teacache computing every step vs no cache", all.latent, off.latent);
}, { hosts: ["deno"], timeoutMs: 300_000, tags: ["slow"] });

test("MagCache over 10 steps: skips the published plan's steps, == the Float64 pipeline following that plan (1 device, batched; 2 devices)", async () => {
  const sampler: SamplerConfig = { ...SAMPLER, steps: 10 };
  const one = await run(1, { sampler, batch: true, cache: { kind: "magcache" } });
  const computed = one.steps.flatMap((s) => (s.computed ? [s.step] : [])).join(",");
  // MagCache4Wan2.1's own decision loop (test/reference/magcache_plan.py) computes steps 0, 1, 4, 7, 9 at 10 steps.
  if (computed !== "0,1,4,7,9" || one.cache?.computed !== 5 || one.cache.skipped !== 5) {
    throw new Error(`computed steps: expected 0,1,4,7,9 (5 computed, 5 skipped), found ${computed} (${one.cache?.computed}, ${one.cache?.skipped})`);
  }
  const ref = reference(sampler, SEED, one.cache.compute);
  expectClose("magcache, 1 device batched, vs Float64 pipeline with the same plan", one.latent, ref, TOL.model.f32);
  const two = await run(2, { sampler, cache: { kind: "magcache" } });
  expectClose("magcache, 2 devices, vs Float64 pipeline with the same plan", two.latent, ref, TOL.model.f32);
}, { hosts: ["deno"], timeoutMs: 300_000, tags: ["slow"] });

test("CFG parallel: a crash in one group fails the step naming that device, the other group stops, the pool recovers; cancel stops both", async () => {
  await withSharedPool(4, async (pool) => {
    await pool.load(m.config, m.weights);
    await setPrompts(pool, m.text, m.negativeText, m.textTokens);
    const opts: GenerateOptions = { latent: LATENT, sampler: SAMPLER, seed: SEED, mode: "sequence", cfgParallel: true };
    const good = await generate(pool, m.config, opts);
    // Device 3 (the unconditional group's second) crashes mid-run: the error is its own, not "run aborted".
    await expectOwnCrash(pool, 3, generate(pool, m.config, opts));
    expectBitwiseEqual("after recovery", (await generate(pool, m.config, opts)).latent, good.latent);
    // Cancel: both groups' forwards stop, generate rejects with PoolCancelled, the next run is right.
    const ac = new AbortController();
    const cancelled = generate(pool, m.config, { ...opts, signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    let error: unknown = null;
    try {
      await cancelled;
    } catch (e) {
      error = e;
    }
    if (!(error instanceof PoolCancelled)) throw new Error(`expected PoolCancelled, got ${error ? (error as Error).message : "success"}`);
    expectBitwiseEqual("after the cancel", (await generate(pool, m.config, opts)).latent, good.latent);
  });
}, { hosts: ["deno"], timeoutMs: 300_000, tags: ["slow"] });

/**
 * The Float64 pipeline with FBCache, diffusers' FirstBlockCache transcribed (hooks/first_block_cache.py:
 * FBCHeadBlockHook._should_compute_remaining_blocks, FBCBlockHook's tail residual), with both branches deciding
 * together: diff = sum over branches of sum |r0 - r0_prev|, base = sum of sum |r0_prev|, compute when there is no
 * r0_prev yet or diff / base > threshold; r0_prev and the tail residual change on computed steps only.
 */
function referenceFbCache(sampler: SamplerConfig, threshold: number): { latent: Float64Array; compute: boolean[]; distances: number[] } {
  const branches = [["cond", m.text], ["uncond", m.negativeText]] as const;
  const headPrev = new Map<string, Float64Array>(), tail = new Map<string, Float64Array>();
  const compute: boolean[] = [], distances: number[] = [];
  const inputs = (x: Float64Array, timestep: number, text: Float32Array) => ({ latent: Float32Array.from(x), latentGrid: LATENT, text, textTokens: m.textTokens, timestep });
  const x0 = gaussianNoise([m.config.inChannels, LATENT.F, LATENT.H, LATENT.W], SEED);
  const latent = sampleRef(x0, sampler, (x, t) => {
    // Block 0's residual of both branches first (a probe that stops after block 0), then the joint decision.
    const r0 = new Map<string, Float64Array>();
    for (const [name, text] of branches) {
      try {
        wanForwardRef(m.config, m.weights, inputs(x, t, text), { firstBlock: (r) => { r0.set(name, r); throw "probe"; } });
      } catch (e) {
        if (e !== "probe") throw e;
      }
    }
    let diff = 0, base = 0;
    for (const [name] of branches) {
      const prev = headPrev.get(name), r = r0.get(name)!;
      for (let i = 0; prev && i < r.length; i++) {
        diff += Math.abs(r[i] - prev[i]);
        base += Math.abs(prev[i]);
      }
    }
    const distance = headPrev.size ? diff / base : NaN;
    const run = !headPrev.size || distance > threshold;
    compute.push(run);
    distances.push(distance);
    if (run) for (const [name] of branches) headPrev.set(name, r0.get(name)!);
    const out = (name: string, text: Float32Array) =>
      wanForwardRef(m.config, m.weights, inputs(x, t, text), { firstBlock: () => (run ? null : tail.get(name)!), store: (r) => tail.set(name, r) });
    return { cond: out("cond", m.text), uncond: out("uncond", m.negativeText) };
  });
  return { latent, compute, distances };
}

const plan = (compute: boolean[]) => compute.map((c) => (c ? "C" : "-")).join("");

test("FBCache at threshold 0: every step computed, == no cache bit for bit (1 device, batched)", async () => {
  const off = await run(1, { batch: true });
  const fb = await run(1, { batch: true, cache: { kind: "fbcache", threshold: 0 } });
  if (fb.cache?.skipped !== 0 || fb.cache.computed !== SAMPLER.steps) throw new Error(`fbcache:0 skipped ${fb.cache?.skipped} steps, expected 0`);
  expectBitwiseEqual("fbcache:0 vs no cache", fb.latent, off.latent);
}, { hosts: ["deno"], timeoutMs: 300_000, tags: ["slow"] });

test("FBCache over 10 steps == the Float64 pipeline with diffusers' rule, both branches deciding together (1 device batched, 2 devices, CFG parallel on 2)", async () => {
  // The synthetic model's block-0 residual changes 17-30% per step (untrained weights), so diffusers' 0.05 would
  // compute every step: 0.25 skips some (the Float64 distances are printed on failure; none lies within 1e-3 of it).
  const sampler: SamplerConfig = { ...SAMPLER, steps: 10 };
  const threshold = 0.25;
  const ref = referenceFbCache(sampler, threshold);
  const near = ref.distances.filter((d) => Math.abs(d - threshold) < 1e-3);
  if (near.length) throw new Error(`a Float64 distance lies within 1e-3 of the threshold (${near}): pick another`);
  if (ref.compute.every(Boolean)) throw new Error(`the Float64 plan skips nothing (distances ${ref.distances.map((d) => d.toFixed(4))}): the test would not exercise reuse`);
  const runs = [
    ["1 device, batched", await run(1, { sampler, batch: true, cache: { kind: "fbcache", threshold } })],
    ["2 devices, batched", await run(2, { sampler, batch: true, cache: { kind: "fbcache", threshold } })],
    ["CFG parallel on 2 (1 + 1)", await run(2, { sampler, cfgParallel: true, cache: { kind: "fbcache", threshold } })],
  ] as const;
  for (const [what, r] of runs) {
    const got = r.cache!;
    if (plan(got.compute) !== plan(ref.compute)) {
      throw new Error(`${what}: computed steps ${plan(got.compute)}, the Float64 pipeline's ${plan(ref.compute)} (distances ${got.distances?.map((d) => d.toFixed(4))} vs ${ref.distances.map((d) => d.toFixed(4))})`);
    }
    expectClose(`${what}: block 0's distances vs Float64`, got.distances!.slice(1), ref.distances.slice(1), 1e-4);
    expectClose(`${what}: fbcache ${threshold} vs the Float64 pipeline`, r.latent, ref.latent, TOL.model.f32);
    if (r.cache!.skipped !== ref.compute.filter((c) => !c).length) throw new Error(`${what}: skipped ${r.cache!.skipped}`);
  }
}, { hosts: ["deno"], timeoutMs: 300_000, tags: ["slow"] });

test("FBCache refuses a run whose step is split over several forwards (--batch off without CFG parallel)", async () => {
  let message = "";
  try {
    await run(1, { batch: false, cache: { kind: "fbcache" } });
  } catch (e) {
    message = (e as Error).message;
  }
  if (!/--cache fbcache decides each step over all its 2 model calls together.*splits them into 2 \(batch 1\)/.test(message)) throw new Error(`expected the one-forward error, got "${message || "success"}"`);
}, { hosts: ["deno"] });
