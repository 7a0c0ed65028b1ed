// The denoising loop over the sharded model: seeded noise, Wan's flow-matching sampler with
// classifier-free guidance, each model call one sharded forward through the WorkerPool. Shared by
// `shardit generate` (Deno) and the demo page (browser). The pool must already hold the weights.
import type { Grid3 } from "../shape.ts";
import type { WanConfig } from "../model/config.ts";
import type { DeviceStats } from "../parallel/messages.ts";
import { planShards, type ShardMode, type ShardPlan, tokenGridFromLatent } from "../parallel/plan.ts";
import { PoolCancelled, type WorkerPool } from "../parallel/pool.ts";
import { gaussianNoise, type SamplerConfig, sample } from "../sampler/flow_match.ts";

export interface GenerateOptions {
  /** The latent's F x H x W (its channels are the model's in_channels). */
  latent: Grid3;
  sampler: SamplerConfig;
  seed: number;
  mode: ShardMode;
  /** Per-device speed weights for sequence mode. */
  weights?: number[];
  /** Aborting it cancels the forward in progress (the devices stop at their next layer) and rejects with PoolCancelled. */
  signal?: AbortSignal;
  /**
   * For a model whose in_channels exceed its out_channels: the fixed channels [in - out, F, H, W] appended after the
   * sampled ones to every forward's input, as Wan's image-to-video model appends its image condition. The embedded
   * model's are its coordinate planes (pixels.ts coordinatePlanes). Called once with the latent's grid.
   */
  condition?: (latent: Grid3) => Float32Array;
}

export interface StepReport {
  step: number;
  steps: number;
  timestep: number;
  ms: number;
  /** Per device: the sum over this step's forwards (conditional and unconditional). */
  perDevice: { device: number; ms: number; exchangeMs: number; exchangeWaitMs: number; tokens: number; padTokens: number }[];
}

export interface GenerateResult {
  latent: Float32Array; // [C, F, H, W], C = the model's out_channels (the sampled channels)
  latentGrid: Grid3;
  plan: ShardPlan;
  /** The frame-mode plan of the same run, for the padding comparison. */
  framePlan: ShardPlan;
  steps: StepReport[];
  ms: number;
}

/** Encodes the prompt (and the negative prompt when guidance != 1) on every device. */
export async function setPrompts(pool: WorkerPool, text: Float32Array, negativeText: Float32Array | null, textTokens: number, negativeTokens = textTokens): Promise<void> {
  await pool.setText("prompt", text, textTokens);
  if (negativeText) await pool.setText("negative", negativeText, negativeTokens);
}

const CANCELLED_MESSAGE = "generation cancelled";

/** Throws PoolCancelled when `signal` is aborted: between steps that cannot be interrupted (loading, prompts). */
export function throwIfCancelled(signal: AbortSignal | undefined, message = "cancelled"): void {
  if (signal?.aborted) throw new PoolCancelled(message);
}

export async function generate(
  pool: WorkerPool,
  cfg: WanConfig,
  opts: GenerateOptions,
  onStep?: (report: StepReport, latent: Float32Array) => void,
): Promise<GenerateResult> {
  const grid = tokenGridFromLatent(opts.latent);
  const plan = planShards(grid, pool.devices, opts.mode, opts.mode === "sequence" ? opts.weights : undefined);
  const framePlan = planShards(grid, pool.devices, "frame");
  const latentGrid: Grid3 = { F: opts.latent.F, H: opts.latent.H, W: opts.latent.W };
  const condition = conditionChannels(cfg, latentGrid, opts.condition);
  const x0 = gaussianNoise([cfg.outChannels, latentGrid.F, latentGrid.H, latentGrid.W], opts.seed);
  const steps: StepReport[] = [];
  const t0 = performance.now();
  let stepStart = performance.now();
  let stepStats: DeviceStats[][] = [];
  let lastTimestep = 0;

  const { signal } = opts;
  const forward = async (x: Float32Array, timestep: number, textKey: string) => {
    throwIfCancelled(signal, CANCELLED_MESSAGE);
    const r = await pool.forward({ latent: condition ? concatChannels(x, condition) : x, latentGrid, timestep, textKey, plan });
    stepStats.push(r.stats);
    return r.out;
  };
  const cancel = () => pool.cancel(CANCELLED_MESSAGE);
  signal?.addEventListener("abort", cancel);
  const latent = await sample(
    x0,
    opts.sampler,
    async (x, timestep, _step, needUncond) => {
      lastTimestep = timestep;
      const cond = await forward(x, timestep, "prompt");
      const uncond = needUncond ? await forward(x, timestep, "negative") : undefined;
      return { cond, uncond };
    },
    (step, x) => {
      const report: StepReport = {
        step,
        steps: opts.sampler.steps,
        timestep: lastTimestep,
        ms: performance.now() - stepStart,
        perDevice: plan.shards.map((s) => ({
          device: s.device,
          ms: stepStats.reduce((a, st) => a + st[s.device].ms, 0),
          exchangeMs: stepStats.reduce((a, st) => a + st[s.device].exchangeMs, 0),
          exchangeWaitMs: stepStats.reduce((a, st) => a + st[s.device].exchangeWaitMs, 0),
          tokens: s.count - s.padTokens,
          padTokens: s.padTokens,
        })),
      };
      steps.push(report);
      onStep?.(report, x);
      stepStats = [];
      stepStart = performance.now();
    },
  ).finally(() => signal?.removeEventListener("abort", cancel));
  return { latent, latentGrid, plan, framePlan, steps, ms: performance.now() - t0 };
}

/** The condition channels of opts.condition, checked against the model's in_channels - out_channels; null when there are none. */
function conditionChannels(cfg: WanConfig, grid: Grid3, condition: GenerateOptions["condition"]): Float32Array | null {
  const extra = cfg.inChannels - cfg.outChannels;
  const cells = grid.F * grid.H * grid.W;
  if (extra < 0) throw new Error(`generate needs in_channels >= out_channels, the model has ${cfg.inChannels} -> ${cfg.outChannels}`);
  if (extra === 0) {
    if (condition) throw new Error(`generate: a condition was given, but the model's in_channels equal its out_channels (${cfg.inChannels}): it takes none`);
    return null;
  }
  if (!condition) throw new Error(`generate: the model takes ${cfg.inChannels} input channels for ${cfg.outChannels} output channels: the ${extra} condition channels are missing (GenerateOptions.condition)`);
  const c = condition(grid);
  if (c.length !== extra * cells) throw new Error(`generate: the condition has ${c.length} values, expected [${extra}, ${grid.F}, ${grid.H}, ${grid.W}] = ${extra * cells}`);
  return c;
}

/** [a channels..., b channels...] of two channel-major tensors over the same grid. */
function concatChannels(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
