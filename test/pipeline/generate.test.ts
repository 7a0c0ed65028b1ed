// The denoising loop on the synthetic model: sharded over 4 devices == 1 device, and both equal a
// Float64 pipeline (the sampler's reference driving the model's composed Float64 reference).
import { syntheticModel } from "../../src/loaders/synthetic_model.ts";
import { generate, setPrompts } from "../../src/pipeline/generate.ts";
import { gaussianNoise, type SamplerConfig } from "../../src/sampler/flow_match.ts";
import { expectClose, test, TOL } from "../../src/selftest/harness.ts";
import { withSharedPool } from "../parallel/pools.ts";
import { wanForwardRef } from "../reference/wan.ts";
import { sampleRef } from "../reference/sampler.ts";

const LATENT = { F: 3, H: 6, W: 10 }; // 3 x 3 x 5 = 45 tokens: 4 devices get 12, 11, 11, 11
const SAMPLER: SamplerConfig = { steps: 2, shift: 5, guidance: 5, solver: "unipc" };
const SEED = 7;

async function run(devices: number): Promise<Float32Array> {
  const m = syntheticModel();
  return await withSharedPool(devices, async (pool) => {
    await pool.load(m.config, m.weights);
    await setPrompts(pool, m.text, m.negativeText, m.textTokens);
    return (await generate(pool, m.config, { latent: LATENT, sampler: SAMPLER, seed: SEED, mode: "sequence" })).latent;
  });
}

function reference(): Float64Array {
  const m = syntheticModel();
  const model = (x: Float64Array, timestep: number, text: Float32Array) =>
    wanForwardRef(m.config, m.weights, { latent: Float32Array.from(x), latentGrid: LATENT, text, textTokens: m.textTokens, timestep });
  const x0 = gaussianNoise([m.config.inChannels, LATENT.F, LATENT.H, LATENT.W], SEED);
  return sampleRef(x0, SAMPLER, (x, t) => ({ cond: model(x, t, m.text), uncond: model(x, t, m.negativeText) }));
}

test("generate: synthetic model, 2 UniPC steps with guidance, 1 and 4 devices == Float64 pipeline", async () => {
  const ref = reference();
  const one = await run(1);
  expectClose("1 device vs Float64 pipeline", one, ref, TOL.model.f32);
  const four = await run(4);
  // Not bitwise: the pools run the default overlapped exchange, whose merge of two partial softmaxes sums in
  // another order than one device (test/parallel/sharded.test.ts checks the plain all-gather bitwise).
  expectClose("4 devices vs 1 device", four, one, TOL.sharded.f32);
  expectClose("4 devices vs Float64 pipeline", four, ref, TOL.model.f32);
}, { tags: ["slow"], hosts: ["deno"], timeoutMs: 300_000 });
