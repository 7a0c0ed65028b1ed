// One device worker: owns one GPUDevice and the model's weights on it, and runs its shard of each
// forward. Started by WorkerPool (Deno or browser) as an ES-module Web Worker.
/// <reference lib="webworker" />

import { Gpu } from "../gpu/device.ts";
import { rowsView, type Tensor } from "../gpu/tensor.ts";
import { realTokens } from "../model/shard_view.ts";
import { type TextState, type TimeState, WanModel } from "../model/wan.ts";
import { freeWanWeights, uploadWanWeights } from "../model/weights_gpu.ts";
import type { WanWeights } from "../model/weights.ts";
import { abortRun, RunAborted, ShardBarrier } from "./barrier.ts";
import type { DeviceStats, FromWorker, ToWorker } from "./messages.ts";
import { SabExchange } from "./sab_exchange.ts";
import { shardedAttention } from "./sharded_attention.ts";
import { unshareTree } from "./shared_weights.ts";
import { decodeBand, disposeVae, loadVae } from "./vae_worker.ts";
import { assertFinite, overflowHint } from "../gpu/finite.ts";

declare const Deno: { env: { set(k: string, v: string): void } } | undefined;

let device = -1;
let gpu: Gpu | null = null;
let model: WanModel | null = null;
let precision: Tensor["dtype"] = "f32";
const texts = new Map<string, TextState>();
let time: { t: number; state: TimeState } | null = null;
/** The control words of the forward in progress: any failure of this worker while it runs aborts it. */
let running: Int32Array | null = null;

const post = (m: FromWorker) => (self as unknown as Worker).postMessage(m);

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case "init": {
      device = msg.device;
      precision = msg.precision;
      // Deno: this worker's GPU placement (DRI_PRIME, src/platform/deno_gpus.ts), before the first requestAdapter.
      if (msg.driPrime && typeof Deno !== "undefined") (await import("../platform/deno_gpus.ts")).useDriPrime(msg.driPrime);
      // Deno: load the pool's WebGPU implementation (Dawn or Deno's own) after DRI_PRIME, so Dawn's Vulkan
      // instance sees it too. Imported lazily: the platform module is Deno-only.
      if (msg.webgpu && typeof Deno !== "undefined") {
        const platform = await import("../platform/webgpu_deno.ts");
        await platform.useWebGpu(platform.webGpuChoice(msg.webgpu));
      }
      gpu = await Gpu.create({ label: msg.label, requireF16: msg.precision === "f16", profile: msg.profile, powerPreference: msg.powerPreference });
      gpu.device.lost.then((info) => {
        if (info.reason === "destroyed") return;
        const message = `${msg.label} was lost: ${info.message || info.reason}`;
        if (running) abortRun(running, device, message);
        post({ type: "error", device, message });
      });
      const d = gpu.describe();
      post({ type: "ready", device, adapter: String(d.adapter), f16: gpu.features.f16, describe: d });
      return;
    }
    case "load": {
      const t0 = performance.now();
      const g = need(gpu, "init");
      const weights = unshareTree<WanWeights>(msg.weights);
      forgetModel(); // a new model: the old weights, prompts and timestep state are stale
      model = new WanModel(g, msg.config, uploadWanWeights(g, msg.config, weights, precision), precision);
      await g.sync();
      post({ type: "loaded", device, ms: performance.now() - t0 });
      return;
    }
    case "text": {
      const m = need(model, "load");
      const old = texts.get(msg.key);
      if (old) m.freeText(old);
      texts.set(msg.key, m.encodeText(msg.text, msg.textTokens));
      await m.gpu.sync();
      post({ type: "textReady", device, key: msg.key });
      return;
    }
    case "forward": {
      const m = need(model, "load");
      running = msg.buffers.control; // cleared by the error handler below if the forward fails
      const stats = await forward(m, msg);
      running = null;
      post({ type: "done", device, runId: msg.runId, stats });
      return;
    }
    case "vaeLoad": {
      const t0 = performance.now();
      await loadVae(need(gpu, "init"), msg, precision);
      post({ type: "vaeLoaded", device, ms: performance.now() - t0 });
      return;
    }
    case "decode": {
      running = msg.buffers.control; // as for a forward: a failure of this worker aborts the decode
      const stats = await decodeBand(device, msg, (chunk, ms) => post({ type: "decodeProgress", device, runId: msg.runId, chunk, ms }));
      running = null;
      post({ type: "decoded", device, runId: msg.runId, stats });
      return;
    }
    case "crash":
      throw new Error(msg.message);
    case "dispose":
      forgetModel();
      disposeVae();
      gpu?.destroy();
      gpu = null;
      model = null;
      post({ type: "disposed", device });
      if (msg.close) self.close();
      return;
    default: {
      const unknown: never = msg; // a new ToWorker type must be handled above
      throw new Error(`worker ${device}: unknown message ${JSON.stringify((unknown as { type?: unknown }).type)}`);
    }
  }
}

async function forward(m: WanModel, msg: Extract<ToWorker, { type: "forward" }>): Promise<DeviceStats> {
  const t0 = performance.now();
  const text = texts.get(msg.textKey);
  if (!text) throw new Error(`${m.gpu.label}: text "${msg.textKey}" was not encoded on this device`);
  if (time?.t !== msg.timestep) {
    if (time) m.freeTime(time.state);
    time = { t: msg.timestep, state: m.embedTimestep(msg.timestep) };
  }
  // Everything allocated from here on is this run's scratch: a failed or cancelled run gives it all back.
  const scratch = m.gpu.liveMark();
  try {
    return await forwardShard(m, msg, text, time.state, t0);
  } catch (e) {
    m.gpu.releaseSince(scratch);
    throw e;
  }
}

async function forwardShard(m: WanModel, msg: Extract<ToWorker, { type: "forward" }>, text: TextState, timeState: TimeState, t0: number): Promise<DeviceStats> {
  const { shard, buffers, latentGrid, devices } = msg;
  const barrier = new ShardBarrier(buffers.control, devices, device, msg.timeoutMs, (d) => msg.deviceNames[d] ?? `device ${d}`);
  const latent = m.gpu.upload(new Float32Array(buffers.latent), [m.cfg.inChannels, latentGrid.F, latentGrid.H, latentGrid.W], "f32", "latent");
  const selfAttention = shardedAttention(devices, msg.overlap, () => new SabExchange(m.gpu, buffers.rows, shard, m.d, precision, barrier));
  const y = await m.forwardTokens(latent, timeState, text, shard, selfAttention);
  m.gpu.freeTensor(latent);

  // Gather: real output tokens into the shared [L, 4*Cout] rows; then device 0 unpatchifies them all.
  const real = realTokens(shard);
  const width = y.shape[1];
  if (real > 0) {
    const rows = await m.gpu.read(rowsView(y, 0, real));
    const what = `the output of its tokens [${shard.start}, ${shard.start + real})`;
    assertFinite(rows, what, { width, rowName: "token", firstRow: shard.start, hint: overflowHint(precision) });
    new Float32Array(buffers.tokensOut, shard.start * width * 4, real * width).set(rows);
  }
  m.gpu.freeTensor(y);
  if (devices > 1) barrier.arrive(m.w.blocks.length + 1, "the output gather");
  if (device === 0) {
    const all = m.gpu.upload(new Float32Array(buffers.tokensOut), [shard.tokens, width], "f32", "output tokens");
    const out = m.gpu.empty([m.cfg.outChannels, latentGrid.F, latentGrid.H, latentGrid.W], "f32", "output");
    m.unpatchifyInto(all, { ...shard, start: 0, count: shard.tokens }, latentGrid, out);
    new Float32Array(buffers.out).set(await m.gpu.read(out));
    m.gpu.freeTensor(all);
    m.gpu.freeTensor(out);
  }
  const exchanged = selfAttention.stats();
  return {
    device,
    tokens: real,
    padTokens: shard.count - real,
    ms: performance.now() - t0,
    exchangeMs: exchanged.exchangeMs,
    exchangeWaitMs: exchanged.waitMs,
    bytesExchanged: exchanged.bytes,
    liveBuffers: m.gpu.liveBuffers,
    opTimes: m.gpu.opTimes.size ? m.gpu.opTimeTable() : undefined,
  };
}

/** Frees the current model's GPU state (weights, encoded prompts, timestep embedding). */
function forgetModel(): void {
  if (!model) return;
  for (const t of texts.values()) model.freeText(t);
  texts.clear();
  if (time) model.freeTime(time.state);
  time = null;
  freeWanWeights(model.gpu, model.w);
  model = null;
}

function need<T>(v: T | null, step: string): T {
  if (v === null) throw new Error(`worker ${device}: "${step}" has not run yet`);
  return v;
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const msg = e.data;
  handle(msg).catch((err) => {
    const runId = msg.type === "forward" || msg.type === "decode" ? msg.runId : undefined;
    const message = (err as Error)?.message ?? String(err);
    const aborted = err instanceof RunAborted;
    // Whatever failed here (the forward itself, or another message while it runs), the run cannot finish:
    // wake the other devices now, with this error as the cause they and the coordinator report.
    if (!aborted && running) abortRun(running, device, message);
    if (msg.type === "forward" || msg.type === "decode") running = null;
    post({ type: "error", device, message, runId, aborted });
    if (msg.type === "crash") throw err; // a real uncaught failure: the pool sees the worker's error event
  });
};
