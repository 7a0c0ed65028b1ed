// One device worker: owns one GPUDevice and the model's weights on it, and runs its shard of each
// forward. Started by WorkerPool (Deno or browser) as an ES-module Web Worker.
/// <reference lib="webworker" />

import { Gpu } from "../gpu/device.ts";
import { rowsView, type Tensor } from "../gpu/tensor.ts";
import { realTokens, type ShardView } from "../model/shard_view.ts";
import { type BlockCache, type TextState, type TimeState, WanModel } from "../model/wan.ts";
import { freeWanWeights, uploadWanWeights } from "../model/weights_gpu.ts";
import type { WanWeights } from "../model/weights.ts";
import { abortRun, RunAborted, ShardBarrier } from "./barrier.ts";
import type { DeviceStats, FromWorker, ToWorker } from "./messages.ts";
import { SabExchange } from "./sab_exchange.ts";
import { shardedAttention } from "./sharded_attention.ts";
import { unshareTree } from "./shared_weights.ts";
import { decodeBand, disposeVae, loadVae } from "./vae_worker.ts";
import { assertFinite, overflowHint } from "../gpu/finite.ts";
import { absDiffSums } from "../ops/abs_diff_sum.ts";
import { decideTogether } from "./first_block_cache.ts";

declare const Deno: { env: { set(k: string, v: string): void } } | undefined;

let device = -1;
let gpu: Gpu | null = null;
let model: WanModel | null = null;
let precision: Tensor["dtype"] = "f32";
const texts = new Map<string, TextState>();
let time: { t: number; state: TimeState } | null = null;
/** Step caching: the blocks' residual [B * stride, d] of the last computed step, per cache key (a branch or batch). */
const residuals = new Map<string, Tensor>();
/** First-block caching: block 0's residual [B * stride, d] of the last computed step, per cache key. */
const firstResiduals = new Map<string, Tensor>();
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
        await platform.useWebGpu(platform.webGpuChoice(msg.webgpu), { setEnv: false }); // the process env is the main thread's
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
    case "timeEmbedding": {
      const m = need(model, "load");
      const proj = new Float32Array(msg.timesteps.length * 6 * m.d), temb = new Float32Array(msg.timesteps.length * m.d);
      for (let i = 0; i < msg.timesteps.length; i++) {
        const state = m.embedTimestep(msg.timesteps[i]);
        proj.set(await m.gpu.read(state.proj), i * 6 * m.d);
        temb.set(await m.gpu.read(state.temb), i * m.d);
        m.freeTime(state);
      }
      post({ type: "timeEmbedding", device, proj, temb });
      return;
    }
    case "clearCache":
      clearResiduals();
      post({ type: "cacheCleared", device });
      return;
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
      // A Dawn worker is kept for the next pool (pool.ts): what it dropped (the weights' views of the pool's
      // shared memory, upload staging) is freed at this worker's next garbage collection, which V8 runs on its
      // own schedule. Where the process has --expose-gc (the leak test), collect now, so that a measurement
      // right after close() sees every byte back; elsewhere there is no gc() and nothing changes.
      (globalThis as { gc?: () => void }).gc?.();
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
  const text = msg.textKeys.map((key) => {
    const t = texts.get(key);
    if (!t) throw new Error(`${m.gpu.label}: text "${key}" was not encoded on this device`);
    return t;
  });
  if (time?.t !== msg.timestep) {
    if (time) m.freeTime(time.state);
    time = { t: msg.timestep, state: m.embedTimestep(msg.timestep) };
  }
  // Everything allocated from here on is this run's scratch: a failed or cancelled run gives it all back.
  const scratch = m.gpu.liveMark();
  try {
    return await forwardShard(m, msg, text, time.state, t0);
  } catch (e) {
    clearResiduals(); // a failed generation's step caches are stale (and one may be this run's scratch)
    m.gpu.releaseSince(scratch);
    throw e;
  }
}

async function forwardShard(m: WanModel, msg: Extract<ToWorker, { type: "forward" }>, text: TextState[], timeState: TimeState, t0: number): Promise<DeviceStats> {
  const { shard, buffers, latentGrid, members, rank } = msg;
  const devices = members.length, B = text.length;
  const barrier = new ShardBarrier(buffers.control, devices, rank, msg.timeoutMs, (d) => msg.deviceNames[d] ?? `device ${d}`, members);
  const latentShape = [m.cfg.inChannels, latentGrid.F, latentGrid.H, latentGrid.W];
  const latentValues = latentShape.reduce((a, b) => a * b, 1);
  const latents = text.map((_, b) => m.gpu.upload(new Float32Array(buffers.latent, b * latentValues * 4, latentValues), latentShape, "f32", "latent"));
  const selfAttention = shardedAttention(devices, msg.overlap, () => new SabExchange(m.gpu, buffers.rows, shard, m.d, precision, barrier));
  let firstBlock: DeviceStats["firstBlock"];
  const y = await m.forwardBatch(latents, timeState, text, shard, selfAttention, { cache: blockCache(m, msg, shard, B, (d) => (firstBlock = d)) });
  for (const l of latents) m.gpu.freeTensor(l);

  // Gather: real output tokens into the shared [B, L, 4*Cout] rows; then the group's first device unpatchifies them all.
  const real = realTokens(shard);
  const width = y.shape[1];
  const stride = m.batchStride(shard.count, B);
  for (let b = 0; b < B && real > 0; b++) {
    const rows = await m.gpu.read(rowsView(y, b * stride, real));
    const what = `the output of its tokens [${shard.start}, ${shard.start + real})${B > 1 ? ` of batch item ${b}` : ""}`;
    assertFinite(rows, what, { width, rowName: "token", firstRow: shard.start, hint: overflowHint(precision) });
    new Float32Array(buffers.tokensOut, (b * shard.tokens + shard.start) * width * 4, real * width).set(rows);
  }
  m.gpu.freeTensor(y);
  // The barrier's sequence numbers count every arrival of the run: one per block and item, unless a step cache
  // skipped the blocks (no exchange at all), then the gather.
  const blocksRun = msg.cache?.mode === "reuse" ? 0 : firstBlock && !firstBlock.compute ? 1 : m.w.blocks.length;
  const exchanges = blocksRun * B;
  if (devices > 1) barrier.arrive(exchanges + 1, "the output gather");
  if (rank === 0) {
    const outValues = m.cfg.outChannels * latentGrid.F * latentGrid.H * latentGrid.W;
    for (let b = 0; b < B; b++) {
      const all = m.gpu.upload(new Float32Array(buffers.tokensOut, b * shard.tokens * width * 4, shard.tokens * width), [shard.tokens, width], "f32", "output tokens");
      const out = m.gpu.empty([m.cfg.outChannels, latentGrid.F, latentGrid.H, latentGrid.W], "f32", "output");
      m.unpatchifyInto(all, { ...shard, start: 0, count: shard.tokens }, latentGrid, out);
      new Float32Array(buffers.out, b * outValues * 4, outValues).set(await m.gpu.read(out));
      m.gpu.freeTensor(all);
      m.gpu.freeTensor(out);
    }
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
    firstBlock,
  };
}

/**
 * The forward's step-cache hook: "store" keeps this run's residual under the key (freeing the one it replaces),
 * "reuse" hands the kept one to the model, which checks its shape ([B * stride, d]: same plan and batch).
 */
function blockCache(m: WanModel, msg: Extract<ToWorker, { type: "forward" }>, shard: ShardView, B: number, decided: (d: { compute: boolean; distance: number }) => void): BlockCache | undefined {
  const c = msg.cache;
  if (!c) return undefined;
  const count = shard.count;
  const store = (r: Tensor) => {
    const old = residuals.get(c.key);
    if (old) m.gpu.freeTensor(old);
    residuals.set(c.key, r);
  };
  if (c.mode === "first-block") {
    const meet = c.decision;
    if (!meet || c.threshold === undefined) throw new Error(`${m.gpu.label}: a first-block cache forward without its decision buffer or threshold`);
    return {
      store,
      firstBlock: async (r0) => {
        // This device's sums over its real tokens of every item (pad rows and the rows between items left out).
        const prev = firstResiduals.get(c.key);
        const stride = m.batchStride(count, B), real = realTokens(shard);
        let diff = 0, base = 0;
        if (prev) {
          if (prev.shape[0] !== r0.shape[0]) throw new Error(`${m.gpu.label}: first-block cache "${c.key}" holds ${prev.shape[0]} rows, this forward has ${r0.shape[0]} (the plan or batch changed)`);
          for (let b = 0; b < B && real > 0; b++) {
            const s = await absDiffSums(m.gpu, rowsView(r0, b * stride, real), rowsView(prev, b * stride, real));
            diff += s.diff;
            base += s.base;
          }
        }
        const d = decideTogether(meet.buffer, meet.slot, meet.participants, { diff, base, hasPrev: !!prev }, c.threshold!, msg.buffers.control, device, msg.timeoutMs);
        decided(d);
        if (d.compute) {
          // diffusers keeps block 0's residual of computed steps only: the next step is compared with this one.
          if (prev) m.gpu.freeTensor(prev);
          firstResiduals.set(c.key, r0);
          return null;
        }
        m.gpu.freeTensor(r0);
        const tail = residuals.get(c.key);
        if (!tail) throw new Error(`${m.gpu.label}: first-block cache "${c.key}" has no residual of blocks 1.. to reuse`);
        return tail;
      },
    };
  }
  if (c.mode === "reuse") {
    const reuse = residuals.get(c.key);
    if (!reuse) throw new Error(`${m.gpu.label}: step cache "${c.key}" has no residual to reuse (no computed step before it)`);
    if (reuse.shape[0] !== m.batchStride(count, B) * B) throw new Error(`${m.gpu.label}: step cache "${c.key}" holds ${reuse.shape[0]} rows, this forward has ${m.batchStride(count, B) * B} (the plan or batch changed)`);
    return { reuse };
  }
  return { store };
}

function clearResiduals(): void {
  for (const r of [...residuals.values(), ...firstResiduals.values()]) model?.gpu.freeTensor(r);
  residuals.clear();
  firstResiduals.clear();
}

/** Frees the current model's GPU state (weights, encoded prompts, timestep embedding, step caches). */
function forgetModel(): void {
  if (!model) return;
  clearResiduals();
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
