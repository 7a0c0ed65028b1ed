// Latents -> video through the sharded VAE decoder: the latents file format (`latents` [1, z_dim, T, h, w],
// what generate writes and the VAE fixtures' io.safetensors holds), z = latents * std + mean, the band
// plan, one decode over the pool. Shared by `shardit decode`, `shardit generate --vae` and the demo.
// The pool must already hold the VAE (pool.loadVae).
import type { Grid3 } from "../shape.ts";
import { type ByteSource, Checkpoint } from "../io/safetensors.ts";
import { assertFinite } from "../gpu/finite.ts";
import type { DecodeStats } from "../parallel/vae_messages.ts";
import { type BandPlan, planBands } from "../parallel/vae_plan.ts";
import type { WorkerPool } from "../parallel/pool.ts";
import { latentsToZ, type WanVaeConfig } from "../vae/config.ts";

export interface DecodeRun {
  /** The clamped video [3, F', H', W'] in [-1, 1]. */
  video: Float32Array;
  /** Its frames and size: F' = 1 + 4 (T - 1), H' = 8 h, W' = 8 w for Wan2.1. */
  videoGrid: Grid3;
  plan: BandPlan;
  stats: DecodeStats[];
  ms: number;
}

/**
 * Reads `latents` [1, z_dim, T, h, w] (F32, F16 or BF16) from a safetensors file; errors name the file,
 * the tensor, and expected vs found.
 */
export async function readLatents(source: ByteSource, cfg: WanVaeConfig): Promise<{ latents: Float32Array; latent: Grid3 }> {
  const file = await Checkpoint.open([source]);
  try {
    const f = source.name;
    if (!file.has("latents")) throw new Error(`${f}: no tensor "latents" (found: ${file.names().join(", ") || "none"}); decode reads latents [1, ${cfg.zDim}, T, h, w] as generate writes them`);
    const shape = file.info("latents").shape;
    if (shape.length !== 5 || shape[0] !== 1) throw new Error(`${f}: latents has shape [${shape}], expected [1, ${cfg.zDim}, T, h, w]`);
    const [, C, T, h, w] = shape;
    if (C !== cfg.zDim) throw new Error(`${f}: latents has ${C} channels, the VAE's z_dim is ${cfg.zDim} (shape [${shape}], expected [1, ${cfg.zDim}, T, h, w])`);
    if (T < 1 || h < 1 || w < 1) throw new Error(`${f}: latents has shape [${shape}]: T, h and w must be at least 1`);
    const latents = await file.readF32("latents");
    assertFinite(latents, `${f}: latents`, { width: h * w, rowName: "channel-frame" });
    return { latents, latent: { F: T, H: h, W: w } };
  } finally {
    file.close();
  }
}

/** One latent frame (chunk) decoded on every device: `chunk` of `chunks` (0-based), `ms` the slowest device's wall time for it. */
export interface DecodeChunkProgress {
  chunk: number;
  chunks: number;
  ms: number;
  /** Each device's wall time for this chunk, in device order. */
  deviceMs: number[];
}

/**
 * Decodes latents [z_dim, T, h, w] over the pool's devices, in bands of latent rows (optionally weighted).
 * onChunk hears each latent frame once every device has finished it (progress bars, benchmarks).
 */
export async function decodeLatents(
  pool: WorkerPool,
  cfg: WanVaeConfig,
  latents: Float32Array,
  latent: Grid3,
  weights?: number[],
  onChunk?: (p: DecodeChunkProgress) => void,
): Promise<DecodeRun> {
  const plan = planBands(latent.H, pool.devices, weights);
  const pending = new Map<number, number[]>(); // chunk -> device ms (NaN until the device reports)
  const heard = (device: number, chunk: number, ms: number) => {
    const times = pending.get(chunk) ?? new Array<number>(pool.devices).fill(NaN);
    times[device] = ms;
    if (times.some(Number.isNaN)) return void pending.set(chunk, times);
    pending.delete(chunk);
    onChunk!({ chunk, chunks: latent.F, ms: Math.max(...times), deviceMs: times });
  };
  const r = await pool.decode({ z: latentsToZ(latents, cfg), latent, plan, onChunk: onChunk ? heard : undefined });
  return { video: r.video, videoGrid: r.videoGrid, plan, stats: r.stats, ms: r.ms };
}
