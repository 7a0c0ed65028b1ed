// Bounds on the CLI's size flags, checked before anything is allocated (issue 20, finding 4: --steps 1e9,
// --devices 1000, --latent 1000,1000,1000 and --scale 1000 each ran past 6 GB, or failed after the run
// naming no flag). Each message gives the limit and what it comes from: the scheduler, the model's RoPE
// table, the host's memory, the GIF format.
import { UsageError } from "./args.ts";

/** Workers are threads with a WebGPU device each; far more than any host has GPUs or cores. */
export const MAX_DEVICES = 64;

/** The host's memory in bytes (Infinity where Deno cannot say). */
export function hostMemoryBytes(): number {
  try {
    return Deno.systemMemoryInfo().total;
  } catch {
    return Infinity;
  }
}

const gb = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

export function checkDevices(devices: number): void {
  if (devices > MAX_DEVICES) {
    throw new UsageError(`--devices ${devices} is above shardit's limit of ${MAX_DEVICES} (one worker thread and WebGPU device each)`);
  }
}

/** Flow-matching schedules take distinct integer timesteps in [0, numTrainTimesteps). */
export function checkSteps(steps: number, numTrainTimesteps = 1000): void {
  if (steps > numTrainTimesteps) {
    throw new UsageError(`--steps ${steps} is above ${numTrainTimesteps}, the scheduler's number of training timesteps`);
  }
}

/**
 * A latent F x H x W for a model of width `dim` with `channels` latent channels: each of its token grid's
 * axes (F, H/2, W/2) within the model's RoPE table, and the host memory a run holds for it within the
 * host's: the two layer slots of exchanged rows [L, dim] f32, the shared output [L, 4 C] and about eight
 * latent-sized f32 arrays of the sampler (latent, noise, velocities, solver history).
 */
export function checkLatent(F: number, H: number, W: number, m: { dim: number; channels: number; ropeMaxSeqLen: number }, host = hostMemoryBytes()): void {
  const axes: [string, number][] = [["F", F], ["H/2", H / 2], ["W/2", W / 2]];
  for (const [name, v] of axes) {
    if (v > m.ropeMaxSeqLen) throw new UsageError(`--latent ${F},${H},${W}: ${name} = ${v} is above the model's rope_max_seq_len ${m.ropeMaxSeqLen}`);
  }
  const tokens = F * (H / 2) * (W / 2);
  const bytes = 4 * (2 * tokens * m.dim + tokens * 4 * m.channels + 8 * m.channels * F * H * W);
  if (bytes > host) {
    throw new UsageError(`--latent ${F},${H},${W}: ${tokens} tokens need about ${gb(bytes)} of host memory (exchanged rows of width ${m.dim} and the sampler's latents); this host has ${gb(host)}`);
  }
}

/** GIF stores each side in 16 bits. */
export const MAX_IMAGE_SIDE = 65535;

/**
 * --scale N for a video F x H x W: the shown video (H N) x (W N) within GIF's 16-bit sides, and its f32
 * copy plus the encoders' 8-bit frames (about 20 bytes a pixel) within half the host's memory.
 */
export function checkScale(scale: number, F: number, H: number, W: number, host = hostMemoryBytes()): void {
  const side = Math.max(H, W) * scale;
  const bySide = Math.floor(MAX_IMAGE_SIDE / Math.max(H, W));
  const bytes = 20 * F * H * scale * W * scale;
  const byMemory = Math.floor(Math.sqrt(host / 2 / (20 * F * H * W)));
  if (side > MAX_IMAGE_SIDE || bytes > host / 2) {
    throw new UsageError(
      `--scale ${scale}: the shown video would be ${W * scale}x${H * scale} px x ${F} frames (${gb(bytes)}); ` +
        `at most --scale ${Math.max(1, Math.min(bySide, byMemory))} here (GIF sides up to ${MAX_IMAGE_SIDE} px, half of this host's ${gb(host)})`,
    );
  }
}
