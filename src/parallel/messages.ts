// Messages between the coordinator (WorkerPool) and each device worker: discriminated unions,
// handled by exhaustive switches on both sides.
import type { DType, Grid3 } from "../shape.ts";
import type { WanConfig } from "../model/config.ts";
import type { ShardView } from "../model/shard_view.ts";
import type { SharedTree } from "./shared_weights.ts";
import type { VaeFromWorker, VaeToWorker } from "./vae_messages.ts";

export interface RunBuffers {
  /** Barrier control words (see barrier.ts). */
  control: Int32Array;
  /** The self-attention exchange (sab_exchange.ts): the rows n of every computed token, two layer slots: [2][computedTokens, d] of the run dtype. */
  rows: SharedArrayBuffer;
  /** The latents [B, C, F, H, W] f32 (B items of a batch; 1 without batching). */
  latent: SharedArrayBuffer;
  /** Projected output tokens [B, L, 4 * Cout] f32, written by each device for its real tokens. */
  tokensOut: SharedArrayBuffer;
  /** Final output [B, Cout, F, H, W] f32 (unpatchified by the group's first device). */
  out: SharedArrayBuffer;
}

export type ToWorker =
  | {
    type: "init";
    device: number;
    label: string;
    driPrime?: string;
    precision: DType;
    profile: boolean;
    powerPreference?: GPUPowerPreference;
    /** Deno only: the WebGPU implementation to load (src/platform/webgpu_deno.ts), after DRI_PRIME is set. */
    webgpu?: string;
  }
  | { type: "load"; config: WanConfig; weights: SharedTree }
  | { type: "text"; key: string; text: Float32Array; textTokens: number }
  /** proj [6, d] and temb [1, d] (the timestep modulation, TeaCache's input) of each timestep, read back. */
  | { type: "timeEmbedding"; timesteps: number[] }
  /** Frees the step caches' residuals (the end of a generation). */
  | { type: "clearCache" }
  | {
    type: "forward";
    runId: number;
    timestep: number;
    /** One prompt per batch item (WanModel.forwardBatch); one key without batching. */
    textKeys: string[];
    /** The latent's F x H x W (its C is the model's in_channels). */
    latentGrid: Grid3;
    shard: ShardView;
    /** The devices of this forward's group (pool device ids, in shard order; all of them without CFG parallel):
     * `rank` is this device's place in it. Its barrier counts these devices only. */
    members: number[];
    rank: number;
    /** Step caching (src/pipeline/step_cache.ts): "store" runs the blocks and keeps their residual under `key`,
     * "reuse" skips them and adds the residual kept under `key`; "first-block" runs block 0 and decides with every
     * device of the forward (first_block_cache.ts) whether blocks 1.. run or their residual is reused.
     * Absent: no caching (the plain forward). */
    cache?: ForwardCache & { decision?: FirstBlockMeeting };
    /** Overlap the rows exchange with attention over the device's own keys (OverlapAttention). */
    overlap: boolean;
    buffers: RunBuffers;
    timeoutMs: number;
    deviceNames: string[];
  }
  /** Test hook: the worker throws from its message handler, as a crashing worker would. */
  | { type: "crash"; message: string }
  /** Destroys the device; with `close`, the worker then ends itself (cleaner for Deno than terminate()). */
  | { type: "dispose"; close?: boolean }
  /** The VAE decoder: its weights, and one band of a sharded decode (vae_messages.ts). */
  | VaeToWorker;

/** A forward's step-cache instruction (WorkerPool ForwardRequest.cache). `threshold`: the first-block cache's. */
export interface ForwardCache {
  key: string;
  mode: "store" | "reuse" | "first-block";
  threshold?: number;
}

/** Where the devices of one forward meet for the first-block cache's decision (first_block_cache.ts). */
export interface FirstBlockMeeting {
  buffer: SharedArrayBuffer;
  slot: number;
  participants: number;
}

export interface DeviceStats {
  device: number;
  tokens: number;
  padTokens: number;
  /** Wall time of this device's forward, exchange included. */
  ms: number;
  /** Time in the rows exchange (readback, barrier wait, upload). */
  exchangeMs: number;
  /** Of exchangeMs, the time spent waiting at barriers for other devices (the rest is copying). */
  exchangeWaitMs: number;
  /** Bytes this device moved through shared memory (written + read). */
  bytesExchanged: number;
  /** Pooled GPU buffers this device holds after the forward (weights, prompts, timestep: constant run to run). */
  liveBuffers: number;
  /** GPU time per op (profile mode only). */
  opTimes?: { op: string; ms: number; count: number }[];
  /** The first-block cache's decision (the same on every device of the forward) and its distance. */
  firstBlock?: { compute: boolean; distance: number };
}

export type FromWorker =
  | { type: "ready"; device: number; adapter: string; f16: boolean; describe: Record<string, unknown> }
  | { type: "loaded"; device: number; ms: number }
  | { type: "textReady"; device: number; key: string }
  /** proj [timesteps, 6, d] and temb [timesteps, d], f32. */
  | { type: "timeEmbedding"; device: number; proj: Float32Array; temb: Float32Array }
  | { type: "cacheCleared"; device: number }
  | { type: "done"; device: number; runId: number; stats: DeviceStats }
  | { type: "disposed"; device: number }
  /** `aborted`: this device stopped because another one failed (its error is the one to report). */
  | { type: "error"; device: number; message: string; runId?: number; aborted?: boolean }
  | VaeFromWorker;
