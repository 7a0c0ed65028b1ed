// Wan2.1's flow-matching sampler: shifted sigma schedule, classifier-free guidance, Euler and UniPC
// (bh2, order 2) solvers, and seeded Gaussian noise. Pure TypeScript on Float32Array; the model is a
// callback, so this runs unchanged in Deno, the browser and workers.
//
// References followed (read from their sources, not copied):
// - Schedule: Wan2.1's wan/utils/fm_solvers_unipc.py (FlowUniPCMultistepScheduler.set_timesteps, built
//   as in wan/text2video.py with shift=1 and then set_timesteps(steps, shift=S)), which equals diffusers'
//   UniPCMultistepScheduler.set_timesteps with use_flow_sigmas=True, flow_shift=S (the WanPipeline
//   default scheduler):
//     alpha_i = linspace(1, 1/T, steps+1)_i, s_i = 1 - alpha_i, s'_i = S*s_i / (1 + (S-1)*s_i),
//     sigmas = reverse(s')[0 .. steps-1] followed by a final 0  (final_sigmas_type "zero"),
//     timesteps_i = int64(sigmas_i * T)   (truncated: the model sees integer timesteps)
//   with T = num_train_timesteps = 1000. So sigmas start at S(1 - 1/T) = 0.9998 for S = 5, not at 1:
//   UniPC takes log(alpha) = log(1 - sigma), which must stay finite. Shift 1 gives linear spacing.
//   (diffusers' FlowMatchEulerDiscreteScheduler instead starts at 1 and ends at 1/T before the final 0;
//   shardit uses the one schedule above for both solvers.)
// - Guidance: v = v_uncond + g * (v_cond - v_uncond) as in WanPipeline / wan/text2video.py; g == 1 runs
//   the conditional branch only.
// - Euler: x_{i+1} = x_i + (sigma_{i+1} - sigma_i) * v (FlowMatchEulerDiscreteScheduler.step).
// - UniPC: FlowUniPCMultistepScheduler.step with its defaults (solver_order 2, predict_x0, bh2,
//   lower_order_final, no disabled corrector), from the UniPC paper (Zhao et al. 2023, arXiv 2302.04867)
//   in data prediction: x0 = x - sigma * v, alpha = 1 - sigma, lambda = log(alpha) - log(sigma).
//   Coefficients are computed in f64 from f64 sigmas (the reference rounds sigmas to f32: relative
//   differences ~1e-7); the latent is stored in f32 between steps like the reference's f32 latents.
//   Validated against test/reference/sampler.ts (an independent Float64 transcription of the scheduler
//   state machine with a general-order linear solve) and against the exact flow of a Gaussian toy model.
// - LCM (few-step, for step-distilled checkpoints and LoRAs; src/sampler/presets.ts): LightX2V's
//   WanStepDistillScheduler.step_post (lightx2v/models/schedulers/wan/step_distill/scheduler.py), which is
//   diffusers' FlowMatchLCMScheduler.step: x0 = x - sigma_i v, then x = (1 - sigma_{i+1}) x0 + sigma_{i+1} e
//   with fresh noise e each step (none after the last). e is gaussianNoise(stepNoiseSeed(noiseSeed, i)).
// - An explicit schedule (SamplerConfig.schedule: sigmas and the timesteps the model sees, e.g. the float
//   sigma * 1000 of a distilled model's denoising_step_list) replaces the shifted one for any solver but
//   UniPC (which needs sigma < 1).

export type Solver = "euler" | "unipc" | "lcm";
export const SOLVERS: readonly Solver[] = ["euler", "unipc", "lcm"];

export interface SamplerConfig {
  steps: number;
  /** Timestep shift S (Wan2.1 T2V default 5.0; 3.0 is suggested for 480p). */
  shift: number;
  /** Classifier-free guidance scale g (default 5.0); 1 skips the unconditional branch. */
  guidance: number;
  solver: Solver;
  numTrainTimesteps?: number;
  /**
   * An explicit schedule instead of the shifted one (steps and shift are then not used for it): steps + 1
   * decreasing sigmas ending in 0, and the `steps` timesteps the model is called with.
   */
  schedule?: { sigmas: readonly number[]; timesteps: readonly number[] };
  /**
   * lcm: the seed of the fresh noise drawn at each step (required for lcm). Several seeds: the latent is that
   * many equal parts side by side (generate's items), each drawing its own noise, as if sampled alone.
   */
  noiseSeed?: number | readonly number[];
}

export const DEFAULT_SAMPLER: SamplerConfig = { steps: 50, shift: 5.0, guidance: 5.0, solver: "unipc", numTrainTimesteps: 1000 };

export interface Prediction {
  cond: Float32Array;
  /** Required when guidance != 1. */
  uncond?: Float32Array;
}

/**
 * The model call: flow prediction v at latent x and timestep t (integer-valued, in [0, T)).
 * `needUncond` is false when guidance == 1: the caller may then skip the unconditional branch.
 */
export type Predict = (x: Float32Array, timestep: number, step: number, needUncond: boolean) => Promise<Prediction>;

function checkSchedule(steps: number, shift: number, numTrainTimesteps: number): void {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`sampler: steps must be an integer >= 1, got ${steps}`);
  if (!(Number.isFinite(shift) && shift > 0)) throw new Error(`sampler: shift must be a positive number, got ${shift}`);
  if (!Number.isInteger(numTrainTimesteps) || numTrainTimesteps < 2) {
    throw new Error(`sampler: numTrainTimesteps must be an integer >= 2, got ${numTrainTimesteps}`);
  }
}

/** steps+1 decreasing sigmas, the last 0 (see the header for the exact recipe). */
export function flowSigmas(steps: number, shift: number, numTrainTimesteps = 1000): Float64Array {
  checkSchedule(steps, shift, numTrainTimesteps);
  const out = new Float64Array(steps + 1);
  // numpy.linspace(1, 1/T, steps+1): start + i*step with step = (stop - start)/steps, last = stop exactly.
  const start = 1, stop = 1 / numTrainTimesteps, delta = (stop - start) / steps;
  for (let i = 1; i <= steps; i++) {
    const alpha = i === steps ? stop : i * delta + start;
    const s = 1 - alpha;
    out[steps - i] = (shift * s) / (1 + (shift - 1) * s); // reversed: i = steps lands at index 0
  }
  out[steps] = 0;
  return out;
}

/** The model timestep of each of the first `steps` sigmas: trunc(sigma * T), as the reference's int64 cast. */
export function flowTimesteps(sigmas: Float64Array, numTrainTimesteps = 1000): Float64Array {
  return Float64Array.from(sigmas.subarray(0, sigmas.length - 1), (s) => Math.trunc(s * numTrainTimesteps));
}

/** v = v_uncond + g (v_cond - v_uncond), per element, into a new array. */
export function guide(p: Prediction, guidance: number, n: number, step: number): Float32Array {
  if (p.cond?.length !== n) throw new Error(`sampler step ${step}: model returned ${p.cond?.length} values for cond, latent has ${n}`);
  if (guidance === 1) return p.cond;
  const u = p.uncond;
  if (!u) throw new Error(`sampler step ${step}: guidance ${guidance} needs the unconditional prediction, got none`);
  if (u.length !== n) throw new Error(`sampler step ${step}: model returned ${u.length} values for uncond, latent has ${n}`);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = u[i] + guidance * (p.cond[i] - u[i]);
  return v;
}

const lambda = (sigma: number) => Math.log(1 - sigma) - Math.log(sigma);

/**
 * UniPC bh2 coefficients of one update from sigma s0 to sigma t (data prediction):
 * x_t = (t/s0) x - alpha_t hphi1 m0 - alpha_t B (sum_k rho_k D_k), with hh = -(lambda_t - lambda_s0),
 * hphi1 = B = expm1(hh). b1, b2 are the right-hand side of the order conditions R rho = b.
 */
function unipcCoeffs(s0: number, t: number) {
  const alphaT = 1 - t;
  if (t === 0) return { ratio: 0, alphaT, hphi1: -1, B: -1, b1: 1, b2: 0.5, h: Infinity }; // lambda_t = +inf
  const h = lambda(t) - lambda(s0);
  const hh = -h;
  const hphi1 = Math.expm1(hh);
  const B = hphi1;
  const phi1 = hphi1 / hh - 1; // h_phi_k for k = 1
  const b1 = phi1 / B;
  const phi2 = phi1 / hh - 1 / 2;
  const b2 = (phi2 * 2) / B;
  return { ratio: t / s0, alphaT, hphi1, B, b1, b2, h };
}

/** Seeded standard normal noise: a counter-based hash per element pair, then Box-Muller. */
export function gaussianNoise(shape: readonly number[], seed: number): Float32Array {
  const n = shape.reduce((a, d) => {
    if (!Number.isInteger(d) || d < 0) throw new Error(`gaussianNoise: shape must hold integers >= 0, got [${shape.join(", ")}]`);
    return a * d;
  }, 1);
  if (!Number.isSafeInteger(seed)) throw new Error(`gaussianNoise: seed must be a safe integer, got ${seed}`);
  const out = new Float32Array(n);
  const seedLo = seed >>> 0, seedHi = Math.floor(seed / 4294967296) >>> 0;
  const key = fmix32(seedLo ^ fmix32(seedHi + 0x9e3779b9));
  for (let pair = 0; 2 * pair < n; pair++) {
    const a = fmix32(key ^ fmix32(2 * pair + 0x632be5ab));
    const b = fmix32(key + 0x7f4a7c15 ^ fmix32(2 * pair + 1 + 0x632be5ab));
    const u1 = (a + 0.5) / 4294967296; // (0, 1): log finite
    const u2 = b / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u1));
    out[2 * pair] = r * Math.cos(2 * Math.PI * u2);
    if (2 * pair + 1 < n) out[2 * pair + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** MurmurHash3's 32-bit finalizer: a bijective avalanche on uint32. */
function fmix32(h: number): number {
  h >>>= 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function checkConfig(cfg: SamplerConfig): number {
  const T = cfg.numTrainTimesteps ?? 1000;
  checkSchedule(cfg.steps, cfg.shift, T);
  if (!Number.isFinite(cfg.guidance)) throw new Error(`sampler: guidance must be a number, got ${cfg.guidance}`);
  if (!SOLVERS.includes(cfg.solver)) throw new Error(`sampler: solver must be one of ${SOLVERS.join("|")}, got ${cfg.solver}`);
  const seeds = typeof cfg.noiseSeed === "number" ? [cfg.noiseSeed] : cfg.noiseSeed;
  if (cfg.solver === "lcm" && !(seeds?.length && seeds.every(Number.isSafeInteger))) {
    throw new Error(`sampler: solver lcm draws fresh noise at each step and needs noiseSeed (a safe integer, or one per item), got ${cfg.noiseSeed}`);
  }
  const sch = cfg.schedule;
  if (sch) {
    const { sigmas, timesteps } = sch;
    if (sigmas.length !== cfg.steps + 1 || timesteps.length !== cfg.steps) {
      throw new Error(`sampler: schedule has ${sigmas.length} sigmas and ${timesteps.length} timesteps, expected ${cfg.steps + 1} and ${cfg.steps} for ${cfg.steps} steps`);
    }
    if (sigmas[cfg.steps] !== 0 || sigmas.some((s, i) => !(s >= 0 && s <= 1) || (i > 0 && !(s < sigmas[i - 1])))) {
      throw new Error(`sampler: schedule sigmas must decrease within [0, 1] and end at 0, got [${sigmas.join(", ")}]`);
    }
    if (timesteps.some((t) => !Number.isFinite(t))) throw new Error(`sampler: schedule timesteps must be numbers, got [${timesteps.join(", ")}]`);
    if (cfg.solver === "unipc" && sigmas[0] >= 1) throw new Error(`sampler: unipc needs sigmas below 1 (it takes log(1 - sigma)); the schedule starts at ${sigmas[0]}: use euler or lcm`);
  }
  return T;
}

/** lcm's fresh noise after step `step` for a latent of n values: per seed, its equal part of the latent. */
export function stepNoise(noiseSeed: number | readonly number[], step: number, n: number): Float32Array {
  const seeds = typeof noiseSeed === "number" ? [noiseSeed] : noiseSeed;
  const part = n / seeds.length;
  if (!Number.isInteger(part)) throw new Error(`sampler: ${seeds.length} noise seeds do not split a latent of ${n} values into equal parts`);
  const e = new Float32Array(n);
  seeds.forEach((s, j) => e.set(gaussianNoise([part], stepNoiseSeed(s, step)), j * part));
  return e;
}

/** The seed of lcm's fresh noise after step `step`: above 2^32, so it never equals a seed of the initial noise below 2^32. */
export function stepNoiseSeed(noiseSeed: number, step: number): number {
  const lo = noiseSeed >>> 0, hi = Math.floor(noiseSeed / 4294967296) >>> 0;
  return (step + 1) * 4294967296 + (fmix32(lo ^ fmix32(hi + 0x51ed270b)) >>> 0);
}

/**
 * Runs the denoising loop from the initial noise x0 (left untouched) and returns the final latent.
 * onStep(step, x) sees the latent after each step (x is the sampler's buffer: copy it to keep it).
 */
export async function sample(
  x0: Float32Array,
  cfg: SamplerConfig,
  predict: Predict,
  onStep?: (step: number, x: Float32Array) => void,
): Promise<Float32Array> {
  const T = checkConfig(cfg);
  const n = x0.length;
  const items = typeof cfg.noiseSeed === "number" ? 1 : cfg.noiseSeed?.length ?? 1;
  if (cfg.solver === "lcm" && n % items) throw new Error(`sampler: ${items} noise seeds do not split a latent of ${n} values into equal parts`);
  const sigmas = cfg.schedule ? Float64Array.from(cfg.schedule.sigmas) : flowSigmas(cfg.steps, cfg.shift, T);
  const timesteps = cfg.schedule ? Float64Array.from(cfg.schedule.timesteps) : flowTimesteps(sigmas, T);
  const needUncond = cfg.guidance !== 1;
  let x = Float32Array.from(x0);

  const velocity = async (i: number) => guide(await predict(x, timesteps[i], i, needUncond), cfg.guidance, n, i);

  if (cfg.solver === "lcm") {
    for (let i = 0; i < cfg.steps; i++) {
      const v = await velocity(i);
      const s = sigmas[i], next = sigmas[i + 1];
      if (next === 0) {
        for (let k = 0; k < n; k++) x[k] = x[k] - s * v[k];
      } else {
        const e = stepNoise(cfg.noiseSeed!, i, n);
        for (let k = 0; k < n; k++) x[k] = (1 - next) * (x[k] - s * v[k]) + next * e[k];
      }
      onStep?.(i, x);
    }
    return x;
  }

  if (cfg.solver === "euler") {
    for (let i = 0; i < cfg.steps; i++) {
      const v = await velocity(i);
      const dt = sigmas[i + 1] - sigmas[i];
      for (let k = 0; k < n; k++) x[k] += dt * v[k];
      onStep?.(i, x);
    }
    return x;
  }

  // UniPC: m = x0 predictions (newest last), lastSample = x before the last predictor, lastOrder its order.
  let m0: Float32Array | null = null, m1: Float32Array | null = null;
  let lastSample: Float32Array | null = null;
  let lastOrder = 0;
  for (let i = 0; i < cfg.steps; i++) {
    const v = await velocity(i);
    const si = sigmas[i];
    const mt = new Float32Array(n); // x0 prediction at sigma_i, from the uncorrected sample
    for (let k = 0; k < n; k++) mt[k] = x[k] - si * v[k];

    if (i > 0 && lastSample && m0) {
      // UniC: correct the step sigma_{i-1} -> sigma_i with the new model output mt.
      const c = unipcCoeffs(sigmas[i - 1], si);
      const corrected = new Float32Array(n);
      if (lastOrder === 1) {
        const rho = 0.5; // the reference's simplified order-1 corrector
        for (let k = 0; k < n; k++) {
          const base = c.ratio * lastSample[k] - c.alphaT * c.hphi1 * m0[k];
          corrected[k] = base - c.alphaT * c.B * rho * (mt[k] - m0[k]);
        }
      } else {
        const r1 = (lambda(sigmas[i - 2]) - lambda(sigmas[i - 1])) / c.h;
        // R = [[1, 1], [r1, 1]], R rho = [b1, b2]
        const rho0 = (c.b1 - c.b2) / (1 - r1), rho1 = c.b1 - rho0;
        for (let k = 0; k < n; k++) {
          const base = c.ratio * lastSample[k] - c.alphaT * c.hphi1 * m0[k];
          const d1 = (m1![k] - m0[k]) / r1;
          corrected[k] = base - c.alphaT * c.B * (rho0 * d1 + rho1 * (mt[k] - m0[k]));
        }
      }
      x = corrected;
    }

    m1 = m0;
    m0 = mt;
    const order = Math.min(2, cfg.steps - i, i + 1); // lower_order_final, and warm-up for multistep
    lastSample = x;
    lastOrder = order;

    // UniP: predict sigma_{i+1} from sigma_i.
    const c = unipcCoeffs(si, sigmas[i + 1]);
    const next = new Float32Array(n);
    if (order === 1) {
      for (let k = 0; k < n; k++) next[k] = c.ratio * x[k] - c.alphaT * c.hphi1 * m0[k];
    } else {
      const r1 = (lambda(sigmas[i - 1]) - lambda(si)) / c.h;
      const rho = 0.5; // the reference's simplified order-2 predictor
      for (let k = 0; k < n; k++) {
        const d1 = (m1![k] - m0[k]) / r1;
        next[k] = c.ratio * x[k] - c.alphaT * c.hphi1 * m0[k] - c.alphaT * c.B * rho * d1;
      }
    }
    x = next;
    onStep?.(i, x);
  }
  return x;
}
