// The coordinator: N device workers (Web Workers, one GPUDevice each), the shared memory of a run,
// and failure handling. Never blocks its thread (it may be a browser's main thread): it only posts
// messages, awaits replies, and aborts runs through the shared control words.
//
// A worker that errors, is terminated or loses its device fails the pending request within
// moments, with an error naming that device; the next request restarts it (weights and texts are
// replayed), so the pool stays usable.

import { type DType, type Grid3, gridSize } from "../shape.ts";
import type { WanConfig } from "../model/config.ts";
import type { WanWeights } from "../model/weights.ts";
import { abortRun, CANCELLED, controlBuffer, runFailure } from "./barrier.ts";
import type { DeviceStats, FirstBlockMeeting, ForwardCache, FromWorker, RunBuffers, ToWorker } from "./messages.ts";
import { decisionBuffer } from "./first_block_cache.ts";
import type { ShardPlan } from "./plan.ts";
import { exchangeBufferBytes } from "./sab_exchange.ts";
import { type SharedTree, shareTree } from "./shared_weights.ts";
import { vaeSpatialScale, vaeVideoFrames, type WanVaeConfig } from "../vae/config.ts";
import type { WanVaeWeights } from "../vae/weights.ts";
import { vaeExchangeBounds, vaeExchangeSizes } from "./vae_exchange.ts";
import type { DecodeBuffers, DecodeStats } from "./vae_messages.ts";
import type { BandPlan } from "./vae_plan.ts";

export interface PoolOptions {
  devices: number;
  precision: DType;
  /** Per device, a DRI_PRIME value (Linux PCI id, e.g. pci-0000_00_06_0) choosing its GPU in Deno. */
  gpus?: (string | undefined)[];
  powerPreference?: GPUPowerPreference;
  /**
   * The WebGPU implementation each worker uses in Deno ("auto" | "dawn" | "deno", src/platform/webgpu_deno.ts);
   * default $SHARDIT_WEBGPU, which the CLI and benches set to what they resolved. Ignored in a browser.
   */
  webgpu?: string;
  profile?: boolean;
  /**
   * Longest wait at an exchange or output barrier before the run fails naming the late device (default 3 min:
   * a first forward compiles every pipeline, slow on software adapters). A crash or lost device does
   * not wait for this: it is reported at once.
   */
  barrierTimeoutMs?: number;
  /** Longest a whole request (load, text, forward) may take before it fails naming the silent devices. */
  requestTimeoutMs?: number;
  /**
   * Overlap the rows exchange with compute: each device attends over its own keys while the others' arrive,
   * then over theirs, and merges the two exactly (log-sum-exp). Default on (faster forwards than the plain
   * all-gather on 2 and 4 workers, RESULTS.md "Behind the defaults"); false for the baseline.
   */
  overlap?: boolean;
}

export interface ForwardRequest {
  latent: Float32Array; // [B, C, F, H, W], C = the model's in_channels, B = the batch (1 without textKeys)
  latentGrid: Grid3;
  timestep: number;
  /** The prompt of a forward of one item; or textKeys, one prompt per batch item (WanModel.forwardBatch). */
  textKey?: string;
  textKeys?: string[];
  plan: ShardPlan;
  /** This forward only: overrides PoolOptions.overlap. */
  overlap?: boolean;
  /**
   * The pool devices this forward runs on, in shard order (plan.devices of them): a device group of CFG
   * parallel (forwardMany). Default: every device.
   */
  devices?: number[];
  /** Step caching (src/pipeline/step_cache.ts): keep the blocks' residual under key, or reuse the one kept there,
   * or ("first-block") let every device of this forwardMany decide together after block 0. */
  cache?: ForwardCache;
}

export interface DecodeRequest {
  /** z = latents * std + mean, [z_dim, T, h, w] f32. */
  z: Float32Array;
  /** The latent's T x h x w. */
  latent: Grid3;
  plan: BandPlan;
  /** Progress: device `device` finished latent frame `chunk` (0-based) in `ms` of wall time. */
  onChunk?: (device: number, chunk: number, ms: number) => void;
}

export interface DecodeResult {
  /** The clamped video [3, F', H', W'] in [-1, 1]. */
  video: Float32Array;
  videoGrid: Grid3;
  stats: DecodeStats[];
  ms: number;
}

export interface ForwardResult {
  out: Float32Array; // [B, Cout, F, H, W]
  /** Per device of the forward's group, in shard order (each names its pool device). */
  stats: DeviceStats[];
  ms: number;
}

interface Slot {
  worker: Worker;
  /** ok; failed: reported an error (its device state is suspect, restart it); dead: the worker crashed. */
  state: "ok" | "failed" | "dead";
  adapter: string;
  describe: Record<string, unknown>;
}

interface Pending {
  type: FromWorker["type"];
  waiting: Set<number>;
  replies: Map<number, FromWorker>;
  resolve: (r: Map<number, FromWorker>) => void;
  reject: (e: Error) => void;
  /** The run's control words (forward requests; one per device group): where a failing worker leaves its cause. */
  controls?: Int32Array[];
}

export class PoolError extends Error {}
/** The forward was cancelled (WorkerPool.cancel); the pool is healthy and takes the next request. */
export class PoolCancelled extends PoolError {}

/** How long a report of "aborted because another device failed" waits for that device's own error. */
const ABORTED_GRACE_MS = 10_000;
/** After workers report their devices destroyed and end themselves, how long before the pool lets go. */
const WORKER_EXIT_SETTLE_MS = 500;

/**
 * Dawn workers of closed pools, their devices destroyed, kept for the next pool instead of ended: a Deno worker
 * that loaded dawn.node cannot give back what the addon took when it ends (Deno's Node-API runs no per-worker
 * cleanup: 2 descriptors per worker with Dawn's null backend, and with Vulkan the instance's driver threads),
 * so a process making a pool per request ran out (issue 20: 10 pools, threads 35 -> 212). A kept worker makes
 * its next device from the same Dawn instance: flat (test/parallel/pool_leak.test.ts). Idle workers end after
 * IDLE_WORKER_MS without a pool taking them (an idle worker keeps a Deno process alive), or at
 * WorkerPool.endIdleWorkers(). Workers placed with --gpus (DRI_PRIME is read once per process) are not kept.
 */
const idleWorkers: Worker[] = [];
let idleTimer: ReturnType<typeof setTimeout> | undefined;
export const IDLE_WORKER_MS = 2000;

export class WorkerPool {
  private slots: Slot[] = [];
  private pending: Pending | null = null;
  private loaded: { config: WanConfig; weights: SharedTree } | null = null;
  private vae: { config: WanVaeConfig; weights: SharedTree } | null = null;
  private texts = new Map<string, { text: Float32Array; textTokens: number }>();
  private runId = 0;
  /** The self-attention exchange buffer of each device group, kept across forwards (grown when a run needs more). */
  private rows: (SharedArrayBuffer | null)[] = [];
  /** Devices whose last forward has not answered yet (device -> runId): after a failure or a cancel they
   * stop at their next barrier check, and the next request waits for that (drain) before it sends. */
  private inflight = new Map<number, number>();
  private wakeDrain: (() => void) | null = null;
  /** The decode in progress that asked for per-chunk progress (DecodeRequest.onChunk). */
  private decodeProgress: { runId: number; onChunk: (device: number, chunk: number, ms: number) => void } | null = null;
  readonly opts: Required<Omit<PoolOptions, "gpus" | "powerPreference" | "webgpu">> & Pick<PoolOptions, "gpus" | "powerPreference" | "webgpu">;

  private constructor(opts: PoolOptions) {
    if (!Number.isInteger(opts.devices) || opts.devices < 1) throw new PoolError(`devices must be a positive integer, got ${opts.devices}`);
    if (typeof SharedArrayBuffer === "undefined") {
      throw new PoolError("SharedArrayBuffer is not available: the page must be cross-origin isolated (COOP same-origin, COEP require-corp)");
    }
    const webgpu = opts.webgpu ?? (typeof Deno === "undefined" ? undefined : Deno.env.get("SHARDIT_WEBGPU"));
    this.opts = { profile: false, barrierTimeoutMs: 180_000, requestTimeoutMs: 30 * 60_000, overlap: true, ...opts, webgpu };
  }

  static async create(opts: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(opts);
    try {
      for (let d = 0; d < opts.devices; d++) await pool.start(d); // one after the other: DRI_PRIME is per process
    } catch (e) {
      pool.dispose();
      throw e;
    }
    return pool;
  }

  get devices(): number {
    return this.opts.devices;
  }

  deviceName(d: number): string {
    const a = this.slots[d]?.adapter;
    return a ? `device ${d} (${a})` : `device ${d}`;
  }

  adapters(): string[] {
    return this.slots.map((s) => s.adapter);
  }

  describe(d: number): Record<string, unknown> {
    return this.slots[d].describe;
  }

  /** Ends the workers closed pools left for reuse (a script that wants to exit at once). */
  static endIdleWorkers(): void {
    clearTimeout(idleTimer);
    idleTimer = undefined;
    for (const w of idleWorkers.splice(0)) w.postMessage({ type: "dispose", close: true } satisfies ToWorker);
  }

  private async start(d: number): Promise<void> {
    const reused = this.opts.gpus?.[d] === undefined ? idleWorkers.pop() : undefined;
    const worker = reused ?? new Worker(new URL("./worker.ts", import.meta.url), { type: "module", name: `shardit device ${d}` });
    const slot: Slot = { worker, state: "ok", adapter: "", describe: {} };
    this.slots[d] = slot;
    const current = () => this.slots[d]?.worker === worker; // ignore events of a replaced worker
    worker.onmessage = (e: MessageEvent<FromWorker>) => current() && this.onMessage(d, e.data);
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault?.();
      if (!current()) return;
      slot.state = "dead";
      this.settled(d);
      this.failDevice(d, `${this.deviceName(d)} worker crashed: ${e.message || "uncaught error"}`);
    };
    worker.onmessageerror = () => current() && this.fail(d, `${this.deviceName(d)} sent a message that could not be read`);
    const ready = await this.request("ready", [d], () =>
      this.post(d, {
        type: "init",
        device: d,
        label: `device ${d}`,
        driPrime: this.opts.gpus?.[d],
        precision: this.opts.precision,
        profile: this.opts.profile,
        powerPreference: this.opts.powerPreference,
        webgpu: this.opts.webgpu,
      }));
    const r = ready.get(d) as Extract<FromWorker, { type: "ready" }>;
    slot.adapter = r.adapter;
    slot.describe = r.describe;
  }

  private post(d: number, msg: ToWorker): void {
    this.slots[d].worker.postMessage(msg);
  }

  private onMessage(d: number, msg: FromWorker): void {
    switch (msg.type) {
      case "error":
        if (msg.runId !== undefined && this.inflight.get(d) === msg.runId) this.settled(d);
        return this.onError(d, msg);
      case "decodeProgress":
        if (this.inflight.get(d) === msg.runId && this.decodeProgress?.runId === msg.runId) this.decodeProgress.onChunk(d, msg.chunk, msg.ms);
        return;
      case "done":
      case "decoded":
        if (this.inflight.get(d) === msg.runId) this.settled(d);
        return this.reply(d, msg);
      case "ready":
      case "loaded":
      case "timeEmbedding":
      case "cacheCleared":
      case "vaeLoaded":
      case "textReady":
      case "disposed":
        return this.reply(d, msg);
      default: {
        const unknown: never = msg; // a new FromWorker type must be handled above
        return this.fail(d, `${this.deviceName(d)} sent an unknown message ${JSON.stringify((unknown as { type?: unknown }).type)}`);
      }
    }
  }

  private onError(d: number, msg: Extract<FromWorker, { type: "error" }>): void {
    const p = this.pending;
    if (!msg.aborted) return this.failDevice(d, `${this.deviceName(d)}: ${msg.message}`);
    // This device stopped because another failed. The failing device left its cause in the run's
    // control words: report that device and its own error now, whichever message arrives first.
    const cause = p?.controls?.map(runFailure).find((f) => f && f.device >= 0);
    if (cause && cause.device >= 0 && cause.device < this.devices && cause.cause) {
      return this.failDevice(cause.device, `${this.deviceName(cause.device)}: ${cause.cause}`);
    }
    // No cause to read (the coordinator aborted, or the cause was still being written): give the failing
    // device a moment to report its own error, then fall back to this one.
    if (p) setTimeout(() => this.pending === p && this.fail(d, `${this.deviceName(d)}: ${msg.message}`), ABORTED_GRACE_MS);
  }

  /** An expected answer of device d to the pending request; the request resolves once every device answered. */
  private reply(d: number, msg: Exclude<FromWorker, { type: "error" }>): void {
    const p = this.pending;
    if (!p || msg.type !== p.type || !p.waiting.has(d)) return;
    p.waiting.delete(d);
    p.replies.set(d, msg);
    if (p.waiting.size === 0) {
      this.pending = null;
      p.resolve(p.replies);
    }
  }

  /** Device d answered its last forward (or is gone): it no longer holds the run's shared memory. */
  private settled(d: number): void {
    this.inflight.delete(d);
    if (this.inflight.size === 0) this.wakeDrain?.();
  }

  /**
   * Waits until every device has answered its last forward. After a failure or a cancel the others stop at
   * their next barrier check (at most about a layer of compute); one still silent after the barrier timeout
   * is stuck and gets restarted.
   */
  private async drain(): Promise<void> {
    const deadline = performance.now() + this.opts.barrierTimeoutMs;
    while (this.inflight.size > 0 && performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.wakeDrain = resolve;
        setTimeout(resolve, Math.min(1000, Math.max(0, deadline - performance.now())));
      });
      this.wakeDrain = null;
    }
    for (const d of this.inflight.keys()) if (this.slots[d]) this.slots[d].state = "dead";
    this.inflight.clear();
  }

  /** Device d itself failed (its state is suspect: the next request restarts it); fails the pending request. */
  private failDevice(d: number, message: string): void {
    if (this.slots[d]?.state === "ok") this.slots[d].state = "failed";
    this.fail(d, message);
  }

  /** Fails the pending request because of device d. */
  private fail(d: number, message: string): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    for (const c of p.controls ?? []) abortRun(c, d, message); // wake the devices waiting at a barrier (every group), with the cause
    p.reject(new PoolError(message));
  }

  /** Sends via `send` and waits for one `type` reply from each device in `devices`, with a timeout. */
  private request(type: FromWorker["type"], devices: number[], send: () => void, controls?: Int32Array[]): Promise<Map<number, FromWorker>> {
    if (this.pending) return Promise.reject(new PoolError("the pool is busy with another request"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const silent = [...(this.pending?.waiting ?? [])].map((d) => this.deviceName(d)).join(", ");
        if (this.pending) this.fail(this.pending.waiting.values().next().value ?? 0, `${silent} did not answer "${type}" within ${this.opts.requestTimeoutMs} ms`);
      }, this.opts.requestTimeoutMs);
      this.pending = {
        type,
        waiting: new Set(devices),
        replies: new Map(),
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
        controls,
      };
      try {
        send();
      } catch (e) {
        this.pending = null;
        clearTimeout(timer);
        reject(e);
      }
    });
  }

  private all(): number[] {
    return this.slots.map((_, d) => d);
  }

  /** Waits for the last run to end everywhere, restarts failed or crashed workers and replays their weights and texts. */
  private async heal(): Promise<void> {
    await this.drain();
    for (let d = 0; d < this.slots.length; d++) {
      const slot = this.slots[d];
      if (slot.state === "ok") continue;
      // A live worker destroys its device before it goes (Deno aborts on terminating a worker that holds one).
      let ended = false;
      if (slot.state === "failed") {
        ended = await this.request("disposed", [d], () => this.post(d, { type: "dispose", close: true })).then(() => true, () => false);
      }
      if (!ended) slot.worker.terminate();
      await this.start(d);
      if (this.loaded) await this.request("loaded", [d], () => this.post(d, { type: "load", ...this.loaded! }));
      if (this.vae) await this.request("vaeLoaded", [d], () => this.post(d, { type: "vaeLoad", ...this.vae! }));
      for (const [key, t] of this.texts) await this.request("textReady", [d], () => this.post(d, { type: "text", key, ...t }));
    }
  }

  /** Shares the weights (one SharedArrayBuffer, parsed once) and uploads them on every device. */
  async load(config: WanConfig, weights: WanWeights): Promise<number[]> {
    await this.heal();
    this.loaded = { config, weights: shareTree(weights) };
    this.texts.clear();
    const r = await this.request("loaded", this.all(), () => this.all().forEach((d) => this.post(d, { type: "load", ...this.loaded! })));
    return this.all().map((d) => (r.get(d) as Extract<FromWorker, { type: "loaded" }>).ms);
  }

  /** Encodes a text ([Lt, text_dim]) on every device into per-block cross-attention K/V, kept under `key`. */
  async setText(key: string, text: Float32Array, textTokens: number): Promise<void> {
    // Checked here, not on the devices: 0 tokens gave WebGPU's "Invalid BindGroup" (an empty K/V buffer).
    if (!Number.isInteger(textTokens) || textTokens < 1) throw new Error(`text "${key}": ${textTokens} text tokens; the cross-attention needs at least one`);
    await this.heal();
    this.texts.set(key, { text, textTokens });
    await this.request("textReady", this.all(), () => this.all().forEach((d) => this.post(d, { type: "text", key, text, textTokens })));
  }

  /** One sharded forward: every device of the request (all by default) computes its plan range; returns the gathered output. */
  async forward(req: ForwardRequest): Promise<ForwardResult> {
    return (await this.forwardMany([req]))[0];
  }

  /**
   * Several sharded forwards at once on disjoint device groups (CFG parallel: the conditional forward on one
   * group, the unconditional on the other), as one request: each group has its own control words, barrier
   * and exchange buffer, so each forward runs exactly as it would on that many devices alone; a failure or a
   * cancel in any group stops them all.
   */
  async forwardMany(reqs: ForwardRequest[]): Promise<ForwardResult[]> {
    await this.heal();
    if (!this.loaded) throw new PoolError("forward before load");
    const cfg = this.loaded.config;
    const d = cfg.heads * cfg.headDim;
    const used = new Set<number>();
    const runs = reqs.map((req, g) => {
      const { plan, latentGrid } = req;
      const members = req.devices ?? this.all();
      if (plan.devices !== members.length) throw new PoolError(`the plan has ${plan.devices} devices, ${req.devices ? `the group [${members}]` : "the pool"} ${members.length}`);
      for (const m of members) {
        if (!Number.isInteger(m) || m < 0 || m >= this.devices) throw new PoolError(`device group [${members}]: device ${m} is not one of the pool's ${this.devices}`);
        if (used.has(m)) throw new PoolError(`device ${m} is in two groups of one forward`);
        used.add(m);
      }
      const keys = req.textKeys ?? (req.textKey !== undefined ? [req.textKey] : []);
      if (keys.length === 0) throw new PoolError("forward: no textKey (or textKeys) given");
      for (const k of keys) if (!this.texts.has(k)) throw new PoolError(`text "${k}" was not set`);
      const exchangeBytes = exchangeBufferBytes(plan.computedTokens, d, this.opts.precision);
      if (members.length > 1 && (this.rows[g]?.byteLength ?? -1) < exchangeBytes) {
        this.rows[g] = null; // the old one is too small: let it go before asking for the new one
        try {
          this.rows[g] = new SharedArrayBuffer(exchangeBytes);
        } catch (e) {
          const what = `2 layers x ${plan.computedTokens} tokens x ${d} ${this.opts.precision}`;
          throw new PoolError(`the exchange buffer (${what} = ${exchangeBytes} bytes of shared memory) could not be allocated: ${(e as Error).message}`);
        }
      }
      const B = keys.length;
      const latentValues = cfg.inChannels * gridSize(latentGrid);
      if (req.latent.length !== B * latentValues) {
        const what = `${B > 1 ? `${B} x ` : ""}[${cfg.inChannels}, ${latentGrid.F}, ${latentGrid.H}, ${latentGrid.W}] = ${B * latentValues} values (in_channels ${cfg.inChannels})`;
        throw new PoolError(`latent: expected ${what}, found ${req.latent.length}`);
      }
      const latent = new SharedArrayBuffer(req.latent.byteLength);
      new Float32Array(latent).set(req.latent);
      const buffers: RunBuffers = {
        control: controlBuffer(members.length),
        rows: members.length > 1 ? this.rows[g]! : new SharedArrayBuffer(0),
        latent,
        tokensOut: new SharedArrayBuffer(B * plan.tokens * 4 * cfg.outChannels * 4),
        out: new SharedArrayBuffer(B * cfg.outChannels * gridSize(latentGrid) * 4),
      };
      return { req, members, keys, buffers };
    });
    // The first-block cache decides once for the whole forward: every device of every group meets in one buffer.
    const firstBlock = runs.some(({ req }) => req.cache?.mode === "first-block");
    if (firstBlock && !runs.every(({ req }) => req.cache?.mode === "first-block")) throw new PoolError("forwardMany: the first-block cache must be on for every forward of the call or for none");
    const meeting = firstBlock ? decisionBuffer(used.size) : null;
    const order = [...used];
    const runId = ++this.runId;
    const deviceNames = this.all().map((i) => this.deviceName(i));
    const t0 = performance.now();
    const replies = await this.request(
      "done",
      [...used],
      () =>
        runs.forEach(({ req, members, keys, buffers }) => {
          const { plan, latentGrid } = req;
          // Frame mode computes whole padding frames past F': their RoPE positions continue the frame axis.
          const computedGrid = { ...plan.grid, F: plan.computedTokens / (plan.grid.H * plan.grid.W) };
          plan.shards.forEach((s, rank) => {
            const dev = members[rank];
            this.inflight.set(dev, runId);
            this.post(dev, {
              type: "forward",
              runId,
              timestep: req.timestep,
              textKeys: keys,
              latentGrid: { F: latentGrid.F, H: latentGrid.H, W: latentGrid.W },
              shard: { start: s.start, count: s.end - s.start, tokens: plan.tokens, computedTokens: plan.computedTokens, grid: computedGrid },
              members,
              rank,
              cache: req.cache && { ...req.cache, decision: meeting ? { buffer: meeting, slot: order.indexOf(dev), participants: used.size } satisfies FirstBlockMeeting : undefined },
              overlap: req.overlap ?? this.opts.overlap,
              buffers,
              timeoutMs: this.opts.barrierTimeoutMs,
              deviceNames,
            });
          });
        }),
      runs.map((r) => r.buffers.control),
    );
    const ms = performance.now() - t0;
    return runs.map(({ members, buffers }) => ({
      out: new Float32Array(buffers.out).slice(),
      stats: members.map((i) => (replies.get(i) as Extract<FromWorker, { type: "done" }>).stats),
      ms,
    }));
  }

  /** proj [timesteps, 6, d] and temb [timesteps, d] (f32) of each timestep, computed on device 0: TeaCache's input. */
  async timeEmbeddings(timesteps: number[]): Promise<{ proj: Float32Array; temb: Float32Array }> {
    await this.heal();
    if (!this.loaded) throw new PoolError("timeEmbeddings before load");
    const r = await this.request("timeEmbedding", [0], () => this.post(0, { type: "timeEmbedding", timesteps }));
    const { proj, temb } = r.get(0) as Extract<FromWorker, { type: "timeEmbedding" }>;
    return { proj, temb };
  }

  /** Frees every device's step-cache residuals (the end of a cached generation). */
  async clearStepCache(): Promise<void> {
    await this.heal();
    await this.request("cacheCleared", this.all(), () => this.all().forEach((d) => this.post(d, { type: "clearCache" })));
  }

  /** Shares the VAE decoder's weights and uploads them on every device (beside the DiT's, if loaded). */
  async loadVae(config: WanVaeConfig, weights: WanVaeWeights): Promise<number[]> {
    await this.heal();
    this.vae = { config, weights: shareTree(weights) };
    const r = await this.request("vaeLoaded", this.all(), () => this.all().forEach((d) => this.post(d, { type: "vaeLoad", ...this.vae! })));
    return this.all().map((d) => (r.get(d) as Extract<FromWorker, { type: "vaeLoaded" }>).ms);
  }

  /**
   * One sharded VAE decode: device d decodes the latent rows of plan.bands[d] (halo rows and whole-frame
   * gathers through shared memory) and writes its rows of the video; returns the whole clamped video.
   * Failures, timeouts and cancel() behave as for a forward.
   */
  async decode(req: DecodeRequest): Promise<DecodeResult> {
    await this.heal();
    if (!this.vae) throw new PoolError("decode before loadVae");
    const { plan, latent } = req;
    const cfg = this.vae.config;
    if (plan.devices !== this.devices) throw new PoolError(`the band plan has ${plan.devices} devices, the pool ${this.devices}`);
    if (plan.h !== latent.H) throw new PoolError(`the band plan splits ${plan.h} latent rows, the latent has ${latent.H}`);
    const zValues = cfg.zDim * gridSize(latent);
    if (req.z.length !== zValues) throw new PoolError(`z has ${req.z.length} values, [${cfg.zDim}, ${latent.F}, ${latent.H}, ${latent.W}] needs ${zValues}`);
    const S = vaeSpatialScale(cfg);
    const videoGrid: Grid3 = { F: vaeVideoFrames(cfg, latent.F), H: S * latent.H, W: S * latent.W };
    const bounds = vaeExchangeBounds(cfg, latent.H, latent.W);
    const sizes = this.devices > 1 ? vaeExchangeSizes(this.devices, bounds.haloBytes, bounds.frameBytes) : { halo: 0, frame: 0 };
    const shared = (bytes: number, what: string) => {
      try {
        return new SharedArrayBuffer(bytes);
      } catch (e) {
        throw new PoolError(`the decode's ${what} (${bytes} bytes of shared memory) could not be allocated: ${(e as Error).message}`);
      }
    };
    const z = shared(req.z.byteLength, "latent z");
    new Float32Array(z).set(req.z);
    const buffers: DecodeBuffers = {
      control: controlBuffer(this.devices),
      halo: shared(sizes.halo, "halo rows"),
      frame: shared(sizes.frame, "frame gather"),
      z,
      video: shared(3 * gridSize(videoGrid) * 4, `video [3, ${videoGrid.F}, ${videoGrid.H}, ${videoGrid.W}] f32`),
    };
    const runId = ++this.runId;
    const deviceNames = this.all().map((i) => this.deviceName(i));
    const t0 = performance.now();
    this.decodeProgress = req.onChunk ? { runId, onChunk: req.onChunk } : null;
    const replies = await this.request(
      "decoded",
      this.all(),
      () =>
        this.all().forEach((d) => {
          this.inflight.set(d, runId);
          this.post(d, { type: "decode", runId, latent, bands: plan.bands, devices: this.devices, buffers, timeoutMs: this.opts.barrierTimeoutMs, deviceNames });
        }),
      [buffers.control],
    ).finally(() => this.decodeProgress = null);
    const ms = performance.now() - t0;
    const stats = this.all().map((i) => (replies.get(i) as Extract<FromWorker, { type: "decoded" }>).stats);
    return { video: new Float32Array(buffers.video).slice(), videoGrid, stats, ms };
  }

  /**
   * Cancels the forward (or decode) in progress, if any: its promise rejects at once with PoolCancelled, and every
   * device stops at its next barrier check (the next request waits for that). Loads and prompt encodings
   * are not interrupted. Returns whether there was a forward to cancel.
   */
  cancel(reason = "cancelled"): boolean {
    const p = this.pending;
    if (!p?.controls) return false;
    this.pending = null;
    for (const c of p.controls) abortRun(c, CANCELLED, reason);
    p.reject(new PoolCancelled(reason));
    return true;
  }

  /** Test hook: makes device d's worker throw, as a crashing worker would. */
  crash(d: number, message = "simulated crash"): void {
    this.post(d, { type: "crash", message });
  }

  /** Destroys every device and ends the workers. */
  async close(): Promise<void> {
    let closed = new Set<number>();
    try {
      // Workers destroy their devices and end themselves: terminating a thread that holds WebGPU
      // state has crashed Deno at exit (seen on NVIDIA), so terminate() is only the fallback.
      if (!this.pending) {
        await this.drain(); // a device still in a cancelled or failed run ends it before it disposes
        const alive = this.all().filter((d) => this.slots[d]?.state !== "dead");
        // Dawn's workers are kept for the next pool (idleWorkers); Deno's own WebGPU gives everything back when its
        // worker ends, but a device made again in a kept worker leaves a thread and ~15 MB behind: those end.
        const keep = new Set(alive.filter((d) => this.slots[d].state === "ok" && this.opts.gpus?.[d] === undefined && this.slots[d].describe.implementation === "dawn"));
        await this.request("disposed", alive, () => alive.forEach((d) => this.post(d, { type: "dispose", close: !keep.has(d) })));
        closed = new Set(alive);
        for (const d of keep) {
          const w = this.slots[d].worker;
          w.onmessage = null;
          w.onmessageerror = null;
          w.onerror = (e: ErrorEvent) => {
            e.preventDefault?.(); // an idle worker that fails is dropped, never reused
            const i = idleWorkers.indexOf(w);
            if (i >= 0) idleWorkers.splice(i, 1);
          };
          idleWorkers.push(w);
        }
        if (keep.size) {
          clearTimeout(idleTimer);
          idleTimer = setTimeout(() => WorkerPool.endIdleWorkers(), IDLE_WORKER_MS);
        }
        if (keep.size < alive.length) await new Promise((r) => setTimeout(r, WORKER_EXIT_SETTLE_MS)); // let the threads finish ending
      }
    } catch { /* a worker that cannot dispose is terminated below */ }
    this.dispose(closed);
  }

  private dispose(closed = new Set<number>()): void {
    this.slots.forEach((s, d) => {
      if (s && !closed.has(d)) s.worker.terminate();
    });
    this.slots = [];
  }
}
