// Few-step presets (src/sampler/presets.ts) and what they need of the sampler: an explicit schedule and the
// lcm solver. References: LightX2V's schedule in closed form (shift 5 of sigma = 1, 3/4, 1/2, 1/4 is 1,
// 15/16, 5/6, 5/8), and WanStepDistillScheduler.step_post / Wan22StepDistillScheduler.step_post transcribed
// here in Float64 over the same fresh noise.
import { gaussianNoise, type Prediction, sample, type SamplerConfig, stepNoiseSeed } from "../../src/sampler/flow_match.ts";
import { PRESET_NAMES, presetSampler, SAMPLER_PRESETS, stepDistillSchedule } from "../../src/sampler/presets.ts";
import { expectBitwiseEqual, expectClose, expectEqual, expectThrows, relL2, test, TOL } from "../../src/selftest/harness.ts";

test("presets: LightX2V 4-step schedule in closed form (sigmas 1, 15/16, 5/6, 5/8, 0; timesteps sigma * 1000)", () => {
  const { sigmas, timesteps } = stepDistillSchedule([1000, 750, 500, 250], 5);
  const want = [1, 15 / 16, 5 / 6, 5 / 8, 0];
  expectClose("sigmas", sigmas, want, 1e-15);
  expectClose("timesteps", timesteps, want.slice(0, 4).map((s) => s * 1000), 1e-15);
  // Shift 1 leaves the list as it is: sigma = t / 1000.
  expectClose("shift 1", stepDistillSchedule([1000, 750, 500, 250], 1).sigmas, [1, 0.75, 0.5, 0.25, 0], 1e-15);
  const p = presetSampler("fast4", 7);
  expectEqual("fast4 = lightx2v-4step", { ...p, noiseSeed: 0 }, { ...SAMPLER_PRESETS["lightx2v-4step"].sampler, noiseSeed: 0 });
  expectEqual("guidance 1, 4 steps, lcm, seed", [p.guidance, p.steps, p.solver, p.noiseSeed], [1, 4, "lcm", 7]);
});

test("presets: unknown names list the known ones; lcm without a seed and unipc from sigma 1 are refused", async () => {
  await expectThrows("unknown", () => presetSampler("constructor", 0), new RegExp(`unknown sampler preset "constructor" \\(known: ${PRESET_NAMES.join(", ")}\\)`));
  const x = new Float32Array(4);
  const predict = () => Promise.resolve({ cond: new Float32Array(4) });
  const { noiseSeed: _, ...noSeed } = presetSampler("fast4", 0);
  await expectThrows("lcm seed", () => sample(x, noSeed, predict), /solver lcm draws fresh noise at each step and needs noiseSeed/);
  await expectThrows("lcm seeds", () => sample(new Float32Array(5), { ...presetSampler("fast4", 0), noiseSeed: [1, 2] }, predict), /2 noise seeds do not split a latent of 5 values/);
  await expectThrows("unipc", () => sample(x, { ...presetSampler("fast4", 0), solver: "unipc" }, predict), /unipc needs sigmas below 1/);
  await expectThrows("length", () => sample(x, { ...presetSampler("fast4", 0), steps: 3 }, predict), /schedule has 5 sigmas and 4 timesteps, expected 4 and 3 for 3 steps/);
});

/** A nonlinear toy model: v depends on x and on the timestep the sampler passes. */
const toy = (x: Float32Array, t: number): Float32Array => Float32Array.from(x, (v, k) => Math.tanh(v) * (0.5 + t / 2000) + 0.1 * Math.sin(k + t / 100));

/** Float64 transcription of LightX2V's step_post loops over the preset's sigmas (lcm: fresh noise; euler: x0 + sigma' v). */
function reference(x0: Float32Array, cfg: SamplerConfig, seen: number[]): Float64Array {
  const { sigmas, timesteps } = cfg.schedule!;
  let x = Float64Array.from(x0);
  for (let i = 0; i < cfg.steps; i++) {
    seen.push(timesteps[i]);
    const v = toy(Float32Array.from(x), timesteps[i]);
    const s = sigmas[i], next = sigmas[i + 1];
    const pred = x.map((xk, k) => xk - s * v[k]);
    if (cfg.solver === "euler") x = pred.map((p, k) => p + next * v[k]);
    else if (i < cfg.steps - 1) {
      const e = gaussianNoise([x.length], stepNoiseSeed(cfg.noiseSeed as number, i));
      x = pred.map((p, k) => (1 - next) * p + next * e[k]);
    } else x = pred;
  }
  return x;
}

for (const name of ["lightx2v-4step", "lightx2v-4step-euler"]) {
  test(`presets: ${name} sampling vs its Float64 transcription (guidance 1: no unconditional call)`, async () => {
    const n = 3000;
    const x0 = gaussianNoise([n], 11);
    const cfg = presetSampler(name, 11);
    const seen: number[] = [], want: number[] = [];
    let uncondAsked = 0;
    const got = await sample(x0, cfg, (x, t, _i, needUncond): Promise<Prediction> => {
      seen.push(t);
      if (needUncond) uncondAsked++;
      return Promise.resolve({ cond: toy(x, t) });
    });
    const ref = reference(x0, cfg, want);
    expectEqual(`${name}: timesteps the model saw`, seen, want);
    expectEqual(`${name}: unconditional calls`, uncondAsked, 0);
    expectClose(`${name}: final latent`, got, ref, TOL.sampler.f32);
  });
}

test("presets: lcm's fresh noise depends on the seed and the step, never equals a seed's initial noise", async () => {
  // A model whose x0 prediction is exactly c: after step i, x = (1 - s') c + s' e_i, so e_i can be read back.
  const n = 4096, c = 0.25;
  const noiseOf = async (seed: number) => {
    const cfg = presetSampler("fast4", seed);
    const out: Float64Array[] = [];
    await sample(gaussianNoise([n], seed), cfg, (x, t) => Promise.resolve({ cond: Float32Array.from(x, (v) => (v - c) / (t / 1000)) }), (i, x) => {
      const s = cfg.schedule!.sigmas[i + 1];
      if (s > 0) out.push(Float64Array.from(x, (v) => (v - (1 - s) * c) / s));
    });
    return out;
  };
  const a = await noiseOf(3), b = await noiseOf(4);
  expectEqual("noise draws", a.length, 3);
  for (const e of a) {
    const mean = e.reduce((p, q) => p + q, 0) / n, sd = Math.sqrt(e.reduce((p, q) => p + q * q, 0) / n);
    if (Math.abs(mean) > 0.1 || Math.abs(sd - 1) > 0.1) throw new Error(`fresh noise is not standard normal: mean ${mean}, sd ${sd}`);
  }
  const differ = (x: ArrayLike<number>, y: ArrayLike<number>, what: string) => {
    if (!(relL2(x, y) > 0.5)) throw new Error(`${what}: the noise draws are the same`);
  };
  differ(a[0], a[1], "steps 0 and 1");
  differ(a[0], b[0], "seeds 3 and 4");
  differ(a[0], gaussianNoise([n], 4), "step noise vs seed 4's initial noise");
});

test("presets: lcm over several items side by side (one noise seed each) equals each item sampled alone", async () => {
  const n = 1000, seeds = [5, 9, 2];
  const predict = (x: Float32Array, t: number) => Promise.resolve({ cond: toy(x, t) });
  const alone = await Promise.all(seeds.map((s) => sample(gaussianNoise([n], s), presetSampler("fast4", s), predict)));
  const x0 = new Float32Array(seeds.length * n);
  seeds.forEach((s, j) => x0.set(gaussianNoise([n], s), j * n));
  // toy() is element-wise but for its sin(k) term: give each item its own index by sampling items apart in the model.
  const batched = await sample(x0, { ...presetSampler("fast4", 0), noiseSeed: seeds }, (x, t) => {
    const out = new Float32Array(x.length);
    seeds.forEach((_, j) => out.set(toy(x.subarray(j * n, (j + 1) * n), t), j * n));
    return Promise.resolve({ cond: out });
  });
  seeds.forEach((s, j) => expectBitwiseEqual(`item ${j} (seed ${s})`, batched.subarray(j * n, (j + 1) * n), alone[j]));
});
