// The denoising loop over the sharded model: seeded noise, Wan's flow-matching sampler with
// classifier-free guidance, each model call one sharded forward through the WorkerPool. Shared by
// `shardit generate` (Deno) and the demo page (browser). The pool must already hold the weights.
import { type Grid3, gridSize } from "../shape.ts";
import type { WanConfig } from "../model/config.ts";
import type { DeviceStats } from "../parallel/messages.ts";
import { planShards, type ShardMode, type ShardPlan, tokenGridFromLatent } from "../parallel/plan.ts";
import { type ForwardRequest, PoolCancelled, type WorkerPool } from "../parallel/pool.ts";
import { flowSigmas, flowTimesteps, gaussianNoise, type SamplerConfig, sample } from "../sampler/flow_match.ts";
import { type CachePlan, fbCachePlan, magCachePlan, type StepCacheOptions, teaCacheInput, teaCachePlan } from "./step_cache.ts";

export interface GenerateOptions {
  /** The latent's F x H x W (its channels are the model's in_channels). */
  latent: Grid3;
  sampler: SamplerConfig;
  seed: number;
  mode: ShardMode;
  /** Per-device speed weights for sequence mode (of each group's devices with cfgParallel). */
  weights?: number[];
  /** Aborting it cancels the forward in progress (the devices stop at their next layer) and rejects with PoolCancelled. */
  signal?: AbortSignal;
  /**
   * For a model whose in_channels exceed its out_channels: the fixed channels [in - out, F, H, W] appended after the
   * sampled ones to every forward's input, as Wan's image-to-video model appends its image condition. The embedded
   * model's are its coordinate planes (pixels.ts coordinatePlanes). Called once with the latent's grid.
   */
  condition?: (latent: Grid3) => Float32Array;
  /**
   * CFG parallel: the devices split into two groups (the first ceil(N/2) and the rest), the conditional forward on
   * the first and the unconditional on the second at the same time, each sequence-sharded over its group; one
   * combine per step (the guidance, here). Needs guidance != 1 and at least 2 devices.
   */
  cfgParallel?: boolean;
  /**
   * Batched forwards (WanModel.forwardBatch): the model calls of a step (both CFG branches, every item) as one
   * forward over a batch, each weight read once for all. "auto" (default): when a batch's activation rows fit
   * one storage binding of device 0 (WebGPU reports no memory size; that is the hard limit). false: one forward
   * per call, as before. A number: at most that many calls per forward.
   */
  batch?: "auto" | boolean | number;
  /**
   * Several videos at once (batch > 1 serves them): one per seed or prompt (text keys set with setPrompts or
   * pool.setText; each item's negative prompt is `negativeKey`, default "negative"). Default: one item, opts.seed
   * and "prompt". GenerateResult.latents holds each item's latent.
   */
  items?: { seed: number; textKey: string; negativeKey?: string }[];
  /** Step caching (src/pipeline/step_cache.ts): TeaCache, MagCache or FBCache; off when absent. */
  cache?: StepCacheOptions;
}

export interface StepReport {
  step: number;
  steps: number;
  timestep: number;
  ms: number;
  /** Whether this step ran the transformer's blocks (false: a step cache reused the last computed step's residual). */
  computed: boolean;
  /** Per device: the sum over this step's forwards (conditional and unconditional). */
  perDevice: { device: number; ms: number; exchangeMs: number; exchangeWaitMs: number; tokens: number; padTokens: number; group?: number }[];
}

/** A device group of CFG parallel and what it ran. */
export interface DeviceGroup {
  branch: "cond" | "uncond";
  /** Pool device ids, in shard order. */
  devices: number[];
  plan: ShardPlan;
}

export interface GenerateResult {
  latent: Float32Array; // [C, F, H, W], C = the model's out_channels (the sampled channels); the first item's
  /** Every item's latent (opts.items), in order; [latent] for one item. */
  latents: Float32Array[];
  latentGrid: Grid3;
  /** The plan of the forwards (of the first group with cfgParallel). */
  plan: ShardPlan;
  /** The frame-mode plan of the same run, for the padding comparison. */
  framePlan: ShardPlan;
  /** CFG parallel's groups (absent without it). */
  groups?: DeviceGroup[];
  /** How many model calls each forward carried (1: no batching). */
  batch: number;
  /** Step caching: the plan, and how many steps ran the blocks and how many reused the cache. */
  cache?: CachePlan & { computed: number; skipped: number };
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

/** The two groups of CFG parallel over `devices` devices: the first ceil(N/2) run the conditional branch. */
export function cfgGroups(devices: number): [number[], number[]] {
  if (devices < 2) throw new Error(`--cfg-parallel needs at least 2 devices (one group per branch), got ${devices}`);
  const a = Math.ceil(devices / 2);
  return [Array.from({ length: a }, (_, i) => i), Array.from({ length: devices - a }, (_, i) => a + i)];
}

/** One model call of a step: item `item`'s conditional or unconditional branch. */
interface Call {
  item: number;
  branch: 0 | 1;
  textKey: string;
}

export async function generate(
  pool: WorkerPool,
  cfg: WanConfig,
  opts: GenerateOptions,
  onStep?: (report: StepReport, latent: Float32Array) => void,
): Promise<GenerateResult> {
  const grid = tokenGridFromLatent(opts.latent);
  const guided = opts.sampler.guidance !== 1;
  if (opts.cfgParallel && !guided) throw new Error("generate: cfgParallel needs guidance != 1 (with guidance 1 there is no unconditional branch to run beside the conditional)");
  const groupDevices = opts.cfgParallel ? cfgGroups(pool.devices) : [Array.from({ length: pool.devices }, (_, i) => i)];
  const plans = groupDevices.map((g) => planShards(grid, g.length, opts.mode, opts.mode === "sequence" ? opts.weights?.slice(g[0], g[0] + g.length) : undefined));
  const plan = plans[0];
  const framePlan = planShards(grid, pool.devices, "frame");
  const latentGrid: Grid3 = { F: opts.latent.F, H: opts.latent.H, W: opts.latent.W };
  const condition = conditionChannels(cfg, latentGrid, opts.condition);
  const items = opts.items ?? [{ seed: opts.seed, textKey: "prompt" }];
  if (items.length < 1) throw new Error("generate: items is empty");
  const cells = cfg.outChannels * gridSize(latentGrid);
  // The items' latents side by side: the sampler is element-wise, so one sample() over all of them equals one per item.
  const x0 = new Float32Array(items.length * cells);
  items.forEach((it, i) => x0.set(gaussianNoise([cfg.outChannels, latentGrid.F, latentGrid.H, latentGrid.W], it.seed), i * cells));

  // Each group's calls per step: with CFG parallel the first group runs every item's conditional branch, the
  // second every unconditional one; otherwise one group runs them all (cond then uncond per item, as before).
  const cond: Call[] = items.map((it, i) => ({ item: i, branch: 0, textKey: it.textKey }));
  const uncond: Call[] = guided ? items.map((it, i) => ({ item: i, branch: 1, textKey: it.negativeKey ?? "negative" })) : [];
  const groupCalls: Call[][] = opts.cfgParallel ? [cond, uncond] : [items.flatMap((_, i) => guided ? [cond[i], uncond[i]] : [cond[i]])];
  const batch = batchSize(pool, cfg, plans, groupCalls, opts.batch ?? "auto");
  // The forwards of one step: round r runs each group's r-th batch (the groups at the same time).
  const batches = groupCalls.map((calls) => chunk(calls, batch));
  const rounds = Math.max(...batches.map((b) => b.length));

  const cachePlan = opts.cache ? await planCache(pool, cfg, opts.sampler, opts.cache, guided) : undefined;
  // FBCache decides inside each forward, over every model call of the step at once: they must share one forward.
  const firstBlock = cachePlan?.kind === "fbcache" && !opts.cache?.compute;
  if (firstBlock && rounds > 1) {
    throw new Error(`generate: --cache fbcache decides each step over all its ${groupCalls.flat().length} model calls together, so they must run as one forward; this run splits them into ${rounds} (batch ${batch}): use --batch auto or on (or --cfg-parallel)`);
  }
  const steps: StepReport[] = [];
  const t0 = performance.now();
  let stepStart = performance.now();
  let stepStats: { group: number; stats: DeviceStats[] }[] = [];
  let lastTimestep = 0;
  let lastComputed = true;

  const { signal } = opts;
  const cancel = () => pool.cancel(CANCELLED_MESSAGE);
  signal?.addEventListener("abort", cancel);
  const predict = async (x: Float32Array, timestep: number, step: number) => {
    lastTimestep = timestep;
    let computed = cachePlan && !firstBlock ? cachePlan.compute[step] : true;
    const cacheMode = (): ForwardRequest["cache"] =>
      firstBlock ? { key: "", mode: "first-block", threshold: cachePlan!.threshold } : { key: "", mode: computed ? "store" : "reuse" };
    const outs: (Float32Array | undefined)[][] = items.map(() => []); // [item][0 cond, 1 uncond]
    for (let r = 0; r < rounds; r++) {
      throwIfCancelled(signal, CANCELLED_MESSAGE);
      const reqs: ForwardRequest[] = [];
      const parts: { group: number; calls: Call[] }[] = [];
      batches.forEach((b, g) => {
        const calls = b[r];
        if (!calls) return;
        const latent = new Float32Array(calls.length * cfg.inChannels * gridSize(latentGrid));
        calls.forEach((c, k) => {
          const xi = x.subarray(c.item * cells, (c.item + 1) * cells);
          latent.set(condition ? concatChannels(xi, condition) : xi, k * cfg.inChannels * gridSize(latentGrid));
        });
        reqs.push({
          latent,
          latentGrid,
          timestep,
          textKeys: calls.map((c) => c.textKey),
          plan: plans[g],
          devices: groupDevices[g],
          cache: cachePlan ? { ...cacheMode()!, key: `g${g}r${r}` } : undefined,
        });
        parts.push({ group: g, calls });
      });
      const results = await pool.forwardMany(reqs);
      if (firstBlock) {
        // Every device decided the same (the same sums in the same order); a disagreement is a bug, not a tolerance.
        const all = results.flatMap((res) => res.stats.map((st) => st.firstBlock));
        const d = all[0];
        if (!d || all.some((o) => o?.compute !== d.compute)) throw new Error(`generate: the devices' first-block cache decisions of step ${step} differ: ${JSON.stringify(all)}`);
        computed = d.compute;
        cachePlan!.compute[step] = d.compute;
        cachePlan!.distances![step] = d.distance;
      }
      results.forEach((res, j) => {
        const { group, calls } = parts[j];
        stepStats.push({ group, stats: res.stats });
        calls.forEach((c, k) => (outs[c.item][c.branch] = res.out.subarray(k * cells, (k + 1) * cells)));
      });
    }
    lastComputed = computed;
    return outs;
  };
  const latent = await sample(
    x0,
    { ...opts.sampler, noiseSeed: items.map((it) => it.seed) }, // lcm's fresh noise: each item's own, as if sampled alone
    async (x, timestep, step) => {
      const outs = await predict(x, timestep, step);
      const join = (b: number) => {
        const v = new Float32Array(items.length * cells);
        outs.forEach((o, i) => v.set(o[b]!, i * cells));
        return v;
      };
      return { cond: join(0), uncond: guided ? join(1) : undefined };
    },
    (step, x) => {
      const perDevice: StepReport["perDevice"] = [];
      groupDevices.forEach((devices, g) =>
        plans[g].shards.forEach((s, rank) => {
          const mine = stepStats.filter((st) => st.group === g).map((st) => st.stats[rank]);
          perDevice.push({
            device: devices[rank],
            ms: mine.reduce((a, st) => a + st.ms, 0),
            exchangeMs: mine.reduce((a, st) => a + st.exchangeMs, 0),
            exchangeWaitMs: mine.reduce((a, st) => a + st.exchangeWaitMs, 0),
            tokens: s.count - s.padTokens,
            padTokens: s.padTokens,
            ...(opts.cfgParallel ? { group: g } : {}),
          });
        })
      );
      const report: StepReport = { step, steps: opts.sampler.steps, timestep: lastTimestep, ms: performance.now() - stepStart, computed: lastComputed, perDevice };
      steps.push(report);
      onStep?.(report, items.length === 1 ? x : x.subarray(0, cells));
      stepStats = [];
      stepStart = performance.now();
    },
  ).finally(() => signal?.removeEventListener("abort", cancel));
  if (cachePlan) await pool.clearStepCache();
  const latents = items.map((_, i) => latent.slice(i * cells, (i + 1) * cells));
  const computedSteps = cachePlan ? cachePlan.compute.filter(Boolean).length : opts.sampler.steps;
  return {
    latent: latents[0],
    latents,
    latentGrid,
    plan,
    framePlan,
    groups: opts.cfgParallel ? groupDevices.map((devices, g) => ({ branch: g === 0 ? "cond" : "uncond", devices, plan: plans[g] })) : undefined,
    batch,
    cache: cachePlan && { ...cachePlan, computed: computedSteps, skipped: opts.sampler.steps - computedSteps },
    steps,
    ms: performance.now() - t0,
  };
}

/** calls split into runs of at most `size`. */
function chunk<T>(calls: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < calls.length; i += size) out.push(calls.slice(i, i + size));
  return out;
}

/**
 * How many model calls one forward carries. "auto": all of a group's calls, as many as fit: a batch's
 * activation rows [B * tokens, d] (the largest shard's, rounded up for alignment) must fit one storage binding
 * of device 0 (the model splits only the feed-forward's wider rows into chunks).
 */
function batchSize(pool: WorkerPool, cfg: WanConfig, plans: ShardPlan[], groupCalls: Call[][], batch: "auto" | boolean | number): number {
  const most = Math.max(...groupCalls.map((c) => c.length));
  if (batch === false) return 1;
  if (typeof batch === "number") {
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`generate: batch must be an integer >= 1, got ${batch}`);
    return Math.min(batch, most);
  }
  if (batch === true) return most;
  const limits = pool.describe(0).limits as Record<string, number> | undefined;
  const binding = limits?.maxStorageBufferBindingSize ?? 128 << 20;
  const rowBytes = cfg.dim * (pool.opts.precision === "f16" ? 2 : 4);
  const largest = Math.max(...plans.flatMap((p) => p.shards.map((s) => s.count))) + 256; // + the alignment padding
  return Math.max(1, Math.min(most, Math.floor(binding / (largest * rowBytes))));
}

/** The step-cache plan of a run: TeaCache from the devices' timestep modulation, MagCache from its calibration. */
async function planCache(pool: WorkerPool, cfg: WanConfig, sampler: SamplerConfig, cache: StepCacheOptions, guided: boolean): Promise<CachePlan> {
  if (cache.compute) {
    if (cache.compute.length !== sampler.steps || !cache.compute[0]) throw new Error(`generate: an explicit cache plan needs one entry per step (${sampler.steps}), the first true; got [${cache.compute}]`);
    return { kind: cache.kind, threshold: cache.threshold ?? NaN, calibration: "an explicit plan (GenerateOptions.cache.compute)", compute: [...cache.compute] };
  }
  if (cache.kind === "magcache") return magCachePlan(sampler.steps, cfg.dim, guided ? 2 : 1, cache.threshold);
  if (cache.kind === "fbcache") return fbCachePlan(cache.threshold);
  const T = sampler.numTrainTimesteps ?? 1000;
  // The timesteps the model will see: a preset's explicit schedule (src/sampler/presets.ts), else the shifted one.
  const timesteps = sampler.schedule ? [...sampler.schedule.timesteps] : Array.from(flowTimesteps(flowSigmas(sampler.steps, sampler.shift, T), T));
  const e = await pool.timeEmbeddings(timesteps);
  const input = teaCacheInput(cfg.dim);
  const width = input === "proj" ? 6 * cfg.dim : cfg.dim;
  const values = input === "proj" ? e.proj : e.temb;
  return teaCachePlan(sampler.steps, cfg.dim, (i) => values.subarray(i * width, (i + 1) * width), cache.threshold);
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
