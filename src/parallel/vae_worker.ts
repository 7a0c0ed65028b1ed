// The device worker's VAE side (worker.ts dispatches "vaeLoad" and "decode" here): the decoder's weights on
// this device, and its band of each decode, exchanging halo rows with its neighbours through shared memory.
import type { DType } from "../shape.ts";
import type { Gpu } from "../gpu/device.ts";
import { assertFinite, overflowHint } from "../gpu/finite.ts";
import { vaeSpatialScale } from "../vae/config.ts";
import { WanVaeDecoder } from "../vae/decoder.ts";
import type { WanVaeWeights } from "../vae/weights.ts";
import { RunAborted, runFailure, ShardBarrier } from "./barrier.ts";
import { unshareTree } from "./shared_weights.ts";
import { SabBandExchange } from "./vae_exchange.ts";
import type { DecodeStats, VaeToWorker } from "./vae_messages.ts";

let decoder: WanVaeDecoder | null = null;

/** Uploads the decoder's weights (a new VAE replaces the old one). */
export async function loadVae(gpu: Gpu, msg: Extract<VaeToWorker, { type: "vaeLoad" }>, precision: DType): Promise<void> {
  disposeVae();
  decoder = new WanVaeDecoder(gpu, msg.config, unshareTree<WanVaeWeights>(msg.weights), precision);
  await gpu.sync();
}

/** Frees the decoder's weights, if any (dispose, or before a new device). */
export function disposeVae(): void {
  decoder?.dispose();
  decoder = null;
}

/**
 * Decodes this device's band into the shared video. Cancel and failures elsewhere stop it at its next
 * barrier (several devices) or its next chunk (one device: the run's control words act as its AbortSignal).
 */
export async function decodeBand(
  device: number,
  msg: Extract<VaeToWorker, { type: "decode" }>,
  onChunk: (chunk: number, ms: number) => void = () => {},
): Promise<DecodeStats> {
  const t0 = performance.now();
  if (!decoder) throw new Error(`worker ${device}: "vaeLoad" has not run yet`);
  const { buffers, bands, devices, latent } = msg;
  const band = bands[device];
  if (!band || band.device !== device) throw new Error(`worker ${device}: the decode's bands do not list this device`);
  const name = (d: number) => msg.deviceNames[d] ?? `device ${d}`;
  const barrier = new ShardBarrier(buffers.control, devices, device, msg.timeoutMs, name);
  const exchange = devices > 1 ? new SabBandExchange(decoder.gpu, buffers, bands, device, barrier) : null;
  const signal = {
    get aborted() {
      return runFailure(buffers.control) !== null;
    },
    get reason() {
      const f = runFailure(buffers.control);
      return new RunAborted(f && f.device >= 0 ? `run aborted: ${name(f.device)} failed: ${f.cause}` : `run cancelled${f?.cause ? `: ${f.cause}` : ""}`);
    },
  } as AbortSignal;
  const chunkMs: number[] = [];
  const video = await decoder.decode(new Float32Array(buffers.z), latent, {
    band: exchange ? band : undefined,
    halo: exchange ?? undefined,
    signal,
    onChunk: (t, ms) => {
      chunkMs.push(ms);
      onChunk(t, ms);
    },
  });
  // video [3, F', S rows, S w] -> rows [S y0, S y1) of the shared [3, F', S h, S w].
  const S = vaeSpatialScale(decoder.cfg);
  const W = S * latent.W, H = S * latent.H, rows = S * (band.y1 - band.y0);
  const frames = video.length / (3 * rows * W);
  const what = `${name(device)}: its band of the decoded video (video rows [${S * band.y0}, ${S * band.y1}))`;
  assertFinite(video, what, { width: W, rowName: "band row", hint: overflowHint(decoder.dtype) });
  const out = new Float32Array(buffers.video);
  if (out.length !== 3 * frames * H * W) throw new Error(`${what}: ${frames} frames of ${H}x${W} do not fit the shared video of ${out.length} values`);
  for (let cf = 0; cf < 3 * frames; cf++) {
    out.set(video.subarray(cf * rows * W, (cf + 1) * rows * W), (cf * H + S * band.y0) * W);
  }
  return {
    device,
    y0: band.y0,
    y1: band.y1,
    ms: performance.now() - t0,
    chunkMs,
    exchangeMs: exchange?.exchangeMs ?? 0,
    waitMs: exchange?.waitMs ?? 0,
    bytesExchanged: exchange?.bytes ?? 0,
    liveBuffers: decoder.gpu.liveBuffers,
  };
}
