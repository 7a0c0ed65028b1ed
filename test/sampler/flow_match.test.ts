// The flow-matching sampler against its Float64 reference (test/reference/sampler.ts), against golden
// schedules computed with numpy from diffusers' UniPCMultistepScheduler.set_timesteps (use_flow_sigmas,
// flow_shift; identical to Wan2.1's FlowUniPCMultistepScheduler for these cases), and against the exact
// probability-flow solution of a Gaussian toy model (convergence order of Euler and UniPC).
import { DEFAULT_SAMPLER, flowSigmas, flowTimesteps, gaussianNoise, type Prediction, sample, type SamplerConfig } from "../../src/sampler/flow_match.ts";
import { flowSigmasRef, flowTimestepsRef, sampleRef } from "../reference/sampler.ts";
import { expectClose, relL2, test, TOL } from "../../src/selftest/harness.ts";

/** Sampler vs Float64 reference: TOL.sampler (f32 latents between steps; 50 steps stay well below it). */
const TOL_SAMPLER_F32 = TOL.sampler.f32;

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}
async function rejects(what: string, fn: () => Promise<unknown>, needle: string): Promise<void> {
  try {
    await fn();
  } catch (e) {
    const m = (e as Error).message;
    assert(m.includes(needle), `${what}: error "${m}" does not mention "${needle}"`);
    return;
  }
  throw new Error(`${what}: expected an error mentioning "${needle}"`);
}

// ---- schedule ----

// numpy: alphas = linspace(1, 1/1000, steps+1); s = 1 - alphas; flip(shift*s/(1+(shift-1)*s))[:-1], then 0.
const GOLDEN_SIGMAS: [number, number, number[]][] = [
  [5, 5.0, [0.9997998398718975, 0.9521540221120854, 0.8820932422886744, 0.7689347290640394, 0.5552467763450422, 0]],
  [7, 12.0, [0.9999165902076903, 0.9862067074341185, 0.9676325772863024, 0.9410471779574535, 0.899842369955213, 0.8273862930499, 0.666407248874312, 0]],
  [4, 1.0, [0.999, 0.74925, 0.49950000000000006, 0.24975000000000003, 0]],
];
// numpy: (sigmas * 1000).astype(int64), the timesteps the reference feeds the model.
const GOLDEN_TIMESTEPS: [number, number, number[]][] = [
  [1, 1.0, [999]],
  [4, 1.0, [999, 749, 499, 249]],
  [3, 1.0, [999, 666, 332]],
  [9, 1.0, [999, 888, 777, 666, 555, 443, 332, 221, 110]],
  [10, 1.0, [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]],
  [5, 5.0, [999, 952, 882, 768, 555]],
  [7, 12.0, [999, 986, 967, 941, 899, 827, 666]],
  [20, 2.5, [999, 978, 957, 933, 908, 881, 853, 822, 789, 753, 713, 671, 624, 573, 516, 454, 384, 305, 217, 116]],
  [30, 3.0, [999, 988, 976, 963, 950, 937, 922, 907, 891, 874, 856, 837, 817, 796, 773, 749, 723, 696, 666, 634, 599, 562, 521, 476, 428, 374, 315, 249, 176, 93]],
  [50, 5.0, [999, 995, 991, 987, 982, 978, 973, 968, 963, 957, 952, 946, 940, 934, 927, 920, 913, 906, 898, 890, 882, 873, 863, 854, 843, 833, 821, 809, 796, 783, 768, 753, 737, 720, 701, 681, 660, 636, 611, 584, 555, 522, 487, 448, 405, 356, 302, 241, 172, 92]],
];

test("sampler: flowSigmas and flowTimesteps match diffusers' flow-sigma schedule (numpy golden)", () => {
  for (const [steps, shift, want] of GOLDEN_SIGMAS) {
    const got = flowSigmas(steps, shift);
    assert(got.length === want.length, `sigmas(${steps}, ${shift}): ${got.length} values, expected ${want.length}`);
    got.forEach((g, i) => assert(Math.abs(g - want[i]) <= 1e-15, `sigmas(${steps}, ${shift})[${i}]: got ${g}, expected ${want[i]}`));
  }
  for (const [steps, shift, want] of GOLDEN_TIMESTEPS) {
    const got = Array.from(flowTimesteps(flowSigmas(steps, shift)));
    assert(JSON.stringify(got) === JSON.stringify(want), `timesteps(${steps}, ${shift}): got ${got}, expected ${want}`);
  }
});

test("sampler: schedule properties (monotone, start shift(1 - 1/T), end 0, shift 1 linear)", () => {
  for (const steps of [1, 2, 3, 10, 30, 50, 100]) {
    for (const shift of [0.5, 1, 3, 5, 12]) {
      const s = flowSigmas(steps, shift);
      const tag = `steps ${steps} shift ${shift}`;
      assert(s.length === steps + 1 && s[steps] === 0, `${tag}: last sigma ${s[steps]}, length ${s.length}`);
      const first = shift * 0.999 / (1 + (shift - 1) * 0.999);
      assert(Math.abs(s[0] - first) < 1e-15 && s[0] < 1, `${tag}: first sigma ${s[0]}, expected ${first}`);
      for (let i = 0; i < steps; i++) assert(s[i] > s[i + 1], `${tag}: sigma ${i} = ${s[i]} <= sigma ${i + 1} = ${s[i + 1]}`);
      const ref = flowSigmasRef(steps, shift);
      s.forEach((v, i) => assert(Math.abs(v - ref[i]) < 1e-14, `${tag}: sigma ${i} ${v} vs reference ${ref[i]}`));
      const t = flowTimesteps(s);
      const tRef = flowTimestepsRef(steps, shift);
      assert(JSON.stringify(Array.from(t)) === JSON.stringify(tRef), `${tag}: timesteps ${t} vs reference ${tRef}`);
      assert(t.length === steps && t.every((x, i) => Number.isInteger(x) && x >= 0 && x < 1000 && (i === 0 || x <= t[i - 1])), `${tag}: timesteps ${t}`);
      if (shift === 1) {
        for (let i = 0; i < steps; i++) assert(Math.abs(s[i] - s[i + 1] - 0.999 / steps) < 1e-12, `${tag}: step ${i} not linear`);
      }
    }
  }
  // A larger shift keeps more steps at high noise.
  const a = flowSigmas(10, 3), b = flowSigmas(10, 5);
  for (let i = 1; i < 10; i++) assert(b[i] > a[i], `shift 5 sigma ${i} ${b[i]} not above shift 3 ${a[i]}`);
});

// ---- solvers against the Float64 reference ----

/** A nonlinear toy flow field, same math for the f32 implementation and the f64 reference. */
function toyVelocity(x: ArrayLike<number>, t: number, c: ArrayLike<number>, scale: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let k = 0; k < x.length; k++) out[k] = scale * (x[k] - c[k]) + 0.3 * Math.sin(x[k] * 1.3 + t / 250) - 0.1 * Math.tanh(x[k] * x[k]);
  return out;
}

const N = 96;
const C_COND = Float64Array.from({ length: N }, (_, k) => Math.sin(k * 0.7));
const C_UNCOND = Float64Array.from({ length: N }, (_, k) => 0.5 * Math.cos(k * 1.1));

for (const solver of ["euler", "unipc"] as const) {
  test(`sampler: ${solver} matches the Float64 reference (steps 1..50, shifts, guidance)`, async () => {
    const x0 = gaussianNoise([N], 7);
    for (const steps of [1, 2, 3, 5, 10, 50]) {
      for (const shift of [1, 3, 5]) {
        for (const guidance of [1, 5]) {
          const cfg: SamplerConfig = { steps, shift, guidance, solver };
          const seen: number[] = [];
          const got = await sample(x0, cfg, async (x, t, i, needUncond) => {
            seen.push(t);
            assert(needUncond === (guidance !== 1), `needUncond ${needUncond} at guidance ${guidance}`);
            return {
              cond: Float32Array.from(toyVelocity(x, t, C_COND, 0.8)),
              uncond: needUncond ? Float32Array.from(toyVelocity(x, t, C_UNCOND, 1.1)) : undefined,
            };
          });
          const want = sampleRef(x0, cfg, (x, t) => ({ cond: toyVelocity(x, t, C_COND, 0.8), uncond: toyVelocity(x, t, C_UNCOND, 1.1) }));
          expectClose(`${solver} steps ${steps} shift ${shift} guidance ${guidance}`, got, want, TOL_SAMPLER_F32);
          assert(JSON.stringify(seen) === JSON.stringify(Array.from(flowTimesteps(flowSigmas(steps, shift)))), `timesteps passed: ${seen}`);
        }
      }
    }
  });
}

test("sampler: reference UniPC (orders 1, 2, 3) is exact when the x0 prediction is constant", () => {
  // v = (x - c) / sigma has x0 prediction c at every step; every UniPC order must land on c exactly,
  // which checks the reference's history bookkeeping and linear solve independently of the implementation.
  const c = Float64Array.from({ length: 8 }, (_, k) => k - 3.5);
  const x0 = Float64Array.from({ length: 8 }, (_, k) => Math.cos(k));
  for (const order of [1, 2, 3]) {
    const sig = flowSigmasRef(12, 4);
    const out = sampleRef(x0, { steps: 12, shift: 4, guidance: 1, solver: "unipc", order }, (x, _t, i) => ({ cond: x.map((v, k) => (v - c[k]) / sig[i]) }));
    assert(relL2(out, c) < 1e-12, `order ${order}: constant x0 field not recovered exactly (${relL2(out, c)})`);
  }
});

// ---- exact solutions ----

test("sampler: a single data point is recovered exactly by both solvers", async () => {
  // v = (x - c) / sigma is the exact flow of the data distribution delta(c): x0-prediction is c.
  const c = Float32Array.from({ length: 33 }, (_, k) => (k % 7) - 3);
  for (const solver of ["euler", "unipc"] as const) {
    for (const steps of [1, 4, 25]) {
      const sig = flowSigmas(steps, 5);
      const x = gaussianNoise([33], 3);
      const got = await sample(x, { steps, shift: 5, guidance: 1, solver }, async (xx, _t, i) => ({ cond: xx.map((v, k) => (v - c[k]) / sig[i]) }));
      expectClose(`${solver} steps ${steps}`, got, c, TOL.sampler.f32);
    }
  }
});

test("sampler: Gaussian toy model, exact flow: Euler is first order, UniPC converges faster", async () => {
  // Data x0 ~ N(mu, tau^2) per element, path x_s = (1-s) x0 + s eps. Exact velocity:
  // v = (s - (1-s) tau^2) / var_s * (x - (1-s) mu) - mu, var_s = (1-s)^2 tau^2 + s^2, and the flow maps x at
  // sigma_0 to mu + tau (x - (1-sigma_0) mu) / sqrt(var_sigma_0) at sigma 0.
  const n = 64;
  const mu = Float64Array.from({ length: n }, (_, k) => 2 * Math.sin(k));
  const tau = Float64Array.from({ length: n }, (_, k) => 0.3 + 0.5 * Math.abs(Math.cos(k * 1.7)));
  const z = gaussianNoise([n], 11);
  const err = async (solver: "euler" | "unipc", steps: number, shift: number) => {
    const sig = flowSigmas(steps, shift);
    const s0 = sig[0];
    const exact = Float64Array.from(mu, (m, k) => m + tau[k] * (z[k] - (1 - s0) * m) / Math.sqrt((1 - s0) ** 2 * tau[k] ** 2 + s0 * s0));
    const got = await sample(z, { steps, shift, guidance: 1, solver }, async (x, _t, i) => {
      const s = sig[i];
      return { cond: Float32Array.from(x, (xk, k) => ((s - (1 - s) * tau[k] ** 2) / ((1 - s) ** 2 * tau[k] ** 2 + s * s)) * (xk - (1 - s) * mu[k]) - mu[k]) };
    });
    return relL2(got, exact);
  };
  for (const shift of [1, 3, 5]) {
    const e20 = await err("euler", 20, shift), e40 = await err("euler", 40, shift);
    const u20 = await err("unipc", 20, shift), u40 = await err("unipc", 40, shift);
    const tag = `shift ${shift}: euler ${e20.toExponential(2)} -> ${e40.toExponential(2)}, unipc ${u20.toExponential(2)} -> ${u40.toExponential(2)}`;
    assert(e20 / e40 > 1.8 && e20 / e40 < 2.2, `${tag}: Euler error should halve when steps double`);
    assert(u20 / u40 > 2.5, `${tag}: UniPC error should fall faster than first order`);
    assert(u40 < e40 / 5, `${tag}: UniPC should beat Euler by 5x at 40 steps`);
    assert(u40 < 1e-2, `${tag}: UniPC 40-step error too large`);
  }
});

// ---- API behaviour ----

test("sampler: guidance 1 skips uncond, x0 untouched, onStep per step, bad model outputs", async () => {
  const x0 = gaussianNoise([10], 1);
  const copy = Float32Array.from(x0);
  let calls = 0;
  const steps: number[] = [];
  await sample(x0, { ...DEFAULT_SAMPLER, steps: 6, guidance: 1 }, async (x, _t, _i, needUncond) => {
    calls++;
    assert(!needUncond, "needUncond at guidance 1");
    return { cond: x.map((v) => v * 0.5) };
  }, (i, x) => {
    steps.push(i);
    assert(x.length === 10, "onStep latent length");
  });
  assert(calls === 6, `predict called ${calls} times for 6 steps`);
  assert(JSON.stringify(steps) === "[0,1,2,3,4,5]", `onStep steps ${steps}`);
  assert(copy.every((v, k) => v === x0[k]), "sample modified x0");

  const ok = async (): Promise<Prediction> => ({ cond: new Float32Array(10) });
  await rejects("missing uncond", () => sample(x0, { steps: 3, shift: 5, guidance: 5, solver: "unipc" }, ok), "needs the unconditional prediction");
  await rejects("short cond", () => sample(x0, { steps: 3, shift: 5, guidance: 1, solver: "euler" }, async () => ({ cond: new Float32Array(9) })), "returned 9 values for cond, latent has 10");
  await rejects("short uncond", () => sample(x0, { steps: 3, shift: 5, guidance: 2, solver: "euler" }, async () => ({ cond: new Float32Array(10), uncond: new Float32Array(3) })), "returned 3 values for uncond");
  await rejects("steps 0", () => sample(x0, { steps: 0, shift: 5, guidance: 1, solver: "euler" }, ok), "steps must be an integer >= 1");
  await rejects("steps 2.5", () => sample(x0, { steps: 2.5, shift: 5, guidance: 1, solver: "euler" }, ok), "steps must be an integer >= 1");
  await rejects("shift 0", () => sample(x0, { steps: 2, shift: 0, guidance: 1, solver: "euler" }, ok), "shift must be a positive number");
  await rejects("shift NaN", () => sample(x0, { steps: 2, shift: NaN, guidance: 1, solver: "euler" }, ok), "shift must be a positive number");
  await rejects("guidance NaN", () => sample(x0, { steps: 2, shift: 5, guidance: NaN, solver: "euler" }, ok), "guidance must be a number");
  await rejects("solver", () => sample(x0, { steps: 2, shift: 5, guidance: 1, solver: "heun" as "euler" }, ok), "solver must be one of euler|unipc");
  await rejects("numTrainTimesteps", () => sample(x0, { steps: 2, shift: 5, guidance: 1, solver: "euler", numTrainTimesteps: 1 }, ok), "numTrainTimesteps");
});

// ---- noise ----

test("sampler: gaussianNoise is deterministic, seeded and standard normal", async () => {
  const a = gaussianNoise([2, 3, 5, 7], 42), b = gaussianNoise([2, 3, 5, 7], 42);
  assert(a.length === 210 && a.every((v, k) => v === b[k]), "same seed, different noise");
  const c = gaussianNoise([210], 43);
  assert(a.some((v, k) => v !== c[k]), "seeds 42 and 43 give the same noise");
  const big = gaussianNoise([1], 2 ** 32 + 5), small = gaussianNoise([1], 5);
  assert(big[0] !== small[0], "seed 2^32 + 5 collides with seed 5");
  // A prefix of a longer draw is the shorter draw (counter-based: element k depends only on seed and k).
  const long = gaussianNoise([1001], 9), short = gaussianNoise([501], 9);
  assert(short.every((v, k) => v === long[k]), "noise of a shorter shape is not a prefix");
  const n = 200_000, x = gaussianNoise([n], 1234);
  let m = 0, m2 = 0, m4 = 0, within1 = 0;
  for (const v of x) {
    m += v;
    m2 += v * v;
    m4 += v ** 4;
    if (Math.abs(v) < 1) within1++;
  }
  m /= n;
  const variance = m2 / n - m * m;
  assert(Math.abs(m) < 0.01, `mean ${m}`);
  assert(Math.abs(variance - 1) < 0.015, `variance ${variance}`);
  assert(Math.abs(m4 / n - 3) < 0.1, `fourth moment ${m4 / n} (3 for a normal)`);
  assert(Math.abs(within1 / n - 0.6827) < 0.005, `P(|x| < 1) = ${within1 / n}`);
  assert(x.every(Number.isFinite), "non-finite noise");
  assert(gaussianNoise([0], 1).length === 0, "empty shape");
  await rejects("negative dimension", async () => gaussianNoise([2, -1], 1), "gaussianNoise: shape must hold integers >= 0, got [2, -1]");
});
