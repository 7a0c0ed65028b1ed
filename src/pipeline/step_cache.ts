// Step caching: which denoising steps run the transformer's blocks and which reuse the residual of the
// last computed step (h_out - h_in of the blocks, kept per branch on every device: WanModel.forwardBatch's
// BlockCache). Pure functions of the schedule, decided once on the coordinator before the loop, so the
// decision is the same on every device and shard by construction, and both CFG branches decide together.
//
// - TeaCache (ali-vilab/TeaCache, TeaCache4Wan2.1/teacache_generate.py; SGLang's configs/sample/wan.py and
//   LightX2V carry the same numbers). Its input is the timestep modulation, not the latent: with
//   use_ret_steps ("ret" form) e0 = time_projection(SiLU(temb)) [6, d] (our TimeState.proj), else ("plain")
//   e = temb [1, d]. Per step: rel = mean|e_i - e_{i-1}| / mean|e_{i-1}|, acc += poly(rel) (numpy poly1d,
//   highest power first); the step is computed (and acc reset) when acc >= threshold, inside the first
//   `retSteps` steps and from `cutoff` on; the previous e is updated every step, computed or not. The
//   reference keeps even/odd (cond/uncond) accumulators, but their inputs are the same e, so they agree.
//   Since e does not depend on the latent or the text, no reduction over shards is needed at all.
//   Wan2.1 T2V 1.3B (ret form, 5 ret steps, no cutoff): [-5.21862437e4, 9.23041404e3, -5.28275948e2,
//   1.36987616e1, -4.99875664e-2], threshold 0.08 (DESIGN.md (shared/docs, not in this repo)); 14B (plain form, 1 ret step, last step
//   computed): [-5784.54975374, 5449.50911966, -1811.16591783, 256.27178429, -13.02252404], threshold 0.20.
// - MagCache (Zehong-Ma/MagCache, MagCache4Wan2.1/magcache_generate.py; threshold 0.12, K = 2 skips at most
//   in a row, retention ratio 0.2 of the steps always computed): a calibrated magnitude ratio per step and
//   branch (Wan2.1 T2V 1.3B and 14B at 50 steps, nearest-interpolated to other step counts as the reference
//   does); skipping step i multiplies the accumulated ratio by ratio_i and adds |1 - accumulated ratio| to the
//   error; skip while error < threshold and skipped steps <= K. The reference decides cond and uncond apart;
//   here both branches decide together: a step is skipped only when both would skip, and both reset when
//   either computes (at most as many skips as the stricter branch; the ratios differ in the 4th decimal).
// - FBCache (diffusers' FirstBlockCache, src/diffusers/hooks/first_block_cache.py; ParaAttention's First Block
//   Cache before it): decided at run time, inside each forward. Block 0 always runs; its residual r0 = h1 - h0
//   is compared with r0 of the last *computed* step by the relative L1 distance mean|r0 - r0_prev| / mean|r0_prev|;
//   above the threshold (diffusers' default 0.05) blocks 1.. run and their residual h_out - h1 is kept (and r0
//   becomes the new r0_prev), else h = h1 + the kept residual. The first step always computes. Sharded: each
//   device sums |r0 - r0_prev| and |r0_prev| over its real tokens on the GPU (ops/abs_diff_sum.ts) and the sums
//   are added over every device of the forward, both CFG branches and every batch item included, in Float64 in
//   one order on every device (src/parallel/first_block_cache.ts): one decision for all, as one tensor
//   holding the whole batch gives in diffusers. (diffusers' Wan pipeline runs cond and uncond under separate
//   cache contexts, each deciding alone; here they decide together, as the issue asks.) Every model call of a
//   step must then be in one forward (one round: batched, or --cfg-parallel).
//
// A model whose width matches neither 1.3B (d = 1536) nor 14B (d = 5120) has no published calibration: the
// plan says so (`calibration`), and uses 1.3B's numbers (the embedded model, the test fixtures).

export type CacheKind = "teacache" | "magcache" | "fbcache";
export const CACHE_KINDS: readonly CacheKind[] = ["teacache", "magcache", "fbcache"];
/** diffusers' FirstBlockCacheConfig.threshold default. */
export const FBCACHE_DEFAULT_THRESHOLD = 0.05;

export interface StepCacheOptions {
  kind: CacheKind;
  /** TeaCache: the accumulated rescaled distance; MagCache: the accumulated error; FBCache: the relative L1
   * distance of block 0's residual. Default: the published one. 0 computes every step (FBCache: unless block 0's
   * residual did not change at all). */
  threshold?: number;
  /**
   * An explicit plan instead of the kind's decision (benches timing computed and cached steps, tests): per step,
   * run the blocks (true) or reuse the cache (false); step 0 must compute.
   */
  compute?: boolean[];
}

export interface CachePlan {
  kind: CacheKind;
  threshold: number;
  /** Whose published numbers the plan uses, and whether they are this model's ("1.3B", or "1.3B (no calibration for d = 96)"). */
  calibration: string;
  /** Per step: run the blocks (true) or reuse the last computed step's residual (false). Step 0 always computes.
   * FBCache: filled in as the steps run (decided inside each forward). */
  compute: boolean[];
  /** FBCache: per step, the relative L1 distance of block 0's residual to the last computed step's (NaN at step 0). */
  distances?: number[];
}

interface TeaCacheCalibration {
  form: "ret" | "plain";
  coefficients: number[];
  threshold: number;
}

export const TEACACHE_WAN21: Record<"1.3B" | "14B", TeaCacheCalibration> = {
  "1.3B": { form: "ret", coefficients: [-5.21862437e+04, 9.23041404e+03, -5.28275948e+02, 1.36987616e+01, -4.99875664e-02], threshold: 0.08 },
  "14B": { form: "plain", coefficients: [-5784.54975374, 5449.50911966, -1811.16591783, 256.27178429, -13.02252404], threshold: 0.20 },
};

/** MagCache4Wan2.1's T2V ratios at 50 steps, cond and uncond interleaved, after the reference's [1, 1] padding for step 0. */
const MAG_RATIOS_WAN21: Record<"1.3B" | "14B", number[]> = {
  "1.3B": [1.0, 1.0, 1.0124, 1.02213, 1.00166, 1.0041, 0.99791, 1.00061, 0.99682, 0.99762, 0.99634, 0.99685, 0.99567, 0.99586, 0.99416, 0.99422, 0.99578, 0.99575, 0.9957, 0.99563, 0.99511, 0.99506, 0.99535, 0.99531, 0.99552, 0.99549, 0.99541, 0.99539, 0.9954, 0.99536, 0.99489, 0.99485, 0.99518, 0.99514, 0.99484, 0.99478, 0.99481, 0.99479, 0.99415, 0.99413, 0.99419, 0.99416, 0.99396, 0.99393, 0.99388, 0.99386, 0.99349, 0.99349, 0.99309, 0.99304, 0.9927, 0.9927, 0.99228, 0.99226, 0.99171, 0.9917, 0.99137, 0.99135, 0.99068, 0.99063, 0.99005, 0.99003, 0.98944, 0.98942, 0.98849, 0.98849, 0.98758, 0.98757, 0.98644, 0.98643, 0.98504, 0.98503, 0.9836, 0.98359, 0.98202, 0.98201, 0.97977, 0.97978, 0.97717, 0.97718, 0.9741, 0.97411, 0.97003, 0.97002, 0.96538, 0.96541, 0.9593, 0.95933, 0.95086, 0.95089, 0.94013, 0.94019, 0.92402, 0.92414, 0.90241, 0.9026, 0.86821, 0.86868, 0.81838, 0.81939],
  "14B": [1.0, 1.0, 1.02504, 1.03017, 1.00025, 1.00251, 0.9985, 0.99962, 0.99779, 0.99771, 0.9966, 0.99658, 0.99482, 0.99476, 0.99467, 0.99451, 0.99664, 0.99656, 0.99434, 0.99431, 0.99533, 0.99545, 0.99468, 0.99465, 0.99438, 0.99434, 0.99516, 0.99517, 0.99384, 0.9938, 0.99404, 0.99401, 0.99517, 0.99516, 0.99409, 0.99408, 0.99428, 0.99426, 0.99347, 0.99343, 0.99418, 0.99416, 0.99271, 0.99269, 0.99313, 0.99311, 0.99215, 0.99215, 0.99218, 0.99215, 0.99216, 0.99217, 0.99163, 0.99161, 0.99138, 0.99135, 0.98982, 0.9898, 0.98996, 0.98995, 0.9887, 0.98866, 0.98772, 0.9877, 0.98767, 0.98765, 0.98573, 0.9857, 0.98501, 0.98498, 0.9838, 0.98376, 0.98177, 0.98173, 0.98037, 0.98035, 0.97678, 0.97677, 0.97546, 0.97543, 0.97184, 0.97183, 0.96711, 0.96708, 0.96349, 0.96345, 0.95629, 0.95625, 0.94926, 0.94929, 0.93964, 0.93961, 0.92511, 0.92504, 0.90693, 0.90678, 0.8796, 0.87945, 0.86111, 0.86189],
};
export const MAGCACHE_DEFAULTS = { threshold: 0.12, maxSkips: 2, retention: 0.2 };

/** `teacache`, `teacache:0.05`, `magcache`, `magcache:0.1`, `fbcache`, `fbcache:0.08` -> options; anything else is one clear error. */
export function parseCacheSpec(spec: string): StepCacheOptions {
  const [kind, value, ...rest] = spec.split(":");
  if (!CACHE_KINDS.includes(kind as CacheKind) || rest.length) {
    throw new Error(`--cache must be ${CACHE_KINDS.map((k) => `${k}[:THRESHOLD]`).join(" or ")} (or off), got "${spec}"`);
  }
  if (value === undefined) return { kind: kind as CacheKind };
  const threshold = Number(value);
  if (value.trim() === "" || !(Number.isFinite(threshold) && threshold >= 0)) throw new Error(`--cache ${kind}: the threshold must be a number >= 0, got "${value}"`);
  return { kind: kind as CacheKind, threshold };
}

/** Which published size a model of width d is ("1.3B" for anything but 14B's 5120), and whether it really is. */
export function modelSize(d: number): { size: "1.3B" | "14B"; exact: boolean } {
  if (d === 5120) return { size: "14B", exact: true };
  return { size: "1.3B", exact: d === 1536 };
}

function calibrationName(d: number): { size: "1.3B" | "14B"; name: string } {
  const { size, exact } = modelSize(d);
  return { size, name: exact ? `Wan2.1 T2V ${size}` : `Wan2.1 T2V ${size} (no published calibration for d = ${d})` };
}

/** numpy.poly1d(c)(x): c[0] x^(n-1) + ... + c[n-1]. */
function poly(c: number[], x: number): number {
  return c.reduce((acc, ci) => acc * x + ci, 0);
}

/**
 * TeaCache's plan from each step's timestep modulation: `modulation(i)` is e0 = proj [6, d] (ret form) or
 * temb [1, d] (plain form) of step i, as the devices compute it (WorkerPool.timeEmbeddings).
 */
export function teaCachePlan(steps: number, d: number, modulation: (i: number) => Float32Array, threshold?: number): CachePlan {
  const { size, name } = calibrationName(d);
  const cal = TEACACHE_WAN21[size];
  const thr = threshold ?? cal.threshold;
  const retSteps = cal.form === "ret" ? 5 : 1, cutoff = cal.form === "ret" ? steps : steps - 1;
  const compute: boolean[] = [];
  let acc = 0;
  let prev: Float32Array | null = null;
  for (let i = 0; i < steps; i++) {
    const e = modulation(i);
    if (i < retSteps || i >= cutoff || !prev) {
      compute.push(true);
      acc = 0;
    } else {
      let diff = 0, base = 0;
      for (let k = 0; k < e.length; k++) {
        diff += Math.abs(e[k] - prev[k]);
        base += Math.abs(prev[k]);
      }
      acc += poly(cal.coefficients, diff / base);
      if (acc < thr) compute.push(false);
      else {
        compute.push(true);
        acc = 0;
      }
    }
    prev = e;
  }
  return { kind: "teacache", threshold: thr, calibration: `TeaCache ${name}, ${cal.form} form`, compute };
}

/** The TeaCache input of the model's size: e0 (proj, [6, d]) in the ret form, temb ([1, d]) in the plain form. */
export function teaCacheInput(d: number): "proj" | "temb" {
  return TEACACHE_WAN21[modelSize(d).size].form === "ret" ? "proj" : "temb";
}

/** numpy.round (half to even) of non-negative x. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x), r = x - f;
  if (r > 0.5) return f + 1;
  if (r < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** MagCache's nearest_interp: src resampled to n entries at round(i * (len - 1) / (n - 1)). */
export function nearestInterp(src: number[], n: number): number[] {
  if (n === 1) return [src[src.length - 1]];
  const scale = (src.length - 1) / (n - 1);
  return Array.from({ length: n }, (_, i) => src[roundHalfEven(i * scale)]);
}

/** MagCache's plan over `steps` steps; `branches` 2 with classifier-free guidance (cond and uncond decide together), else 1. */
export function magCachePlan(steps: number, d: number, branches: 1 | 2, threshold?: number): CachePlan {
  const { size, name } = calibrationName(d);
  const thr = threshold ?? MAGCACHE_DEFAULTS.threshold;
  const all = MAG_RATIOS_WAN21[size];
  const per = [0, 1].map((b) => all.filter((_, i) => i % 2 === b));
  const ratios = per.map((r) => (r.length === steps ? r : nearestInterp(r, steps))).slice(0, branches);
  // The reference counts model calls (cond, uncond interleaved): computed while cnt < int(2 * steps * retention).
  const retained = Math.floor(2 * steps * MAGCACHE_DEFAULTS.retention);
  const accRatio = ratios.map(() => 1), accSteps = ratios.map(() => 0), accErr = ratios.map(() => 0);
  const compute: boolean[] = [];
  for (let i = 0; i < steps; i++) {
    if (2 * i < retained) {
      compute.push(true);
      continue;
    }
    let skip = true;
    ratios.forEach((r, b) => {
      accRatio[b] *= r[i];
      accSteps[b] += 1;
      accErr[b] += Math.abs(1 - accRatio[b]);
      if (!(accErr[b] < thr && accSteps[b] <= MAGCACHE_DEFAULTS.maxSkips)) skip = false;
    });
    if (!skip) ratios.forEach((_, b) => (accErr[b] = 0, accSteps[b] = 0, accRatio[b] = 1));
    compute.push(!skip);
  }
  compute[0] = true; // nothing is cached before the first step
  return { kind: "magcache", threshold: thr, calibration: `MagCache ${name}, K ${MAGCACHE_DEFAULTS.maxSkips}, retention ${MAGCACHE_DEFAULTS.retention}`, compute };
}

/** FBCache's plan before the run: its threshold and sources; `compute` and `distances` fill in step by step. */
export function fbCachePlan(threshold?: number): CachePlan {
  const thr = threshold ?? FBCACHE_DEFAULT_THRESHOLD;
  return { kind: "fbcache", threshold: thr, calibration: "FBCache (diffusers FirstBlockCache: relative L1 of block 0's residual, every shard and branch together)", compute: [], distances: [] };
}
