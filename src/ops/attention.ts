// attention: fused flash attention per head, O = softmax(Q K^T / sqrt(D)) V over keys < validKeys.
// q [Lq, N, D], k and v [Lk, N, D], out [Lq, N, D] (token-major, as the projections write them).
// The tile config (BQ queries x BK keys per step, D chunk DC) is compiled in; the default is the
// largest config that fits the adapter's workgroup memory (see ATTENTION_CONFIGS).
// With `lse` [Lq, N] f32 it also writes each (query, head)'s log-sum-exp of the scores (a separate
// pipeline, compiled with the `lse` define): attention over disjoint key sets then merges exactly
// (src/ops/attention_merge.ts).
// On devices with subgroup matrices, f16 attention at head dim 128 can run on the matrix units instead
// (src/ops/attention_matrix.ts, same contract): attention() picks it while MATRIX_ATTENTION_AUTO is on (it is:
// the matrix tests passed on the GPU host, bench/results), attentionWith() takes either config.
// $SHARDIT_ATTENTION (read once per process; bench/wan_forward.ts --attention sets it) overrides what attention()
// picks without a rebuild: "default" (the selection above), "scalar" (the scalar kernel's pick), "wide" (the wide
// matrix kernel at head dims 256 / 384: the VAE mid block, src/vae/decoder.ts) or a config name of ATTENTION_CONFIGS
// or MATRIX_ATTENTION_CONFIGS. A named config that cannot run a call (dtype, head dim, device,
// workgroup memory) falls back to the selection above; with SHARDIT_VERBOSE=1 (--verbose) that is said once per reason.
import type { Gpu } from "../gpu/device.ts";
import { expectShape, tensorBytes, type Tensor } from "../gpu/tensor.ts";
import { readEnv } from "./env.ts";
import {
  dispatchAttentionMatrix, MATRIX_ATTENTION_CONFIGS, type MatrixAttentionConfig, matrixAttentionFits, matrixAttentionPlan, matrixAttentionUnsupported,
  pickMatrixAttentionConfig, wideAttentionConfig, wideAttentionUnsupported,
} from "./attention_matrix.ts";

export interface AttentionConfig {
  /** Queries per workgroup (TM per row group of threads). */
  BQ: number;
  /** Keys per tile (multiple of 16). */
  BK: number;
  /** Head-dim chunk for staging Q and K (multiple of 4). */
  DC: number;
  /** Query rows per thread, 4 (default) or 8. */
  TM?: 4 | 8;
}

/**
 * The configs the picker runs (workgroup memory at D = 128 in the comments), in DEFAULT_ORDER: the first that
 * fits the adapter's workgroup memory wins (128x64t8 at 48 KiB, what large GPUs offer; 32x32 at the 16 KiB minimum).
 * Configs that no adapter picks live in bench/variants/attention_configs.ts, for the bench to compare.
 */
export const ATTENTION_CONFIGS: Record<string, AttentionConfig> = {
  "128x64t8": { BQ: 128, BK: 64, DC: 16, TM: 8 }, // 256 threads, 8x4 S and 8x8 O per thread, 46 KiB
  "128x32": { BQ: 128, BK: 32, DC: 32 }, // 256 threads, 38 KiB
  "64x32": { BQ: 64, BK: 32, DC: 32 }, // 128 threads, 21 KiB
  "32x32": { BQ: 32, BK: 32, DC: 32 }, //  64 threads, 12.5 KiB (fits the 16 KiB minimum)
};

// Fastest first, as measured at D = 128 and L = 32760 in f32 and f16 (bench/RESULTS.md "Behind the defaults").
const DEFAULT_ORDER = ["128x64t8", "128x32", "64x32", "32x32"];

export interface AttentionPlan {
  defines: Record<string, number | boolean>;
  threads: number;
  workgroupBytes: number;
}

/** Defines, thread count and workgroup memory of `cfg` at head dim D. */
export function attentionPlan(cfg: AttentionConfig, D: number, f16: boolean): AttentionPlan {
  const { BQ, BK, DC } = cfg;
  const TM = cfg.TM ?? 4;
  if (D % 4 !== 0 || D <= 0) throw new Error(`attention: head dim ${D} must be a positive multiple of 4`);
  if (BQ % (2 * TM) !== 0 || BK % 16 !== 0 || DC % 4 !== 0 || (TM !== 4 && TM !== 8)) throw new Error(`attention: bad config ${JSON.stringify(cfg)}`);
  const TX = BK / 4; // threads per row group of TM query rows; each owns 4 keys of S
  const threads = (BQ / TM) * TX;
  const DV = Math.ceil(D / (4 * TX)) * 4 * TX;
  // Each thread owns DV / (4 TX) vec4 columns of O per row; the shader spells out at most 4.
  if (DV / (4 * TX) > 4) throw new Error(`attention: head dim ${D} needs more than 4 vec4 columns per thread with BK=${BK}`);
  const qkVec4 = (DC * (BQ + BK)) / 4;
  // Keys per V chunk: the most (a multiple of 4 dividing BK) whose [VK, DV] fits in the Q/K staging region.
  let VK = BK;
  while (VK > 4 && (VK * DV) / 4 > qkVec4) VK /= 2;
  if (BK % VK !== 0 || VK % 4 !== 0) throw new Error(`attention: no V chunk fits config ${JSON.stringify(cfg)} at D=${D}`);
  const SA4 = Math.max(qkVec4, (VK * DV) / 4);
  // Q / K chunk vec4s each thread stages through registers (spelled out in the shader up to 4).
  const NQ = Math.ceil((BQ * DC) / 4 / threads), NK = Math.ceil((BK * DC) / 4 / threads);
  if (NQ > 4 || NK > 4) throw new Error(`attention: config ${JSON.stringify(cfg)} stages ${NQ} Q / ${NK} K vec4s per thread (at most 4)`);
  // P rows padded by one vec4 (row groups of a warp hit other banks); the row max / sum partials
  // [BQ, TX] f32 share sp with P.
  const PS = TX + 1;
  const SP4 = BQ * PS;
  return {
    defines: { f16, D, BQ, BK, TM, tm8: TM === 8, DC, DV, VK, NQ, NK, PS, SA4, SP4, WG: threads },
    threads,
    workgroupBytes: 16 * (SA4 + SP4),
  };
}

/** The first default config that fits the adapter's workgroup memory and invocation limits. */
export function pickAttentionConfig(gpu: Gpu, D: number, f16: boolean): AttentionConfig {
  for (const name of DEFAULT_ORDER) {
    const cfg = ATTENTION_CONFIGS[name];
    const plan = attentionPlan(cfg, D, f16);
    if (plan.workgroupBytes <= gpu.limits.maxComputeWorkgroupStorageSize && plan.threads <= gpu.limits.maxComputeInvocationsPerWorkgroup) return cfg;
  }
  throw new Error(`attention: no tile config fits maxComputeWorkgroupStorageSize ${gpu.limits.maxComputeWorkgroupStorageSize}`);
}

export interface AttentionOptions {
  /** Keys at index >= validKeys are masked out (default: all Lk). */
  validKeys?: number;
  /** Also write the per-(query, head) log-sum-exp of the scores here: [Lq, N] f32 (-1e30 with no valid key). */
  lse?: Tensor;
}

/** The environment variable that overrides attention()'s choice (see the header). */
export const ATTENTION_ENV = "SHARDIT_ATTENTION";

/** What $SHARDIT_ATTENTION asks for: today's selection, the scalar kernel's pick, or one named config. */
export type AttentionOverride =
  | { kind: "default" }
  | { kind: "scalar" }
  | { kind: "wide" }
  | { kind: "config"; name: string; cfg: AttentionConfig | MatrixAttentionConfig };

/** Parses a $SHARDIT_ATTENTION value (unset or empty: "default"); an unknown value is refused in one line. */
export function parseAttentionOverride(raw: string | undefined): AttentionOverride {
  const v = (raw ?? "").trim();
  if (v === "" || v === "default") return { kind: "default" };
  if (v === "scalar") return { kind: "scalar" };
  if (v === "wide") return { kind: "wide" };
  if (Object.hasOwn(MATRIX_ATTENTION_CONFIGS, v)) return { kind: "config", name: v, cfg: MATRIX_ATTENTION_CONFIGS[v] };
  if (Object.hasOwn(ATTENTION_CONFIGS, v)) return { kind: "config", name: v, cfg: ATTENTION_CONFIGS[v] };
  const names = [...Object.keys(MATRIX_ATTENTION_CONFIGS), ...Object.keys(ATTENTION_CONFIGS)].join(", ");
  throw new Error(`${ATTENTION_ENV}: expected default, scalar, wide or a config name (${names}), found "${v}"`);
}

let parsedOverride: AttentionOverride | undefined;

/** $SHARDIT_ATTENTION, parsed on first use (no Deno or no env permission: "default"). */
export function attentionOverride(): AttentionOverride {
  if (!parsedOverride) parsedOverride = parseAttentionOverride(readEnv(ATTENTION_ENV));
  return parsedOverride;
}

export interface AttentionChoice {
  cfg: AttentionConfig | MatrixAttentionConfig;
  /** Why the override's config does not run this call (then `cfg` is the default selection's), else absent. */
  fallback?: string;
}

/** Why `cfg` cannot run attention at head dim D in this dtype on `gpu`, or null when it can. */
function configUnsupported(gpu: Gpu, cfg: AttentionConfig | MatrixAttentionConfig, D: number, f16: boolean): string | null {
  const limits = gpu.limits;
  if ("kind" in cfg) {
    const why = cfg.kernel === "wide"
      ? (cfg.D !== D ? `the wide config is for head dim ${cfg.D} (found ${D})` : wideAttentionUnsupported(gpu, D, f16 ? "f16" : "f32"))
      : matrixAttentionUnsupported(gpu, D, f16 ? "f16" : "f32");
    if (why) return why;
    const plan = matrixAttentionPlan(cfg);
    return matrixAttentionFits(gpu, cfg) ? null
      : `needs ${plan.workgroupBytes} bytes of workgroup memory and ${plan.threads} invocations (${gpu.label}: ${limits.maxComputeWorkgroupStorageSize} / ${limits.maxComputeInvocationsPerWorkgroup})`;
  }
  let plan: AttentionPlan;
  try {
    plan = attentionPlan(cfg, D, f16);
  } catch (e) {
    return (e as Error).message;
  }
  return plan.workgroupBytes <= limits.maxComputeWorkgroupStorageSize && plan.threads <= limits.maxComputeInvocationsPerWorkgroup ? null
    : `needs ${plan.workgroupBytes} bytes of workgroup memory and ${plan.threads} invocations (${gpu.label}: ${limits.maxComputeWorkgroupStorageSize} / ${limits.maxComputeInvocationsPerWorkgroup})`;
}

/**
 * The kernel and config for (head dim D, dtype) on `gpu` under `override`: "default" = the matrix kernel where it
 * can run, else the scalar pick; "scalar" = the scalar pick; "wide" = wideAttentionConfig(D); a named config where it can run, else the default
 * selection with the reason in `fallback`.
 */
export function chooseAttention(gpu: Gpu, D: number, f16: boolean, override: AttentionOverride): AttentionChoice {
  const byDefault = () => pickMatrixAttentionConfig(gpu, D, f16 ? "f16" : "f32") ?? pickAttentionConfig(gpu, D, f16);
  if (override.kind === "default") return { cfg: byDefault() };
  if (override.kind === "scalar") return { cfg: pickAttentionConfig(gpu, D, f16) };
  const [name, cfg] = override.kind === "wide" ? ["wide", wideAttentionConfig(D)] : [override.name, override.cfg];
  const why = configUnsupported(gpu, cfg, D, f16);
  if (why === null) return { cfg };
  return { cfg: byDefault(), fallback: `${ATTENTION_ENV}=${name} cannot run ${f16 ? "f16" : "f32"} attention at head dim ${D}: ${why}` };
}

const saidFallbacks = new Set<string>();

/** The kernel and config attention() runs for (head dim D, dtype) on `gpu`: chooseAttention under $SHARDIT_ATTENTION. */
export function pickAttention(gpu: Gpu, D: number, f16: boolean): AttentionConfig | MatrixAttentionConfig {
  const choice = chooseAttention(gpu, D, f16, attentionOverride());
  if (choice.fallback && !saidFallbacks.has(choice.fallback)) {
    saidFallbacks.add(choice.fallback);
    if (readEnv("SHARDIT_VERBOSE") === "1") console.error(`attention: ${choice.fallback}; runs ${JSON.stringify(choice.cfg)} (the default selection)`);
  }
  return choice.cfg;
}

export function attention(gpu: Gpu, q: Tensor, k: Tensor, v: Tensor, out: Tensor, opts?: AttentionOptions): void {
  const D = q.shape[2];
  attentionWith(gpu, q, k, v, out, opts?.validKeys, pickAttention(gpu, D, q.dtype === "f16"), opts?.lse);
}

/** attention with an explicit config, scalar or matrix (tests and bench). */
export function attentionWith(
  gpu: Gpu, q: Tensor, k: Tensor, v: Tensor, out: Tensor, validKeys: number | undefined, cfg: AttentionConfig | MatrixAttentionConfig, lse?: Tensor,
): void {
  // 1. validate
  if (q.shape.length !== 3) throw new Error(`attention: q must be [Lq, N, D], found [${q.shape}]`);
  const [Lq, N, D] = q.shape;
  if (k.shape.length !== 3) throw new Error(`attention: k must be [Lk, N, D], found [${k.shape}]`);
  const Lk = k.shape[0];
  expectShape("attention k", k, [Lk, N, D], q.dtype);
  expectShape("attention v", v, [Lk, N, D], q.dtype);
  expectShape("attention out", out, [Lq, N, D], q.dtype);
  const nValid = validKeys ?? Lk;
  if (!Number.isInteger(nValid) || nValid < 0 || nValid > Lk) throw new Error(`attention: validKeys ${validKeys} must be an integer in [0, ${Lk}]`);
  if (lse) expectShape("attention lse", lse, [Lq, N], "f32");
  for (const [name, t] of [["q", q], ["k", k], ["v", v], ["out", out]] as const) gpu.checkBinding(tensorBytes(t), `attention ${name}`);
  if (N > gpu.limits.maxComputeWorkgroupsPerDimension) throw new Error(`attention: ${N} heads exceed maxComputeWorkgroupsPerDimension`);
  if ("kind" in cfg) {
    dispatchAttentionMatrix(gpu, q, k, v, out, lse, { Lq, Lk, N, D, validKeys: nValid }, cfg);
    return;
  }
  // 2. pipeline key: dtype, head dim, tile config, LSE output
  const plan = attentionPlan(cfg, D, q.dtype === "f16");
  if (plan.workgroupBytes > gpu.limits.maxComputeWorkgroupStorageSize) {
    throw new Error(`attention: config ${JSON.stringify(cfg)} needs ${plan.workgroupBytes} bytes of workgroup memory, over the adapter's ${gpu.limits.maxComputeWorkgroupStorageSize}`);
  }
  const kernel = gpu.kernel("attention", { ...plan.defines, lse: lse !== undefined });
  // 3. uniforms  4. dispatch: one workgroup per (BQ queries, head)
  const qscale = Math.LOG2E / Math.sqrt(D);
  gpu.dispatch(kernel, { Lq, Lk, N, validKeys: nValid, qscale }, lse ? [q, k, v, out, lse] : [q, k, v, out], [Math.ceil(Lq / cfg.BQ), N]);
}
