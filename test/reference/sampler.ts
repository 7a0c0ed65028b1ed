// Float64 reference of the flow-matching sampler (src/sampler/flow_match.ts), written separately from it:
// the schedule straight from its formula, and UniPC as the scheduler's state machine (convert, UniC,
// UniP with history lists and a general-order linear solve of R rho = b), the way
// FlowUniPCMultistepScheduler.step is organised, instead of the closed-form order-2 coefficients of the
// implementation. Everything stays Float64 (no f32 rounding of the latent between steps).

export interface SamplerRefConfig {
  steps: number;
  shift: number;
  guidance: number;
  /** "lcm" (few-step presets) is transcribed in test/sampler/presets.test.ts; here it is refused. */
  solver: "euler" | "unipc" | "lcm";
  numTrainTimesteps?: number;
  /** UniPC order (the implementation is fixed at 2; the reference takes any). */
  order?: number;
}

export type PredictRef = (x: Float64Array, timestep: number, step: number) => { cond: Float64Array; uncond?: Float64Array };

/** sigma_i = shift(s) for s = (1 - 1/T) (steps - i) / steps, i < steps; then 0. */
export function flowSigmasRef(steps: number, shift: number, T = 1000): Float64Array {
  const out = new Float64Array(steps + 1);
  for (let i = 0; i < steps; i++) {
    const s = (1 - 1 / T) * (steps - i) / steps;
    out[i] = shift * s / (1 + (shift - 1) * s);
  }
  return out;
}

/**
 * Model timesteps trunc(sigma * T), with sigma in numpy's linspace arithmetic (alpha_i = 1 + i*(1/T - 1)/steps)
 * as the reference scheduler computes it: truncation is sensitive to the last ulp (333 vs 332.99999999999994).
 */
export function flowTimestepsRef(steps: number, shift: number, T = 1000): number[] {
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const j = steps - i; // index into the unflipped linspace
    const alpha = j === steps ? 1 / T : 1 + j * ((1 / T - 1) / steps);
    const s = 1 - alpha;
    out.push(Math.trunc((shift * s / (1 + (shift - 1) * s)) * T));
  }
  return out;
}

/** Solves A x = b (dense, partial pivoting). */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c];
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  const x = new Array(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r][n];
    for (let k = r + 1; k < n; k++) s -= M[r][k] * x[k];
    x[r] = s / M[r][r];
  }
  return x;
}

export function sampleRef(x0: ArrayLike<number>, cfg: SamplerRefConfig, predict: PredictRef): Float64Array {
  if (cfg.solver === "lcm") throw new Error("sampleRef: lcm is transcribed in test/sampler/presets.test.ts, not here");
  const T = cfg.numTrainTimesteps ?? 1000;
  const sig = flowSigmasRef(cfg.steps, cfg.shift, T);
  const timesteps = flowTimestepsRef(cfg.steps, cfg.shift, T);
  const n = x0.length;
  let x: Float64Array = Float64Array.from(x0);
  const model = (i: number): Float64Array => {
    const p = predict(x, timesteps[i], i);
    if (cfg.guidance === 1) return p.cond;
    return p.cond.map((c, k) => p.uncond![k] + cfg.guidance * (c - p.uncond![k]));
  };

  if (cfg.solver === "euler") {
    for (let i = 0; i < cfg.steps; i++) {
      const v = model(i);
      x = x.map((xk, k) => xk + (sig[i + 1] - sig[i]) * v[k]);
    }
    return x;
  }

  const solverOrder = cfg.order ?? 2;
  const alphaOf = (s: number) => 1 - s;
  const lam = (s: number) => Math.log(alphaOf(s)) - Math.log(s);
  const outputs: Float64Array[] = []; // converted model outputs (x0 predictions), newest last
  let lastSample: Float64Array | null = null;
  let thisOrder = 0;
  let lowerOrderNums = 0;

  // Shared by UniP and UniC: R (order x order) and b of the bh2 order conditions.
  const system = (h: number, rks: number[], order: number) => {
    const hh = -h;
    const hPhi1 = Math.expm1(hh);
    const Bh = Math.expm1(hh);
    let hPhiK = hPhi1 / hh - 1;
    let fact = 1;
    const R: number[][] = [], b: number[] = [];
    for (let k = 1; k <= order; k++) {
      R.push(rks.map((r) => r ** (k - 1)));
      b.push(hPhiK * fact / Bh);
      fact *= k + 1;
      hPhiK = hPhiK / hh - 1 / fact;
    }
    return { hPhi1, Bh, R, b };
  };

  // UniP from sigma[idx] to sigma[idx+1] with the last `order` outputs.
  const predictor = (idx: number, sample: Float64Array, order: number): Float64Array => {
    const sT = sig[idx + 1], sS0 = sig[idx];
    const m0 = outputs[outputs.length - 1];
    if (sT === 0) return Float64Array.from(m0); // lambda_t = +inf: the update is x0 itself
    const h = lam(sT) - lam(sS0);
    const rks: number[] = [], D1s: Float64Array[] = [];
    for (let j = 1; j < order; j++) {
      const rk = (lam(sig[idx - j]) - lam(sS0)) / h;
      const mj = outputs[outputs.length - 1 - j];
      rks.push(rk);
      D1s.push(mj.map((v, k) => (v - m0[k]) / rk));
    }
    rks.push(1);
    const { hPhi1, Bh, R, b } = system(h, rks, order);
    let rhos: number[] = [];
    if (D1s.length) rhos = order === 2 ? [0.5] : solve(R.slice(0, -1).map((r) => r.slice(0, -1)), b.slice(0, -1));
    const aT = alphaOf(sT);
    return sample.map((xk, k) => {
      let res = 0;
      for (let j = 0; j < D1s.length; j++) res += rhos[j] * D1s[j][k];
      return (sT / sS0) * xk - aT * hPhi1 * m0[k] - aT * Bh * res;
    });
  };

  // UniC of the step sigma[idx-1] -> sigma[idx], given the new output modelT at sigma[idx].
  const corrector = (idx: number, modelT: Float64Array, last: Float64Array, order: number): Float64Array => {
    const sT = sig[idx], sS0 = sig[idx - 1];
    const m0 = outputs[outputs.length - 1];
    const h = lam(sT) - lam(sS0);
    const rks: number[] = [], D1s: Float64Array[] = [];
    for (let j = 1; j < order; j++) {
      const rk = (lam(sig[idx - 1 - j]) - lam(sS0)) / h;
      const mj = outputs[outputs.length - 1 - j];
      rks.push(rk);
      D1s.push(mj.map((v, k) => (v - m0[k]) / rk));
    }
    rks.push(1);
    const { hPhi1, Bh, R, b } = system(h, rks, order);
    const rhos = order === 1 ? [0.5] : solve(R, b);
    const aT = alphaOf(sT);
    return last.map((xk, k) => {
      let res = 0;
      for (let j = 0; j < D1s.length; j++) res += rhos[j] * D1s[j][k];
      res += rhos[rhos.length - 1] * (modelT[k] - m0[k]);
      return (sT / sS0) * xk - aT * hPhi1 * m0[k] - aT * Bh * res;
    });
  };

  for (let i = 0; i < cfg.steps; i++) {
    const v = model(i);
    const converted = x.map((xk, k) => xk - sig[i] * v[k]);
    if (i > 0 && lastSample) x = corrector(i, converted, lastSample, thisOrder);
    outputs.push(converted);
    if (outputs.length > solverOrder) outputs.shift();
    thisOrder = Math.min(solverOrder, cfg.steps - i, lowerOrderNums + 1);
    lastSample = x;
    x = predictor(i, x, thisOrder);
    if (lowerOrderNums < solverOrder) lowerOrderNums++;
  }
  return x;
}
