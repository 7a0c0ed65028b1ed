// The sharded VAE decode's messages (members of ToWorker / FromWorker in messages.ts) and shared memory.
import type { Grid3 } from "../shape.ts";
import type { WanVaeConfig } from "../vae/config.ts";
import type { SharedTree } from "./shared_weights.ts";
import type { DeviceBand } from "./vae_plan.ts";

export interface DecodeBuffers {
  /** Barrier control words (barrier.ts): every halo swap and frame gather is one arrival. */
  control: Int32Array;
  /** Halo rows, [2 slots][devices][top, bottom][haloBytes] (vae_exchange.ts). */
  halo: SharedArrayBuffer;
  /** Whole-frame gathers, [2 slots][frameBytes]. */
  frame: SharedArrayBuffer;
  /** z [z_dim, T, h, w] f32 (latents * std + mean). */
  z: SharedArrayBuffer;
  /** The decoded video [3, F', S h, S w] f32 in [-1, 1]: each device writes the rows of its band. */
  video: SharedArrayBuffer;
}

/** What one device did in a decode. */
export interface DecodeStats {
  device: number;
  /** Its latent rows [y0, y1). */
  y0: number;
  y1: number;
  /** Wall time of its decode, exchange included. */
  ms: number;
  /** Wall time per latent frame (chunk). */
  chunkMs: number[];
  /** Time in halo swaps and frame gathers; waitMs of it at barriers for other devices. */
  exchangeMs: number;
  waitMs: number;
  /** Bytes this device moved through shared memory (written + read). */
  bytesExchanged: number;
  /** Pooled GPU buffers it holds after the decode (the decoder's weights and the DiT's, if loaded). */
  liveBuffers: number;
}

export type VaeToWorker =
  | { type: "vaeLoad"; config: WanVaeConfig; weights: SharedTree }
  | {
    type: "decode";
    runId: number;
    /** The latent's T x h x w. */
    latent: Grid3;
    /** Every device's band, in device order; device d decodes bands[d]. */
    bands: DeviceBand[];
    devices: number;
    buffers: DecodeBuffers;
    timeoutMs: number;
    deviceNames: string[];
  };

export type VaeFromWorker =
  | { type: "vaeLoaded"; device: number; ms: number }
  | { type: "decoded"; device: number; runId: number; stats: DecodeStats }
  /** Device `device` finished latent frame `chunk` (0-based) of run runId in `ms` of wall time (progress). */
  | { type: "decodeProgress"; device: number; runId: number; chunk: number; ms: number };
